// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_JOURNAL_HPP
#define EVOLINK_JOURNAL_HPP

/// A journal of created tasks, so that no task is lost when the process
/// dies: image/video/generate (and wait) record each task id durably before
/// waiting starts and mark it finished when it ends; after a crash,
/// client::resume(journal) waits for every task still unfinished.
///
/// `file_journal` keeps it in an append-only file (one JSON line per event,
/// fsync'd); implement `journal` to keep it in your own store.

#include <evolink/detail/config.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace evolink {

struct journal_entry {
    std::string task_id;
    std::string model;
    std::string type;             ///< "image", "video"...
    std::int64_t recorded_at = 0; ///< seconds since the epoch
};

/// The caller's store. Calls block (they are durable), so they come from the
/// client's file executor (client_options::file_executor), never from the
/// thread that runs the io_context; calls for different tasks of one client
/// may come at the same time from different threads: implementations must
/// lock (file_journal does).
class journal {
public:
    virtual ~journal() = default;
    /// Called before image/video/generate send the creation of a task they
    /// will record: throwing fails the operation before anything is sent
    /// (errc::journal_failed), so that no task is created that the journal
    /// cannot record (a remote store that is unreachable). Default: nothing.
    virtual void ready() {}
    /// Records a task durably. Throwing fails the operation (with the task id
    /// in the diagnostics, so that it is not lost).
    virtual void add(const journal_entry& e) = 0;
    /// Marks a task finished ("completed", "failed", "cancelled", "gone").
    virtual void finish(std::string_view task_id, std::string_view status) = 0;
    /// Tasks added and not finished, oldest first.
    virtual std::vector<journal_entry> unfinished() = 0;
};

/// An append-only file: `{"op":"add",...}` and `{"op":"done",...}` lines,
/// each written with one write() on an O_APPEND descriptor and fsync'd before
/// the call returns. A line torn by a crash (no final newline) is ignored
/// when read back, and the next record starts on a line of its own.
class file_journal : public journal {
public:
    /// Opens (or creates, mode 0600) the file. Throws std::runtime_error.
    explicit file_journal(std::string path) : path_(std::move(path))
    {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ < 0) throw std::runtime_error("cannot open journal " + path_ + ": " + std::strerror(errno));
        torn_ = ends_torn();
    }
    ~file_journal() override
    {
        if (fd_ >= 0) ::close(fd_);
    }
    file_journal(const file_journal&) = delete;
    file_journal& operator=(const file_journal&) = delete;

    const std::string& path() const noexcept { return path_; }

    void add(const journal_entry& e) override
    {
        append(boost::json::object{{"op", "add"},
                                   {"id", e.task_id},
                                   {"model", e.model},
                                   {"type", e.type},
                                   {"at", e.recorded_at}});
    }

    void finish(std::string_view task_id, std::string_view status) override
    {
        append(boost::json::object{{"op", "done"}, {"id", task_id}, {"status", status}});
    }

    std::vector<journal_entry> unfinished() override
    {
        std::lock_guard lock(mutex_);
        std::ifstream in(path_);
        std::vector<journal_entry> order;
        std::map<std::string, std::size_t> open; // id -> index in order
        std::string line;
        while (std::getline(in, line)) {
            boost::system::error_code ec;
            auto v = boost::json::parse(line, ec);
            if (ec || !v.is_object()) continue; // a torn line
            auto& o = v.get_object();
            auto* op = o.if_contains("op");
            auto* id = o.if_contains("id");
            if (!op || !id || !op->is_string() || !id->is_string()) continue;
            std::string key(id->get_string());
            if (op->get_string() == "add" && !open.count(key)) {
                journal_entry e;
                e.task_id = key;
                if (auto* m = o.if_contains("model"); m && m->is_string()) e.model = m->get_string();
                if (auto* t = o.if_contains("type"); t && t->is_string()) e.type = t->get_string();
                if (auto* a = o.if_contains("at"); a && a->is_int64()) e.recorded_at = a->get_int64();
                open[key] = order.size();
                order.push_back(std::move(e));
            } else if (op->get_string() == "done") {
                if (auto it = open.find(key); it != open.end()) {
                    order[it->second].task_id.clear(); // tombstone
                    open.erase(it);
                }
            }
        }
        std::vector<journal_entry> out;
        for (auto& e : order)
            if (!e.task_id.empty()) out.push_back(std::move(e));
        return out;
    }

private:
    /// True when the file's last byte is not a newline (a crash cut the last
    /// record): appending to it as is would glue the next record to the torn one.
    bool ends_torn() const
    {
        int rd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (rd < 0) return false;
        char last = '\n';
        off_t end = ::lseek(rd, 0, SEEK_END);
        if (end > 0 && ::pread(rd, &last, 1, end - 1) != 1) last = '\n';
        ::close(rd);
        return last != '\n';
    }

    void append(const boost::json::object& o)
    {
        std::string line = boost::json::serialize(o) + "\n";
        std::lock_guard lock(mutex_);
        if (torn_) line.insert(0, 1, '\n'); // ends the torn line; written with the record, in one write()
        const char* p = line.data();
        std::size_t left = line.size();
        while (left > 0) {
            auto n = ::write(fd_, p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                torn_ = torn_ || left < line.size(); // part of the line may be on disk
                throw std::runtime_error("cannot write journal " + path_ + ": " + std::strerror(errno));
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        torn_ = false;
        if (::fsync(fd_) != 0) throw std::runtime_error("cannot sync journal " + path_ + ": " + std::strerror(errno));
    }

    std::string path_;
    int fd_ = -1;
    bool torn_ = false; ///< the file ends inside a line (guarded by mutex_)
    std::mutex mutex_;
};

} // namespace evolink

#endif
