#include "http/tls_stream.hpp"

#include "http/send_now.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <boost/asio/as_tuple.hpp>

#include <algorithm>
#include <cstring>

namespace mcp_sidecar::http {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// The BIO under the SSL object: records go to and come from the stream's buffers. A read with
// nothing buffered asks OpenSSL to retry (it then reports SSL_ERROR_WANT_READ), unless the peer
// has closed the connection.
template <class Io>
const BIO_METHOD* buffer_bio() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mcp-sidecar buffers");
    BIO_meth_set_create(m, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    BIO_meth_set_write(m, [](BIO* b, const char* data, int size) {
      static_cast<Io*>(BIO_get_data(b))->out.append(data, static_cast<std::size_t>(size));
      return size;
    });
    BIO_meth_set_read(m, [](BIO* b, char* data, int size) {
      auto& io = *static_cast<Io*>(BIO_get_data(b));
      BIO_clear_retry_flags(b);
      if (io.in.size() == 0) {
        if (io.eof) return 0;
        BIO_set_retry_read(b);
        return -1;
      }
      const std::size_t n = std::min(io.in.size(), static_cast<std::size_t>(size));
      std::memcpy(data, io.in.data().data(), n);
      io.in.consume(n);
      return static_cast<int>(n);
    });
    BIO_meth_set_ctrl(m, [](BIO* b, int cmd, long, void*) -> long {
      auto& io = *static_cast<Io*>(BIO_get_data(b));
      switch (cmd) {
        case BIO_CTRL_FLUSH:
          return 1;
        case BIO_CTRL_PENDING:
          return static_cast<long>(io.in.size());
        case BIO_CTRL_WPENDING:
          return static_cast<long>(io.out.size());
        case BIO_CTRL_EOF:
          return io.eof && io.in.size() == 0;
        default:
          return 0;
      }
    });
    return m;
  }();
  return method;
}

error_code ssl_category_error(unsigned long code) { return {static_cast<int>(code), asio::error::get_ssl_category()}; }

// SSL_get_error() needs the thread's error queue empty before the call it explains. It nearly
// always is (our failures empty it after taking their code, fail_code()), and looking costs a
// fraction of emptying it.
void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// The error that explains a failed call, leaving the queue empty.
unsigned long fail_code(int reason_if_none) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  return code ? code : ERR_PACK(ERR_LIB_SSL, 0, reason_if_none);
}

}  // namespace

TlsStream::TlsStream(next_layer_type next, asio::ssl::context& context)
    : next_(std::move(next)), io_(std::make_unique<Io>()), ssl_(SSL_new(context.native_handle())) {
  if (!ssl_) throw boost::system::system_error(ssl_category_error(ERR_get_error()), "SSL_new");
  BIO* bio = BIO_new(buffer_bio<Io>());
  if (!bio) throw boost::system::system_error(ssl_category_error(ERR_get_error()), "BIO_new");
  BIO_set_data(bio, io_.get());
  SSL_set_bio(ssl_.get(), bio, bio);  // one reference, for both directions
  // Idle connections give their record buffers back; renegotiation (TLS 1.2), which could make
  // a write wait for a read, is refused.
  SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_set_options(ssl_.get(), SSL_OP_NO_RENEGOTIATION);
}

error_code TlsStream::eof_error() const {
  // A peer that closed without close_notify may have cut a message short (RFC 8446 6.1).
  if (SSL_get_shutdown(ssl_.get()) & SSL_RECEIVED_SHUTDOWN) return asio::error::eof;
  return asio::ssl::error::stream_truncated;
}

TlsStream::Step TlsStream::read(asio::mutable_buffer buffer, std::size_t& n, error_code& ec) {
  n = 0;
  if (buffer.size() == 0) return Step::done;
  // Nothing received that OpenSSL has not taken, and nothing in its own buffers: no record to
  // read yet (the usual case when a read starts), so no SSL_read either.
  if (io_->in.size() == 0 && !io_->eof && !SSL_has_pending(ssl_.get())) return Step::need_input;
  clear_errors();
  const int r = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
  if (r == 1) return Step::done;
  const int error = SSL_get_error(ssl_.get(), r);
  if (error == SSL_ERROR_WANT_READ) return Step::need_input;
  const unsigned long code = fail_code(SSL_R_UNEXPECTED_MESSAGE);
  if (error == SSL_ERROR_ZERO_RETURN)
    ec = asio::error::eof;  // close_notify
  else if (io_->eof && (error == SSL_ERROR_SYSCALL || ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
    ec = eof_error();
  else
    ec = ssl_category_error(code);
  return Step::failed;
}

TlsStream::Step TlsStream::write(asio::const_buffer buffer, std::size_t& n, error_code& ec) {
  n = 0;
  if (buffer.size() == 0) return Step::done;
  clear_errors();
  const std::size_t size = std::min(buffer.size(), kSendNowLimit);
  if (SSL_write_ex(ssl_.get(), buffer.data(), size, &n) == 1) return Step::done;
  ec = ssl_category_error(fail_code(SSL_R_PROTOCOL_IS_SHUTDOWN));
  return Step::failed;
}

asio::const_buffer TlsStream::take_output() {
  auto& io = *io_;
  if (io.flushing) return {};
  if (io.sent == io.sending.size()) {
    io.sending.clear();
    io.sent = 0;
    std::swap(io.sending, io.out);
  }
  return asio::buffer(io.sending.data() + io.sent, io.sending.size() - io.sent);
}

bool TlsStream::send_now(std::string_view& data, error_code& ec) {
  if (data.size() > kSendNowLimit || io_->flushing) return true;  // left to async_write
  std::size_t n = 0;
  if (write(asio::buffer(data.data(), data.size()), n, ec) != Step::done) return false;
  data = {};
  auto output = take_output();
  std::string_view bytes(static_cast<const char*>(output.data()), output.size());
  const bool ok = http::send_now(next_.socket(), bytes, ec);
  io_->sent += output.size() - bytes.size();
  return ok;
}

asio::awaitable<error_code> TlsStream::flush() {
  for (;;) {
    auto output = take_output();
    if (output.size() == 0) co_return error_code{};
    io_->flushing = true;
    auto [ec, n] = co_await asio::async_write(next_, output, asio::as_tuple(asio::use_awaitable));
    io_->flushing = false;
    io_->sent += n;
    if (ec) co_return ec;
  }
}

asio::awaitable<error_code> send_rest(TlsStream& stream, std::string_view bytes) {
  if (auto ec = co_await stream.flush(); ec || bytes.empty()) co_return ec;
  auto [ec, n] =
      co_await asio::async_write(stream, asio::buffer(bytes.data(), bytes.size()), asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

asio::awaitable<error_code> TlsStream::handshake(Role role) {
  if (role == Role::server)
    SSL_set_accept_state(ssl_.get());
  else
    SSL_set_connect_state(ssl_.get());
  for (;;) {
    clear_errors();
    const int r = SSL_do_handshake(ssl_.get());
    const int error = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
    const bool failed = error != SSL_ERROR_NONE && error != SSL_ERROR_WANT_READ;
    const unsigned long code = failed ? fail_code(SSL_R_UNEXPECTED_MESSAGE) : 0;
    // The flight OpenSSL wrote goes out first: on a refusal, that is the alert saying why.
    error_code ec = co_await flush();
    if (error == SSL_ERROR_NONE) co_return ec;
    if (error != SSL_ERROR_WANT_READ) {
      if (io_->eof && (error == SSL_ERROR_SYSCALL || ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
        co_return eof_error();
      co_return ssl_category_error(code);
    }
    if (ec) co_return ec;
    if (io_->eof) co_return eof_error();
    auto [rec, n] = co_await next_.async_read_some(input_space(), asio::as_tuple(asio::use_awaitable));
    if (rec == asio::error::eof)
      io_->eof = true;
    else if (rec)
      co_return rec;
    io_->in.commit(n);
  }
}

}  // namespace mcp_sidecar::http
