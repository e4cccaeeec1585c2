#include "http/host_check.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>

namespace mcp_sidecar::http {

namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}
}  // namespace

std::string_view host_of(std::string_view h) {
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return {};
    auto rest = h.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return {};
    return h.substr(1, close - 1);
  }
  auto colon = h.find(':');
  if (colon != std::string_view::npos && h.find(':', colon + 1) != std::string_view::npos) return {};  // bare v6
  return h.substr(0, colon);
}

bool is_local_host(std::string_view host_header, const std::vector<std::string>& allowed) {
  auto host = host_of(host_header);
  if (host.empty()) return false;
  if (host == "127.0.0.1" || iequals(host, "localhost") || ends_with_icase(host, ".localhost")) return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (!ec && address.is_loopback()) return true;
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return iequals(a, host); });
}

bool is_local_origin(std::string_view origin, const std::vector<std::string>& allowed) {
  std::string_view rest;
  if (origin.starts_with("http://"))
    rest = origin.substr(7);
  else if (origin.starts_with("https://"))
    rest = origin.substr(8);
  else
    return false;
  if (rest.find('/') != std::string_view::npos) return false;
  return is_local_host(rest, allowed);
}

}  // namespace mcp_sidecar::http
