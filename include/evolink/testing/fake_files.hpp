// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_FAKE_FILES_HPP
#define EVOLINK_TESTING_FAKE_FILES_HPP

/// The Files API side of the fake server (evolink/testing/fake_server.hpp):
/// uploads (multipart stream, base64, URL), list, quota, delete, and the
/// uploaded files served back at their file_url. Failures use both of the
/// service's forms: a non-2xx status (401, 404, 413 with 40001, 403 with
/// 40003) and a 200 with "success": false (40002, 40004).

#include <evolink/detail/http_server.hpp>
#include <evolink/images.hpp>
#include <evolink/testing/fake_file.hpp>

#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace evolink::testing {

namespace detail {

class fake_files {
public:
    using response = evolink::detail::server_response;
    using request = evolink::detail::server_request;
    /// Fetches a URL the fake itself serves (URL uploads): the bytes, or
    /// nothing for any other URL.
    using self_fetch = std::function<std::optional<std::string>(std::string_view url)>;

    std::size_t max_file_bytes = 10 * 1024 * 1024;
    std::size_t quota = 100;

    /// Answers a Files API request (`/api/v1/files/...` or `/files/...`), or
    /// nothing when the path is not one. `authorized`: the bearer key matched.
    std::optional<response> handle(const request& req, bool authorized, const std::string& base_url, const self_fetch& fetch)
    {
        namespace http = boost::beast::http;
        std::string_view target(req.target());
        if (target.starts_with("/files/")) return serve(req, target);
        constexpr std::string_view api = "/api/v1/files/";
        if (!target.starts_with(api)) return std::nullopt;
        if (!authorized) return envelope(401, 401, "Invalid or missing API key");
        auto route = target.substr(api.size());
        auto query = route.find('?');
        auto path = route.substr(0, query);
        if (req.method() == http::verb::post && path == "upload/stream") return upload_stream(req, base_url);
        if (req.method() == http::verb::post && (path == "upload/base64" || path == "upload/url")) {
            boost::system::error_code ec;
            auto v = boost::json::parse(req.body(), ec);
            if (ec || !v.is_object()) return envelope(400, 400, "the body is not a JSON object");
            auto& o = v.get_object();
            auto text = [&](std::string_view k) {
                auto* x = o.if_contains(k);
                return x && x->is_string() ? std::string(x->get_string()) : std::string();
            };
            std::string bytes, mime, name;
            if (path == "upload/base64") {
                std::string data = text("base64_data");
                if (data.empty()) return envelope(400, 400, "base64_data is required");
                if (data.starts_with("data:")) {
                    auto comma = data.find(',');
                    if (comma == std::string::npos) return envelope(400, 400, "base64_data: a data URL without a comma");
                    mime = data.substr(5, data.find(';') - 5);
                    data.erase(0, comma + 1);
                }
                auto decoded = decode_base64(data);
                if (!decoded) return envelope(400, 400, "base64_data is not valid base64");
                bytes = std::move(*decoded);
                name = "upload" + std::string(extension_of(mime));
            } else {
                std::string url = text("file_url");
                if (url.empty()) return envelope(400, 400, "file_url is required");
                auto got = fetch(url);
                if (!got) return envelope(200, 40004, "failed to download the file from " + url);
                bytes = std::move(*got);
                auto slash = url.rfind('/');
                name = url.substr(slash + 1, url.find('?', slash) - slash - 1);
            }
            return store(std::move(bytes), std::move(name), text("file_name"), text("upload_path"), base_url);
        }
        if (req.method() == http::verb::get && path == "list") {
            auto param = [&](std::string_view key, std::size_t fallback) {
                auto q = query == std::string_view::npos ? std::string_view() : route.substr(query + 1);
                auto pos = q.find(std::string(key) + "=");
                if (pos == std::string_view::npos) return fallback;
                std::size_t v = 0;
                for (auto i = pos + key.size() + 1; i < q.size() && q[i] >= '0' && q[i] <= '9'; ++i) v = v * 10 + (q[i] - '0');
                return v == 0 ? fallback : v;
            };
            std::size_t page = param("page", 1), size = param("pageSize", 20);
            std::lock_guard lock(mutex_);
            boost::json::array list;
            std::size_t i = 0;
            for (auto& [id, f] : files_) {
                if (i++ / size + 1 == page) list.push_back(info_json(f, base_url));
            }
            return envelope(200, 200, "ok", boost::json::object{{"total", files_.size()}, {"files", std::move(list)}});
        }
        if (req.method() == http::verb::get && path == "quota") {
            std::lock_guard lock(mutex_);
            return envelope(200, 200, "ok",
                            boost::json::object{{"user_group", "default"},
                                                {"used_files", files_.size()},
                                                {"max_files", quota},
                                                {"remain_files", quota > files_.size() ? quota - files_.size() : 0}});
        }
        if (req.method() == http::verb::delete_ && !path.empty() && path.find('/') == std::string_view::npos) {
            std::lock_guard lock(mutex_);
            if (!files_.erase(std::string(path))) return envelope(404, 404, "file not found: " + std::string(path));
            return envelope(200, 200, "deleted");
        }
        return envelope(404, 404, "no such Files API endpoint: " + std::string(target));
    }

    /// The files stored now, by id.
    std::map<std::string, fake_file> files() const
    {
        std::lock_guard lock(mutex_);
        return files_;
    }

private:
    static response envelope(unsigned status, int code, std::string msg,
                             std::optional<boost::json::object> data = std::nullopt)
    {
        boost::json::object o{{"success", code == 200}, {"code", code}, {"msg", std::move(msg)}};
        if (data) o["data"] = std::move(*data);
        auto res = evolink::detail::plain_response(status, boost::json::serialize(o));
        res.set(boost::beast::http::field::server, "evolink-fake-files");
        return res;
    }

    static std::string_view extension_of(std::string_view mime)
    {
        if (mime == "image/png") return ".png";
        if (mime == "image/jpeg") return ".jpg";
        if (mime == "image/webp") return ".webp";
        if (mime == "image/gif") return ".gif";
        return "";
    }

    static std::optional<std::string> decode_base64(std::string_view in)
    {
        if (in.size() % 4 != 0) return std::nullopt;
        std::string out(in.size() / 4 * 3, '\0');
        int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
        if (n < 0) return std::nullopt;
        std::size_t pad = in.ends_with("==") ? 2 : in.ends_with("=") ? 1 : 0;
        out.resize(static_cast<std::size_t>(n) - pad);
        return out;
    }

    boost::json::object info_json(const fake_file& f, const std::string& base_url) const
    {
        std::string url = base_url + "/files/" + f.file_id + "/" + f.file_name;
        return {{"file_id", f.file_id},           {"file_name", f.file_name},
                {"original_name", f.original_name}, {"file_size", f.bytes.size()},
                {"mime_type", f.mime_type},       {"upload_path", f.upload_path},
                {"file_url", url},                {"download_url", url + "?download=1"},
                {"upload_time", "2026-11-22T10:00:00Z"}, {"expires_at", "2026-11-25T10:00:00Z"}};
    }

    /// Checks and stores a file: 40001 over the size limit, 40002 for a type
    /// that is not jpeg, png, gif or webp (read from its magic bytes), 40003
    /// beyond the quota.
    response store(std::string bytes, std::string original, std::string file_name, std::string upload_path,
                   const std::string& base_url)
    {
        if (bytes.size() > max_file_bytes)
            return envelope(413, 40001, "file too large: " + std::to_string(bytes.size()) + " bytes, at most " +
                                            std::to_string(max_file_bytes));
        std::string why;
        auto info = inspect_image(std::span(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()), why);
        bool allowed = info && (info->format == image_format::jpeg || info->format == image_format::png ||
                                info->format == image_format::gif || info->format == image_format::webp);
        if (!allowed) return envelope(200, 40002, "file type not allowed: images must be jpeg, png, gif or webp");
        std::lock_guard lock(mutex_);
        if (files_.size() >= quota)
            return envelope(403, 40003, "file quota exceeded: " + std::to_string(quota) + " files stored");
        fake_file f;
        f.file_id = "file_" + std::to_string(++ids_);
        f.original_name = original.empty() ? "upload" : original;
        f.file_name = file_name.empty() ? f.file_id + std::string(file_extension(info->format)) : file_name;
        f.mime_type = std::string(mime_type(info->format));
        f.upload_path = upload_path;
        f.bytes = std::move(bytes);
        auto json = info_json(f, base_url);
        files_[f.file_id] = std::move(f);
        return envelope(200, 200, "uploaded", std::move(json));
    }

    response upload_stream(const request& req, const std::string& base_url)
    {
        namespace http = boost::beast::http;
        std::string_view type = req[http::field::content_type];
        auto b = type.find("boundary=");
        if (!type.starts_with("multipart/form-data") || b == std::string_view::npos)
            return envelope(400, 400, "expected multipart/form-data with a boundary");
        std::string boundary = "--" + std::string(type.substr(b + 9));
        std::string_view body = req.body();
        std::map<std::string, std::string> fields;
        std::string file, filename;
        bool have_file = false;
        auto pos = body.find(boundary);
        while (pos != std::string_view::npos) {
            pos += boundary.size();
            if (body.substr(pos, 2) == "--") break; // the closing delimiter
            if (body.substr(pos, 2) != "\r\n") return envelope(400, 400, "malformed multipart body");
            auto head_end = body.find("\r\n\r\n", pos);
            if (head_end == std::string_view::npos) return envelope(400, 400, "malformed multipart part");
            auto head = body.substr(pos + 2, head_end - pos - 2);
            auto content_start = head_end + 4;
            auto next = body.find("\r\n" + boundary, content_start);
            if (next == std::string_view::npos) return envelope(400, 400, "multipart body without its closing boundary");
            auto content = body.substr(content_start, next - content_start);
            auto param = [&](std::string_view key) {
                auto k = head.find(std::string(key) + "=\"");
                if (k == std::string_view::npos) return std::string();
                auto start = k + key.size() + 2;
                return std::string(head.substr(start, head.find('"', start) - start));
            };
            // "filename=" contains "name=": look for the name parameter after a "; ".
            auto name_at = head.find("; name=\"");
            std::string name = name_at == std::string_view::npos
                                   ? std::string()
                                   : std::string(head.substr(name_at + 8, head.find('"', name_at + 8) - name_at - 8));
            if (name == "file") {
                have_file = true;
                file = std::string(content);
                filename = param("filename");
            } else if (!name.empty()) {
                fields[name] = std::string(content);
            }
            pos = next + 2;
        }
        if (!have_file) return envelope(400, 400, "the multipart body has no \"file\" part");
        return store(std::move(file), std::move(filename), fields["file_name"], fields["upload_path"], base_url);
    }

    response serve(const request& req, std::string_view target)
    {
        namespace http = boost::beast::http;
        auto rest = target.substr(std::string_view("/files/").size());
        auto id = std::string(rest.substr(0, rest.find('/')));
        std::lock_guard lock(mutex_);
        auto it = files_.find(id);
        if (req.method() != http::verb::get || it == files_.end())
            return evolink::detail::plain_response(404, "not found", "text/plain");
        return evolink::detail::plain_response(200, it->second.bytes, it->second.mime_type);
    }

    mutable std::mutex mutex_;
    std::map<std::string, fake_file> files_;
    std::uint64_t ids_ = 0;
};

} // namespace detail
} // namespace evolink::testing

#endif
