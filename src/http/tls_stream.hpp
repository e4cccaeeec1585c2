// TLS over a beast::tcp_stream, with OpenSSL writing its records into a buffer of ours and reading
// them from one (a BIO of our own) instead of through Asio's SSL stream. Asio's stream runs every
// read and write as a composed operation over its engine and a BIO pair: a whole message written
// costs an asynchronous socket write, a posted completion and a trip through the event loop even
// when the socket takes it at once. Here a whole message is encrypted and sent with one
// non-blocking send (send_now(), as on plain connections, http/send_now.hpp); the rest, if the
// socket took less, is written asynchronously (flush()). Reads fill the ciphertext buffer from
// the socket only when OpenSSL asks for more (issue 9).
//
// The stream is an Asio AsyncReadStream and AsyncWriteStream (for Beast's chunked writes and
// reads), and beast::get_lowest_layer() finds the tcp_stream under it, whose deadline applies to
// every operation. One read and one write may be in progress at a time, as with Asio's stream.
#pragma once

#include <openssl/ssl.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace mcp_sidecar::http {

class TlsStream {
 public:
  using next_layer_type = boost::beast::tcp_stream;
  using executor_type = next_layer_type::executor_type;
  enum class Role { client, server };
  static constexpr std::size_t kSendNowLimit = 64 * 1024;  // plaintext encrypted at once, at most

  TlsStream(next_layer_type next, boost::asio::ssl::context& context);
  TlsStream(TlsStream&&) noexcept = default;
  ~TlsStream() = default;

  SSL* native_handle() { return ssl_.get(); }
  next_layer_type& next_layer() { return next_; }
  executor_type get_executor() { return next_.get_executor(); }

  // The handshake, within the next layer's deadline. A refusal is an error of Asio's SSL
  // category carrying OpenSSL's error code.
  boost::asio::awaitable<boost::system::error_code> handshake(Role role);

  // Encrypts all of `data` and sends what the socket takes at once; flush() writes the rest of
  // the ciphertext, if any (pending()). A message over kSendNowLimit is left whole in `data`, to
  // be written with async_write. False (with `ec`) when encryption or the connection failed.
  bool send_now(std::string_view& data, boost::system::error_code& ec);
  // Writes the ciphertext not sent yet, within the next layer's deadline.
  boost::asio::awaitable<boost::system::error_code> flush();
  // Whether ciphertext waits for flush().
  bool pending() const { return io_->sent < io_->sending.size() || !io_->out.empty(); }

  // Each reads into (or writes from) the first non-empty buffer of the sequence, as Asio's SSL
  // stream does: a sequence that starts with an empty buffer is not taken for an empty one.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        ReadOp{this, first_of<boost::asio::mutable_buffer>(buffers)}, token, next_);
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        WriteOp{this, first_of<boost::asio::const_buffer>(buffers)}, token, next_);
  }

 private:
  // Ciphertext: received and not yet decrypted (`in`), produced by OpenSSL and not yet handed to
  // the socket (`out`), and being written to it (`sending`, from `sent` on). On the heap, where
  // the BIO points, so that the stream can move.
  struct Io {
    boost::beast::flat_buffer in;
    bool eof = false;  // the peer closed its side of the connection
    std::string out;
    std::string sending;
    std::size_t sent = 0;
    bool flushing = false;  // an asynchronous write of `sending` is in progress
  };
  struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };
  enum class Step { done, need_input, failed };

  template <class Buffer, class Buffers>
  static Buffer first_of(const Buffers& buffers) {
    for (auto i = boost::asio::buffer_sequence_begin(buffers); i != boost::asio::buffer_sequence_end(buffers); ++i)
      if (Buffer b(*i); b.size() > 0) return b;
    return Buffer();
  }

  // One SSL_read into `buffer` (or SSL_write of it): done, or what stands in the way.
  Step read(boost::asio::mutable_buffer buffer, std::size_t& n, boost::system::error_code& ec);
  Step write(boost::asio::const_buffer buffer, std::size_t& n, boost::system::error_code& ec);
  // What is to be sent next: the rest of `sending`, else `out` moved there. Empty while an
  // asynchronous write is in progress (its operation takes the rest when it completes).
  boost::asio::const_buffer take_output();
  boost::system::error_code eof_error() const;
  boost::asio::mutable_buffer input_space() { return io_->in.prepare(16 * 1024 + 512); }

  // Reads: SSL_read, feeding it from the socket until it yields plaintext; output it produced
  // meanwhile (a key update's answer, say) goes out first.
  struct ReadOp {
    TlsStream* s;
    boost::asio::mutable_buffer buffer;
    enum { start, reading, flushing, finishing } state = start;
    boost::system::error_code result_ec{};
    std::size_t result_n = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
      auto& io = *s->io_;
      switch (state) {
        case finishing:
          return self.complete(result_ec, result_n);
        case reading:
          if (ec == boost::asio::error::eof) {
            io.eof = true;
            ec = {};
          }
          if (ec) return self.complete(ec, 0);
          io.in.commit(n);
          break;
        case flushing:
          io.flushing = false;
          io.sent += n;
          if (ec) return self.complete(ec, 0);
          if (auto output = s->take_output(); output.size() > 0) {  // what a write meanwhile left
            io.flushing = true;
            return boost::asio::async_write(s->next_, output, std::move(self));
          }
          break;
        case start:
          break;
      }
      const bool first = state == start;
      std::size_t got = 0;
      switch (s->read(buffer, got, result_ec)) {
        case Step::done:
          result_n = got;
          break;
        case Step::failed:
          break;
        case Step::need_input:
          if (auto output = s->take_output(); output.size() > 0) {
            state = flushing;
            io.flushing = true;
            return boost::asio::async_write(s->next_, output, std::move(self));
          }
          if (io.eof) {
            result_ec = s->eof_error();
            break;
          }
          state = reading;
          return s->next_.async_read_some(s->input_space(), std::move(self));
      }
      if (!first) return self.complete(result_ec, result_n);
      state = finishing;  // not from within the initiating call
      boost::asio::post(s->next_.get_executor(), std::move(self));
    }
  };

  // Writes: SSL_write of the first buffer, then its records to the socket.
  struct WriteOp {
    TlsStream* s;
    boost::asio::const_buffer buffer;
    enum { start, flushing, finishing } state = start;
    boost::system::error_code result_ec{};
    std::size_t result_n = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
      auto& io = *s->io_;
      boost::asio::const_buffer output;
      if (state == finishing) return self.complete(result_ec, result_n);
      if (state == flushing) {
        io.flushing = false;
        io.sent += n;
        if (ec) return self.complete(ec, 0);
        output = s->take_output();
        if (output.size() == 0) return self.complete({}, result_n);
      } else if (s->write(buffer, result_n, result_ec) == Step::done) {
        output = s->take_output();
      }
      if (output.size() == 0) {
        state = finishing;  // failed, or another operation is sending: not from within the initiating call
        return boost::asio::post(s->next_.get_executor(), std::move(self));
      }
      state = flushing;
      io.flushing = true;
      boost::asio::async_write(s->next_, output, std::move(self));
    }
  };

  next_layer_type next_;
  std::unique_ptr<Io> io_;
  std::unique_ptr<SSL, SslFree> ssl_;
};

// A whole message, as for a plain connection (http/send_now.hpp): true when it went at once;
// false with `ec` on a failure, or without when send_rest() has the rest to write (ciphertext
// the socket did not take, or a message over kSendNowLimit left whole in `bytes`).
inline bool send_whole(TlsStream& stream, std::string_view& bytes, boost::system::error_code& ec) {
  return stream.send_now(bytes, ec) && bytes.empty() && !stream.pending();
}

// What send_whole() left, under the next layer's deadline.
boost::asio::awaitable<boost::system::error_code> send_rest(TlsStream& stream, std::string_view bytes);

}  // namespace mcp_sidecar::http
