// The fake server's result files are real media: PNGs of the requested size
// that decode, MP4s with an H.264 track of the requested duration. The test
// decodes them with its own PNG and MP4 readers (Beast's inflate aside).
#include "../support/fixture.hpp"

#include <boost/beast/zlib/inflate_stream.hpp>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

using evolink::testing::canned_response;
using evolink::testing::fake_server;
namespace fs = std::filesystem;

namespace {

std::uint32_t be32(std::string_view s, std::size_t at)
{
    REQUIRE(at + 4 <= s.size());
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

std::uint32_t adler32_simple(std::string_view s)
{
    std::uint64_t a = 1, b = 0;
    for (unsigned char c : s) a = (a + c) % 65521, b = (b + a) % 65521;
    return static_cast<std::uint32_t>((b << 16) | a);
}

struct image {
    std::uint32_t width = 0, height = 0;
    std::vector<unsigned char> rgb; // width * height * 3
    std::vector<std::string> chunks;
    std::array<unsigned char, 3> at(std::uint32_t x, std::uint32_t y) const
    {
        auto i = (std::size_t(y) * width + x) * 3;
        return {rgb[i], rgb[i + 1], rgb[i + 2]};
    }
};

/// Reverses PNG filtering (types 0 to 4) on scanlines of `stride` bytes, 3 bytes a pixel.
std::vector<unsigned char> unfilter(const std::string& raw, std::uint32_t height, std::size_t stride)
{
    std::vector<unsigned char> out(stride * height), zero(stride, 0);
    for (std::size_t y = 0; y < height; ++y) {
        auto type = static_cast<unsigned char>(raw[y * (stride + 1)]);
        REQUIRE(type <= 4);
        const unsigned char* up = y ? &out[(y - 1) * stride] : zero.data();
        unsigned char* row = &out[y * stride];
        for (std::size_t i = 0; i < stride; ++i) {
            int a = i >= 3 ? row[i - 3] : 0, b = up[i], c = i >= 3 ? up[i - 3] : 0;
            int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
            int paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            int predictor[] = {0, a, b, (a + b) / 2, paeth};
            row[i] = static_cast<unsigned char>(static_cast<unsigned char>(raw[y * (stride + 1) + 1 + i]) + predictor[type]);
        }
    }
    return out;
}

/// Decodes an 8-bit RGB, non-interlaced PNG, checking every CRC, the zlib
/// header and its Adler-32.
image decode_png(const std::string& png)
{
    image img;
    REQUIRE(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    std::string idat;
    for (std::size_t at = 8; at < png.size();) {
        auto n = be32(png, at);
        REQUIRE(at + 12 + n <= png.size());
        auto type_and_data = std::string_view(png).substr(at + 4, 4 + n);
        CHECK(be32(png, at + 8 + n) == test_support::crc32(type_and_data));
        std::string type(type_and_data.substr(0, 4));
        img.chunks.push_back(type);
        if (type == "IHDR") {
            img.width = be32(png, at + 8), img.height = be32(png, at + 12);
            CHECK(png.substr(at + 16, 5) == std::string("\x08\x02\x00\x00\x00", 5)); // 8-bit RGB, not interlaced
        }
        if (type == "IDAT") idat += type_and_data.substr(4);
        at += 12 + n;
    }
    REQUIRE(img.chunks.front() == "IHDR");
    REQUIRE(img.chunks.back() == "IEND");
    REQUIRE(idat.size() > 6);
    auto cmf = static_cast<unsigned char>(idat[0]), flg = static_cast<unsigned char>(idat[1]);
    CHECK((cmf & 0x0F) == 8);
    CHECK((cmf * 256 + flg) % 31 == 0);
    std::size_t stride = std::size_t(img.width) * 3, expected = (stride + 1) * img.height;
    std::string raw(expected + 64, '\0');
    boost::beast::zlib::inflate_stream inflater;
    boost::beast::zlib::z_params zs;
    zs.next_in = idat.data() + 2;
    zs.avail_in = idat.size() - 6;
    zs.next_out = raw.data();
    zs.avail_out = raw.size();
    boost::beast::error_code ec;
    inflater.write(zs, boost::beast::zlib::Flush::finish, ec);
    REQUIRE(ec == boost::beast::zlib::error::end_of_stream);
    REQUIRE(zs.total_out == expected); // height rows of a filter byte and width RGB pixels
    raw.resize(expected);
    CHECK(be32(idat, idat.size() - 4) == adler32_simple(raw));
    img.rgb = unfilter(raw, img.height, stride);
    return img;
}

/// Something is drawn: many colours, and the corners differ.
void check_visible(const image& img)
{
    std::set<std::array<unsigned char, 3>> colours;
    for (std::uint32_t y = 0; y < img.height; y += 7)
        for (std::uint32_t x = 0; x < img.width; x += 7) colours.insert(img.at(x, y));
    CHECK(colours.size() > 100);
    CHECK(img.at(0, 0) != img.at(img.width - 1, img.height - 1));
}

/// An MP4 box tree, by path ("moov/trak/mdia"): each box's payload.
struct mp4_boxes {
    std::multimap<std::string, std::string_view> by_path;
    std::vector<std::string> top;
    void walk(std::string_view data, const std::string& prefix)
    {
        static const std::set<std::string> containers{"moov", "trak", "mdia", "minf", "stbl", "dinf", "edts"};
        for (std::size_t at = 0; at < data.size();) {
            REQUIRE(at + 8 <= data.size());
            std::size_t size = be32(data, at);
            REQUIRE(size >= 8);
            REQUIRE(at + size <= data.size());
            std::string path = prefix + std::string(data.substr(at + 4, 4));
            if (prefix.empty()) top.push_back(path);
            auto payload = data.substr(at + 8, size - 8);
            by_path.emplace(path, payload);
            if (containers.count(path.substr(path.size() - 4))) walk(payload, path + "/");
            at += size;
        }
    }
    std::string_view one(const std::string& path) const
    {
        REQUIRE(by_path.count(path) == 1);
        return by_path.find(path)->second;
    }
};

/// Checks an MP4 of one H.264 video track lasting `seconds`, every sample inside mdat.
void check_mp4(const std::string& file, std::uint32_t seconds)
{
    mp4_boxes b;
    b.walk(file, "");
    REQUIRE(b.top.size() >= 3);
    CHECK(b.top[0] == "ftyp");
    CHECK(b.top[1] == "moov");
    CHECK(b.top[2] == "mdat");
    auto mvhd = b.one("moov/mvhd");
    CHECK(be32(mvhd, 16) == seconds * be32(mvhd, 12)); // duration / timescale
    auto mdhd = b.one("moov/trak/mdia/mdhd");
    CHECK(be32(mdhd, 16) == seconds * be32(mdhd, 12));
    CHECK(b.one("moov/trak/mdia/hdlr").substr(8, 4) == "vide");
    auto stsd = b.one("moov/trak/mdia/minf/stbl/stsd");
    CHECK(be32(stsd, 4) == 1);
    CHECK(stsd.substr(12, 4) == "avc1");
    CHECK(stsd.find("avcC") != std::string_view::npos); // the SPS and PPS
    auto stts = b.one("moov/trak/mdia/minf/stbl/stts");
    std::uint64_t ticks = 0, samples = 0;
    for (std::uint32_t i = 0; i < be32(stts, 4); ++i) {
        samples += be32(stts, 8 + 8 * i);
        ticks += std::uint64_t(be32(stts, 8 + 8 * i)) * be32(stts, 12 + 8 * i);
    }
    CHECK(ticks == std::uint64_t(seconds) * be32(mdhd, 12));
    auto stsz = b.one("moov/trak/mdia/minf/stbl/stsz");
    auto stco = b.one("moov/trak/mdia/minf/stbl/stco");
    REQUIRE(be32(stsz, 4) == 0); // sizes listed one by one
    REQUIRE(be32(stsz, 8) == samples);
    CHECK(be32(b.one("moov/trak/mdia/minf/stbl/stsc"), 4) == 1);
    CHECK(be32(b.one("moov/trak/mdia/minf/stbl/stsc"), 12) == 1); // one sample per chunk
    REQUIRE(be32(stco, 4) == samples);
    auto mdat = b.one("mdat");
    std::size_t mdat_begin = static_cast<std::size_t>(mdat.data() - file.data()), mdat_end = mdat_begin + mdat.size();
    for (std::uint32_t i = 0; i < samples; ++i) {
        std::size_t offset = be32(stco, 8 + 4 * i), size = be32(stsz, 12 + 4 * i);
        CHECK(offset >= mdat_begin);
        CHECK(offset + size <= mdat_end);
        // An H.264 sample: 4-byte NAL unit lengths that add up to the sample.
        std::size_t used = 0;
        while (used + 4 <= size) used += 4 + be32(file, offset + used);
        CHECK(used == size);
    }
}

} // namespace

TEST_CASE("image results are PNGs of the requested size that decode, drawn from the prompt")
{
    temp_dir dir;
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "a red kite over the dunes";
        req.size = "1024x768";
        req.n = 2;
        auto t = co_await fx.client.image(req, fast_wait());
        auto files = co_await fx.client.download_results(t, dir.path);
        REQUIRE(files.size() == 2);
        std::vector<image> images;
        for (std::size_t i = 0; i < 2; ++i) {
            CHECK(files[i].content_type == "image/png");
            auto bytes = read_all(files[i].path);
            CHECK(bytes == fx.server.result_content(t.results[i]));
            CHECK(bytes.size() == 256 * 1024); // padded to result_bytes, with a chunk decoders skip
            images.push_back(decode_png(bytes));
            CHECK(images.back().width == 1024);
            CHECK(images.back().height == 768);
            check_visible(images.back());
        }
        CHECK(images[0].rgb != images[1].rgb); // each of a task's images differs

        evolink::text_to_image plain;
        plain.prompt = "a blue whale";
        auto t2 = co_await fx.client.image(plain, fast_wait());
        auto other = decode_png(fx.server.result_content(t2.results[0]));
        CHECK(other.width == 1280); // the fake's default size
        CHECK(other.height == 720);
        CHECK(other.at(0, 0) != images[0].at(0, 0)); // colours come from the prompt
    });
}

TEST_CASE("video results are H.264 MP4s of the requested duration")
{
    temp_dir dir;
    evolink::testing::fake_server_options so;
    so.result_bytes = 0; // no padding: the media alone
    fixture fx(so);
    fx.run([&]() -> asio::awaitable<void> {
        for (int seconds : {5, 10}) {
            evolink::text_to_video req;
            req.prompt = "waves on a beach";
            req.duration = seconds;
            auto t = co_await fx.client.video(req, fast_wait());
            auto files = co_await fx.client.download_results(t, dir.path);
            REQUIRE(files.size() == 1);
            CHECK(files[0].content_type == "video/mp4");
            auto bytes = read_all(files[0].path);
            CHECK(bytes.size() < 40 * 1024); // a one-second clip, looped: small
            check_mp4(bytes, static_cast<std::uint32_t>(seconds));
        }
    });
}

TEST_CASE("padded results stay valid media, and a cut transfer resumes with Range on the real bytes")
{
    temp_dir dir;
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_video req;
        req.prompt = "a paper boat";
        auto t = co_await fx.client.video(req, fast_wait());
        auto cut = result_fault(evolink::testing::fault::cut_body); // the real answer, cut in the middle
        fx.server.inject(cut);
        auto r = co_await fx.client.download(t.results[0], dir.path / "boat.mp4");
        CHECK(r.resumes == 1);
        CHECK(fx.server.requests().back().headers.count("range") == 1);
        auto bytes = read_all(r.path);
        CHECK(bytes == fx.server.result_content(t.results[0]));
        CHECK(bytes.size() == 256 * 1024);
        check_mp4(bytes, 5);
        mp4_boxes b;
        b.walk(bytes, "");
        CHECK(b.top.back() == "free"); // the padding: a box players skip

        evolink::text_to_image image_req;
        image_req.prompt = "a paper boat";
        auto ti = co_await fx.client.image(image_req, fast_wait());
        fx.server.inject(cut);
        auto ri = co_await fx.client.download(ti.results[0], dir.path / "boat.png");
        CHECK(ri.resumes == 1);
        auto img = decode_png(read_all(ri.path));
        CHECK(img.width == 1280);
        CHECK(std::count(img.chunks.begin(), img.chunks.end(), "evPd") == 1);
    });
}
