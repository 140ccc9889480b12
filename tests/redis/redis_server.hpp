// A real redis-server for one test: Debian's binary on a free loopback
// port, no persistence, started by the test and stopped at its end (SIGKILL
// and start again on the same port for the fault cases).
#pragma once

#include <evolink/redis/options.hpp>

#include <hiredis/hiredis.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace test_redis {

/// A port free now on 127.0.0.1 (the kernel picks it).
inline unsigned short free_port()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

class server {
public:
    /// `extra`: more arguments (e.g. {"--requirepass", "pw"}).
    explicit server(std::vector<std::string> extra = {}) : port_(free_port()), extra_(std::move(extra)) { start(); }
    /// On a given port (a client already points at it).
    explicit server(unsigned short port) : port_(port) { start(); }
    ~server() { stop(); }
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    unsigned short port() const { return port_; }

    void start()
    {
        const char* bin = std::getenv("REDIS_SERVER");
        std::vector<std::string> args{bin ? bin : "redis-server", "--port", std::to_string(port_), "--bind",
                                      "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
                                      "--loglevel", "warning", "--dir", "/tmp"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        pid_ = ::fork();
        if (pid_ == 0) {
            if (int null = ::open("/dev/null", O_WRONLY); null >= 0) ::dup2(null, 1); // its log: not the test's output
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
        // Ready when it answers (PING answers NOAUTH with a password: still up).
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < until) {
            if (auto* c = redisConnect("127.0.0.1", port_); c && !c->err) {
                auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
                bool up = r != nullptr;
                if (r) freeReplyObject(r);
                redisFree(c);
                if (up) return;
            } else if (c) {
                redisFree(c);
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("redis-server exited at start (is it installed? scripts/setup)");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        throw std::runtime_error("redis-server did not answer within 10 s");
    }

    /// SIGKILL: no shutdown, connections cut. With no persistence, its data is gone.
    void kill()
    {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    void stop()
    {
        resume();
        kill();
    }

    /// SIGSTOP / SIGCONT: Redis keeps its connections but answers nothing.
    void pause() { ::kill(pid_, SIGSTOP); }
    void resume() { ::kill(pid_, SIGCONT); }

    /// A command on a connection of its own (the test's view of the data).
    std::string run(const std::vector<std::string>& args, const char* password = nullptr) const
    {
        auto* c = redisConnect("127.0.0.1", port_);
        if (!c || c->err) throw std::runtime_error("cannot reach the test's redis-server");
        if (password) freeReplyObject(redisCommand(c, "AUTH %s", password));
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        for (auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
        std::string out;
        if (r) {
            if (r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
            else if (r->str) out.assign(r->str, r->len);
            else if (r->type == REDIS_REPLY_ARRAY) out = std::to_string(r->elements);
            freeReplyObject(r);
        }
        redisFree(c);
        return out;
    }

private:
    unsigned short port_;
    std::vector<std::string> extra_;
    pid_t pid_ = -1;
};

/// Options for a server of the test's on `port`, reconnecting quickly.
inline evolink::redis_options options_at(unsigned short port)
{
    using namespace std::chrono_literals;
    evolink::redis_options o;
    o.port = port;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
}

} // namespace test_redis
