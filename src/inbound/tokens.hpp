// Bearer tokens the inbound gate accepts, each with a name ("bearer:<name>" is the caller's
// identity), so a token can be rotated by listing old and new side by side. File format: one
// "name=token" per line; blank lines and lines starting with '#' are ignored. Comparison is in
// constant time over every token, whichever matches. Immutable once built; a reload builds a
// new one.
#pragma once

#include "core/result.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::inbound {

class Tokens {
 public:
  // Parses the file's text; errors name the line (never the token).
  static Result<Tokens> parse(std::string_view text, std::string_view source);
  static Result<Tokens> load_file(const std::string& path);

  void add(std::string name, std::string_view token);
  // The name of the token presented, if it is one of ours.
  std::optional<std::string> match(std::string_view presented) const;
  std::size_t size() const { return entries_.size(); }
  std::vector<std::string> names() const;

 private:
  struct Entry {
    std::string name;
    std::array<unsigned char, 32> digest;  // SHA-256 of the token: fixed length, compared in constant time
  };
  std::vector<Entry> entries_;
};

}  // namespace mcp_sidecar::inbound
