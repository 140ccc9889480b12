// The tiny client-only program shared by every build in tests/consumers/: it
// includes only <evolink.hpp>, submits one text-to-image task to the EvoLink
// server named by the environment (run.sh points it at `evolink fake-server`,
// a fake EvoLink server in another process, over verified TLS) and exits 0
// when the server answered with a task id.
#include <evolink.hpp>
#include <boost/asio.hpp>
#include <cstdlib>
#include <iostream>
int main() {
  boost::asio::io_context io;
  evolink::client_options options; // the key from EVOLINK_API_KEY
  if (const char* url = std::getenv("EVOLINK_BASE_URL")) options.base_url = url;
  if (const char* ca = std::getenv("EVOLINK_CA_FILE")) options.tls.ca_file = ca;
  evolink::client client(io.get_executor(), options);
  int rc = 1;
  boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
      evolink::text_to_image req;
      req.prompt = "a lake at sunset";
      evolink::task t = co_await client.submit(req);
      std::cout << "submitted " << t.id << '\n';
      rc = t.id.empty() ? 1 : 0;
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  return rc;
}
