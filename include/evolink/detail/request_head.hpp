// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_REQUEST_HEAD_HPP
#define EVOLINK_DETAIL_REQUEST_HEAD_HPP

// A request's head, written as HTTP/1.1 text. The client's requests are a
// method, a target and a handful of fields it knows; Beast's request object
// allocated each field and its serializer made ~20 buffers, on every request
// (a sixth of a submit's allocations). This writes the head into one string.

#include <evolink/detail/config.hpp>

#include <boost/beast/http/verb.hpp>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace evolink::detail {

/// Whether two ASCII field names are equal, ignoring case.
EVOLINK_INLINE bool same_field_name(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

/// The fields of a request, then its text. Holds views: the names and values
/// given must outlive text(). Values are the client's own or checked before
/// (API key, user agent, Idempotency-Key, host): none holds CR or LF.
class request_head {
public:
    request_head(boost::beast::http::verb method, std::string_view target) : method_(method), target_(target) {}
    request_head(const request_head&) = delete; // content_length() points into it
    request_head& operator=(const request_head&) = delete;

    /// Sets a field. One set before under the same name (any case) is
    /// replaced where it stands, as Beast's fields::set does.
    void set(std::string_view name, std::string_view value)
    {
        for (std::size_t i = 0; i < count_; ++i)
            if (same_field_name(fields_[i].first, name)) {
                fields_[i].second = value;
                return;
            }
        if (count_ == fields_.size()) throw std::length_error("evolink: more than 16 fields in a request head");
        fields_[count_++] = {name, value};
    }

    void content_length(std::uint64_t n)
    {
        auto end = std::to_chars(length_.data(), length_.data() + length_.size(), n).ptr;
        set("Content-Length", std::string_view(length_.data(), static_cast<std::size_t>(end - length_.data())));
    }

    /// `METHOD target HTTP/1.1`, the fields in the order first set, a blank line.
    std::string text() const
    {
        auto method = boost::beast::http::to_string(method_);
        std::size_t size = method.size() + 1 + target_.size() + 11 + 2;
        for (std::size_t i = 0; i < count_; ++i) size += fields_[i].first.size() + 2 + fields_[i].second.size() + 2;
        std::string s;
        s.reserve(size);
        s.append(method.data(), method.size()).append(" ").append(target_).append(" HTTP/1.1\r\n");
        for (std::size_t i = 0; i < count_; ++i)
            s.append(fields_[i].first).append(": ").append(fields_[i].second).append("\r\n");
        s.append("\r\n");
        return s;
    }

private:
    boost::beast::http::verb method_;
    std::string_view target_;
    std::array<std::pair<std::string_view, std::string_view>, 16> fields_{};
    std::size_t count_ = 0;
    std::array<char, 24> length_{};
};

} // namespace evolink::detail

#endif
