// Upstream URLs, Host and Origin headers, listen addresses.
#include "config/config.hpp"
#include "http/client.hpp"
#include "http/host_check.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)mcp_sidecar::http::parse_url(text);
  (void)mcp_sidecar::http::is_local_host(text, {"allowed.example"});
  (void)mcp_sidecar::http::is_local_origin(text, {});
  (void)mcp_sidecar::config::parse_host_port(text);
  return 0;
}
