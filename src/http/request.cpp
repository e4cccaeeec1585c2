#include "http/request.hpp"

#include <boost/beast/core/string.hpp>

namespace mcp_sidecar::http {

void Request::const_iterator::load() {
  if (!request_ || index_ >= request_->fields_.size()) return;
  const Entry& e = request_->fields_[index_];
  current_.name_ = e.name;
  current_.name_string_ = request_->text(e.name_string);
  current_.value_ = request_->text(e.value);
}

Request::Request(verb method, std::string_view target, unsigned version) {
  start(method, boost::beast::http::to_string(method), target, version);
  keep_alive_ = version >= 11;
}

void Request::start(verb method, std::string_view method_string, std::string_view target, unsigned version) {
  text_.clear();
  fields_.clear();
  text_.reserve(method_string.size() + target.size() + 512);  // a typical head's fields, at once
  fields_.reserve(16);
  method_ = method;
  version_ = version;
  method_at_ = append(method_string);
  target_at_ = append(target);
}

Request::Span Request::append(std::string_view s) {
  Span span{static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(s.size())};
  text_.append(s);
  return span;
}

bool Request::matches(const Entry& e, field name, std::string_view name_string) const {
  if (name != field::unknown) return e.name == name;
  return e.name_string.size == name_string.size() && boost::beast::iequals(text(e.name_string), name_string);
}

std::size_t Request::index_of(field name, std::string_view name_string) const {
  // A name Beast knows is compared as its enum, however the caller spelled it.
  if (name == field::unknown) name = boost::beast::http::string_to_field(name_string);
  std::size_t i = 0;
  while (i < fields_.size() && !matches(fields_[i], name, name_string)) ++i;
  return i;
}

std::size_t Request::count(field name) const {
  std::size_t n = 0;
  for (const auto& e : fields_) n += matches(e, name, {});
  return n;
}

std::size_t Request::count(std::string_view name) const {
  const field known = boost::beast::http::string_to_field(name);
  std::size_t n = 0;
  for (const auto& e : fields_) n += matches(e, known, name);
  return n;
}

std::string_view Request::operator[](field name) const {
  const auto i = index_of(name, {});
  return i < fields_.size() ? text(fields_[i].value) : std::string_view{};
}

std::string_view Request::operator[](std::string_view name) const {
  const auto i = index_of(field::unknown, name);
  return i < fields_.size() ? text(fields_[i].value) : std::string_view{};
}

void Request::insert(field name, std::string_view name_string, std::string_view value) {
  const Span n = append(name_string);
  fields_.push_back({name, n, append(value)});
}

void Request::insert(std::string_view name, std::string_view value) {
  insert(boost::beast::http::string_to_field(name), name, value);
}

RequestParser::RequestParser() = default;

void RequestParser::on_request_impl(Request::verb method, string_view method_string, string_view target, int version,
                                    error_code&) {
  request_.start(method, method_string, target, static_cast<unsigned>(version));
}

void RequestParser::on_field_impl(Request::field name, string_view name_string, string_view value, error_code&) {
  request_.insert(name, name_string, value);
}

void RequestParser::on_header_impl(error_code&) { request_.keep_alive_ = keep_alive(); }

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) {
  // The parser has already held the length against its body limit.
  if (content_length) request_.body_.reserve(static_cast<std::size_t>(*content_length));
}

std::size_t RequestParser::on_body_impl(string_view body, error_code&) {
  request_.body_.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_chunk_header_impl(std::uint64_t, string_view, error_code&) {}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
  request_.body_.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_finish_impl(error_code&) {}

}  // namespace mcp_sidecar::http
