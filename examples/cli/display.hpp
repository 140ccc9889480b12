// The evolink command line: progress on stderr (task progress with an elapsed
// time ticker, downloads), and sizes for people.
#ifndef EVOLINK_CLI_DISPLAY_HPP
#define EVOLINK_CLI_DISPLAY_HPP

#include <evolink.hpp>

#include <boost/asio.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace evolink_cli {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// "0:07", "12:30": minutes and seconds since `since`.
inline std::string elapsed_text(std::chrono::steady_clock::time_point since)
{
    auto s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - since).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
    return buf;
}

/// Task progress on stderr. On a terminal: one line redrawn in place, with
/// the time since the task was created and a spinner, redrawn every second
/// even when nothing changes (a long `0% pending` does not look hung).
/// Otherwise one line per change: `status: processing 40% (0:12)`.
class progress_display {
public:
    explicit progress_display(asio::any_io_executor ex) : tty_(::isatty(STDERR_FILENO) == 1), timer_(ex) {}

    /// Starts the clock: a task was created, or a wait begins. Without it,
    /// the first report starts it.
    void begin()
    {
        started_ = true;
        since_ = std::chrono::steady_clock::now();
    }

    void operator()(const evolink::task& t)
    {
        if (!started_) begin();
        status_ = t.status_text.empty() ? "unknown" : t.status_text;
        progress_ = t.progress;
        if (!tty_) {
            std::cerr << "status: " << status_ << ' ' << progress_ << "% (" << elapsed_text(since_) << ")\n";
            return;
        }
        draw(!t.finished());
        open_ = true; // a line on screen, not ended yet
        if (t.finished()) return close();
        tick();
    }
    /// Ends a bar left open (before printing something else) and its ticker.
    void close()
    {
        if (tty_ && open_) std::cerr << '\n';
        open_ = false;
        timer_.cancel();
    }

private:
    void draw(bool spin)
    {
        static constexpr char spinner[] = {'|', '/', '-', '\\'};
        int filled = std::clamp(progress_, 0, 100) / 5;
        char percent[8];
        std::snprintf(percent, sizeof percent, "%3d%%", progress_);
        std::string line = "  [" + std::string(static_cast<std::size_t>(filled), '#') +
                           std::string(static_cast<std::size_t>(20 - filled), '-') + "] " + percent + "  " + status_ +
                           "  " + elapsed_text(since_) + (spin ? std::string(" ") + spinner[ticks_++ % 4] : "");
        std::cerr << '\r' << line << std::string(width_ > line.size() ? width_ - line.size() : 0, ' ') << std::flush;
        width_ = line.size();
    }
    void tick()
    {
        if (ticking_) return;
        ticking_ = true;
        timer_.expires_after(1s);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            ticking_ = false;
            if (ec || !open_) return;
            draw(true);
            tick();
        });
    }

    bool tty_;
    asio::steady_timer timer_;
    bool started_ = false, open_ = false, ticking_ = false;
    std::chrono::steady_clock::time_point since_{};
    std::string status_;
    int progress_ = 0;
    unsigned ticks_ = 0;
    std::size_t width_ = 0;
};

/// Sizes for people, in powers of 1024: "512 B", "256.0 KB", "2.6 MB".
/// size_unit: the unit (0 B, 1 KB, 2 MB...) that suits `n`.
inline int size_unit(std::uint64_t n)
{
    int u = 0;
    for (double v = static_cast<double>(n); v >= 1024 && u < 4; v /= 1024) ++u;
    return u;
}
inline std::string scaled(std::uint64_t n, int unit)
{
    if (unit == 0) return std::to_string(n);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(n) / std::pow(1024.0, unit));
    return buf;
}
inline constexpr const char* unit_names[] = {"B", "KB", "MB", "GB", "TB"};
inline std::string size_text(std::uint64_t n)
{
    int u = size_unit(n);
    return scaled(n, u) + " " + unit_names[u];
}

/// Download progress on stderr. On a terminal: one line redrawn in place,
/// `[1/2] #########...........  45%  1.2/2.6 MB`. Otherwise one line per
/// file once downloaded: `downloaded ./videos/ID-0.mp4 (256.0 KB)`.
class download_display {
public:
    download_display() : tty_(::isatty(STDERR_FILENO) == 1) {}

    void begin(const evolink::task& t, const std::filesystem::path& dir)
    {
        urls_ = t.results;
        index_ = 0;
        drawn_index_ = static_cast<std::size_t>(-1);
        seen_ = complete_ = false;
        received_ = 0;
        if (!tty_)
            std::cerr << "downloading " << urls_.size() << (urls_.size() == 1 ? " result" : " results") << " of "
                      << t.id << " to " << dir.string() << '\n';
    }

    void operator()(const evolink::download_progress& p)
    {
        // Which file: its URL says; after a redirect (another URL), a count
        // that starts again after a complete file is the next file.
        if (index_ < urls_.size()) {
            auto it = std::find(urls_.begin() + static_cast<std::ptrdiff_t>(index_), urls_.end(), p.url);
            if (it != urls_.end()) index_ = static_cast<std::size_t>(it - urls_.begin());
            else if (seen_ && complete_ && p.received < received_ && index_ + 1 < urls_.size()) ++index_;
        }
        bool next_file = index_ != drawn_index_;
        seen_ = true;
        received_ = p.received;
        complete_ = p.total && p.received == *p.total;
        if (!tty_) return;
        // Bytes arrive in small pieces: redraw at most 10 times a second
        // (and always for a new file and at the end of one).
        auto now = std::chrono::steady_clock::now();
        if (!line_.empty() && !next_file && !complete_ && now - drawn_at_ < 100ms) return;
        drawn_at_ = now;
        drawn_index_ = index_;
        std::string line = "[" + std::to_string(index_ + 1) + "/" + std::to_string(urls_.size()) + "] ";
        if (p.total && *p.total > 0) {
            auto pct = static_cast<int>(std::min<std::uint64_t>(100, p.received * 100 / *p.total));
            auto filled = static_cast<std::size_t>(pct / 5);
            char percent[8];
            std::snprintf(percent, sizeof percent, "%3d%%", pct);
            int u = size_unit(*p.total);
            line += std::string(filled, '#') + std::string(20 - filled, '.') + " " + percent + "  " +
                    scaled(p.received, u) + "/" + scaled(*p.total, u) + " " + unit_names[u];
        } else {
            line += size_text(p.received);
        }
        if (p.resumes > 0) line += "  (resumed " + std::to_string(p.resumes) + "x)";
        if (line == line_) return;
        std::cerr << '\r' << line << std::string(line_.size() > line.size() ? line_.size() - line.size() : 0, ' ')
                  << std::flush;
        line_ = std::move(line);
    }

    /// Ends the bar; off a terminal, names the files downloaded.
    void end(const std::vector<evolink::download_result>& files)
    {
        if (tty_ && !line_.empty()) std::cerr << '\n';
        line_.clear();
        if (!tty_)
            for (auto& f : files) std::cerr << "downloaded " << f.path.string() << " (" << size_text(f.bytes) << ")\n";
    }

private:
    bool tty_;
    std::vector<std::string> urls_;
    std::size_t index_ = 0, drawn_index_ = 0;
    std::chrono::steady_clock::time_point drawn_at_{};
    bool seen_ = false, complete_ = false;
    std::uint64_t received_ = 0;
    std::string line_;
};

} // namespace evolink_cli

#endif
