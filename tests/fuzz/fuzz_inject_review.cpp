// The webhook's AdmissionReview handling on arbitrary bodies: a 200 or a 400, never a crash. A
// patch it sends applies to the object, and the patched object reviewed again needs no patch.
#include "inject/review.hpp"

#include <boost/beast/core/detail/base64.hpp>

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcp_sidecar::inject;
  using nlohmann::json;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  const Settings settings{"mcp-sidecar:0.1.0"};
  auto a = review(body, settings);
  if (a.status != 200 && a.status != 400) std::abort();
  if (a.outcome != "injected") return 0;
  namespace b64 = boost::beast::detail::base64;
  const auto& encoded = a.body.at("response").at("patch").get_ref<const std::string&>();
  std::string patch(b64::decoded_size(encoded.size()), '\0');
  patch.resize(b64::decode(patch.data(), encoded.data(), encoded.size()).first);
  json request = json::parse(body);
  json& object = request["request"]["object"];
  object = object.patch(json::parse(patch));  // throws (a crash here) if the patch does not apply
  if (review(request.dump(), settings).outcome != "unchanged") std::abort();
  return 0;
}
