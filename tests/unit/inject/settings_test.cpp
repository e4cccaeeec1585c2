// The webhook's inject: section of the configuration, and image references.
#include "config/config.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::config {
namespace {

LoadResult load_with(std::string_view yaml, std::map<std::string, std::string> vars = {}) {
  return load(yaml, "w.yaml", [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

std::string errors_of(const LoadResult& r) {
  std::string all;
  for (const auto& e : r.errors) all += e + "\n";
  return all;
}

TEST(InjectSettings, DefaultsAndTheRequiredCertificate) {
  auto r = load_with("inject:\n  tls: {cert_file: /c.pem, key_file: /k.pem}\n");
  ASSERT_TRUE(r.config) << errors_of(r);
  const auto& i = r.config->inject;
  EXPECT_TRUE(i.enabled);
  EXPECT_EQ(i.listen, "0.0.0.0:8443");
  EXPECT_EQ(i.image, "mcp-sidecar:0.1.0");
  EXPECT_EQ(i.max_review_bytes, 4194304u);
  EXPECT_EQ(i.limits.max_body_bytes, 4194304u) << "the listener's body limit";
  EXPECT_EQ(i.limits.request_timeout, Millis(10'000));
  auto missing = load_with("inject:\n  listen: 0.0.0.0:8443\n");
  EXPECT_NE(errors_of(missing).find("w.yaml: inject.tls: cert_file and key_file are required"), std::string::npos);
  EXPECT_FALSE(load_with("").config->inject.enabled);
}

TEST(InjectSettings, ReadsEveryKeyAndTheEnvironment) {
  auto r = load_with(R"(inject:
  listen: 127.0.0.1:9443
  image: registry.local/mcp-sidecar:2.0
  max_review_bytes: 65536
  tls: {cert_file: /c.pem, key_file: /k.pem}
  limits: {max_connections: 10, request_timeout_seconds: 2}
)",
                     {{"MCP_INJECT_IMAGE", "mcp-sidecar:9.9"}, {"MCP_INJECT_LISTEN", "0.0.0.0:1443"}});
  ASSERT_TRUE(r.config) << errors_of(r);
  const auto& i = r.config->inject;
  EXPECT_EQ(i.listen, "0.0.0.0:1443");
  EXPECT_EQ(i.image, "mcp-sidecar:9.9");
  EXPECT_EQ(i.limits.max_body_bytes, 65536u);
  EXPECT_EQ(i.limits.max_connections, 10);
  EXPECT_EQ(i.limits.request_timeout, Millis(2'000));
  EXPECT_EQ(to_json(*r.config)["inject"]["max_review_bytes"], 65536);
}

TEST(InjectSettings, RejectsBadValuesNamingTheKey) {
  auto r = load_with(R"(inject:
  listen: nowhere
  image: "Not An Image"
  tls: {cert_file: /c.pem, key_file: /k.pem, ca: x}
  limits: {max_body_bytes: 10}
)");
  const auto all = errors_of(r);
  EXPECT_NE(all.find("inject.listen: expected host:port"), std::string::npos) << all;
  EXPECT_NE(all.find("inject.image: expected an image reference"), std::string::npos) << all;
  EXPECT_NE(all.find("inject.tls.ca: unknown key"), std::string::npos) << all;
  EXPECT_NE(all.find("inject.limits.max_body_bytes: the webhook's body limit is inject.max_review_bytes"),
            std::string::npos)
      << all;
}

TEST(ImageReference, AcceptsWhatRegistriesServeAndNothingElse) {
  for (const char* ok : {"mcp-sidecar", "mcp-sidecar:0.1.0", "library/busybox:1.36", "ghcr.io/org/mcp-sidecar:v1",
                         "localhost:5000/x", "Registry.Example.com:443/a/b__c/d-e:TAG_1.x",
                         "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
    EXPECT_TRUE(valid_image_reference(ok)) << ok;
  for (const char* bad : {"", "UPPER", "a b", "a:", ":tag", "a/", "/a", "a//b", "-a", "a:-tag", "a@sha256:12",
                          "ho$t.io/a", "a\nb", "a:tag:more"})
    EXPECT_FALSE(valid_image_reference(bad)) << bad;
}

}  // namespace
}  // namespace mcp_sidecar::config
