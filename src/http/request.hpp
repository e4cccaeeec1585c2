// A request as the server read it: the request line, the header fields in the order they came,
// and the body. Kept flat (the text of the line and the fields in one string, where each field
// lies in a small vector) rather than in Beast's field container, which allocates a node per
// field, inserts it into a tree and searches that tree with a case-insensitive comparison per
// lookup: the largest part of reading a request head (issue 9). Read-only but for the body.
// RequestParser fills one from the bytes on a connection, on top of Beast's parser.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcp_sidecar::http {

class Request {
 public:
  using field = boost::beast::http::field;
  using verb = boost::beast::http::verb;

  // A field as iteration and find() show it; valid while the request is unchanged.
  class Field {
   public:
    field name() const { return name_; }
    std::string_view name_string() const { return name_string_; }
    std::string_view value() const { return value_; }

   private:
    friend class Request;
    field name_ = field::unknown;
    std::string_view name_string_;
    std::string_view value_;
  };

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Field;
    using difference_type = std::ptrdiff_t;
    using pointer = const Field*;
    using reference = const Field&;

    const_iterator() = default;
    const Field& operator*() const { return current_; }
    const Field* operator->() const { return &current_; }
    const_iterator& operator++() {
      ++index_;
      load();
      return *this;
    }
    const_iterator operator++(int) {
      auto before = *this;
      ++*this;
      return before;
    }
    bool operator==(const const_iterator& other) const { return index_ == other.index_; }

   private:
    friend class Request;
    const_iterator(const Request* request, std::size_t index) : request_(request), index_(index) { load(); }
    void load();

    const Request* request_ = nullptr;
    std::size_t index_ = 0;
    Field current_;
  };

  Request() = default;
  // A request built in code (tests, examples): fields are added with insert().
  Request(verb method, std::string_view target, unsigned version);

  verb method() const { return method_; }
  std::string_view method_string() const { return text(method_at_); }
  std::string_view target() const { return text(target_at_); }
  unsigned version() const { return version_; }
  // As RFC 9112 9.3 reads the version and the Connection field (Beast's parser decides).
  bool keep_alive() const { return keep_alive_; }

  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, fields_.size()}; }
  // The first field of that name, or end(). Names compare case-insensitively.
  const_iterator find(field name) const { return {this, index_of(name, {})}; }
  const_iterator find(std::string_view name) const { return {this, index_of(field::unknown, name)}; }
  std::size_t count(field name) const;
  std::size_t count(std::string_view name) const;
  // The first value of that name, or "" when there is none.
  std::string_view operator[](field name) const;
  std::string_view operator[](std::string_view name) const;

  // Adds a field at the end (kept: several fields of one name stay several).
  void insert(field name, std::string_view name_string, std::string_view value);
  void insert(std::string_view name, std::string_view value);

 private:
  friend class RequestParser;

  struct Span {
    std::uint32_t at = 0;
    std::uint32_t size = 0;
  };
  struct Entry {
    field name;
    Span name_string;
    Span value;
  };

  std::string_view text(Span s) const { return {text_.data() + s.at, s.size}; }
  Span append(std::string_view s);
  bool matches(const Entry& e, field name, std::string_view name_string) const;
  // The index of the first field that is `name` (or, for field::unknown, is named `name_string`).
  std::size_t index_of(field name, std::string_view name_string) const;
  void start(verb method, std::string_view method_string, std::string_view target, unsigned version);

  verb method_ = verb::unknown;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  Span method_at_;
  Span target_at_;
  std::string text_;  // the method, the target, then every field's name and value
  std::vector<Entry> fields_;
  std::string body_;
};

// Reads one request into a Request: Beast's parser (framing, limits, chunked bodies), none of
// its containers. Fresh per request, as Beast's request_parser.
class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  RequestParser();
  Request& get() { return request_; }
  const Request& get() const { return request_; }
  Request release() { return std::move(request_); }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(Request::verb method, string_view method_string, string_view target, int version,
                       error_code& ec) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(Request::field name, string_view name_string, string_view value, error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body, error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  Request request_;
};

}  // namespace mcp_sidecar::http
