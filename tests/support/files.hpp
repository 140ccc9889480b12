// Scratch folders and whole-file reads, for every test executable (no
// sockets, no evolink headers: the unit tests include it too).
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace test_support {

namespace fs = std::filesystem;

/// A fresh empty folder under the system's temporary folder, removed at the
/// end (also when a test left files in it without permissions).
struct temp_dir {
    fs::path path;

    temp_dir()
    {
        std::random_device rd;
        path = fs::temp_directory_path() / ("evolink-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~temp_dir()
    {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        for (auto& e : fs::directory_iterator(path, ec))
            fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    /// Writes `bytes` to `name` in the folder (replacing it); returns its path.
    fs::path write(const std::string& name, std::string_view bytes) const
    {
        std::ofstream(path / name, std::ios::binary | std::ios::trunc)
            .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return path / name;
    }
    fs::path write(const std::string& name, const std::vector<unsigned char>& bytes) const
    {
        return write(name, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    }

    /// The names of the folder's entries, sorted.
    std::vector<std::string> names() const
    {
        std::vector<std::string> out;
        for (auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }
    std::size_t entries() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {})); }
    /// Regular files, in sub-folders too.
    std::size_t files() const
    {
        std::size_t n = 0;
        for (auto& e : fs::recursive_directory_iterator(path)) n += e.is_regular_file();
        return n;
    }
};

/// The whole file, byte for byte ("" when it cannot be read).
inline std::string read_all(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace test_support
