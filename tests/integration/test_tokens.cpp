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
