// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REQUESTS_HPP
#define EVOLINK_REQUESTS_HPP

/// Generation requests: one typed struct per Wan 2.5 model, plus
/// `generic_request` for any other model. Optional fields left unset are not
/// serialized, so the service applies its own defaults. `validate()` checks
/// every documented limit; `client::submit` calls it before sending anything.

#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <concepts>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evolink {

/// Endpoint paths of the task-creation API.
namespace endpoints {
inline constexpr std::string_view images = "/v1/images/generations";
inline constexpr std::string_view videos = "/v1/videos/generations";
} // namespace endpoints

/// wan2.5-text-to-image: a prompt in, 1 to 4 images out.
struct text_to_image {
    static constexpr std::string_view model = "wan2.5-text-to-image";
    static constexpr std::string_view endpoint = endpoints::images;

    std::string prompt{};                      ///< required, at most 2000 characters
    std::optional<std::string> size{};         ///< "WxH"; pixels in [768x768, 1440x1440], ratio in [1/4, 4]
    std::optional<int> n{};                    ///< 1 to 4 (pre-billed by n)
    std::optional<bool> prompt_extend{};       ///< service default: true
    std::optional<std::string> callback_url{}; ///< https, public host, at most 2048 characters

    bool operator==(const text_to_image&) const = default;
};

/// wan2.5-image-to-image: a prompt and 1 or 2 reference images.
struct image_to_image {
    static constexpr std::string_view model = "wan2.5-image-to-image";
    static constexpr std::string_view endpoint = endpoints::images;

    std::string prompt{};                  ///< required, at most 2000 characters
    std::vector<std::string> image_urls{}; ///< required, 1 or 2 http(s) URLs
    std::optional<int> n{};                ///< 1 to 4
    std::optional<std::string> callback_url{};

    bool operator==(const image_to_image&) const = default;
};

/// wan2.5-image-to-video: the first frame as an image, a prompt, a video out.
struct image_to_video {
    static constexpr std::string_view model = "wan2.5-image-to-video";
    static constexpr std::string_view endpoint = endpoints::videos;

    std::string prompt{};                 ///< required, at most 2000 characters
    std::string image_url{};              ///< required; sent as `image_urls: [image_url]`
    std::optional<int> duration{};        ///< 5 or 10 seconds (pre-billed by duration)
    std::optional<std::string> quality{}; ///< "480p", "720p" (service default) or "1080p"
    std::optional<bool> prompt_extend{};
    std::optional<std::string> callback_url{};

    bool operator==(const image_to_video&) const = default;
};

/// wan2.5-text-to-video.
struct text_to_video {
    static constexpr std::string_view model = "wan2.5-text-to-video";
    static constexpr std::string_view endpoint = endpoints::videos;

    std::string prompt{};                      ///< required, at most 2000 characters
    std::optional<std::string> aspect_ratio{}; ///< 480p: 16:9, 9:16, 1:1; 720p/1080p also 4:3, 3:4
    std::optional<std::string> quality{};      ///< "480p", "720p" (service default) or "1080p"
    std::optional<int> duration{};             ///< 5 or 10 seconds
    std::optional<bool> prompt_extend{};
    std::optional<std::string> callback_url{};

    bool operator==(const text_to_video&) const = default;
};

/// Any model, any fields: for models without a typed request (wan2.6, kling,
/// seedance...). `fields` is sent as is, with "model" added. Only the rules
/// that hold for every model are checked: a model name, an endpoint path,
/// and `callback_url` when present.
struct generic_request {
    std::string model{};
    std::string endpoint = std::string(endpoints::videos);
    boost::json::object fields{};

    bool operator==(const generic_request&) const = default;
};

/// What validate() may relax. Only for tests and local development.
struct validation_options {
    /// Accept callback URLs on loopback and private networks (the fake
    /// server delivers callbacks to loopback); the real service refuses them.
    bool allow_private_callback_urls = false;
};

namespace detail {

template <class T>
void put(boost::json::object& o, std::string_view key, const std::optional<T>& v)
{
    if (v) o[key] = *v;
}

EVOLINK_INLINE check_result check_optional_callback(const std::optional<std::string>& url, const validation_options& v)
{
    return url ? check_callback_url(*url, v.allow_private_callback_urls) : std::nullopt;
}

} // namespace detail

// --- validation -----------------------------------------------------------
// Each returns nothing when the request may be sent, else diagnostics whose
// `param` names the field and whose `message` says what is wrong and what is
// allowed. The error code that goes with it is errc::invalid_request.

EVOLINK_INLINE std::optional<diagnostics> validate(const text_to_image& r, const validation_options& v = {})
{
    if (auto e = detail::check_prompt(r.prompt)) return e;
    if (r.size) if (auto e = detail::check_size(*r.size)) return e;
    if (r.n) if (auto e = detail::check_range("n", *r.n, 1, 4)) return e;
    return detail::check_optional_callback(r.callback_url, v);
}

EVOLINK_INLINE std::optional<diagnostics> validate(const image_to_image& r, const validation_options& v = {})
{
    if (auto e = detail::check_prompt(r.prompt)) return e;
    if (auto e = detail::check_image_urls(r.image_urls, 1, 2)) return e;
    if (r.n) if (auto e = detail::check_range("n", *r.n, 1, 4)) return e;
    return detail::check_optional_callback(r.callback_url, v);
}

EVOLINK_INLINE std::optional<diagnostics> validate(const image_to_video& r, const validation_options& v = {})
{
    if (auto e = detail::check_prompt(r.prompt)) return e;
    if (r.image_url.empty())
        return detail::invalid("image_url", "is empty; allowed: exactly 1 http(s) image URL");
    if (auto e = detail::check_image_url("image_url", r.image_url)) return e;
    if (r.duration) if (auto e = detail::check_duration(*r.duration)) return e;
    if (r.quality) if (auto e = detail::check_quality(*r.quality)) return e;
    return detail::check_optional_callback(r.callback_url, v);
}

EVOLINK_INLINE std::optional<diagnostics> validate(const text_to_video& r, const validation_options& v = {})
{
    if (auto e = detail::check_prompt(r.prompt)) return e;
    if (r.quality) if (auto e = detail::check_quality(*r.quality)) return e;
    if (r.aspect_ratio)
        if (auto e = detail::check_aspect_ratio(*r.aspect_ratio, r.quality.value_or("720p"))) return e;
    if (r.duration) if (auto e = detail::check_duration(*r.duration)) return e;
    return detail::check_optional_callback(r.callback_url, v);
}

EVOLINK_INLINE std::optional<diagnostics> validate(const generic_request& r, const validation_options& v = {})
{
    if (r.model.empty()) return detail::invalid("model", "is empty; allowed: a model name like \"wan2.6-text-to-video\"");
    bool path_ok = r.endpoint.starts_with("/v1/") &&
                   r.endpoint.find_first_of("?#% \t\r\n") == std::string::npos &&
                   r.endpoint.find("..") == std::string::npos;
    if (!path_ok)
        return detail::invalid("endpoint", detail::quoted(r.endpoint) +
                                               " is not an API path; allowed: a path under /v1/, like "
                                               "\"/v1/videos/generations\"");
    if (auto it = r.fields.find("model"); it != r.fields.end())
        if (!it->value().is_string() || it->value().get_string() != r.model)
            return detail::invalid("model", "is " + detail::quoted(r.model) + " but fields[\"model\"] is " +
                                                (it->value().is_string() ? detail::quoted(it->value().get_string())
                                                                         : std::string("not a string")) +
                                                "; allowed: no \"model\" in fields, or the same value");
    if (auto it = r.fields.find("callback_url"); it != r.fields.end()) {
        if (!it->value().is_string()) return detail::invalid("callback_url", "is not a string; allowed: an https URL");
        return detail::check_callback_url(it->value().get_string(), v.allow_private_callback_urls);
    }
    return std::nullopt;
}

// --- serialization --------------------------------------------------------
// The JSON body sent to the service: "model" plus the fields that are set.

EVOLINK_INLINE boost::json::object to_json(const text_to_image& r)
{
    boost::json::object o{{"model", r.model}, {"prompt", r.prompt}};
    detail::put(o, "size", r.size);
    detail::put(o, "n", r.n);
    detail::put(o, "prompt_extend", r.prompt_extend);
    detail::put(o, "callback_url", r.callback_url);
    return o;
}

EVOLINK_INLINE boost::json::object to_json(const image_to_image& r)
{
    boost::json::object o{{"model", r.model}, {"prompt", r.prompt}};
    boost::json::array urls(r.image_urls.begin(), r.image_urls.end());
    o["image_urls"] = std::move(urls);
    detail::put(o, "n", r.n);
    detail::put(o, "callback_url", r.callback_url);
    return o;
}

EVOLINK_INLINE boost::json::object to_json(const image_to_video& r)
{
    boost::json::object o{{"model", r.model}, {"prompt", r.prompt}};
    o["image_urls"] = boost::json::array{boost::json::value(r.image_url)};
    detail::put(o, "duration", r.duration);
    detail::put(o, "quality", r.quality);
    detail::put(o, "prompt_extend", r.prompt_extend);
    detail::put(o, "callback_url", r.callback_url);
    return o;
}

EVOLINK_INLINE boost::json::object to_json(const text_to_video& r)
{
    boost::json::object o{{"model", r.model}, {"prompt", r.prompt}};
    detail::put(o, "aspect_ratio", r.aspect_ratio);
    detail::put(o, "quality", r.quality);
    detail::put(o, "duration", r.duration);
    detail::put(o, "prompt_extend", r.prompt_extend);
    detail::put(o, "callback_url", r.callback_url);
    return o;
}

EVOLINK_INLINE boost::json::object to_json(const generic_request& r)
{
    boost::json::object o = r.fields;
    o["model"] = r.model;
    return o;
}

/// The endpoint path a request is POSTed to.
template <class R>
std::string_view endpoint_of(const R& r)
{
    return r.endpoint;
}

/// Anything `client::submit` accepts: a typed request or generic_request.
template <class R>
concept request = requires(const R& r) {
    { validate(r, validation_options{}) } -> std::same_as<std::optional<diagnostics>>;
    { to_json(r) } -> std::same_as<boost::json::object>;
    { endpoint_of(r) } -> std::convertible_to<std::string_view>;
};

/// Typed requests for the images endpoint (client::image accepts them).
template <class R>
concept image_request = request<R> && requires { requires R::endpoint == endpoints::images; };

/// Typed requests for the videos endpoint (client::video accepts them).
template <class R>
concept video_request = request<R> && requires { requires R::endpoint == endpoints::videos; };

} // namespace evolink

#endif
