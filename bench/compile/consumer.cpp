// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// A client-only consumer for bench/compile: submit a text-to-image task and
// wait for it, as a user's program would. Built against <evolink.hpp> in
// header-only mode, and with EVOLINK_SEPARATE_COMPILATION (src.cpp compiled
// once, not counted). Compared with floor.cpp.
#include <evolink.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <iostream>

namespace asio = boost::asio;

asio::awaitable<void> make_picture(evolink::client& client)
{
    evolink::text_to_image req;
    req.prompt = "a lighthouse at dawn";
    auto created = co_await client.submit(req);
    auto done = co_await client.wait(created.id);
    std::cout << done.id << " " << done.results.at(0) << "\n";
}

int main()
{
    asio::io_context io;
    evolink::client client(io.get_executor());
    asio::co_spawn(io, make_picture(client), asio::detached);
    io.run();
}
