// Completion tokens right after the required arguments (issue 11): each
// operation whose optional arguments come before the token also takes the
// token alone, with the defaults for what is left out.
#include "../support/fixture.hpp"

#include <boost/asio/deferred.hpp>

#include <filesystem>

namespace {

// Compile-time half: the overloads exist for every operation, and options,
// MIME types and page numbers are never mistaken for a token.
static_assert(requires(evolink::client& c, evolink::text_to_image i, evolink::image_to_video v) {
    c.image(i, asio::deferred);
    c.video(v, asio::deferred);
    c.generate(i, asio::deferred);
    c.upload_url("https://example.com/cat.png", asio::deferred);
    c.upload_file(std::filesystem::path("cat.png"), asio::deferred);
});
static_assert(evolink::completion_token_of<const asio::deferred_t&, evolink::task>);
static_assert(evolink::completion_token_of<evolink::default_token, evolink::task>);
static_assert(!evolink::completion_token_of<evolink::wait_options&, evolink::task>);
static_assert(!evolink::completion_token_of<const char (&)[10], evolink::file_info>);
static_assert(!evolink::completion_token_of<int, evolink::file_list>);
static_assert(!evolink::completion_token_of<evolink::diagnostics&, evolink::task>);

} // namespace

TEST_CASE("a completion token may follow the required arguments: wait, list_files, download, uploads")
{
    fixture fx;
    temp_dir dir;
    auto png = make_png(400, 400);
    auto on_disk = dir.write("cat.png", png);
    auto& client = fx.client;
    auto& server = fx.server;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_image(client, "a red fox");
        REQUIRE(t.status == evolink::task_status::completed);

        auto gets = server.count("GET", "/v1/tasks/");
        auto again = co_await client.wait(t.id, asio::deferred); // re-reads it
        CHECK(again.status == evolink::task_status::completed);
        CHECK(again.id == t.id);
        CHECK(server.count("GET", "/v1/tasks/") == gets + 1);
        auto same = co_await client.wait(t, asio::deferred); // already finished: no read
        CHECK(same.id == t.id);
        CHECK(server.count("GET", "/v1/tasks/") == gets + 1);

        auto typed = co_await client.upload_bytes(png, "image/png", asio::deferred);
        CHECK(typed.mime_type == "image/png");
        auto sniffed = co_await client.upload_bytes(png, asio::deferred);
        CHECK(sniffed.mime_type == "image/png"); // from the magic bytes, as with the default
        auto file = co_await client.upload_file(on_disk, asio::deferred);
        CHECK(file.file_size == png.size());

        auto list = co_await client.list_files(asio::deferred); // page 1, 20 a page
        CHECK(list.files.size() == 3);

        auto back = co_await client.download(typed.file_url, dir.path / "back.png", asio::deferred);
        CHECK(read_all(back.path) == png);

        auto [ec, results] =
            co_await client.download_results(t, dir.path / "results", asio::as_tuple(asio::use_awaitable));
        CHECK(!ec);
        CHECK(results.size() == t.results.size());
    });
}

TEST_CASE("with_diagnostics(diag, token) keeps the diagnostics with any token, on failure and on success")
{
    static_assert(evolink::completion_token_of<evolink::diagnostics_into_t<asio::deferred_t>, evolink::task>);
    fixture fx(no_retry);
    fx.run([&]() -> asio::awaitable<void> {
        const std::string bad_id = "task-unified-1756817821-nosuch00";

        // A token that returns the error.
        evolink::diagnostics d1;
        auto [ec, t] = co_await fx.client.get_task(bad_id, evolink::with_diagnostics(d1, asio::as_tuple(asio::deferred)));
        CHECK(ec == evolink::api_errc::not_found);
        CHECK(d1.http_status == 404);
        CHECK(!d1.message.empty());
        const std::string code = d1.code; // the fake's, for the forms below

        // No token: the default one throws evolink::error, and diag is filled too.
        evolink::diagnostics d2;
        bool threw = false;
        try {
            co_await fx.client.get_task(bad_id, evolink::with_diagnostics(d2));
        } catch (const evolink::error& e) {
            threw = true;
            CHECK(e.code() == evolink::api_errc::not_found);
            CHECK(e.get_diagnostics().http_status == 404);
        }
        CHECK(threw);
        CHECK(d2.http_status == 404);
        CHECK(d2.code == code);

        // On success too: the attempts it took.
        evolink::diagnostics d3;
        auto req = image_request("a fox");
        auto created = co_await fx.client.submit(req, evolink::with_diagnostics(d3, asio::deferred));
        CHECK(!created.id.empty());
        CHECK(d3.attempts == 1);

        // A plain callback, with bind_cancellation_slot inside: the
        // diagnostics are stored before the handler runs.
        asio::cancellation_signal never;
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer called(ex, std::chrono::steady_clock::time_point::max());
        evolink::diagnostics d4;
        evolink::error_code cb_ec;
        int status_seen = 0;
        fx.client.get_task(bad_id, evolink::with_diagnostics(d4, asio::bind_cancellation_slot(
                                                                 never.slot(), [&](evolink::error_code e, evolink::task) {
                                                                     cb_ec = e;
                                                                     status_seen = d4.http_status;
                                                                     called.cancel();
                                                                 })));
        co_await called.async_wait(asio::as_tuple(asio::use_awaitable));
        CHECK(cb_ec == evolink::api_errc::not_found);
        CHECK(status_seen == 404);
    });
}
