// The tiny program of the test-kit consumers (meson-kit, plain-kit,
// plain-fake-header-only): it starts the in-process fake EvoLink server of
// <evolink/testing.hpp>, submits one text-to-image task through the client
// and exits 0 when the server answered with a task id.
#include <evolink.hpp>
#include <evolink/testing.hpp>
#include <boost/asio.hpp>
#include <iostream>
int main() {
  boost::asio::io_context io;
  evolink::testing::fake_server server(io.get_executor());      // in-process fake EvoLink over TLS on 127.0.0.1, random port
  evolink::client client(io.get_executor(), server.client_options()); // options preset with key, base URL and the server's test CA
  int rc = 1;
  boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
      evolink::text_to_image req;
      req.prompt = "a lake at sunset";
      evolink::task t = co_await client.submit(req);
      std::cout << "submitted " << t.id << '\n';
      rc = t.id.empty() ? 1 : 0;
      server.stop();
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  return rc;
}
