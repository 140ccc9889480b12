// The file journal read back after crashes (no sockets).
#include <evolink.hpp>
#include "../support/files.hpp" // after the library: see support/fixture.hpp
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

using test_support::read_all;
using test_support::temp_dir;

std::vector<std::string> ids(const std::vector<evolink::journal_entry>& v)
{
    std::vector<std::string> out;
    for (auto& e : v) out.push_back(e.task_id);
    return out;
}

evolink::journal_entry entry(std::string id) { return {std::move(id), "wan2.5-text-to-video", "video", 1700000000}; }

} // namespace

TEST_CASE("a journal whose last record was torn by a crash keeps every later record readable")
{
    temp_dir dir;
    auto full = dir.path / "full";
    {
        evolink::file_journal j(full.string());
        j.add(entry("task-a"));
        j.add(entry("task-b"));
        j.finish("task-a", "completed");
        j.add(entry("task-c")); // the record the crash tears
    }
    std::string bytes = read_all(full);
    REQUIRE(bytes.ends_with("\n"));
    auto last_start = bytes.rfind('\n', bytes.size() - 2) + 1;
    // Every cut inside the last record: from nothing of it to all but its newline.
    for (auto cut = last_start; cut < bytes.size(); ++cut) {
        INFO("cut at byte " << cut << " of " << bytes.size());
        auto torn = dir.path / ("torn-" + std::to_string(cut));
        std::ofstream(torn, std::ios::binary) << bytes.substr(0, cut);
        evolink::file_journal j(torn.string());
        j.add(entry("task-d")); // written after the restart
        // The last record counts only when all of its JSON made it.
        std::vector<std::string> expected{"task-b"};
        if (cut == bytes.size() - 1) expected.push_back("task-c");
        expected.push_back("task-d");
        CHECK(ids(j.unfinished()) == expected);
        j.finish("task-d", "completed");
        expected.pop_back();
        CHECK(ids(j.unfinished()) == expected);
    }
}

TEST_CASE("a journal that ends with a whole line is appended to as is")
{
    temp_dir dir;
    auto path = dir.path / "j";
    {
        evolink::file_journal j(path.string());
        j.add(entry("task-a"));
    }
    evolink::file_journal j(path.string());
    j.add(entry("task-b"));
    auto text = read_all(path);
    CHECK(text.find("\n\n") == std::string::npos); // no empty line added
    CHECK(ids(j.unfinished()) == std::vector<std::string>{"task-a", "task-b"});
}
