// Sending a whole message on a plain TCP connection without waiting. The sidecar's messages on a
// call's path (the upstream request, the client's answer) are small, and the socket's send
// buffer nearly always takes one at once. An asynchronous write would make the same send(2),
// then post its completion through the event loop, arm and cancel the stream's deadline timer
// and resume the coroutine: about as much work as the rest of the write (issue 9). The caller
// writes what is left, if anything, asynchronously as before, under its deadline.
// send_whole() and send_rest() do both for a connection; TLS connections have their own pair
// (http/tls_stream.hpp), so that a caller writes a whole message the same way on either.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <string_view>

namespace mcp_sidecar::http {

// One non-blocking send of `bytes`; what went out is removed from the front of `bytes`. False
// (with `ec`) when the connection failed; a full send buffer is not a failure.
inline bool send_now(boost::asio::ip::tcp::socket& socket, std::string_view& bytes, boost::system::error_code& ec) {
  if (!socket.non_blocking()) {
    socket.non_blocking(true, ec);  // asynchronous operations work either way
    if (ec) return false;
  }
  const std::size_t sent = socket.write_some(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  bytes.remove_prefix(sent);
  if (ec == boost::asio::error::would_block) ec = {};
  return !ec;
}

// A whole message: true when it went at once; false with `ec` on a failure, or without when
// send_rest() has the rest of `bytes` to write.
inline bool send_whole(boost::beast::tcp_stream& stream, std::string_view& bytes, boost::system::error_code& ec) {
  return send_now(stream.socket(), bytes, ec) && bytes.empty();
}

// What send_whole() left, under the stream's deadline.
inline boost::asio::awaitable<boost::system::error_code> send_rest(boost::beast::tcp_stream& stream,
                                                                   std::string_view bytes) {
  auto [ec, n] = co_await boost::asio::async_write(stream, boost::asio::buffer(bytes.data(), bytes.size()),
                                                   boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return ec;
}

}  // namespace mcp_sidecar::http
