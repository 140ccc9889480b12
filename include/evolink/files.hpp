// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_FILES_HPP
#define EVOLINK_FILES_HPP

/// The Files API (https://files-api.evolink.ai): turns a local file, bytes in
/// memory or a remote URL into a URL the generation API can fetch (an
/// `image_urls` entry), and lists, counts and deletes uploads. Also the types
/// of downloads (client::download, client::download_results).
///
/// Errors: the Files API answers failures as `{"success":false,"code":N,
/// "msg":"..."}`, with a non-2xx status or with 200. Its own codes (40001
/// and up) are `files_errc` (category "evolink.files", the value is the
/// code); any other failure is an `api_errc` (the HTTP status, or the code
/// when the status was 200).

#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evolink {

/// The Files API's own error codes. The numeric value is the code.
enum class files_errc {
    file_too_large = 40001,        ///< over the service's size limit
    file_type_not_allowed = 40002, ///< images: jpeg, png, gif, webp only
    quota_exceeded = 40003,        ///< too many files stored: delete some (client::delete_file)
    url_download_failed = 40004,   ///< upload_url: the service could not fetch the URL
    storage_error = 50001,         ///< the service's storage failed
};

namespace detail {
class files_category_impl final : public boost::system::error_category {
public:
    constexpr files_category_impl() noexcept : error_category(0x6576'6f6c'696e'6b33ULL) {}
    const char* name() const noexcept override { return "evolink.files"; }
    std::string message(int code) const override
    {
        switch (code) {
        case 40001: return "Files API 40001: file too large";
        case 40002: return "Files API 40002: file type not allowed";
        case 40003: return "Files API 40003: file quota exceeded";
        case 40004: return "Files API 40004: could not download the URL";
        case 50001: return "Files API 50001: storage error";
        }
        return "Files API error " + std::to_string(code);
    }
};
} // namespace detail

EVOLINK_INLINE const boost::system::error_category& files_category() noexcept
{
    static const detail::files_category_impl cat;
    return cat;
}

EVOLINK_INLINE error_code make_error_code(files_errc e) noexcept
{
    return {static_cast<int>(e), files_category()};
}

/// An uploaded file. `file_url` is what goes into `image_urls`. Files expire
/// 72 hours after upload.
struct file_info {
    std::string file_id;
    std::string file_name;
    std::string original_name;
    std::uint64_t file_size = 0;
    std::string mime_type;
    std::string upload_path;
    std::string file_url;
    std::string download_url;
    std::string upload_time;
    std::string expires_at;
};

/// One page of client::list_files.
struct file_list {
    std::uint64_t total = 0; ///< files stored, all pages together
    std::vector<file_info> files;
};

/// client::file_quota: how many files the key may still store.
struct file_quota {
    std::string user_group;
    std::uint64_t used_files = 0;
    std::uint64_t max_files = 0;
    std::uint64_t remain_files = 0;
};

/// Optional fields of an upload.
struct upload_options {
    // Not an aggregate: see wait_options (a g++ 12 bug with temporaries).
    upload_options() = default;

    std::string upload_path{}; ///< a server-side folder
    std::string file_name{};   ///< the stored name; empty: the service chooses

    using is_evolink_options = void;
};

/// Where a download is, passed to download_options::on_progress.
struct download_progress {
    std::string_view url;                ///< the URL being read (after redirects)
    std::uint64_t received = 0;          ///< bytes on disk so far
    std::optional<std::uint64_t> total;  ///< the whole size, when the server said
    unsigned resumes = 0;                ///< broken transfers resumed (or restarted) so far
};

struct download_options {
    // Not an aggregate: see wait_options (a g++ 12 bug with temporaries).
    download_options() = default;

    /// Called on the client's strand whenever bytes arrive (each read from
    /// the connection: often a few KiB), and once at the end. Must not block;
    /// throttle any drawing yourself.
    std::function<void(const download_progress&)> on_progress{};
    /// Refused before writing when the server announces more, stopped when
    /// more arrives: errc::response_too_large. Default 2 GiB.
    std::uint64_t max_bytes = std::uint64_t(2) << 30;
    unsigned max_redirects = 5; ///< 301/302/303/307/308 followed; more: errc::protocol_error
    /// Replace an existing file at the destination (atomically). Off: an
    /// existing file fails the download before anything is fetched.
    bool overwrite = true;
    /// How long a read may wait for the next bytes (not the whole transfer);
    /// zero: client_options::request_timeout.
    std::chrono::milliseconds stall_timeout{0};

    using is_evolink_options = void;
};

/// A finished download.
struct download_result {
    std::filesystem::path path;    ///< the file written (its final name)
    std::uint64_t bytes = 0;
    std::string content_type;
    std::string url;               ///< the URL finally read (after redirects)
    unsigned redirects = 0;
    unsigned resumes = 0;          ///< broken transfers resumed by Range (or restarted)
};

} // namespace evolink

namespace boost::system {
template <>
struct is_error_code_enum<evolink::files_errc> : std::true_type {};
} // namespace boost::system

#endif
