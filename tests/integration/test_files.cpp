// The Files API, local images in requests, and downloads, against the fake
// server over real TLS on loopback.
#include "../support/fixture.hpp"

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>

using evolink::errc;
using evolink::files_errc;
using evolink::testing::canned_response;
using evolink::testing::fake_server;
using evolink::testing::fake_server_options;
namespace fs = std::filesystem;

namespace {

template <class Op>
asio::awaitable<std::pair<evolink::error_code, evolink::diagnostics>> failure_of(Op op)
{
    try {
        co_await op();
    } catch (const evolink::error& e) {
        co_return std::pair{e.code(), e.get_diagnostics()};
    }
    co_return std::pair{evolink::error_code{}, evolink::diagnostics{}};
}

} // namespace

TEST_CASE("upload_file streams a multipart body and returns the file's URL; list, quota and delete see it")
{
    temp_dir dir;
    auto png = make_png(800, 600, {.filler = 200'000});
    auto path = dir.write("cat \"quoted\".png", png);
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::upload_options uo;
        uo.upload_path = "tests";
        auto f = co_await fx.client.upload_file(path, uo);
        CHECK(f.file_id.starts_with("file_"));
        CHECK(f.file_size == png.size());
        CHECK(f.mime_type == "image/png");
        CHECK(f.upload_path == "tests");
        CHECK(f.original_name == "cat _quoted_.png"); // quotes cannot end the header parameter
        CHECK(f.file_url.starts_with(fx.server.base_url() + "/files/"));

        auto seen = fx.server.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].target == "/api/v1/files/upload/stream");
        CHECK(seen[0].headers["authorization"] == "Bearer " + fx.server.api_key());
        CHECK(seen[0].headers["content-type"].starts_with("multipart/form-data; boundary="));
        CHECK(seen[0].headers["content-length"] == std::to_string(seen[0].body.size()));
        CHECK(contains(seen[0].body, "Content-Type: image/png"));
        REQUIRE(fx.server.files().size() == 1);
        CHECK(fx.server.files().begin()->second.bytes == png); // every byte arrived

        auto q = co_await fx.client.file_quota();
        CHECK(q.used_files == 1);
        CHECK(q.max_files == 100);
        CHECK(q.remain_files == 99);

        auto mem = co_await fx.client.upload_bytes(make_png(400, 400), "", {});
        CHECK(mem.mime_type == "image/png"); // read from the magic bytes
        CHECK(contains(fx.server.requests().back().body, "\"base64_data\":\"data:image/png;base64,"));

        auto list = co_await fx.client.list_files(1, 20);
        CHECK(list.total == 2);
        REQUIRE(list.files.size() == 2);

        // (No co_await inside CHECK: Catch's macro makes g++ evaluate it twice.)
        bool deleted = co_await fx.client.delete_file(f.file_id);
        CHECK(deleted);
        auto after = co_await fx.client.file_quota();
        CHECK(after.used_files == 1);
        CHECK(fx.server.files().count(mem.file_id) == 1);

        // The stored file comes back byte for byte from its URL.
        auto back = co_await fx.client.download(mem.file_url, dir.path / "back.png");
        CHECK(read_all(back.path) == fx.server.files().at(mem.file_id).bytes);
    });
}

TEST_CASE("upload_url has the service fetch a URL; its failure is files_errc::url_download_failed")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_image(fx.client, "a lighthouse");
        REQUIRE(t.results.size() == 1);
        auto f = co_await fx.client.upload_url(t.results[0]);
        CHECK(fx.server.files().at(f.file_id).bytes == fx.server.result_content(t.results[0]));

        auto [ec, d] = co_await failure_of([&] { return fx.client.upload_url("https://unreachable.example/cat.png"); });
        CHECK(ec == files_errc::url_download_failed);
        CHECK(d.http_status == 200); // the "200 with success: false" form
        CHECK(d.code == "40004");
        CHECK(contains(d.message, "failed to download"));

        auto [bad, bd] = co_await failure_of([&] { return fx.client.upload_url("ftp://example.com/a.png"); });
        CHECK(bad == errc::invalid_request);
        CHECK(bd.param == "file_url");
    });
}

TEST_CASE("Files API errors in both forms become clear errors, and no upload is resent after it was sent")
{
    temp_dir dir;
    fake_server_options so;
    so.max_file_bytes = 4096;
    so.file_quota = 2;
    fixture fx(so);
    fx.run([&]() -> asio::awaitable<void> {
        // 40001 with HTTP 413.
        auto big = dir.write("big.png", make_png(500, 500, {.filler = 8000}));
        auto [e1, d1] = co_await failure_of([&] { return fx.client.upload_file(big); });
        CHECK(e1 == files_errc::file_too_large);
        CHECK(d1.http_status == 413);
        CHECK(contains(d1.message, "file too large"));

        // 40002 with HTTP 200 and "success": false.
        auto text = dir.write("notes.txt", "just some text, not an image");
        auto [e2, d2] = co_await failure_of([&] { return fx.client.upload_file(text); });
        CHECK(e2 == files_errc::file_type_not_allowed);
        CHECK(d2.http_status == 200);
        CHECK(d2.code == "40002");

        // 40003 with HTTP 403, once the quota (2) is used.
        auto small = dir.write("small.png", make_png(500, 500));
        co_await fx.client.upload_file(small);
        co_await fx.client.upload_file(small);
        auto [e3, d3] = co_await failure_of([&] { return fx.client.upload_file(small); });
        CHECK(e3 == files_errc::quota_exceeded);
        CHECK(d3.http_status == 403);
        CHECK(evolink::error_code(e3).message() == "Files API 40003: file quota exceeded");

        // 50001 from storage: not resent (an upload may have been stored).
        auto before = fx.server.count("POST", "/api/v1/files/");
        canned_response storage;
        storage.path_prefix = "/api/v1/files/upload";
        storage.status = 500;
        storage.body = R"({"success":false,"code":50001,"msg":"storage backend unavailable"})";
        fx.server.inject(storage);
        auto [e4, d4] = co_await failure_of([&] { return fx.client.upload_bytes(make_png(400, 400)); });
        CHECK(e4 == files_errc::storage_error);
        CHECK(d4.http_status == 500);
        CHECK(contains(d4.message, "storage backend unavailable"));
        CHECK(contains(d4.message, "not sent again"));
        CHECK(fx.server.count("POST", "/api/v1/files/") == before + 1);

        // A 429 was refused, not processed: retried.
        canned_response busy;
        busy.path_prefix = "/api/v1/files/upload";
        busy.status = 429;
        busy.headers = {{"Retry-After", "0"}};
        busy.body = R"({"success":false,"code":429,"msg":"slow down"})";
        fx.server.inject(busy);
        co_await fx.client.delete_file(fx.server.files().begin()->first);
        auto ok = co_await fx.client.upload_bytes(make_png(400, 400));
        CHECK(!ok.file_id.empty());

        // Unknown id: HTTP 404; an id that cannot be one: nothing sent.
        auto [e5, d5] = co_await failure_of([&] { return fx.client.delete_file("file_999"); });
        CHECK(e5 == evolink::api_errc::not_found);
        CHECK(contains(d5.message, "file not found"));
        auto sent = fx.server.requests().size();
        auto [e6, d6] = co_await failure_of([&] { return fx.client.delete_file("../../etc"); });
        CHECK(e6 == errc::invalid_request);
        CHECK(d6.param == "file_id");
        auto [e7, d7] = co_await failure_of([&] { return fx.client.upload_file(dir.path / "missing.png"); });
        CHECK(e7 == errc::invalid_request);
        CHECK(contains(d7.message, "missing.png"));
        CHECK(fx.server.requests().size() == sent);

        // A wrong key: the Files API's 401.
        auto o = fx.server.client_options();
        o.api_key = "evk-wrong-key-0000";
        evolink::client wrong(fx.io.get_executor(), o);
        auto [e8, d8] = co_await failure_of([&] { return wrong.file_quota(); });
        CHECK(e8 == evolink::api_errc::unauthorized);
        CHECK_FALSE(contains(d8.message, "evk-wrong-key-0000"));
        // The same through the diagnostics overloads and another token.
        evolink::diagnostics wd;
        auto [e9, q9] = co_await wrong.file_quota(evolink::with_diagnostics(wd, asio::as_tuple(asio::use_awaitable)));
        CHECK(e9 == evolink::api_errc::unauthorized);
        CHECK(wd.http_status == 401);
        CHECK(q9.max_files == 0);
        evolink::diagnostics ld;
        auto [e10, l10] = co_await fx.client.list_files(0, 20, evolink::with_diagnostics(ld, asio::as_tuple(asio::use_awaitable)));
        CHECK(e10 == errc::invalid_request);
        CHECK(ld.param == "page");
        CHECK(l10.files.empty());
    });
}

TEST_CASE("image_to_video with a local path: checked, uploaded, then the task is created with its file_url")
{
    temp_dir dir;
    auto cat = dir.write("cat.png", make_png(1280, 720));
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::image_to_video req;
        req.prompt = "the cat plays the piano";
        req.image_url = cat.string();
        evolink::wait_options o;
        o.poll = fast_poll();
        auto t = co_await fx.client.video(req, o);
        CHECK(t.status == evolink::task_status::completed);

        auto seen = fx.server.requests();
        REQUIRE(seen.size() >= 2);
        CHECK(seen[0].target == "/api/v1/files/upload/stream");
        CHECK(seen[1].target == "/v1/videos/generations");
        auto body = boost::json::parse(seen[1].body).as_object();
        auto uploaded = fx.server.files().begin()->second;
        CHECK(body.at("image_urls") ==
              boost::json::array{fx.server.base_url() + "/files/" + uploaded.file_id + "/" + uploaded.file_name});
        CHECK(uploaded.bytes == read_all(cat));

        auto files = co_await fx.client.download_results(t, dir.path / "videos");
        REQUIRE(files.size() == 1);
        CHECK(files[0].path == dir.path / "videos" / (t.id + "-0.mp4"));
        CHECK(read_all(files[0].path) == fx.server.result_content(t.results[0]));

        // image_to_image: two local files and one URL; each local one uploaded.
        evolink::image_to_image i2i;
        i2i.prompt = "autumn colours";
        i2i.image_urls = {cat.string(), "https://example.com/b.png"};
        auto created = co_await fx.client.submit(i2i);
        CHECK(!created.id.empty());
        auto last = boost::json::parse(fx.server.requests().back().body).as_object();
        CHECK(last.at("image_urls").as_array()[0].as_string().starts_with(fx.server.base_url() + "/files/"));
        CHECK(last.at("image_urls").as_array()[1] == "https://example.com/b.png");
    });
}

TEST_CASE("a local image outside the model's limits is refused before anything is sent")
{
    temp_dir dir;
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        struct bad_case {
            std::string name, bytes, expect;
        };
        std::vector<bad_case> cases = {
            {"alpha.png", make_png(800, 800, {.colour_type = 6}), "transparent"},
            {"small.png", make_png(359, 800), "360"},
            {"wide.png", make_png(2001, 800), "2000"},
            {"text.png", "this is not an image at all", "not an image"},
            {"cut.png", make_png(800, 800).substr(0, 20), "truncated"},
        };
        for (auto& c : cases) {
            INFO(c.name);
            auto p = dir.write(c.name, c.bytes);
            evolink::image_to_video req;
            req.prompt = "a cat";
            req.image_url = p.string();
            auto [ec, d] = co_await failure_of([&] { return fx.client.submit(req); });
            CHECK(ec == errc::invalid_request);
            CHECK(d.param == "image_url");
            CHECK(contains(d.message, c.name));
            CHECK(contains(d.message, c.expect));
        }
        evolink::image_to_video missing;
        missing.prompt = "a cat";
        missing.image_url = (dir.path / "nowhere.png").string();
        auto [ec, d] = co_await failure_of([&] { return fx.client.submit(missing); });
        CHECK(ec == errc::invalid_request);
        CHECK(contains(d.message, "nowhere.png"));

        // image_to_image allows 5000 px sides, but still no alpha.
        evolink::image_to_image i2i;
        i2i.prompt = "x";
        i2i.image_urls = {dir.write("big.png", make_png(4000, 4000)).string(), dir.write("a.png", make_png(800, 800, {.colour_type = 6})).string()};
        auto [ec2, d2] = co_await failure_of([&] { return fx.client.submit(i2i); });
        CHECK(ec2 == errc::invalid_request);
        CHECK(d2.param == "image_urls[1]");
        CHECK(fx.server.requests().empty()); // nothing uploaded, nothing created
    });
}

TEST_CASE("download streams to disk with progress, without the API key, and leaves only the final file")
{
    temp_dir dir;
    fake_server_options so;
    so.result_bytes = 1024 * 1024 + 17;
    fixture fx(so);
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_video(fx.client, "waves on a beach");
        std::vector<evolink::download_progress> seen;
        evolink::download_options o;
        o.on_progress = [&](const evolink::download_progress& p) { seen.push_back(p); };
        auto r = co_await fx.client.download(t.results[0], dir.path / "out.mp4", o);
        CHECK(r.bytes == so.result_bytes);
        CHECK(r.content_type == "video/mp4");
        CHECK(r.redirects == 0);
        CHECK(r.resumes == 0);
        CHECK(read_all(dir.path / "out.mp4") == fx.server.result_content(t.results[0]));
        CHECK(dir.names() == std::vector<std::string>{"out.mp4"});
        REQUIRE(seen.size() > 3);
        for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].received >= seen[i - 1].received);
        CHECK(seen.back().received == so.result_bytes);
        CHECK(seen.back().total == so.result_bytes);
        auto get = fx.server.requests().back();
        CHECK(get.target.starts_with("/results/"));
        CHECK(get.headers.count("authorization") == 0);

        // Overwrite off: an existing file stops it before anything is fetched.
        auto before = fx.server.requests().size();
        evolink::download_options keep;
        keep.overwrite = false;
        auto [ec, d] = co_await failure_of([&] { return fx.client.download(t.results[0], dir.path / "out.mp4", keep); });
        CHECK(ec == errc::invalid_request);
        CHECK(fx.server.requests().size() == before);

        // Over the size limit: refused from Content-Length, nothing written.
        evolink::download_options small;
        small.max_bytes = 1000;
        auto [big, bd] = co_await failure_of([&] { return fx.client.download(t.results[0], dir.path / "big.mp4", small); });
        CHECK(big == errc::response_too_large);
        CHECK(contains(bd.message, "max_bytes"));
        CHECK(dir.names() == std::vector<std::string>{"out.mp4"});

        // A URL that is gone: the HTTP status, and a hint.
        auto [gone, gd] = co_await failure_of([&] {
            return fx.client.download(fx.server.base_url() + "/results/task-unified-1-nothere0/0.mp4", dir.path / "x.mp4");
        });
        CHECK(gone == evolink::api_errc::not_found);
        CHECK(contains(gd.message, "expire"));
        CHECK(dir.names() == std::vector<std::string>{"out.mp4"});
    });
}

TEST_CASE("download follows redirects, a bounded number of times")
{
    temp_dir dir;
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_video(fx.client, "waves on a beach");
        auto url = t.results[0];
        auto path = url.substr(fx.server.base_url().size());
        canned_response hop;
        hop.method = "GET";
        hop.path_prefix = "/cdn/";
        hop.status = 302;
        hop.headers = {{"Location", path}}; // relative, resolved against the URL
        hop.body = "";
        fx.server.inject(hop);
        auto r = co_await fx.client.download(fx.server.base_url() + "/cdn/x.mp4", dir.path / "v.mp4");
        CHECK(r.redirects == 1);
        CHECK(r.url == url);
        CHECK(read_all(r.path) == fx.server.result_content(url));

        hop.headers = {{"Location", fx.server.base_url() + "/cdn/loop"}};
        hop.times = 20;
        fx.server.inject(hop);
        auto [ec, d] = co_await failure_of([&] { return fx.client.download(fx.server.base_url() + "/cdn/loop", dir.path / "loop.mp4"); });
        CHECK(ec == errc::protocol_error);
        CHECK(contains(d.message, "more than 5 redirects"));
        CHECK(dir.names() == std::vector<std::string>{"v.mp4"});
    });
}

TEST_CASE("a broken transfer resumes with Range, or starts again when the server has no ranges")
{
    temp_dir dir;
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_video(fx.client, "waves on a beach");
        auto url = t.results[0];
        auto path = url.substr(fx.server.base_url().size());

        auto cut = result_fault(evolink::testing::fault::cut_body); // cut in the middle
        fx.server.inject(cut);
        auto r = co_await fx.client.download(url, dir.path / "resumed.mp4");
        CHECK(r.resumes == 1);
        CHECK(read_all(r.path) == fx.server.result_content(url));
        auto seen = fx.server.requests();
        auto& again = seen.back();
        CHECK(again.target == path);
        REQUIRE(again.headers.count("range") == 1);
        // Where it resumes depends on what arrived before the reset (a reset
        // discards what the kernel still held): somewhere inside the file.
        auto range = again.headers["range"];
        REQUIRE(range.starts_with("bytes="));
        REQUIRE(range.ends_with("-"));
        auto offset = std::stoull(range.substr(6, range.size() - 7));
        CHECK(offset > 0);
        CHECK(offset <= 256 * 1024 / 2);
        CHECK(again.headers.count("if-range") == 1);

        // A wrong Content-Length (1000 bytes more than sent): the transfer is
        // broken, not complete; if every byte arrived, the resume asks past
        // the end (416) and the download starts again. The file is right.
        auto wrong = cut;
        wrong.kind = evolink::testing::fault::wrong_length;
        fx.server.inject(wrong);
        auto w = co_await fx.client.download(url, dir.path / "wrong.mp4");
        CHECK(w.resumes >= 1);
        CHECK(w.resumes <= 2);
        CHECK(read_all(w.path) == fx.server.result_content(url));
        CHECK(dir.names() == std::vector<std::string>{"resumed.mp4", "wrong.mp4"});
    });
}

TEST_CASE("without ranges a cut transfer starts again; cut every time, it fails and leaves no file")
{
    temp_dir dir;
    fake_server_options so;
    so.result_ranges = false;
    fixture fx(so, [](evolink::client_options co) {
        co.retry.initial_backoff = 1ms;
        co.retry.max_attempts = 3;
        return co;
    });
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_video(fx.client, "waves on a beach");
        auto url = t.results[0];
        auto cut = result_fault(evolink::testing::fault::cut_body);
        fx.server.inject(cut);
        auto r = co_await fx.client.download(url, dir.path / "again.mp4");
        CHECK(r.resumes == 1);
        CHECK(fx.server.requests().back().headers.count("range") == 0);
        CHECK(read_all(r.path) == fx.server.result_content(url));

        cut.times = 10;
        fx.server.inject(cut);
        auto gets = fx.server.count("GET", "/results/");
        auto [ec, d] = co_await failure_of([&] { return fx.client.download(url, dir.path / "never.mp4"); });
        CHECK(ec == errc::connection_lost);
        CHECK(contains(d.message, "gave up after 3 attempts"));
        CHECK(contains(d.message, "nothing was left"));
        CHECK(fx.server.count("GET", "/results/") == gets + 3);
        CHECK(dir.names() == std::vector<std::string>{"again.mp4"}); // no partial file, no temporary one
    });
}

TEST_CASE("a cancelled download removes its temporary file")
{
    temp_dir dir;
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_video(fx.client, "waves on a beach");
        auto slow = result_fault(evolink::testing::fault::slow_body);
        slow.delay = 5s;
        fx.server.inject(slow);
        asio::cancellation_signal cancel;
        asio::steady_timer timer(fx.io, 1200ms);
        timer.async_wait([&](auto) { cancel.emit(asio::cancellation_type::terminal); });
        std::uint64_t got = 0;
        evolink::download_options o;
        o.on_progress = [&](const evolink::download_progress& p) { got = p.received; };
        auto [ec, r] = co_await fx.client.download(t.results[0], dir.path / "c.mp4", o,
                                                asio::bind_cancellation_slot(cancel.slot(), asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == asio::error::operation_aborted);
        CHECK(got > 0); // it was cancelled mid-body
        CHECK(dir.names().empty());
    });
}
