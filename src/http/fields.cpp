#include "http/fields.hpp"

#include <boost/beast/core/string.hpp>

namespace mcp_sidecar::http {

void FlatFields::const_iterator::load() {
  if (!fields_ || index_ >= fields_->fields_.size()) return;
  const Entry& e = fields_->fields_[index_];
  current_.name_ = e.name;
  current_.name_string_ = fields_->text(e.name_string);
  current_.value_ = fields_->text(e.value);
}

void FlatFields::reset(std::size_t line) {
  text_.clear();
  fields_.clear();
  text_.reserve(line + 512);  // a typical head's fields, at once
  fields_.reserve(16);
}

FlatFields::Span FlatFields::append(std::string_view s) {
  Span span{static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(s.size())};
  text_.append(s);
  return span;
}

std::size_t FlatFields::index_of(field name, std::string_view name_string) const {
  // A name Beast knows is compared as its enum, however the caller spelled it.
  if (name == field::unknown) name = boost::beast::http::string_to_field(name_string);
  std::size_t i = 0;
  while (i < fields_.size() && !matches(fields_[i], name, name_string)) ++i;
  return i;
}

std::size_t FlatFields::count(field name) const {
  std::size_t n = 0;
  for (const auto& e : fields_) n += matches(e, name, {});
  return n;
}

std::size_t FlatFields::count(std::string_view name) const {
  const field known = boost::beast::http::string_to_field(name);
  std::size_t n = 0;
  for (const auto& e : fields_) n += matches(e, known, name);
  return n;
}

std::string_view FlatFields::operator[](field name) const {
  const auto i = index_of(name, {});
  return i < fields_.size() ? text(fields_[i].value) : std::string_view{};
}

std::string_view FlatFields::operator[](std::string_view name) const {
  const auto i = index_of(field::unknown, name);
  return i < fields_.size() ? text(fields_[i].value) : std::string_view{};
}

void FlatFields::insert(field name, std::string_view name_string, std::string_view value) {
  const Span n = append(name_string);
  fields_.push_back({name, n, append(value)});
}

void FlatFields::insert(std::string_view name, std::string_view value) {
  insert(boost::beast::http::string_to_field(name), name, value);
}

}  // namespace mcp_sidecar::http
