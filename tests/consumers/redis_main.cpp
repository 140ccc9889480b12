// The tiny Redis program of tests/consumers/ (built where the Redis part is:
// hiredis installed): it includes <evolink/redis.hpp>, points a
// redis_connection at a loopback port where nothing listens, and exits 0
// when a command there fails cleanly with redis_errc::unreachable (nothing
// is sent). No Redis server is needed; it links hiredis through the
// library's target (hiredis's connect runs).
#include <evolink/redis.hpp>
#include <boost/asio.hpp>
#include <iostream>
int main() {
  boost::asio::io_context io;
  unsigned short port = 0;
  { // a port free now: bound, then closed
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  evolink::redis_options o;
  o.port = port;
  o.connect_timeout = std::chrono::milliseconds(500);
  evolink::redis_connection redis(io.get_executor(), o);
  int rc = 1;
  boost::asio::steady_timer later(io, std::chrono::milliseconds(100)); // the first connect has failed by then
  later.async_wait([&](boost::system::error_code) {
    redis.command({"PING"}, [&](evolink::error_code ec, evolink::redis_reply) {
      std::cout << "redis: " << ec.message() << '\n';
      rc = ec == evolink::redis_errc::unreachable ? 0 : 1;
      redis.stop();
    });
  });
  io.run();
  return rc;
}
