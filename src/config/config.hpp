// The sidecar's configuration: one immutable, typed, validated struct. Loaded from the YAML file
// (a ConfigMap), then overridden by MCP_* environment variables; every threshold lives here.
// Unknown keys and bad values are errors naming the file, line and key (config.cpp).
// Pure: no I/O besides reading the file in load_file; thread-safe because immutable once built.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::config {

using Millis = std::chrono::milliseconds;

// How the outbound role talks to one upstream server.
enum class TransportKind { auto_detect, streamable_http, stateless, sse };
std::string_view to_string(TransportKind kind);

// When case_id is added to a tool's arguments.
enum class CaseIdInject {
  schema,  // only when the tool's input schema declares the argument (default)
  always,
  never,
};

struct RetryConfig {
  int max_attempts = 5;
  Millis base_delay{100};
  Millis max_delay{5000};
};

struct CaseIdConfig {
  std::string header = "X-Case-Id";                 // request header, in and out
  std::string argument = "case_id";                 // tool argument name
  std::string meta_key = "io.mcp-sidecar/case_id";  // key in params._meta upstream
  CaseIdInject inject = CaseIdInject::schema;
};

// How idle sessions are exercised: `ping`, or a named no-I/O tool.
struct HeartbeatSpec {
  std::string tool;  // empty = auto (ping)
};

// TLS to an https upstream. Files are re-read when they change.
struct ClientTlsConfig {
  std::string ca_file;    // trust anchors; empty = the system's store
  std::string cert_file;  // client certificate for mTLS (with key_file)
  std::string key_file;
  std::string server_name;      // SNI and host name check; default: the URL's host
  std::string expect_identity;  // instead of the host name: a URI SAN (spiffe://...) or DNS SAN the server must present
};

struct ServerConfig {
  std::string name;  // [a-z0-9][a-z0-9_-]*: a URL segment and a metric label
  std::string url;   // http(s)://host:port/path of the MCP endpoint
  ClientTlsConfig tls;
  TransportKind transport = TransportKind::auto_detect;
  HeartbeatSpec heartbeat;
  int pool_size = 0;                        // 0 = outbound.pool_size
  std::optional<Millis> call_timeout;       // unset = outbound.call_timeout
  std::optional<std::string> bearer_token;  // secret; unset = outbound.bearer_token
};

// Bounds of an HTTP listener (requests we accept).
struct ListenerLimits {
  int max_connections = 1024;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  Millis request_timeout{10'000};  // to receive one whole request once it has started
  Millis idle_timeout{60'000};     // a kept-alive connection with no request
};

// Bounds per upstream server (requests we send).
struct UpstreamLimits {
  int max_inflight = 256;                     // calls in flight; beyond: 503
  int max_connections = 64;                   // kept-alive connections
  std::size_t max_response_bytes = 16 << 20;  // one JSON body or one SSE event
  Millis idle_timeout{4'000};                 // below Node's 5 s keep-alive timeout
};

struct OutboundConfig {
  bool enabled = false;
  std::string listen = "127.0.0.1:7001";
  int pool_size = 2;
  Millis call_timeout{30'000};
  Millis connect_timeout{5'000};
  Millis heartbeat_interval{15'000};            // 0 = off
  Millis heartbeat_timeout{5'000};              // a heartbeat not answered within this evicts the session
  bool timeout_resets_on_progress = false;      // progress notifications restart the call timeout...
  Millis max_call_timeout{600'000};             // ...but never past this
  int max_stream_resumptions = 5;               // GET + Last-Event-ID attempts per request
  Millis session_open_timeout{10'000};          // initialize + initialized, per attempt
  Millis tools_refresh_min_interval{5'000};     // an unknown tool refreshes tools/list at most this often
  Millis tools_cache_ttl{300'000};              // tools/list is fetched again after this
  bool legacy_sse_endpoint = false;             // /mcp/{server}/sse for 2024-11-05 HTTP+SSE clients
  int max_client_sessions = 1024;               // MCP endpoint sessions of session-revision clients
  Millis client_session_idle_timeout{600'000};  // such a session unused this long is forgotten
  RetryConfig retry;
  CaseIdConfig case_id;
  std::string bearer_token;                // secret; empty = no credentials upstream
  std::vector<std::string> allowed_hosts;  // Host names accepted besides loopback names
  ListenerLimits limits;
  UpstreamLimits upstream;
  std::vector<ServerConfig> servers;

  int pool_size_of(const ServerConfig& s) const { return s.pool_size > 0 ? s.pool_size : pool_size; }
  Millis call_timeout_of(const ServerConfig& s) const { return s.call_timeout.value_or(call_timeout); }
  const std::string& bearer_token_of(const ServerConfig& s) const {
    return s.bearer_token ? *s.bearer_token : bearer_token;
  }
};

struct AdminConfig {
  bool enabled = true;
  std::string listen = "0.0.0.0:9901";
  int recent_calls = 4096;  // capacity of the /debug/calls ring
  ListenerLimits limits{64, 64 << 10, 16 << 10, Millis{10'000}, Millis{60'000}};
};

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error
  // Lines below warn are written at most this long after they were made, in one write with the
  // others of that interval; warnings and errors are written at once. 0: every event-loop turn.
  Millis flush_interval{100};
};

struct ShutdownConfig {
  Millis delay{5'000};          // not-ready but still serving local calls (the app may be finishing)
  Millis grace{20'000};         // in-flight calls may finish within this, then are cancelled
  Millis close_timeout{5'000};  // for closing upstream sessions (DELETE) at the end
};

// How the inbound gate authenticates callers.
enum class AuthMode {
  auto_detect,     // mtls-or-bearer with a client CA and tokens, mtls with a client CA, bearer with tokens, else none
  none,            // development only: loud warning; refused with require_auth
  bearer,          // Authorization: Bearer <token> from the tokens file or MCP_BEARER_TOKEN
  mtls,            // a client certificate verified against client_ca_file
  mtls_or_bearer,  // the upgrade window: a certificate if presented (and it must verify), else a token
};
std::string_view to_string(AuthMode mode);

struct ServerTlsConfig {
  std::string cert_file;  // serving certificate chain; set = the listener speaks TLS
  std::string key_file;
  std::string client_ca_file;     // CA for client certificates (mtls, mtls-or-bearer)
  bool accept_plaintext = false;  // also serve plain HTTP on the TLS port (bearer callers, upgrade window)
};

// One authorization rule: the first rule whose callers match decides; no match = deny.
struct PolicyRule {
  std::vector<std::string> callers;    // identities or globs: "spiffe://kyc.local/ns/kyc/sa/*", "bearer:auditor", "*"
  std::vector<std::string> tools;      // tool name globs for tools/call (and tools/list filtering)
  std::vector<std::string> prompts;    // prompt name globs for prompts/get (empty: none)
  std::vector<std::string> resources;  // resource URI globs for resources/read (empty: none)
  int line = 0;                        // where it is in the file, for logs
};

struct InboundConfig {
  bool enabled = false;
  std::string name = "local";  // the server behind the gate, as a metric label
  std::string listen = "0.0.0.0:7443";
  std::string forward_to = "http://127.0.0.1:8000";
  bool require_auth = false;
  AuthMode mode = AuthMode::auto_detect;
  std::string bearer_tokens_file;   // lines "name=token"; re-read when it changes
  std::string bearer_token;         // MCP_BEARER_TOKEN (secret): the caller "bearer:default"
  bool keep_authorization = false;  // forward the caller's Authorization header to the server
  ServerTlsConfig tls;
  bool policy_set = false;  // false: every authenticated caller may call everything
  std::vector<PolicyRule> policy;
  std::vector<std::string> log_arguments;  // argument names whose values may be logged
  ListenerLimits limits;
  Millis connect_timeout{2'000};        // to the local server
  Millis response_timeout{300'000};     // for the local server's response headers
  Millis stream_idle_timeout{300'000};  // a forwarded stream silent this long is closed
  Millis readiness_interval{2'000};     // how often "the local server accepts connections" is probed
  int max_upstream_connections = 256;

  AuthMode effective_mode() const;
};

// The sidecar injector's admission webhook (`mcp-sidecar inject --webhook`, docs/injection.md).
struct InjectConfig {
  bool enabled = false;  // an inject: section is present: the settings below are validated
  std::string listen = "0.0.0.0:8443";
  std::string cert_file;  // tls.cert_file, tls.key_file: the serving certificate (required)
  std::string key_file;
  std::string image = "mcp-sidecar:0.1.0";  // the default sidecar image
  std::size_t max_review_bytes = 4 << 20;   // the listener's body limit: a larger review gets 413
  ListenerLimits limits;                    // limits.max_body_bytes is max_review_bytes
};

struct ReloadConfig {
  Millis interval{2'000};  // how often watched files (config, tokens, certificates) are checked
};

struct Config {
  InboundConfig inbound;
  ReloadConfig reload;
  OutboundConfig outbound;
  AdminConfig admin;
  LogConfig log;
  ShutdownConfig shutdown;
  InjectConfig inject;
  std::string source;  // the file it came from, or "(defaults)"
};

// Reads one environment variable; injected so tests do not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_env();

struct LoadResult {
  std::optional<Config> config;
  std::vector<std::string> errors;  // "file:line: key: problem", every one found
};

// Parses YAML text (empty text = all defaults), applies env overrides, validates.
LoadResult load(std::string_view yaml_text, std::string_view source_name, const EnvLookup& env);
// Reads and loads a file; a missing file is an error.
LoadResult load_file(const std::string& path, const EnvLookup& env);

// The effective configuration as JSON; secrets become "<redacted>" when `redact`.
nlohmann::json to_json(const Config& config, bool redact = true);
// The same as YAML text, for --check-config.
std::string to_yaml(const Config& config, bool redact = true);

// "host:port" split, for listen addresses; nullopt when malformed.
struct HostPort {
  std::string host;
  unsigned short port = 0;
};
std::optional<HostPort> parse_host_port(std::string_view text);

// A container image reference: [registry[:port]/]path[:tag][@sha256:<64 hex>], lowercase path
// components, at most 255 characters before the digest.
bool valid_image_reference(std::string_view image);

}  // namespace mcp_sidecar::config
