#include "inbound/tokens.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>

namespace mcp_sidecar::inbound {

namespace {
std::array<unsigned char, 32> digest(std::string_view s) {
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 63) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.'))
      return false;
  return true;
}
}  // namespace

void Tokens::add(std::string name, std::string_view token) { entries_.push_back({std::move(name), digest(token)}); }

Result<Tokens> Tokens::parse(std::string_view text, std::string_view source) {
  Tokens t;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    auto eq = line.find('=');
    std::string where = std::string(source) + ":" + std::to_string(line_no);
    if (eq == std::string_view::npos) return make_error(ErrorCode::bad_request, where + ": expected name=token");
    auto name = trim(line.substr(0, eq));
    auto token = trim(line.substr(eq + 1));
    if (!valid_name(name)) return make_error(ErrorCode::bad_request, where + ": invalid token name");
    if (token.size() < 16) return make_error(ErrorCode::bad_request, where + ": token shorter than 16 characters");
    for (const auto& e : t.entries_)
      if (e.name == name) return make_error(ErrorCode::bad_request, where + ": duplicate token name");
    t.add(std::string(name), token);
  }
  return t;
}

Result<Tokens> Tokens::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::bad_request, path + ": cannot read the tokens file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(text, path);
}

std::optional<std::string> Tokens::match(std::string_view presented) const {
  const auto d = digest(presented);
  const Entry* found = nullptr;
  for (const auto& e : entries_) {  // no early exit: the time does not depend on which matched
    bool same = CRYPTO_memcmp(d.data(), e.digest.data(), d.size()) == 0;
    if (same && !found) found = &e;
  }
  if (!found) return std::nullopt;
  return found->name;
}

std::vector<std::string> Tokens::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

}  // namespace mcp_sidecar::inbound
