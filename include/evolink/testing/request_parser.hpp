// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_REQUEST_PARSER_HPP
#define EVOLINK_TESTING_REQUEST_PARSER_HPP

/// evolink::testing::from_json: the inverse of to_json (requests.hpp),
/// strict: a missing required field, a value of the wrong JSON type, another
/// model or a field the model does not document is an error naming the
/// field. The fake server parses request bodies with it, as EvoLink would
/// refuse them; a client has no use for it, so it lives in the test kit.

#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>
#include <evolink/requests.hpp>

#include <boost/json/object.hpp>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evolink {

namespace detail {

class field_reader {
public:
    field_reader(const boost::json::object& o, std::initializer_list<std::string_view> allowed)
        : o_(o)
    {
        for (auto& kv : o) {
            if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end() && kv.key() != "model") {
                std::string list;
                for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
                fail(invalid(kv.key(), "is not a field of this model; allowed: model, " + list));
                return;
            }
        }
    }

    void string(std::string_view key, std::string& out)
    {
        if (auto* v = get(key, "a string", &boost::json::value::is_string))
            out = v->get_string();
        else if (!err && !o_.contains(key))
            fail(invalid(key, "is missing; it is required"));
    }
    void string(std::string_view key, std::optional<std::string>& out)
    {
        if (auto* v = get(key, "a string", &boost::json::value::is_string)) out = std::string(v->get_string());
    }
    void integer(std::string_view key, std::optional<int>& out)
    {
        if (auto* v = get(key, "an integer", &boost::json::value::is_int64)) {
            auto i = v->get_int64();
            if (i < -1000000 || i > 1000000) fail(invalid(key, std::to_string(i) + " is out of range"));
            else out = static_cast<int>(i);
        }
    }
    void boolean(std::string_view key, std::optional<bool>& out)
    {
        if (auto* v = get(key, "a boolean", &boost::json::value::is_bool)) out = v->get_bool();
    }
    void strings(std::string_view key, std::vector<std::string>& out)
    {
        auto* v = get(key, "an array of strings", &boost::json::value::is_array);
        if (!v) {
            if (!err && !o_.contains(key)) fail(invalid(key, "is missing; it is required"));
            return;
        }
        for (auto& e : v->get_array()) {
            if (!e.is_string()) return fail(invalid(key, "is not an array of strings"));
            out.emplace_back(e.get_string());
        }
    }

    std::optional<diagnostics> err{};

private:
    const boost::json::value* get(std::string_view key, std::string_view what, bool (boost::json::value::*is)() const noexcept)
    {
        if (err) return nullptr;
        auto it = o_.find(key);
        if (it == o_.end()) return nullptr;
        if (!(it->value().*is)()) {
            fail(invalid(key, "is not " + std::string(what)));
            return nullptr;
        }
        return &it->value();
    }
    void fail(diagnostics d)
    {
        if (!err) err = std::move(d);
    }
    const boost::json::object& o_;
};

EVOLINK_INLINE std::optional<diagnostics> check_model(const boost::json::object& o, std::string_view model)
{
    auto it = o.find("model");
    if (it == o.end() || !it->value().is_string() || it->value().get_string() != model)
        return invalid("model", "is not " + detail::quoted(model));
    return std::nullopt;
}

} // namespace detail

namespace testing {

EVOLINK_INLINE std::optional<diagnostics> from_json(const boost::json::object& o, text_to_image& r)
{
    r = text_to_image{};
    if (auto e = evolink::detail::check_model(o, r.model)) return e;
    evolink::detail::field_reader f(o, {"prompt", "size", "n", "prompt_extend", "callback_url"});
    f.string("prompt", r.prompt);
    f.string("size", r.size);
    f.integer("n", r.n);
    f.boolean("prompt_extend", r.prompt_extend);
    f.string("callback_url", r.callback_url);
    return f.err;
}

EVOLINK_INLINE std::optional<diagnostics> from_json(const boost::json::object& o, image_to_image& r)
{
    r = image_to_image{};
    if (auto e = evolink::detail::check_model(o, r.model)) return e;
    evolink::detail::field_reader f(o, {"prompt", "image_urls", "n", "callback_url"});
    f.string("prompt", r.prompt);
    f.strings("image_urls", r.image_urls);
    f.integer("n", r.n);
    f.string("callback_url", r.callback_url);
    return f.err;
}

EVOLINK_INLINE std::optional<diagnostics> from_json(const boost::json::object& o, image_to_video& r)
{
    r = image_to_video{};
    if (auto e = evolink::detail::check_model(o, r.model)) return e;
    evolink::detail::field_reader f(o, {"prompt", "image_urls", "duration", "quality", "prompt_extend", "callback_url"});
    std::vector<std::string> urls{};
    f.string("prompt", r.prompt);
    f.strings("image_urls", urls);
    f.integer("duration", r.duration);
    f.string("quality", r.quality);
    f.boolean("prompt_extend", r.prompt_extend);
    f.string("callback_url", r.callback_url);
    if (!f.err && urls.size() != 1)
        return evolink::detail::invalid("image_urls", "has " + std::to_string(urls.size()) + " images; allowed: exactly 1 image");
    if (!urls.empty()) r.image_url = urls.front();
    return f.err;
}

EVOLINK_INLINE std::optional<diagnostics> from_json(const boost::json::object& o, text_to_video& r)
{
    r = text_to_video{};
    if (auto e = evolink::detail::check_model(o, r.model)) return e;
    evolink::detail::field_reader f(o, {"prompt", "aspect_ratio", "quality", "duration", "prompt_extend", "callback_url"});
    f.string("prompt", r.prompt);
    f.string("aspect_ratio", r.aspect_ratio);
    f.string("quality", r.quality);
    f.integer("duration", r.duration);
    f.boolean("prompt_extend", r.prompt_extend);
    f.string("callback_url", r.callback_url);
    return f.err;
}

} // namespace testing

} // namespace evolink

#endif
