// parse_json is hand-written: nlohmann's lexer reads one char at a time through an input adapter
// and keeps every char for its error messages, which made parsing the two bodies the largest cost
// of a proxied call (issue 9). This parser walks the bytes with pointers and builds the
// nlohmann::json value in place. It accepts and rejects exactly what
// nlohmann::json::parse(text, nullptr, false) plus the depth rule does, and yields the same values
// with the same number types: tests/fuzz/fuzz_json_parse.cpp checks both against each other.
// The same walk records a JsonDocument (mcp/json_document.hpp) instead of building values.
#include "mcp/json_parse.hpp"

#include "core/json_scan.hpp"
#include "core/json_write.hpp"
#include "mcp/json_document.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::mcp {

bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return false;
        break;
      case ']':
      case '}':
        --depth;
        break;
      default:
        break;
    }
  }
  return true;
}

namespace {

using json = nlohmann::json;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the well-formed UTF-8 sequence at `p`, or 0. Well-formed is RFC 3629's table, the one
// nlohmann checks: no overlong forms, no encoded surrogates (ED A0..BF), nothing past U+10FFFF,
// no sequence cut short by the end of the input.
std::size_t utf8_sequence(const char* p, const char* end) {
  auto byte = [p](std::size_t i) { return static_cast<unsigned char>(p[i]); };
  const unsigned lead = byte(0);
  unsigned low = 0x80, high = 0xBF;  // the range of the second byte, narrowed for some leads
  std::size_t length = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (static_cast<std::size_t>(end - p) < length || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// Where skip() puts what it unescapes: nowhere. string() pushes back only what an escape stands
// for, so `escaped` tells whether the string had one.
struct Discard {
  bool escaped = false;
  void append(const char*, const char*) {}
  void push_back(char) { escaped = true; }
};

template <typename Out>
void append_utf8(Out& out, unsigned code_point) {
  auto put = [&out](unsigned byte) { out.push_back(static_cast<char>(byte)); };
  if (code_point < 0x80) {
    put(code_point);
  } else if (code_point < 0x800) {
    put(0xC0 | (code_point >> 6));
    put(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    put(0xE0 | (code_point >> 12));
    put(0x80 | ((code_point >> 6) & 0x3F));
    put(0x80 | (code_point & 0x3F));
  } else {
    put(0xF0 | (code_point >> 18));
    put(0x80 | ((code_point >> 12) & 0x3F));
    put(0x80 | ((code_point >> 6) & 0x3F));
    put(0x80 | (code_point & 0x3F));
  }
}

// Recursive descent, one level per open array or object: the recursion never goes deeper than
// the depth limit, so the stack stays small whatever the input. Every method returns false on the
// first malformed byte; the caller then drops the half-built value.
class Parser {
 public:
  explicit Parser(std::string_view text) : begin_(text.data()), p_(begin_), end_(text.data() + text.size()) {}

  // nlohmann skips one UTF-8 byte order mark at the very start: so does the parser, if called first.
  void skip_byte_order_mark() {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;
  }

  // Whether an object read so far repeated a key.
  bool duplicate_keys() const { return duplicate_keys_; }

  // One value into `out`, with arrays and objects allowed `depth_left` levels of nesting.
  bool value(json& out, int depth_left) {
    skip_whitespace();
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return object(out, depth_left);
      case '[':
        return array(out, depth_left);
      case '"':
        out = json(json::value_t::string);
        return string(out.get_ref<json::string_t&>());
      case 't':
        return literal("true", out, true);
      case 'f':
        return literal("false", out, false);
      case 'n':
        return literal("null", out, nullptr);
      default:
        return number(out);
    }
  }

  // A JSON-RPC message as value() parses it, except that the `content` and `structuredContent`
  // of its result (what a tool returned) are checked, not built, and kept as their text.
  bool tool_response(json& out, int depth_left) {
    skip_whitespace();
    if (p_ == end_ || *p_ != '{') return value(out, depth_left);
    return object(out, depth_left, [this](const std::string& key, json& slot, int depth) {
      skip_whitespace();
      if (key != "result" || p_ == end_ || *p_ != '{') return value(slot, depth);
      return object(slot, depth, [this](const std::string& name, json& member, int member_depth) {
        skip_whitespace();
        if ((name != "content" && name != "structuredContent") || p_ == end_ || (*p_ != '{' && *p_ != '['))
          return value(member, member_depth);
        const char* start = p_;
        if (!skip(member_depth)) return false;
        member = json_text_value({start, static_cast<std::size_t>(p_ - start)});
        return true;
      });
    });
  }

  // The value at `p_` recorded into `nodes` (JsonDocument::Node) as value() would parse it, with
  // strings that have escapes unescaped into `unescaped`. Nothing else is built. Only arrays and
  // objects recurse: their keys and other members that hold nothing are recorded in the loop.
  bool record(std::vector<JsonDocument::Node>& nodes, std::string& unescaped, int depth_left) {
    skip_whitespace();
    if (p_ == end_) return false;
    if (*p_ != '{' && *p_ != '[') return record_leaf(nodes, unescaped);
    if (depth_left <= 0) return false;
    const auto index = static_cast<std::uint32_t>(nodes.size());
    nodes.emplace_back().begin = offset();
    const bool object = *p_ == '{';
    const char close = object ? '}' : ']';
    nodes[index].type = object ? json::value_t::object : json::value_t::array;
    ++p_;
    skip_whitespace();
    if (!consume(close)) {
      do {
        skip_whitespace();
        if (object) {
          if (p_ == end_ || *p_ != '"' || !record_leaf(nodes, unescaped)) return false;
          skip_whitespace();
          if (!consume(':')) return false;
          skip_whitespace();
        }
        if (p_ == end_) return false;
        const bool nested = *p_ == '{' || *p_ == '[';
        if (!(nested ? record(nodes, unescaped, depth_left - 1) : record_leaf(nodes, unescaped))) return false;
        skip_whitespace();
      } while (consume(','));
      if (!consume(close)) return false;
      if (object && find_duplicates_ && !duplicate_keys_) duplicate_keys_ = repeats_a_key(nodes, unescaped, index);
    }
    nodes[index].end = offset();
    nodes[index].next = static_cast<std::uint32_t>(nodes.size());
    return true;
  }

  // record() of the string, literal or number at `p_`.
  bool record_leaf(std::vector<JsonDocument::Node>& nodes, std::string& unescaped) {
    const auto index = static_cast<std::uint32_t>(nodes.size());
    nodes.emplace_back().begin = offset();
    if (*p_ == '"') {
      const char* start = p_;
      Discard content;
      if (!string(content)) return false;
      auto& node = nodes[index];
      node.type = json::value_t::string;
      if (!content.escaped) {
        node.string_begin = offset(start) + 1;
        node.string_size = static_cast<std::uint32_t>(p_ - start) - 2;
      } else {  // checked above: unescaped again, into the document's own string
        const char* after = p_;
        p_ = start;
        node.unescaped = true;
        node.string_begin = static_cast<std::uint32_t>(unescaped.size());
        string(unescaped);
        node.string_size = static_cast<std::uint32_t>(unescaped.size()) - node.string_begin;
        p_ = after;
      }
    } else {  // literals and numbers, typed as value() types them (never an array or object here)
      if (!value(scalar_, 0)) return false;
      nodes[index].type = scalar_.type();
    }
    nodes[index].end = offset();
    nodes[index].next = index + 1;
    return true;
  }

  // Whether record() is to tell repeated keys (duplicate_keys()).
  void find_duplicates(bool find) { find_duplicates_ = find; }

  // After the value: only whitespace. nlohmann reads a NUL byte as the end of input and ignores
  // whatever follows it, but the depth rule has always counted the brackets there too.
  bool at_end(int max_depth) {
    skip_whitespace();
    if (p_ == end_) return true;
    return *p_ == '\0' && json_depth_within({p_, end_}, max_depth);
  }

 private:
  std::uint32_t offset(const char* at) const { return static_cast<std::uint32_t>(at - begin_); }
  std::uint32_t offset() const { return offset(p_); }

  // Whether the object just recorded at nodes[index] (its members the last nodes) repeats a key,
  // compared unescaped.
  bool repeats_a_key(const std::vector<JsonDocument::Node>& nodes, const std::string& unescaped,
                     std::uint32_t index) const {
    auto key = [&](std::uint32_t i) {
      const auto& k = nodes[i];
      return std::string_view((k.unescaped ? unescaped.data() : begin_) + k.string_begin, k.string_size);
    };
    // The usual object: each key against those before it, most told apart by their lengths.
    std::size_t members = 0;
    for (auto i = index + 1; i < nodes.size() && members <= kFewMembers; i = nodes[i + 1].next, ++members)
      for (auto j = index + 1; j < i; j = nodes[j + 1].next)
        if (nodes[j].string_size == nodes[i].string_size && key(j) == key(i)) return true;
    if (members <= kFewMembers) return false;
    // An object of many members: its keys sorted (n log n).
    keys_.clear();
    for (auto i = index + 1; i < nodes.size(); i = nodes[i + 1].next) keys_.push_back(key(i));
    std::sort(keys_.begin(), keys_.end());
    return std::adjacent_find(keys_.begin(), keys_.end()) != keys_.end();
  }
  static constexpr std::size_t kFewMembers = 16;

  bool consume(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  void skip_whitespace() {
    // Called before and after every value, key and separator, and most find none: one compare
    // tells that (every JSON whitespace byte is 0x20 or below).
    if (p_ != end_ && static_cast<unsigned char>(*p_) > ' ') return;
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(std::string_view word, json& out, json literal_value) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0)
      return false;
    p_ += word.size();
    out = std::move(literal_value);
    return true;
  }

  bool array(json& out, int depth_left) {
    if (depth_left <= 0) return false;
    ++p_;
    out = json(json::value_t::array);
    auto& items = out.get_ref<json::array_t&>();
    skip_whitespace();
    if (consume(']')) return true;
    do {
      if (!value(items.emplace_back(), depth_left - 1)) return false;
      skip_whitespace();
    } while (consume(','));
    return consume(']');
  }

  bool object(json& out, int depth_left) {
    return object(out, depth_left, [this](const std::string&, json& slot, int depth) { return value(slot, depth); });
  }

  // An object whose member values `member_value(key, slot, depth_left)` parses into their slots.
  template <typename MemberValue>
  bool object(json& out, int depth_left, const MemberValue& member_value) {
    if (depth_left <= 0) return false;
    ++p_;
    out = json(json::value_t::object);
    auto& members = out.get_ref<json::object_t&>();
    skip_whitespace();
    if (consume('}')) return true;
    do {
      skip_whitespace();
      if (p_ == end_ || *p_ != '"') return false;
      key_.clear();
      if (!string(key_)) return false;
      skip_whitespace();
      if (!consume(':')) return false;
      // A repeated key is parsed over the earlier value: the last one wins, as in nlohmann.
      // (The value gets the map's copy of the key: key_ is reused for the value's own keys.)
      auto [member, added] = members.try_emplace(key_);
      duplicate_keys_ |= !added;
      if (!member_value(member->first, member->second, depth_left - 1)) return false;
      skip_whitespace();
    } while (consume(','));
    return consume('}');
  }

  // Checks the value at `p_` as value() would parse it, building nothing on the heap.
  bool skip(int depth_left) {
    skip_whitespace();
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
      case '[': {
        if (depth_left <= 0) return false;
        const char close = *p_ == '{' ? '}' : ']';
        ++p_;
        skip_whitespace();
        if (consume(close)) return true;
        do {
          if (close == '}') {
            skip_whitespace();
            if (p_ == end_ || *p_ != '"' || !skip_string()) return false;
            skip_whitespace();
            if (!consume(':')) return false;
          }
          if (!skip(depth_left - 1)) return false;
          skip_whitespace();
        } while (consume(','));
        return consume(close);
      }
      case '"':
        return skip_string();
      default:  // literals and numbers: values without memory of their own
        return value(scalar_, depth_left);
    }
  }

  // The string opening at `p_`, unescaped, appended to `out`. Runs of plain bytes (ASCII and
  // well-formed UTF-8) are copied in one append; only a quote, an escape or a bad byte stops one.
  template <typename Out>
  bool string(Out& out) {
    const char* run = ++p_;
    while ((p_ = skip_json_plain(p_, end_)) != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c >= 0x80) {
        const std::size_t length = utf8_sequence(p_, end_);
        if (length == 0) return false;
        p_ += length;
      } else {
        out.append(run, p_);
        if (c == '"') {
          ++p_;
          return true;
        }
        if (c != '\\' || !escape(out)) return false;  // an unescaped control character or a bad escape
        run = p_;
      }
    }
    return false;  // no closing quote
  }

  // The escape at `p_` (a backslash), decoded into `out`.
  template <typename Out>
  bool escape(Out& out) {
    static constexpr std::string_view kNames = "\"\\/bfnrt";
    static constexpr std::string_view kBytes = "\"\\/\b\f\n\r\t";
    if (end_ - p_ < 2) return false;
    const char name = p_[1];
    p_ += 2;
    if (name == 'u') return unicode_escape(out);
    const auto index = kNames.find(name);
    if (index == std::string_view::npos) return false;
    out.push_back(kBytes[index]);
    return true;
  }

  // \uXXXX, after the "\u". UTF-16 surrogates only come in escaped high-then-low pairs, which
  // stand for one code point; a lone or misordered surrogate is refused, as nlohmann refuses it.
  template <typename Out>
  bool unicode_escape(Out& out) {
    const int first = hex4();
    if (first < 0 || (first >= 0xDC00 && first <= 0xDFFF)) return false;
    unsigned code_point = static_cast<unsigned>(first);
    if (first >= 0xD800 && first <= 0xDBFF) {
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
      p_ += 2;
      const int second = hex4();
      if (second < 0xDC00 || second > 0xDFFF) return false;
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + static_cast<unsigned>(second - 0xDC00);
    }
    append_utf8(out, code_point);
    return true;
  }

  bool skip_string() {
    Discard nowhere;
    return string(nowhere);
  }

  // Four hex digits as a number, or -1.
  int hex4() {
    if (end_ - p_ < 4) return -1;
    int result = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = hex_digit(*p_++);
      if (digit < 0) return -1;
      result = result * 16 + digit;
    }
    return result;
  }

  // One or more digits.
  bool digits() {
    if (p_ == end_ || !is_digit(*p_)) return false;
    while (p_ != end_ && is_digit(*p_)) ++p_;
    return true;
  }

  // The RFC 8259 number at `p_`, typed as nlohmann types it: an integer without a sign is
  // unsigned, a negative one signed, and one that overflows 64 bits, or has a fraction or an
  // exponent, is a double. A double out of range is refused, as nlohmann refuses it.
  bool number(json& out) {
    const char* start = p_;
    consume('-');
    if (!consume('0') && !digits()) return false;  // no leading zeros: "01" ends after the 0
    bool integral = true;
    if (consume('.')) {
      if (!digits()) return false;
      integral = false;
    }
    if (consume('e') || consume('E')) {
      if (!consume('+')) consume('-');
      if (!digits()) return false;
      integral = false;
    }
    if (integral) {
      if (*start == '-') {
        std::int64_t negative = 0;
        if (std::from_chars(start, p_, negative).ec == std::errc{}) {
          out = negative;
          return true;
        }
      } else {
        std::uint64_t natural = 0;
        if (std::from_chars(start, p_, natural).ec == std::errc{}) {
          out = natural;
          return true;
        }
      }
    }
    double real = 0;
    if (std::from_chars(start, p_, real).ec == std::errc::result_out_of_range) {
      // from_chars leaves the value unset; strtod, which nlohmann calls, rounds an underflow to
      // +-0 (kept) and an overflow to +-inf (refused below). The sidecar never sets a locale, so
      // strtod reads '.' as the decimal point.
      real = std::strtod(std::string(start, p_).c_str(), nullptr);
    }
    if (!std::isfinite(real)) return false;
    out = real;
    return true;
  }

  const char* begin_;  // offsets (record) count from here
  const char* p_;
  const char* end_;
  std::string key_;                             // reused for every object key: the map copies it in
  bool duplicate_keys_ = false;                 // an object repeated a key
  bool find_duplicates_ = false;                // record() looks for repeated keys
  mutable std::vector<std::string_view> keys_;  // repeats_a_key's, reused
  json scalar_;                                 // what skip() parses and drops
};

}  // namespace

namespace {

// The whole of `text` as one value read by `read` (Parser::value or Parser::tool_response).
std::optional<json> parse_with(std::string_view text, int max_depth, bool (Parser::*read)(json&, int),
                               bool* duplicate_keys = nullptr) {
  Parser parser(text);
  parser.skip_byte_order_mark();
  json value;
  if (!(parser.*read)(value, max_depth) || !parser.at_end(max_depth)) return std::nullopt;
  if (duplicate_keys) *duplicate_keys = parser.duplicate_keys();
  return value;
}

}  // namespace

std::optional<nlohmann::json> parse_json(std::string_view text, int max_depth) {
  return parse_with(text, max_depth, &Parser::value);
}

std::optional<nlohmann::json> parse_json(std::string_view text, bool& duplicate_keys, int max_depth) {
  duplicate_keys = false;
  return parse_with(text, max_depth, &Parser::value, &duplicate_keys);
}

std::optional<JsonDocument> JsonDocument::parse(std::string text, bool* duplicate_keys, int max_depth) {
  if (text.size() >= std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  JsonDocument doc;
  doc.text_ = std::move(text);
  doc.max_depth_ = max_depth;
  Parser parser(doc.text_);
  parser.skip_byte_order_mark();
  parser.find_duplicates(duplicate_keys != nullptr);
  // About one node per 8 bytes of a usual message: one allocation for most.
  doc.nodes_.reserve(std::min<std::size_t>(doc.text_.size() / 8 + 8, 1024));
  if (!parser.record(doc.nodes_, doc.unescaped_, max_depth) || !parser.at_end(max_depth)) return std::nullopt;
  if (duplicate_keys) {
    *duplicate_keys = parser.duplicate_keys();
    doc.unique_keys_ = !*duplicate_keys;
  }
  return doc;
}

std::optional<nlohmann::json> parse_tool_response(std::string_view text, int max_depth) {
  return parse_with(text, max_depth, &Parser::tool_response);
}

namespace {

void dispose(json& value, int depth) {
  if (depth == 0) return;
  if (value.is_object()) {
    auto& members = value.get_ref<json::object_t&>();
    for (auto& member : members) dispose(member.second, depth - 1);
    members.clear();
  } else if (value.is_array()) {
    auto& elements = value.get_ref<json::array_t&>();
    for (auto& element : elements) dispose(element, depth - 1);
    elements.clear();
  }
}

}  // namespace

void dispose(json& value) { dispose(value, kMaxJsonDepth + 8); }

}  // namespace mcp_sidecar::mcp
