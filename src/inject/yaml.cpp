#include "inject/yaml.hpp"

#include "mcp/json_parse.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace mcp_sidecar::inject {

namespace {

constexpr int kMaxDepth = mcp::kMaxJsonDepth;
constexpr std::string_view kCoreTag = "tag:yaml.org,2002:";

// ---- plain scalars, as go-yaml v2 resolves them ----------------------------------------------

bool is_null_word(std::string_view s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

std::optional<bool> bool_word(std::string_view s) {
  for (std::string_view t : {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
    if (s == t) return true;
  for (std::string_view f : {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
    if (s == f) return false;
  return std::nullopt;
}

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

// Go's strconv.ParseUint(s, 0, 64) magnitude: 0x, 0o, 0b prefixes, a leading 0 for octal.
std::optional<std::uint64_t> parse_magnitude(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16, s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
    base = 8, s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
    base = 2, s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8, s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    int d = digit_value(c);
    if (d >= base) return std::nullopt;
    if (value > (std::numeric_limits<std::uint64_t>::max() - static_cast<unsigned>(d)) / base) return std::nullopt;
    value = value * base + static_cast<unsigned>(d);
  }
  return value;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool yaml_style_float(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  } else {
    if (!digits()) return false;
    if (i < s.size() && s[i] == '.') ++i, digits();
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

std::optional<double> parse_float(std::string_view s) {
  if (!yaml_style_float(s)) return std::nullopt;
  std::string text(s);
  double v = std::strtod(text.c_str(), nullptr);
  if (std::isinf(v)) return std::nullopt;  // out of range: go-yaml keeps the string
  return v;
}

std::optional<Ordered> special_float(std::string_view s) {
  const double inf = std::numeric_limits<double>::infinity();
  for (std::string_view t : {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
    if (s == t) return Ordered(inf);
  for (std::string_view t : {"-.inf", "-.Inf", "-.INF"})
    if (s == t) return Ordered(-inf);
  for (std::string_view t : {".nan", ".NaN", ".NAN"})
    if (s == t) return Ordered(std::numeric_limits<double>::quiet_NaN());
  return std::nullopt;
}

// What a plain scalar means (go-yaml v2's resolve()).
Ordered resolve_plain(const std::string& s) {
  if (is_null_word(s)) return nullptr;
  if (auto b = bool_word(s)) return *b;
  if (auto f = special_float(s)) return *f;
  const char c = s[0];
  if (c == '.') {
    if (auto f = parse_float(s)) return *f;
  } else if (c == '+' || c == '-' || (c >= '0' && c <= '9')) {
    std::string plain;
    std::copy_if(s.begin(), s.end(), std::back_inserter(plain), [](char ch) { return ch != '_'; });
    const bool negative = plain[0] == '-';
    const bool sign = negative || plain[0] == '+';
    if (auto m = parse_magnitude(std::string_view(plain).substr(sign ? 1 : 0))) {
      constexpr auto kMaxInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
      if (!negative && *m <= kMaxInt) return static_cast<std::int64_t>(*m);
      if (!negative && !sign) return *m;  // ParseUint: no sign allowed
      if (negative && *m <= kMaxInt + 1) return static_cast<std::int64_t>(0 - *m);
    }
    if (auto f = parse_float(plain)) return *f;
  }
  return s;
}

// ---- YAML events -> JSON -------------------------------------------------------------------

struct ReadError {
  int line;
  std::string message;
};

[[noreturn]] void fail(const YAML::Mark& at, std::string message) { throw ReadError{at.line + 1, std::move(message)}; }

// Builds each document's value from the parser's events. yaml-cpp's own node graph is not used:
// this way aliases are copied under a budget (an alias bomb is an error, not an exhausted memory),
// an alias to an unfinished anchor (a cycle) is an error, and a parser that stops making progress
// (yaml-cpp 0.7 yields endless empty documents after a top-level flow collection and a comma) is
// caught.
class Builder final : public YAML::EventHandler {
 public:
  explicit Builder(std::size_t budget) : budget_(budget) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents_ > 0 && mark.pos == last_start_) fail(mark, "invalid YAML: the parser made no progress here");
    last_start_ = mark.pos;
    ++documents_;
    root_ = nullptr;
    line_ = 0;
    anchors_.clear();  // anchors are per document
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { add(mark, nullptr, anchor, 1, "null"); }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& text) override {
    Ordered v = scalar(mark, tag, text);
    // A key is its text; a plain key means what a plain value would (sigs.k8s.io/yaml).
    std::string key = tag != "?"                                               ? text
                      : v.is_string()                                          ? v.get<std::string>()
                      : v.is_number_float() && !std::isfinite(v.get<double>()) ? text
                                                                               : v.dump();
    const bool merge = tag == "?" && text == "<<";
    add(mark, std::move(v), anchor, 1, merge ? std::optional<std::string>() : std::optional<std::string>(key));
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) fail(mark, "an alias to an anchor that is not complete (a recursive alias?)");
    const auto& [value, size] = it->second;
    std::optional<std::string> key;
    if (value.is_string())
      key = value.get<std::string>();
    else if (value.is_primitive())
      key = value.dump();
    add(mark, value, 0, size, key);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, Ordered::array(), anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, Ordered::object(), anchor);
  }
  void OnMapEnd() override {
    Frame& f = stack_.back();
    // << merge keys: the merged mappings' entries that the mapping does not set itself.
    for (auto& [mark, merged] : f.merges) {
      std::vector<Ordered*> sources;
      if (merged.is_object()) sources.push_back(&merged);
      if (merged.is_array())
        for (auto& item : merged) sources.push_back(&item);
      if (sources.empty()) fail(mark, "a << merge key needs a mapping or a list of mappings");
      for (Ordered* source : sources) {
        if (!source->is_object()) fail(mark, "a << merge key needs a mapping or a list of mappings");
        for (auto& [k, v] : source->items())
          if (f.seen.insert(k).second) f.value.push_back({k, std::move(v)});
      }
    }
    close();
  }

  int documents() const { return documents_; }
  int line() const { return line_; }
  Ordered take() { return std::move(root_); }

 private:
  struct Frame {
    Ordered value;
    YAML::anchor_t anchor = 0;
    std::size_t size = 1;  // values inside, for the alias budget
    // A mapping's state: the key waiting for its value (a merge key has none), the keys seen,
    // and the << values to merge at its end.
    bool have_key = false;
    std::optional<std::string> key;
    YAML::Mark key_mark;
    std::unordered_set<std::string> seen;
    std::vector<std::pair<YAML::Mark, Ordered>> merges;
  };

  static Ordered scalar(const YAML::Mark& mark, const std::string& tag, const std::string& text) {
    if (tag == "?") return resolve_plain(text);
    if (tag == "!" || !std::string_view(tag).starts_with(kCoreTag)) return text;  // quoted, block, or a local tag
    const std::string_view type = std::string_view(tag).substr(kCoreTag.size());
    if (type == "str" || type == "binary" || type == "timestamp") return text;
    Ordered v = resolve_plain(text);
    const bool ok = (type == "null" && v.is_null()) || (type == "bool" && v.is_boolean()) ||
                    (type == "int" && v.is_number_integer()) || (type == "float" && v.is_number());
    if (!ok) fail(mark, "the value does not match its !!" + std::string(type) + " tag");
    if (type == "float") return v.get<double>();
    return v;
  }

  void spend(const YAML::Mark& mark, std::size_t n) {
    // Aliases may repeat a value; more than a few times the text's size is a bomb, not a manifest.
    if (n > budget_) fail(mark, "too many values once aliases are expanded");
    budget_ -= n;
  }

  void open(const YAML::Mark& mark, Ordered empty, YAML::anchor_t anchor) {
    if (stack_.size() >= static_cast<std::size_t>(kMaxDepth))
      fail(mark, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().have_key)
      fail(mark, "a mapping key must be a scalar");
    if (line_ == 0) line_ = mark.line + 1;
    spend(mark, 1);
    stack_.push_back(Frame{std::move(empty), anchor});
    stack_.back().key_mark = mark;
  }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    place(f.key_mark, std::move(f.value), f.anchor, f.size);
  }

  // A scalar or alias value; `key` is the text it has as a mapping key (none: a << merge key).
  void add(const YAML::Mark& mark, Ordered value, YAML::anchor_t anchor, std::size_t size,
           std::optional<std::string> key) {
    if (line_ == 0) line_ = mark.line + 1;
    spend(mark, size);
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().have_key) {
      Frame& f = stack_.back();
      if (!value.is_primitive()) fail(mark, "a mapping key must be a scalar");
      if (key && !f.seen.insert(*key).second) fail(mark, "the key \"" + *key + "\" appears twice");
      if (anchor) anchors_[anchor] = {value, size};
      f.have_key = true;
      f.key = std::move(key);
      f.key_mark = mark;
      return;
    }
    place(mark, std::move(value), anchor, size);
  }

  // A finished value goes into its parent (or is the document).
  void place(const YAML::Mark& mark, Ordered value, YAML::anchor_t anchor, std::size_t size) {
    if (anchor) anchors_[anchor] = {value, size};
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Frame& parent = stack_.back();
    parent.size += size;
    if (parent.value.is_array()) {
      parent.value.push_back(std::move(value));
    } else if (!parent.have_key) {
      fail(mark, "a mapping key must be a scalar");
    } else {
      parent.have_key = false;
      if (parent.key)
        parent.value.push_back({*parent.key, std::move(value)});
      else
        parent.merges.emplace_back(mark, std::move(value));
    }
  }

  std::size_t budget_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, std::pair<Ordered, std::size_t>> anchors_;
  Ordered root_;
  int line_ = 0;  // the document's first value
  int documents_ = 0;
  int last_start_ = 0;
};

// Where `text` stops being YAML's character set: not UTF-8, or a character YAML does not allow
// (control characters but tab and line breaks, DEL, C1 controls but NEL, surrogates, U+FFFE/F).
// yaml-cpp is not trusted with them: it loops forever on some NUL bytes.
std::size_t unreadable_at(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > text.size()) return i;
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc >> 6) != 0x2) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    const bool control =
        (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp <= 0x9F && cp != 0x85);
    if (overlong || control || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
      return i;
    i += len;
  }
  return std::string_view::npos;
}

int line_at(std::string_view text, std::size_t offset) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

// The document a line belongs to, counting `---` lines (for parser errors, which carry a line only).
int document_at_line(std::string_view text, int line) {
  int doc = 1;
  bool content = false;  // anything but comments and blank lines before the first ---
  int n = 1;
  for (std::size_t pos = 0; pos < text.size() && n < line; ++n) {
    auto end = text.find('\n', pos);
    std::string_view l = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (l.starts_with("---") && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r')) {
      if (content) ++doc;
      content = true;
    } else if (!l.empty() && l[0] != '#' && l.find_first_not_of(" \t\r") != std::string_view::npos) {
      content = true;
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return doc;
}

Error read_error(int document, int line, const std::string& message) {
  return Error{ErrorCode::bad_request,
               "document " + std::to_string(document) + " (line " + std::to_string(line) + "): " + message};
}

// ---- JSON -> YAML ----------------------------------------------------------------------------

// A character at the start of `s` that is written as an escape, with its length in bytes: control
// characters but tab and line feed, DEL, C1 controls (NEL among them: a line break to YAML 1.1),
// LS, PS, BOM, U+FFFE and U+FFFF.
std::optional<std::pair<std::size_t, std::uint32_t>> escaped_char(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  if (s.empty()) return std::nullopt;
  if ((byte(0) < 0x20 && byte(0) != '\t' && byte(0) != '\n') || byte(0) == 0x7F) return std::pair{1, byte(0)};
  if (s.size() >= 2 && byte(0) == 0xC2 && byte(1) >= 0x80 && byte(1) <= 0x9F) return std::pair{2, byte(1)};
  if (s.size() < 3) return std::nullopt;
  const std::uint32_t cp = ((byte(0) & 0x0Fu) << 12) | ((byte(1) & 0x3Fu) << 6) | (byte(2) & 0x3Fu);
  if ((byte(0) & 0xF0) == 0xE0 && (cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF))
    return std::pair{3, cp};
  return std::nullopt;
}

// Whether a string can be written without quotes and read back as the same string by YAML 1.1
// and 1.2 readers: deliberately narrow (quotes are always safe).
bool plain_ok(std::string_view s) {
  if (s.empty()) return false;
  const char first = s.front();
  if (!std::isalpha(static_cast<unsigned char>(first)) && first != '_' && first != '/') return false;
  if (s.back() == ' ' || s.back() == ':') return false;
  for (char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
    if (std::string_view("#'\"`\\{}[],&*!|>%@").find(c) != std::string_view::npos) return false;
  }
  if (s.find(": ") != std::string_view::npos) return false;
  return !bool_word(s) && !is_null_word(s);
}

// Multi-line text that a literal block keeps exactly (chomping says how many newlines end it).
bool literal_ok(std::string_view s) {
  if (s.find('\n') == std::string_view::npos) return false;
  const auto first = s.find_first_not_of('\n');
  if (first == std::string_view::npos || s[first] == ' ' || s[first] == '\t') return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (escaped_char(s.substr(i))) return false;
  return true;
}

void double_quoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\r':
        out += "\\r";
        continue;
      default:
        break;
    }
    if (auto special = escaped_char(s.substr(i))) {
      const std::uint32_t cp = special->second;
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
      i += special->first - 1;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

class Writer {
 public:
  explicit Writer(bool quote_all) : quote_all_(quote_all) {}

  std::string document(const Ordered& v) {
    out_.clear();
    if (v.is_object() && !v.empty())
      entries(v, 0, false);
    else if (v.is_array() && !v.empty())
      items(v, 0);
    else
      scalar(v, 0);
    return std::move(out_);
  }

 private:
  void string(std::string_view s, int indent) {
    if (!quote_all_ && plain_ok(s)) {
      out_ += s;
    } else if (!quote_all_ && literal_ok(s)) {
      std::size_t trailing = s.size() - (s.find_last_not_of('\n') + 1);
      out_ += trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+";
      std::string_view body = s.substr(0, s.size() - trailing);
      while (true) {
        auto nl = body.find('\n');
        std::string_view line = body.substr(0, nl);
        out_ += '\n';
        if (!line.empty()) out_.append(static_cast<std::size_t>(indent), ' ').append(line);
        if (nl == std::string_view::npos) break;
        body.remove_prefix(nl + 1);
      }
      for (std::size_t k = 1; k < trailing; ++k) out_ += '\n';
    } else {
      double_quoted(out_, s);
    }
  }

  void scalar(const Ordered& v, int indent) {
    if (v.is_string()) {
      string(v.get_ref<const std::string&>(), indent);
    } else if (v.is_object()) {
      out_ += "{}";
    } else if (v.is_array()) {
      out_ += "[]";
    } else if (v.is_number_float() && std::isnan(v.get<double>())) {
      out_ += ".nan";
    } else if (v.is_number_float() && std::isinf(v.get<double>())) {
      out_ += v.get<double>() > 0 ? ".inf" : "-.inf";
    } else {
      out_ += v.dump();  // null, booleans, numbers: their JSON text is their YAML text
    }
    out_ += '\n';
  }

  void key(const std::string& k) {
    if (!quote_all_ && plain_ok(k))
      out_ += k;
    else
      double_quoted(out_, k);
  }

  // The entries of a mapping at `indent`; the first on the current line after "- " when `inline_first`.
  void entries(const Ordered& map, int indent, bool inline_first) {
    bool first = true;
    for (const auto& [k, v] : map.items()) {
      if (!first || !inline_first) out_.append(static_cast<std::size_t>(indent), ' ');
      first = false;
      key(k);
      out_ += ':';
      value(v, indent, false);
    }
  }

  void items(const Ordered& list, int indent) {
    for (const auto& item : list) {
      out_.append(static_cast<std::size_t>(indent), ' ');
      out_ += '-';
      value(item, indent, true);
    }
  }

  // What follows "key:" or "-" (at `indent`): a nested block, or the scalar on the same line.
  void value(const Ordered& v, int indent, bool list_item) {
    if (v.is_object() && !v.empty()) {
      out_ += list_item ? ' ' : '\n';
      entries(v, indent + 2, list_item);
    } else if (v.is_array() && !v.empty()) {
      out_ += '\n';
      items(v, list_item ? indent + 2 : indent);  // kubectl's style: a list under a key at the key's indentation
    } else {
      out_ += ' ';
      scalar(v, indent + 2);
    }
  }

  bool quote_all_;
  std::string out_;
};

// Whether `text` reads back as exactly `value`.
bool reads_back(const std::string& text, const Ordered& value) {
  auto docs = read_yaml(text);
  if (!docs || docs->size() != 1) return false;
  // NaN is not equal to itself; compare the text JSON would give (NaN and infinities as null) too.
  return docs->front().value == value || docs->front().value.dump(-1, ' ', false, Ordered::error_handler_t::replace) ==
                                             value.dump(-1, ' ', false, Ordered::error_handler_t::replace);
}

}  // namespace

Result<std::vector<Document>> read_yaml(std::string_view text) {
  if (auto bad = unreadable_at(text); bad != std::string_view::npos) {
    const int line = line_at(text, bad);
    return read_error(document_at_line(text, line), line, "not UTF-8 text, or a control character YAML does not allow");
  }
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  Builder builder(4 * text.size() + 100'000);
  std::vector<Document> docs;
  try {
    while (parser.HandleNextDocument(builder)) {
      Ordered value = builder.take();
      if (!value.is_null()) docs.push_back(Document{std::move(value), builder.documents(), builder.line()});
    }
  } catch (const ReadError& e) {
    return read_error(std::max(builder.documents(), 1), e.line, e.message);
  } catch (const YAML::Exception& e) {
    const int line = e.mark.line + 1;
    return read_error(document_at_line(text, line), line, "invalid YAML: " + e.msg);
  }
  return docs;
}

Result<std::string> write_yaml(const std::vector<Ordered>& documents) {
  std::string out;
  for (std::size_t i = 0; i < documents.size(); ++i) {
    std::string text = Writer(false).document(documents[i]);
    if (!reads_back(text, documents[i])) text = Writer(true).document(documents[i]);
    if (!reads_back(text, documents[i]))
      return Error{ErrorCode::internal, "document " + std::to_string(i + 1) + " cannot be written as YAML faithfully"};
    if (i > 0) out += "---\n";
    out += text;
  }
  return out;
}

}  // namespace mcp_sidecar::inject
