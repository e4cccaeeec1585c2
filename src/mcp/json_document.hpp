// A JSON text checked in one pass and read where it lies. parse_json builds a value of the whole
// message (an allocation or three per member, a tree insertion per key); a proxy reads a few
// members of a request and passes the rest on, so a document records where each value lies
// instead (one node per value, in one vector) and builds a value only of what is asked for.
// JsonDocument::parse accepts exactly what parse_json accepts, and a view's value() is the value
// parse_json builds of it: tests/fuzz/fuzz_json_parse.cpp holds the two to each other.
#pragma once

#include "mcp/json_parse.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::mcp {

class JsonView;

class JsonDocument {
 public:
  // The document of `text`, or nullopt where parse_json(text) is nullopt. With `duplicate_keys`,
  // also whether an object repeats a key, as parse_json tells it. A text of 4 GiB or more is
  // refused (offsets are 32 bits; the sidecar's bodies are bounded far below that).
  static std::optional<JsonDocument> parse(std::string text, bool* duplicate_keys = nullptr,
                                           int max_depth = kMaxJsonDepth);

  JsonView root() const;
  // The text as it came (a byte order mark before the value included).
  const std::string& text() const { return text_; }
  // The text, taken out of the document: its views are no longer valid.
  std::string take_text() && { return std::move(text_); }

  // One value, in the order the text has them: an array's elements follow it, an object's
  // members follow it as key (a string node) then value.
  struct Node {
    std::uint32_t begin = 0;  // the value's text: [begin, end) of the document's text
    std::uint32_t end = 0;
    std::uint32_t next = 0;          // the node after this value and all it holds
    std::uint32_t string_begin = 0;  // strings: the content, unescaped, in text_ or in unescaped_
    std::uint32_t string_size = 0;
    nlohmann::json::value_t type = nlohmann::json::value_t::null;
    bool unescaped = false;  // the content is in unescaped_ (the string had escapes)
  };

 private:
  friend class JsonView;
  // A string node's content, unescaped.
  std::string_view string_of(const Node& n) const {
    return std::string_view(n.unescaped ? unescaped_ : text_).substr(n.string_begin, n.string_size);
  }

  std::string text_;
  std::string unescaped_;  // the strings that had escapes, one after the other
  std::vector<Node> nodes_;
  int max_depth_ = kMaxJsonDepth;  // what parse() was given
  bool unique_keys_ = false;       // parse() looked for a repeated key and found none
};

// A value in a document, or no value (a member that is not there): every read of an absent
// view answers as of nothing (no type, no members, the empty string). Valid while the document
// lives and is not moved.
class JsonView {
 public:
  JsonView() = default;

  bool absent() const { return doc_ == nullptr; }
  nlohmann::json::value_t type() const { return absent() ? nlohmann::json::value_t::discarded : node().type; }
  bool is_object() const { return type() == nlohmann::json::value_t::object; }
  bool is_array() const { return type() == nlohmann::json::value_t::array; }
  bool is_string() const { return type() == nlohmann::json::value_t::string; }
  bool is_null() const { return type() == nlohmann::json::value_t::null; }
  bool is_number_integer() const {
    return type() == nlohmann::json::value_t::number_integer || type() == nlohmann::json::value_t::number_unsigned;
  }
  // Absent, or null: what parsed values answer with is_null() for a missing member.
  bool absent_or_null() const { return absent() || is_null(); }

  // A string's content, unescaped ("" for anything else).
  std::string_view str() const;
  bool is_text(std::string_view s) const { return is_string() && str() == s; }
  // The value's JSON text, as it came.
  std::string_view text() const;
  // The value parse_json builds of text() (null when absent).
  nlohmann::json value() const;

  // An object's member: the last one of that name (parsed values keep the last one too), or
  // absent (no such member, or not an object). In a document that parse() found no repeated key
  // in, the search stops at the first.
  JsonView operator[](std::string_view key) const;
  bool contains(std::string_view key) const { return !(*this)[key].absent(); }
  // The members of an object, or elements of an array.
  std::size_t size() const;

  // visit(key, value) for each member of an object, in the text's order (a repeated key twice).
  template <class Visit>
  void for_each_member(Visit&& visit) const {
    if (!is_object()) return;
    for (std::uint32_t i = index_ + 1; i < node().next; i = doc_->nodes_[i + 1].next)
      visit(JsonView(doc_, i).str(), JsonView(doc_, i + 1));
  }
  // visit(element) for each element of an array.
  template <class Visit>
  void for_each_element(Visit&& visit) const {
    if (!is_array()) return;
    for (std::uint32_t i = index_ + 1; i < node().next; i = doc_->nodes_[i].next) visit(JsonView(doc_, i));
  }

 private:
  friend class JsonDocument;
  JsonView(const JsonDocument* doc, std::uint32_t index) : doc_(doc), index_(index) {}
  const JsonDocument::Node& node() const { return doc_->nodes_[index_]; }

  const JsonDocument* doc_ = nullptr;
  std::uint32_t index_ = 0;
};

inline JsonView JsonDocument::root() const { return JsonView(this, 0); }

// Whether the JSON text `object` is an object with a member `key` (false for any other text).
bool text_has_member(std::string_view object, std::string_view key);

// JsonView's reads over a value already built, so that a check of messages is written once for
// both (mcp::classify, mcp::check_modern_request). Valid while the value lives.
class ValueView {
 public:
  ValueView() = default;
  explicit ValueView(const nlohmann::json& value) : value_(&value) {}

  bool absent() const { return value_ == nullptr; }
  nlohmann::json::value_t type() const { return absent() ? nlohmann::json::value_t::discarded : value_->type(); }
  bool is_object() const { return value_ && value_->is_object(); }
  bool is_array() const { return value_ && value_->is_array(); }
  bool is_string() const { return value_ && value_->is_string(); }
  bool is_null() const { return value_ && value_->is_null(); }
  bool is_number_integer() const { return value_ && value_->is_number_integer(); }
  bool absent_or_null() const { return !value_ || value_->is_null(); }
  std::string_view str() const {
    return is_string() ? std::string_view(value_->get_ref<const std::string&>()) : std::string_view();
  }
  bool is_text(std::string_view s) const { return is_string() && str() == s; }
  nlohmann::json value() const { return value_ ? *value_ : nlohmann::json(); }
  ValueView operator[](std::string_view key) const {
    if (!is_object()) return {};
    auto it = value_->find(key);
    return it == value_->end() ? ValueView() : ValueView(*it);
  }
  bool contains(std::string_view key) const { return !(*this)[key].absent(); }

 private:
  const nlohmann::json* value_ = nullptr;
};

}  // namespace mcp_sidecar::mcp
