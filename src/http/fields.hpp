// HTTP header fields as the sidecar reads them off a connection, kept flat: every field's name and
// value in one string, where each lies in a small vector, in the order they came. Beast's field
// container allocates a node per field, inserts it into a tree and searches that tree with a
// case-insensitive comparison per lookup: the largest part of reading a head (issue 9).
// FlatParser fills a message of such fields (http::Request, http::UpstreamResponse) from the
// bytes on a connection, on top of Beast's parser: its framing, limits and chunked bodies, none
// of its containers.
#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcp_sidecar::http {

class FlatFields {
 public:
  using field = boost::beast::http::field;

  // A field as iteration and find() show it; valid while the fields are unchanged.
  class Field {
   public:
    field name() const { return name_; }
    std::string_view name_string() const { return name_string_; }
    std::string_view value() const { return value_; }

   private:
    friend class FlatFields;
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
    friend class FlatFields;
    const_iterator(const FlatFields* fields, std::size_t index) : fields_(fields), index_(index) { load(); }
    void load();

    const FlatFields* fields_ = nullptr;
    std::size_t index_ = 0;
    Field current_;
  };

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

  // Calls `visit(value)` for every field named `name` (case-insensitively), in order: one pass
  // over the fields without a view of each.
  template <class Visit>
  void for_each_value(std::string_view name, Visit&& visit) const {
    for (const Entry& e : fields_)
      if (matches(e, field::unknown, name)) visit(text(e.value));
  }

  // Adds a field at the end (kept: several fields of one name stay several).
  void insert(field name, std::string_view name_string, std::string_view value);
  void insert(std::string_view name, std::string_view value);

 protected:
  struct Span {
    std::uint32_t at = 0;
    std::uint32_t size = 0;
  };

  // Empties the fields for a new head whose start line takes about `line` bytes.
  void reset(std::size_t line);
  std::string_view text(Span s) const { return {text_.data() + s.at, s.size}; }
  Span append(std::string_view s);

 private:
  struct Entry {
    field name;
    Span name_string;
    Span value;
  };

  // `name` when Beast knows it (compared as its enum), else `name_string`, case-insensitively,
  // comparing the text only where the lengths match.
  bool matches(const Entry& e, field name, std::string_view name_string) const {
    if (name != field::unknown) return e.name == name;
    return e.name_string.size == name_string.size() && boost::beast::iequals(text(e.name_string), name_string);
  }
  // The index of the first field that is `name` (or, for field::unknown, is named `name_string`).
  std::size_t index_of(field name, std::string_view name_string) const;

  std::string text_;  // the start line's parts, then every field's name and value
  std::vector<Entry> fields_;
};

// What a request and a response read off a connection share: the fields, the version, whether
// the connection stays open after it, and the body. Read-only but for the body.
class FlatMessage : public FlatFields {
 public:
  unsigned version() const { return version_; }
  // As RFC 9112 9.3 reads the version and the Connection field, and for a response its framing
  // too (a body that runs to the end of the connection does not keep it): Beast's parser decides.
  bool keep_alive() const { return keep_alive_; }

  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

 protected:
  template <bool, class>
  friend class FlatParser;

  unsigned version_ = 11;
  bool keep_alive_ = true;
  std::string body_;
};

// Beast's parser filling a `Message` (a FlatMessage). The start line is the derived parser's
// (on_request_impl, on_response_impl). Fresh per message, as Beast's parsers are.
template <bool isRequest, class Message>
class FlatParser : public boost::beast::http::basic_parser<isRequest> {
 public:
  Message& get() { return message_; }
  const Message& get() const { return message_; }
  Message release() { return std::move(message_); }

 protected:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  Message message_;

 private:
  void on_field_impl(FlatFields::field name, string_view name_string, string_view value, error_code&) override {
    message_.insert(name, name_string, value);
  }
  void on_header_impl(error_code&) override { message_.keep_alive_ = this->keep_alive(); }
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) override {
    // The parser has already held the length against its body limit.
    if (content_length) message_.body_.reserve(static_cast<std::size_t>(*content_length));
  }
  std::size_t on_body_impl(string_view body, error_code&) override {
    message_.body_.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    message_.body_.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}
};

}  // namespace mcp_sidecar::http
