#include "config/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace mcp_sidecar::config {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const char* kMinimal = R"(
outbound:
  servers:
    - name: registry
      url: http://127.0.0.1:8101/mcp
)";

bool has_error(const LoadResult& r, std::string_view needle) {
  for (const auto& e : r.errors)
    if (e.find(needle) != std::string::npos) return true;
  return false;
}

TEST(Config, DefaultsMatchTheProductSheet) {
  auto r = load(kMinimal, "c.yaml", env_of({}));
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors.front());
  const auto& o = r.config->outbound;
  EXPECT_TRUE(o.enabled);
  EXPECT_EQ(o.listen, "127.0.0.1:7001");
  EXPECT_EQ(o.pool_size, 2);
  EXPECT_EQ(o.call_timeout, Millis(30'000));
  EXPECT_EQ(o.connect_timeout, Millis(5'000));
  EXPECT_EQ(o.heartbeat_interval, Millis(15'000));
  EXPECT_EQ(o.retry.max_attempts, 5);
  EXPECT_EQ(o.retry.base_delay, Millis(100));
  EXPECT_EQ(o.retry.max_delay, Millis(5000));
  EXPECT_EQ(o.case_id.header, "X-Case-Id");
  EXPECT_EQ(o.case_id.argument, "case_id");
  EXPECT_EQ(r.config->admin.listen, "0.0.0.0:9901");
  ASSERT_EQ(o.servers.size(), 1u);
  EXPECT_EQ(o.servers[0].transport, TransportKind::auto_detect);
}

TEST(Config, UnknownKeyIsRejectedWithFileLineAndKey) {
  auto r = load("outbound:\n  pool_sze: 3\n  servers: []\n", "cm.yaml", env_of({}));
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "cm.yaml:2: outbound.pool_sze: unknown key")) << r.errors.front();
}

TEST(Config, UnknownTopLevelKeyIsRejected) {
  auto r = load(std::string(kMinimal) + "inbund: {}\n", "c.yaml", env_of({}));
  EXPECT_TRUE(has_error(r, "inbund: unknown key"));
}

TEST(Config, BadValuesNameTheKey) {
  auto r = load(R"(
outbound:
  pool_size: zero
  call_timeout_seconds: -1
  retry: {max_attempts: 0}
  servers:
    - {name: registry, url: http://127.0.0.1:1/mcp, transport: carrier-pigeon}
)",
                "c.yaml", env_of({}));
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "c.yaml:3: outbound.pool_size: expected an integer"));
  EXPECT_TRUE(has_error(r, "c.yaml:4: outbound.call_timeout_seconds: must be between"));
  EXPECT_TRUE(has_error(r, "outbound.retry.max_attempts: must be between 1 and 1000"));
  EXPECT_TRUE(has_error(r, "outbound.servers[0].transport: expected one of"));
}

TEST(Config, ServersAreValidated) {
  auto r = load(R"(
outbound:
  servers:
    - {name: Registry!, url: http://127.0.0.1:1/mcp}
    - {name: a, url: ftp://x}
    - {name: a, url: http://127.0.0.1:2/mcp}
)",
                "c.yaml", env_of({}));
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "outbound.servers[0].name"));
  EXPECT_TRUE(has_error(r, "outbound.servers[1].url: expected an http:// or https:// URL"));
  EXPECT_TRUE(has_error(r, "outbound.servers[2].name: duplicate server name"));
}

TEST(Config, OutboundNeedsAServer) {
  auto r = load("outbound: {listen: '127.0.0.1:7001'}\n", "c.yaml", env_of({}));
  EXPECT_TRUE(has_error(r, "outbound.servers: at least one server"));
}

TEST(Config, InvalidYamlReportsTheLine) {
  auto r = load("outbound:\n  servers: [\n", "c.yaml", env_of({}));
  EXPECT_FALSE(r.config);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].find("invalid YAML"), std::string::npos);
}

TEST(Config, EnvOverridesTheFile) {
  auto r = load(kMinimal, "c.yaml",
                env_of({{"MCP_POOL_SIZE", "4"},
                        {"MCP_CALL_TIMEOUT_SECONDS", "2.5"},
                        {"MCP_HEARTBEAT_INTERVAL_SECONDS", "0"},
                        {"MCP_RETRY_BASE_DELAY_MS", "50"},
                        {"MCP_RETRY_MAX_DELAY_MS", "800"},
                        {"MCP_RETRY_MAX_ATTEMPTS", "3"},
                        {"MCP_BEARER_TOKEN", "s3cret"},
                        {"MCP_LOG_LEVEL", "debug"},
                        {"MCP_LOG_FLUSH_INTERVAL_MS", "0"}}));
  ASSERT_TRUE(r.config);
  const auto& o = r.config->outbound;
  EXPECT_EQ(o.pool_size, 4);
  EXPECT_EQ(o.call_timeout, Millis(2500));
  EXPECT_EQ(o.heartbeat_interval, Millis(0));
  EXPECT_EQ(o.retry.base_delay, Millis(50));
  EXPECT_EQ(o.retry.max_delay, Millis(800));
  EXPECT_EQ(o.retry.max_attempts, 3);
  EXPECT_EQ(o.bearer_token, "s3cret");
  EXPECT_EQ(r.config->log.level, "debug");
  EXPECT_EQ(r.config->log.flush_interval, Millis(0));
}

TEST(Config, BadEnvValueNamesTheVariable) {
  auto r = load(kMinimal, "c.yaml", env_of({{"MCP_POOL_SIZE", "lots"}}));
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "env MCP_POOL_SIZE: expected an integer"));
}

TEST(Config, ServersFromEnvAloneEnableOutbound) {
  auto r =
      load("", "(defaults)", env_of({{"MCP_SERVERS", "registry=http://127.0.0.1:1/mcp,risk=http://127.0.0.1:2/mcp"}}));
  ASSERT_TRUE(r.config);
  EXPECT_TRUE(r.config->outbound.enabled);
  ASSERT_EQ(r.config->outbound.servers.size(), 2u);
  EXPECT_EQ(r.config->outbound.servers[1].name, "risk");
  EXPECT_EQ(r.config->outbound.servers[1].url, "http://127.0.0.1:2/mcp");
}

TEST(Config, BaseDelayAboveMaxIsRejected) {
  auto r = load(kMinimal, "c.yaml", env_of({{"MCP_RETRY_BASE_DELAY_MS", "900"}, {"MCP_RETRY_MAX_DELAY_MS", "100"}}));
  EXPECT_TRUE(has_error(r, "base_delay_ms must not exceed max_delay_ms"));
}

TEST(Config, PerServerSettingsOverrideDefaults) {
  auto r = load(R"(
outbound:
  pool_size: 3
  servers:
    - {name: a, url: http://127.0.0.1:1/mcp, pool_size: 5, call_timeout_seconds: 1.5, heartbeat: "tool:ping"}
    - {name: b, url: http://127.0.0.1:2/mcp}
)",
                "c.yaml", env_of({}));
  ASSERT_TRUE(r.config);
  const auto& o = r.config->outbound;
  EXPECT_EQ(o.pool_size_of(o.servers[0]), 5);
  EXPECT_EQ(o.pool_size_of(o.servers[1]), 3);
  EXPECT_EQ(o.call_timeout_of(o.servers[0]), Millis(1500));
  EXPECT_EQ(o.servers[0].heartbeat.tool, "ping");
}

TEST(Config, BearerTokenFileIsReadAndRedacted) {
  std::string path = ::testing::TempDir() + "/token";
  std::ofstream(path) << "file-token\n";
  auto r = load(std::string(kMinimal) + "  bearer_token_file: " + path + "\n", "c.yaml", env_of({}));
  ASSERT_TRUE(r.config) << r.errors.front();
  EXPECT_EQ(r.config->outbound.bearer_token, "file-token");
  auto text = to_yaml(*r.config);
  EXPECT_EQ(text.find("file-token"), std::string::npos);
  EXPECT_NE(text.find("<redacted>"), std::string::npos);
  std::remove(path.c_str());
}

TEST(Config, MissingTokenFileIsAnError) {
  auto r = load(std::string(kMinimal) + "  bearer_token_file: /nonexistent/token\n", "c.yaml", env_of({}));
  EXPECT_TRUE(has_error(r, "outbound.bearer_token_file: cannot read file"));
}

TEST(Config, EffectiveConfigRoundTripsThroughLoad) {
  auto first = load(kMinimal, "c.yaml", env_of({{"MCP_POOL_SIZE", "3"}}));
  ASSERT_TRUE(first.config);
  // The printed config (without secrets) is itself a valid config file.
  auto second = load(to_yaml(*first.config), "printed.yaml", env_of({}));
  ASSERT_TRUE(second.config) << second.errors.front();
  EXPECT_EQ(second.config->outbound.pool_size, 3);
}

TEST(Config, AdminLimitsAreConfigurable) {
  auto defaults = load(kMinimal, "c.yaml", env_of({}));
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->admin.limits.request_timeout, Millis(10'000));
  EXPECT_EQ(defaults.config->admin.limits.max_body_bytes, 64u << 10);
  auto r = load(std::string(kMinimal) + "admin:\n  limits: {request_timeout_seconds: 1, idle_timeout_seconds: 2}\n",
                "c.yaml", env_of({}));
  ASSERT_TRUE(r.config) << r.errors.front();
  EXPECT_EQ(r.config->admin.limits.request_timeout, Millis(1'000));
  EXPECT_EQ(r.config->admin.limits.idle_timeout, Millis(2'000));
  EXPECT_EQ(r.config->admin.limits.max_connections, 64);  // the rest keep the admin defaults
  EXPECT_EQ(to_json(*r.config, true)["admin"]["limits"]["request_timeout_seconds"], 1.0);
  auto bad = load(std::string(kMinimal) + "admin:\n  limits: {max_header_byte: 1}\n", "c.yaml", env_of({}));
  EXPECT_TRUE(has_error(bad, "admin.limits.max_header_byte: unknown key"));
}

TEST(Config, InboundAuthModeIsDerivedFromWhatIsConfigured) {
  const char* tls = R"(
inbound:
  forward_to: http://127.0.0.1:8000
  auth:
    tls: {cert_file: s.crt, key_file: s.key, client_ca_file: ca.crt}
)";
  auto certs = load(tls, "c.yaml", env_of({}));
  ASSERT_TRUE(certs.config) << certs.errors.front();
  EXPECT_EQ(certs.config->inbound.effective_mode(), AuthMode::mtls);
  auto both = load(tls, "c.yaml", env_of({{"MCP_BEARER_TOKEN", "t"}}));
  ASSERT_TRUE(both.config);
  EXPECT_EQ(both.config->inbound.effective_mode(), AuthMode::mtls_or_bearer);
  auto tokens = load("inbound: {forward_to: 'http://127.0.0.1:8000'}\n", "c.yaml", env_of({{"MCP_BEARER_TOKEN", "t"}}));
  ASSERT_TRUE(tokens.config);
  EXPECT_EQ(tokens.config->inbound.effective_mode(), AuthMode::bearer);
  auto none = load("inbound: {forward_to: 'http://127.0.0.1:8000'}\n", "c.yaml", env_of({}));
  ASSERT_TRUE(none.config);
  EXPECT_EQ(none.config->inbound.effective_mode(), AuthMode::none);
}

TEST(Config, RequireAuthRefusesAGateWithoutAuthentication) {
  auto r = load("inbound: {forward_to: 'http://127.0.0.1:8000', require_auth: true}\n", "c.yaml", env_of({}));
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "inbound.require_auth: authentication is required but none is configured"));
}

TEST(Config, AnExplicitModeNeedsItsMaterial) {
  auto r = load("inbound:\n  auth: {mode: mtls}\n", "c.yaml", env_of({}));
  EXPECT_TRUE(has_error(r, "inbound.auth.mode: mtls needs auth.tls.client_ca_file"));
  auto b = load("inbound:\n  auth: {mode: mtls-or-bearer, tls: {cert_file: a, key_file: b, client_ca_file: c}}\n",
                "c.yaml", env_of({}));
  EXPECT_TRUE(has_error(b, "mtls-or-bearer needs auth.tls.client_ca_file and bearer tokens"));
  auto c = load("inbound:\n  auth: {tls: {client_ca_file: c}}\n", "c.yaml", env_of({}));
  EXPECT_TRUE(has_error(c, "client certificates need a TLS listener"));
}

TEST(Config, PolicyRulesKeepTheirOrderAndLines) {
  auto r = load(R"(inbound:
  policy:
    - callers: ["spiffe://kyc.local/ns/kyc/sa/orchestrator"]
      tools: ["*"]
    - callers: ["bearer:auditor"]
      tools: ["get_*"]
      prompts: ["summary"]
    - tools: ["x"]
)",
                "p.yaml", env_of({}));
  EXPECT_TRUE(has_error(r, "p.yaml:8: inbound.policy[2].callers: a rule needs at least one caller"));
  auto ok = load(R"(inbound:
  policy:
    - {callers: ["*"], tools: ["ping"]}
    - {callers: ["bearer:auditor"], tools: ["get_*"], resources: ["kyc://cases/*"]}
)",
                 "p.yaml", env_of({}));
  ASSERT_TRUE(ok.config) << ok.errors.front();
  const auto& policy = ok.config->inbound.policy;
  ASSERT_EQ(policy.size(), 2u);
  EXPECT_TRUE(ok.config->inbound.policy_set);
  EXPECT_EQ(policy[1].callers[0], "bearer:auditor");
  EXPECT_EQ(policy[1].resources[0], "kyc://cases/*");
  EXPECT_EQ(policy[1].line, 4);
}

TEST(Config, HttpsUpstreamsTakeTlsSettings) {
  auto r = load(R"(outbound:
  servers:
    - name: sanctions
      url: https://sanctions.kyc.svc:7443/mcp
      tls: {ca_file: ca.crt, cert_file: o.crt, key_file: o.key, expect_identity: "spiffe://kyc.local/ns/kyc/sa/sanctions"}
    - name: plain
      url: http://127.0.0.1:1/mcp
      tls: {ca_file: ca.crt}
)",
                "t.yaml", env_of({}));
  EXPECT_TRUE(has_error(r, "outbound.servers[1].tls: TLS settings need an https:// URL"));
  EXPECT_EQ(r.errors.size(), 1u);
}

TEST(Config, HostPortParsing) {
  EXPECT_EQ(parse_host_port("127.0.0.1:7001")->port, 7001);
  EXPECT_EQ(parse_host_port("[::1]:80")->host, "::1");
  EXPECT_FALSE(parse_host_port("127.0.0.1"));
  EXPECT_FALSE(parse_host_port("::1:80"));
  EXPECT_FALSE(parse_host_port("h:99999"));
  EXPECT_FALSE(parse_host_port(":80"));
}

}  // namespace
}  // namespace mcp_sidecar::config
