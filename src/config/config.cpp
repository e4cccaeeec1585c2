#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace mcp_sidecar::config {

std::string_view to_string(TransportKind kind) {
  switch (kind) {
    case TransportKind::auto_detect:
      return "auto";
    case TransportKind::streamable_http:
      return "streamable-http";
    case TransportKind::stateless:
      return "stateless";
    case TransportKind::sse:
      return "sse";
  }
  return "auto";
}

std::string_view to_string(AuthMode mode) {
  switch (mode) {
    case AuthMode::auto_detect:
      return "auto";
    case AuthMode::none:
      return "none";
    case AuthMode::bearer:
      return "bearer";
    case AuthMode::mtls:
      return "mtls";
    case AuthMode::mtls_or_bearer:
      return "mtls-or-bearer";
  }
  return "auto";
}

AuthMode InboundConfig::effective_mode() const {
  if (mode != AuthMode::auto_detect) return mode;
  const bool certs = !tls.client_ca_file.empty();
  const bool tokens = !bearer_tokens_file.empty() || !bearer_token.empty();
  if (certs && tokens) return AuthMode::mtls_or_bearer;
  if (certs) return AuthMode::mtls;
  if (tokens) return AuthMode::bearer;
  return AuthMode::none;
}

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {  // [v6]:port
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || port.empty()) return std::nullopt;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value > 65535) return std::nullopt;
  return HostPort{std::string(host), static_cast<unsigned short>(value)};
}

namespace {

// [a-z0-9]+ joined by '.', '_', '__' or runs of '-' (a path component of an image name).
bool valid_path_component(std::string_view c) {
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (c.empty() || !alnum(c.front()) || !alnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (alnum(c[i])) continue;
    std::size_t j = i;
    while (j < c.size() && !alnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    if (sep != "." && sep != "_" && sep != "__" && sep.find_first_not_of('-') != std::string_view::npos) return false;
    i = j - 1;
  }
  return true;
}

// host[:port], the host's labels alphanumeric with inner hyphens.
bool valid_registry(std::string_view d) {
  auto colon = d.find(':');
  if (colon != std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
    d = d.substr(0, colon);
  }
  if (d.empty()) return false;
  std::size_t start = 0;
  while (start <= d.size()) {
    auto dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char ch : label)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace

bool valid_image_reference(std::string_view image) {
  std::string_view rest = image;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!digest.starts_with("sha256:") || digest.size() != 7 + 64 ||
        digest.substr(7).find_first_not_of("0123456789abcdef") != std::string_view::npos)
      return false;
  }
  if (rest.empty() || rest.size() > 255) return false;
  const auto slash = rest.rfind('/');
  const auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    std::string_view tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    auto word = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
    if (tag.empty() || tag.size() > 128 || !word(tag.front())) return false;
    for (char ch : tag)
      if (!word(ch) && ch != '.' && ch != '-') return false;
  }
  // The first component is a registry when it looks like a host (a dot, a port, localhost or
  // capitals), as docker reads it.
  std::string_view first = rest.substr(0, rest.find('/'));
  if (first.size() < rest.size() &&
      (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
       std::any_of(first.begin(), first.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; }))) {
    if (!valid_registry(first)) return false;
    rest = rest.substr(first.size() + 1);
  }
  while (true) {
    auto next = rest.find('/');
    if (!valid_path_component(rest.substr(0, next))) return false;
    if (next == std::string_view::npos) return true;
    rest = rest.substr(next + 1);
  }
}

namespace {

// ---- scalar parsers shared by the file and the environment ---------------------------------

bool parse_long(std::string_view text, long lo, long hi, long& out, std::string& why) {
  long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    why = "expected an integer";
    return false;
  }
  if (value < lo || value > hi) {
    why = "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
    return false;
  }
  out = value;
  return true;
}

bool parse_seconds(std::string_view text, double lo, double hi, Millis& out, std::string& why) {
  std::string s(text);
  char* end = nullptr;
  double value = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(value)) {
    why = "expected a number of seconds";
    return false;
  }
  if (value < lo || value > hi) {
    std::ostringstream m;
    m << "must be between " << lo << " and " << hi << " seconds";
    why = m.str();
    return false;
  }
  out = Millis(static_cast<long long>(std::llround(value * 1000.0)));
  return true;
}

bool parse_bool(std::string_view text, bool& out, std::string& why) {
  if (text == "true" || text == "yes" || text == "on" || text == "1") return out = true, true;
  if (text == "false" || text == "no" || text == "off" || text == "0") return out = false, true;
  why = "expected true or false";
  return false;
}

bool valid_server_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto ok = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (!first && (c == '-' || c == '_'));
  };
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!ok(name[i], i == 0)) return false;
  return true;
}

bool valid_header_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool valid_log_level(std::string_view level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" || level == "error";
}

std::optional<std::string> read_secret_file(const std::string& path, std::string& why) {
  std::ifstream in(path);
  if (!in) {
    why = "cannot read file " + path;
    return std::nullopt;
  }
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  return token;
}

// ---- the YAML reader: every key read is marked, every key left over is an error ------------

class Reader {
 public:
  Reader(std::string source, std::vector<std::string>& errors) : source_(std::move(source)), errors_(errors) {}

  void error(const YAML::Node& at, const std::string& key, const std::string& what) {
    std::ostringstream m;
    m << source_;
    if (at.IsDefined() && at.Mark().line >= 0) m << ":" << at.Mark().line + 1;
    m << ": " << key << ": " << what;
    errors_.push_back(m.str());
  }

  class Map {
   public:
    Map(Reader& r, const YAML::Node& node, std::string path) : r_(r), node_(node), path_(std::move(path)) {
      if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
        r_.error(node_, path_.empty() ? "(top level)" : path_, "expected a mapping");
        bad_ = true;
      }
    }
    ~Map() { finish(); }
    Map(const Map&) = delete;
    Map& operator=(const Map&) = delete;

    bool present() const { return node_.IsDefined() && !node_.IsNull() && !bad_; }
    std::string key(const char* k) const { return path_.empty() ? k : path_ + "." + k; }

    YAML::Node take(const char* k) {
      seen_.insert(k);
      if (!present()) return YAML::Node(YAML::NodeType::Undefined);
      return node_[k];
    }

    // Reads a scalar through `parse`, which reports a reason on failure.
    template <class Parse>
    void scalar(const char* k, Parse&& parse) {
      YAML::Node n = take(k);
      if (!n.IsDefined() || n.IsNull()) return;
      if (!n.IsScalar()) return r_.error(n, key(k), "expected a scalar value");
      std::string why;
      if (!parse(n.Scalar(), why)) r_.error(n, key(k), why);
    }

    void integer(const char* k, int& out, long lo, long hi) {
      scalar(k, [&](const std::string& s, std::string& why) {
        long v = 0;
        if (!parse_long(s, lo, hi, v, why)) return false;
        out = static_cast<int>(v);
        return true;
      });
    }
    void size(const char* k, std::size_t& out, long lo, long hi) {
      scalar(k, [&](const std::string& s, std::string& why) {
        long v = 0;
        if (!parse_long(s, lo, hi, v, why)) return false;
        out = static_cast<std::size_t>(v);
        return true;
      });
    }
    void seconds(const char* k, Millis& out, double lo, double hi) {
      scalar(k, [&](const std::string& s, std::string& why) { return parse_seconds(s, lo, hi, out, why); });
    }
    void millis(const char* k, Millis& out, long lo, long hi) {
      scalar(k, [&](const std::string& s, std::string& why) {
        long v = 0;
        if (!parse_long(s, lo, hi, v, why)) return false;
        out = Millis(v);
        return true;
      });
    }
    void boolean(const char* k, bool& out) {
      scalar(k, [&](const std::string& s, std::string& why) { return parse_bool(s, out, why); });
    }
    void string(const char* k, std::string& out) {
      scalar(k, [&](const std::string& s, std::string&) { return out = s, true; });
    }
    void strings(const char* k, std::vector<std::string>& out) {
      YAML::Node n = take(k);
      if (!n.IsDefined() || n.IsNull()) return;
      if (!n.IsSequence()) return r_.error(n, key(k), "expected a list of strings");
      out.clear();
      for (const auto& item : n) {
        if (!item.IsScalar()) return r_.error(item, key(k), "expected a list of strings");
        out.push_back(item.Scalar());
      }
    }

    Reader& reader() { return r_; }
    const YAML::Node& node() const { return node_; }

   private:
    void finish() {
      if (!present()) return;
      for (const auto& kv : node_) {
        std::string k = kv.first.as<std::string>("");
        if (!seen_.count(k)) r_.error(kv.first, key(k.c_str()), "unknown key");
      }
    }

    Reader& r_;
    YAML::Node node_;
    std::string path_;
    std::set<std::string> seen_;
    bool bad_ = false;
  };

 private:
  std::string source_;
  std::vector<std::string>& errors_;
};

// `body`: whether limits.max_body_bytes is read here (the webhook's is inject.max_review_bytes).
void read_limits(Reader::Map& m, ListenerLimits& l, bool body = true) {
  m.integer("max_connections", l.max_connections, 1, 1'000'000);
  if (body)
    m.size("max_body_bytes", l.max_body_bytes, 1024, 1L << 30);
  else if (YAML::Node n = m.take("max_body_bytes"); n.IsDefined())
    m.reader().error(n, m.key("max_body_bytes"), "the webhook's body limit is inject.max_review_bytes");
  m.size("max_header_bytes", l.max_header_bytes, 1024, 1L << 20);
  m.seconds("request_timeout_seconds", l.request_timeout, 0.01, 3600);
  m.seconds("idle_timeout_seconds", l.idle_timeout, 0.01, 86400);
}

void read_server(Reader::Map& m, ServerConfig& s, std::string& bearer_file) {
  m.string("name", s.name);
  m.string("url", s.url);
  m.scalar("transport", [&](const std::string& v, std::string& why) {
    if (v == "auto")
      s.transport = TransportKind::auto_detect;
    else if (v == "streamable-http")
      s.transport = TransportKind::streamable_http;
    else if (v == "stateless")
      s.transport = TransportKind::stateless;
    else if (v == "sse")
      s.transport = TransportKind::sse;
    else
      return why = "expected one of auto, streamable-http, stateless, sse", false;
    return true;
  });
  m.scalar("heartbeat", [&](const std::string& v, std::string& why) {
    if (v == "auto" || v == "ping") return s.heartbeat.tool.clear(), true;
    if (v.rfind("tool:", 0) == 0 && v.size() > 5) return s.heartbeat.tool = v.substr(5), true;
    why = "expected auto, ping or tool:<name>";
    return false;
  });
  m.integer("pool_size", s.pool_size, 1, 64);
  m.scalar("call_timeout_seconds", [&](const std::string& v, std::string& why) {
    Millis t{0};
    if (!parse_seconds(v, 0.001, 86400, t, why)) return false;
    s.call_timeout = t;
    return true;
  });
  m.string("bearer_token_file", bearer_file);
  Reader::Map tm(m.reader(), m.take("tls"), m.key("tls"));
  tm.string("ca_file", s.tls.ca_file);
  tm.string("cert_file", s.tls.cert_file);
  tm.string("key_file", s.tls.key_file);
  tm.string("server_name", s.tls.server_name);
  tm.string("expect_identity", s.tls.expect_identity);
}

AuthMode* parse_mode(const std::string& v, AuthMode& out, std::string& why) {
  if (v == "auto")
    out = AuthMode::auto_detect;
  else if (v == "none")
    out = AuthMode::none;
  else if (v == "bearer")
    out = AuthMode::bearer;
  else if (v == "mtls")
    out = AuthMode::mtls;
  else if (v == "mtls-or-bearer")
    out = AuthMode::mtls_or_bearer;
  else
    return why = "expected one of auto, none, bearer, mtls, mtls-or-bearer", nullptr;
  return &out;
}

void read_inbound(Reader& r, Reader::Map& m, InboundConfig& in) {
  if (m.present()) in.enabled = true;
  m.boolean("enabled", in.enabled);
  m.string("name", in.name);
  m.string("listen", in.listen);
  m.string("forward_to", in.forward_to);
  m.boolean("require_auth", in.require_auth);
  m.strings("log_arguments", in.log_arguments);
  m.seconds("connect_timeout_seconds", in.connect_timeout, 0.001, 600);
  m.seconds("response_timeout_seconds", in.response_timeout, 0.001, 86400);
  m.seconds("stream_idle_timeout_seconds", in.stream_idle_timeout, 0.001, 86400);
  m.seconds("readiness_interval_seconds", in.readiness_interval, 0.01, 3600);
  m.integer("max_upstream_connections", in.max_upstream_connections, 1, 100'000);
  {
    Reader::Map am(r, m.take("auth"), "inbound.auth");
    am.scalar("mode", [&](const std::string& v, std::string& why) { return parse_mode(v, in.mode, why) != nullptr; });
    am.string("bearer_tokens_file", in.bearer_tokens_file);
    am.boolean("keep_authorization", in.keep_authorization);
    Reader::Map tm(r, am.take("tls"), "inbound.auth.tls");
    tm.string("cert_file", in.tls.cert_file);
    tm.string("key_file", in.tls.key_file);
    tm.string("client_ca_file", in.tls.client_ca_file);
    tm.boolean("accept_plaintext", in.tls.accept_plaintext);
  }
  {
    Reader::Map lm(r, m.take("limits"), "inbound.limits");
    read_limits(lm, in.limits);
  }
  YAML::Node policy = m.take("policy");
  if (policy.IsDefined() && !policy.IsNull()) {
    in.policy_set = true;
    if (!policy.IsSequence()) {
      r.error(policy, "inbound.policy", "expected a list of rules");
    } else {
      for (std::size_t i = 0; i < policy.size(); ++i) {
        PolicyRule rule;
        rule.line = policy[i].Mark().line + 1;
        std::string key = "inbound.policy[" + std::to_string(i) + "]";
        Reader::Map pm(r, policy[i], key);
        pm.strings("callers", rule.callers);
        pm.strings("tools", rule.tools);
        pm.strings("prompts", rule.prompts);
        pm.strings("resources", rule.resources);
        if (rule.callers.empty()) r.error(policy[i], key + ".callers", "a rule needs at least one caller");
        in.policy.push_back(std::move(rule));
      }
    }
  }
}

void read_file(Reader& r, const YAML::Node& root, Config& c,
               std::vector<std::pair<std::string, std::string>>& secret_files) {
  Reader::Map top(r, root, "");
  {
    Reader::Map m(r, top.take("inbound"), "inbound");
    read_inbound(r, m, c.inbound);
  }
  {
    Reader::Map m(r, top.take("reload"), "reload");
    m.seconds("interval_seconds", c.reload.interval, 0.05, 3600);
  }
  {
    YAML::Node n = top.take("outbound");
    Reader::Map m(r, n, "outbound");
    if (m.present()) c.outbound.enabled = true;
    auto& o = c.outbound;
    m.boolean("enabled", o.enabled);
    m.string("listen", o.listen);
    m.integer("pool_size", o.pool_size, 1, 64);
    m.seconds("call_timeout_seconds", o.call_timeout, 0.001, 86400);
    m.seconds("connect_timeout_seconds", o.connect_timeout, 0.001, 600);
    m.seconds("heartbeat_interval_seconds", o.heartbeat_interval, 0, 86400);
    m.seconds("heartbeat_timeout_seconds", o.heartbeat_timeout, 0.001, 600);
    m.boolean("timeout_resets_on_progress", o.timeout_resets_on_progress);
    m.seconds("max_call_timeout_seconds", o.max_call_timeout, 0.001, 86400);
    m.integer("max_stream_resumptions", o.max_stream_resumptions, 0, 100);
    m.seconds("session_open_timeout_seconds", o.session_open_timeout, 0.001, 600);
    m.seconds("tools_refresh_min_interval_seconds", o.tools_refresh_min_interval, 0, 86400);
    m.seconds("tools_cache_ttl_seconds", o.tools_cache_ttl, 0, 86400 * 7);
    m.boolean("legacy_sse_endpoint", o.legacy_sse_endpoint);
    m.integer("max_client_sessions", o.max_client_sessions, 1, 1'000'000);
    m.seconds("client_session_idle_timeout_seconds", o.client_session_idle_timeout, 1, 86400 * 7);
    std::string bearer_file;
    m.string("bearer_token_file", bearer_file);
    if (!bearer_file.empty()) secret_files.emplace_back("outbound", bearer_file);
    m.strings("allowed_hosts", o.allowed_hosts);
    {
      Reader::Map rm(r, m.take("retry"), "outbound.retry");
      rm.integer("max_attempts", o.retry.max_attempts, 1, 1000);
      rm.millis("base_delay_ms", o.retry.base_delay, 1, 3'600'000);
      rm.millis("max_delay_ms", o.retry.max_delay, 1, 3'600'000);
    }
    {
      Reader::Map cm(r, m.take("case_id"), "outbound.case_id");
      cm.string("header", o.case_id.header);
      cm.string("argument", o.case_id.argument);
      cm.string("meta_key", o.case_id.meta_key);
      cm.scalar("inject", [&](const std::string& v, std::string& why) {
        if (v == "schema")
          o.case_id.inject = CaseIdInject::schema;
        else if (v == "always")
          o.case_id.inject = CaseIdInject::always;
        else if (v == "never")
          o.case_id.inject = CaseIdInject::never;
        else
          return why = "expected one of schema, always, never", false;
        return true;
      });
    }
    {
      Reader::Map lm(r, m.take("limits"), "outbound.limits");
      read_limits(lm, o.limits);
    }
    {
      Reader::Map um(r, m.take("upstream"), "outbound.upstream");
      um.integer("max_inflight", o.upstream.max_inflight, 1, 1'000'000);
      um.integer("max_connections", o.upstream.max_connections, 1, 100'000);
      um.size("max_response_bytes", o.upstream.max_response_bytes, 1024, 1L << 31);
      um.seconds("idle_timeout_seconds", o.upstream.idle_timeout, 0.01, 3600);
    }
    YAML::Node servers = m.take("servers");
    if (servers.IsDefined() && !servers.IsNull()) {
      if (!servers.IsSequence()) {
        r.error(servers, "outbound.servers", "expected a list of servers");
      } else {
        for (std::size_t i = 0; i < servers.size(); ++i) {
          ServerConfig s;
          std::string bearer;
          Reader::Map sm(r, servers[i], "outbound.servers[" + std::to_string(i) + "]");
          read_server(sm, s, bearer);
          if (!bearer.empty()) secret_files.emplace_back("server:" + std::to_string(o.servers.size()), bearer);
          o.servers.push_back(std::move(s));
        }
      }
    }
  }
  {
    Reader::Map m(r, top.take("admin"), "admin");
    m.boolean("enabled", c.admin.enabled);
    m.string("listen", c.admin.listen);
    m.integer("recent_calls", c.admin.recent_calls, 16, 1'000'000);
    Reader::Map lm(r, m.take("limits"), "admin.limits");
    read_limits(lm, c.admin.limits);
  }
  {
    Reader::Map m(r, top.take("log"), "log");
    m.string("level", c.log.level);
    m.millis("flush_interval_ms", c.log.flush_interval, 0, 10'000);
    m.scalar("format", [](const std::string& v, std::string& why) {
      if (v == "json") return true;
      return why = "only json is supported", false;
    });
  }
  {
    Reader::Map m(r, top.take("inject"), "inject");
    auto& in = c.inject;
    if (m.present()) in.enabled = true;
    m.string("listen", in.listen);
    m.string("image", in.image);
    m.size("max_review_bytes", in.max_review_bytes, 1024, 1L << 30);
    {
      Reader::Map tm(r, m.take("tls"), "inject.tls");
      tm.string("cert_file", in.cert_file);
      tm.string("key_file", in.key_file);
    }
    Reader::Map lm(r, m.take("limits"), "inject.limits");
    read_limits(lm, in.limits, /*body=*/false);
  }
  {
    Reader::Map m(r, top.take("shutdown"), "shutdown");
    m.seconds("delay_seconds", c.shutdown.delay, 0, 3600);
    m.seconds("grace_seconds", c.shutdown.grace, 0, 3600);
    m.seconds("close_timeout_seconds", c.shutdown.close_timeout, 0.001, 600);
  }
}

// ---- environment overrides ----------------------------------------------------------------

void apply_env(const EnvLookup& env, Config& c, std::vector<std::string>& errors) {
  auto with = [&](const char* name, auto&& apply) {
    auto v = env(name);
    if (!v) return;
    std::string why;
    if (!apply(*v, why)) errors.push_back(std::string("env ") + name + ": " + why);
  };
  auto integer = [&](const char* name, int& out, long lo, long hi) {
    with(name, [&](const std::string& v, std::string& why) {
      long x = 0;
      if (!parse_long(v, lo, hi, x, why)) return false;
      out = static_cast<int>(x);
      return true;
    });
  };
  auto seconds = [&](const char* name, Millis& out, double lo, double hi) {
    with(name, [&](const std::string& v, std::string& why) { return parse_seconds(v, lo, hi, out, why); });
  };
  auto millis = [&](const char* name, Millis& out, long lo, long hi) {
    with(name, [&](const std::string& v, std::string& why) {
      long x = 0;
      if (!parse_long(v, lo, hi, x, why)) return false;
      out = Millis(x);
      return true;
    });
  };
  auto& o = c.outbound;
  with("MCP_SERVERS", [&](const std::string& v, std::string& why) {
    // "name=url,name=url": replaces the file's list.
    o.servers.clear();
    o.enabled = true;
    std::string_view rest = v;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (item.empty()) continue;
      auto eq = item.find('=');
      if (eq == std::string_view::npos) return why = "expected name=url[,name=url...]", false;
      ServerConfig s;
      s.name = std::string(item.substr(0, eq));
      s.url = std::string(item.substr(eq + 1));
      o.servers.push_back(std::move(s));
    }
    return true;
  });
  with("MCP_OUTBOUND_LISTEN", [&](const std::string& v, std::string&) { return o.listen = v, true; });
  with("MCP_ADMIN_LISTEN", [&](const std::string& v, std::string&) { return c.admin.listen = v, true; });
  integer("MCP_POOL_SIZE", o.pool_size, 1, 64);
  seconds("MCP_CALL_TIMEOUT_SECONDS", o.call_timeout, 0.001, 86400);
  seconds("MCP_CONNECT_TIMEOUT_SECONDS", o.connect_timeout, 0.001, 600);
  seconds("MCP_HEARTBEAT_INTERVAL_SECONDS", o.heartbeat_interval, 0, 86400);
  seconds("MCP_HEARTBEAT_TIMEOUT_SECONDS", o.heartbeat_timeout, 0.001, 600);
  integer("MCP_RETRY_MAX_ATTEMPTS", o.retry.max_attempts, 1, 1000);
  millis("MCP_RETRY_BASE_DELAY_MS", o.retry.base_delay, 1, 3'600'000);
  millis("MCP_RETRY_MAX_DELAY_MS", o.retry.max_delay, 1, 3'600'000);
  with("MCP_BEARER_TOKEN", [&](const std::string& v, std::string&) { return o.bearer_token = v, true; });
  integer("MCP_OUTBOUND_MAX_CONNECTIONS", o.limits.max_connections, 1, 1'000'000);
  integer("MCP_MAX_INFLIGHT_PER_SERVER", o.upstream.max_inflight, 1, 1'000'000);
  with("MCP_LEGACY_SSE_ENDPOINT",
       [&](const std::string& v, std::string& why) { return parse_bool(v, o.legacy_sse_endpoint, why); });
  integer("MCP_MAX_CLIENT_SESSIONS", o.max_client_sessions, 1, 1'000'000);
  seconds("MCP_CLIENT_SESSION_IDLE_TIMEOUT_SECONDS", o.client_session_idle_timeout, 1, 86400 * 7);
  with("MCP_LOG_LEVEL", [&](const std::string& v, std::string&) { return c.log.level = v, true; });
  millis("MCP_LOG_FLUSH_INTERVAL_MS", c.log.flush_interval, 0, 10'000);
  auto& in = c.inbound;
  with("MCP_INBOUND_LISTEN", [&](const std::string& v, std::string&) { return in.listen = v, in.enabled = true; });
  with("MCP_INBOUND_FORWARD_TO",
       [&](const std::string& v, std::string&) { return in.forward_to = v, in.enabled = true; });
  with("MCP_INBOUND_NAME", [&](const std::string& v, std::string&) { return in.name = v, true; });
  with("MCP_INBOUND_BEARER_TOKENS_FILE",
       [&](const std::string& v, std::string&) { return in.bearer_tokens_file = v, true; });
  with("MCP_INBOUND_REQUIRE_AUTH",
       [&](const std::string& v, std::string& why) { return parse_bool(v, in.require_auth, why); });
  with("MCP_INBOUND_AUTH_MODE",
       [&](const std::string& v, std::string& why) { return parse_mode(v, in.mode, why) != nullptr; });
  // The seed's one shared token: sent by the outbound role, accepted by the inbound role.
  with("MCP_BEARER_TOKEN", [&](const std::string& v, std::string&) { return in.bearer_token = v, true; });
  with("MCP_INJECT_LISTEN", [&](const std::string& v, std::string&) { return c.inject.listen = v, true; });
  with("MCP_INJECT_IMAGE", [&](const std::string& v, std::string&) { return c.inject.image = v, true; });
  seconds("MCP_SHUTDOWN_DELAY_SECONDS", c.shutdown.delay, 0, 3600);
  seconds("MCP_SHUTDOWN_GRACE_SECONDS", c.shutdown.grace, 0, 3600);
}

// ---- cross-field validation ---------------------------------------------------------------

void validate(const Config& c, const std::string& src, std::vector<std::string>& errors) {
  auto fail = [&](const std::string& key, const std::string& what) {
    errors.push_back(src + ": " + key + ": " + what);
  };
  const auto& o = c.outbound;
  if (o.enabled) {
    if (!parse_host_port(o.listen)) fail("outbound.listen", "expected host:port");
    if (o.retry.base_delay > o.retry.max_delay) fail("outbound.retry", "base_delay_ms must not exceed max_delay_ms");
    if (!valid_header_name(o.case_id.header)) fail("outbound.case_id.header", "not a valid header name");
    if (o.case_id.argument.empty()) fail("outbound.case_id.argument", "must not be empty");
    if (o.case_id.meta_key.empty()) fail("outbound.case_id.meta_key", "must not be empty");
    if (o.servers.empty()) fail("outbound.servers", "at least one server is required when the outbound role is on");
    std::set<std::string> names;
    for (std::size_t i = 0; i < o.servers.size(); ++i) {
      const auto& s = o.servers[i];
      std::string key = "outbound.servers[" + std::to_string(i) + "]";
      if (!valid_server_name(s.name))
        fail(key + ".name", "expected 1-63 characters of [a-z0-9_-], starting with a letter or digit");
      else if (!names.insert(s.name).second)
        fail(key + ".name", "duplicate server name '" + s.name + "'");
      const bool https = s.url.rfind("https://", 0) == 0;
      if (s.url.rfind("http://", 0) != 0 && !https) fail(key + ".url", "expected an http:// or https:// URL");
      if (!https && (!s.tls.ca_file.empty() || !s.tls.cert_file.empty()))
        fail(key + ".tls", "TLS settings need an https:// URL");
      if (s.tls.cert_file.empty() != s.tls.key_file.empty()) fail(key + ".tls", "cert_file and key_file go together");
    }
  }
  const auto& in = c.inbound;
  if (in.enabled) {
    if (!parse_host_port(in.listen)) fail("inbound.listen", "expected host:port");
    if (in.forward_to.rfind("http://", 0) != 0)
      fail("inbound.forward_to", "expected an http:// URL of the local server");
    if (!valid_server_name(in.name)) fail("inbound.name", "expected 1-63 characters of [a-z0-9_-]");
    if (in.tls.cert_file.empty() != in.tls.key_file.empty())
      fail("inbound.auth.tls", "cert_file and key_file go together");
    if (!in.tls.client_ca_file.empty() && in.tls.cert_file.empty())
      fail("inbound.auth.tls.client_ca_file", "client certificates need a TLS listener (cert_file, key_file)");
    const bool tokens = !in.bearer_tokens_file.empty() || !in.bearer_token.empty();
    const bool certs = !in.tls.client_ca_file.empty();
    if (in.tls.accept_plaintext && in.tls.cert_file.empty())
      fail("inbound.auth.tls.accept_plaintext", "plain HTTP is what a listener without cert_file speaks anyway");
    if (in.tls.accept_plaintext && in.effective_mode() != AuthMode::bearer &&
        in.effective_mode() != AuthMode::mtls_or_bearer)
      fail("inbound.auth.tls.accept_plaintext",
           "plain-HTTP callers can only show a bearer token: needs mode bearer or mtls-or-bearer");
    switch (in.effective_mode()) {
      case AuthMode::bearer:
        if (!tokens) fail("inbound.auth.mode", "bearer needs bearer_tokens_file or MCP_BEARER_TOKEN");
        break;
      case AuthMode::mtls:
        if (!certs) fail("inbound.auth.mode", "mtls needs auth.tls.client_ca_file");
        break;
      case AuthMode::mtls_or_bearer:
        if (!certs || !tokens)
          fail("inbound.auth.mode", "mtls-or-bearer needs auth.tls.client_ca_file and bearer tokens");
        break;
      case AuthMode::none:
        if (in.require_auth)
          fail("inbound.require_auth", "authentication is required but none is configured (no tokens, no client CA)");
        break;
      case AuthMode::auto_detect:
        break;
    }
  }
  const auto& inj = c.inject;
  if (inj.enabled) {
    if (!parse_host_port(inj.listen)) fail("inject.listen", "expected host:port");
    if (inj.cert_file.empty() || inj.key_file.empty())
      fail("inject.tls", "cert_file and key_file are required: the API server calls webhooks over HTTPS only");
    if (!valid_image_reference(inj.image))
      fail("inject.image", "expected an image reference such as registry.example/mcp-sidecar:0.1.0");
  }
  if (c.admin.enabled && !parse_host_port(c.admin.listen)) fail("admin.listen", "expected host:port");
  if (!valid_log_level(c.log.level)) fail("log.level", "expected one of trace, debug, info, warn, error");
}

}  // namespace

LoadResult load(std::string_view yaml_text, std::string_view source_name, const EnvLookup& env) {
  LoadResult result;
  Config c;
  c.source = std::string(source_name);
  std::vector<std::pair<std::string, std::string>> secret_files;
  Reader reader(c.source, result.errors);
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    read_file(reader, root, c, secret_files);
  } catch (const YAML::Exception& e) {
    std::ostringstream m;
    m << c.source << ":" << e.mark.line + 1 << ": invalid YAML: " << e.msg;
    result.errors.push_back(m.str());
    return result;
  }
  for (const auto& [who, path] : secret_files) {
    std::string why;
    auto token = read_secret_file(path, why);
    std::string key =
        who == "outbound" ? "outbound.bearer_token_file" : "outbound.servers[" + who.substr(7) + "].bearer_token_file";
    if (!token) {
      result.errors.push_back(c.source + ": " + key + ": " + why);
      continue;
    }
    if (who == "outbound")
      c.outbound.bearer_token = *token;
    else
      c.outbound.servers[std::stoul(who.substr(7))].bearer_token = *token;
  }
  apply_env(env, c, result.errors);
  c.inject.limits.max_body_bytes = c.inject.max_review_bytes;
  validate(c, c.source, result.errors);
  if (result.errors.empty()) result.config = std::move(c);
  return result;
}

LoadResult load_file(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path);
  if (!in) {
    LoadResult r;
    r.errors.push_back(path + ": cannot read the configuration file");
    return r;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return load(text, path, env);
}

nlohmann::json to_json(const Config& c, bool redact) {
  auto secs = [](Millis m) { return static_cast<double>(m.count()) / 1000.0; };
  auto secret = [&](const std::string& s) -> nlohmann::json {
    if (s.empty()) return "";
    return redact ? nlohmann::json("<redacted>") : nlohmann::json(s);
  };
  auto limits = [&](const ListenerLimits& l) {
    return nlohmann::json{{"max_connections", l.max_connections},
                          {"max_body_bytes", l.max_body_bytes},
                          {"max_header_bytes", l.max_header_bytes},
                          {"request_timeout_seconds", secs(l.request_timeout)},
                          {"idle_timeout_seconds", secs(l.idle_timeout)}};
  };
  const auto& o = c.outbound;
  nlohmann::json servers = nlohmann::json::array();
  for (const auto& s : o.servers) {
    nlohmann::json j = {{"name", s.name},
                        {"url", s.url},
                        {"transport", to_string(s.transport)},
                        {"heartbeat", s.heartbeat.tool.empty() ? "auto" : "tool:" + s.heartbeat.tool},
                        {"pool_size", o.pool_size_of(s)},
                        {"call_timeout_seconds", secs(o.call_timeout_of(s))}};
    if (!o.bearer_token_of(s).empty()) j["bearer_token"] = secret(o.bearer_token_of(s));
    if (s.url.rfind("https://", 0) == 0)
      j["tls"] = {{"ca_file", s.tls.ca_file},
                  {"cert_file", s.tls.cert_file},
                  {"key_file", s.tls.key_file},
                  {"server_name", s.tls.server_name},
                  {"expect_identity", s.tls.expect_identity}};
    servers.push_back(std::move(j));
  }
  std::string_view inject = o.case_id.inject == CaseIdInject::schema   ? "schema"
                            : o.case_id.inject == CaseIdInject::always ? "always"
                                                                       : "never";
  nlohmann::json j;
  j["outbound"] = {{"enabled", o.enabled},
                   {"listen", o.listen},
                   {"pool_size", o.pool_size},
                   {"call_timeout_seconds", secs(o.call_timeout)},
                   {"connect_timeout_seconds", secs(o.connect_timeout)},
                   {"heartbeat_interval_seconds", secs(o.heartbeat_interval)},
                   {"heartbeat_timeout_seconds", secs(o.heartbeat_timeout)},
                   {"timeout_resets_on_progress", o.timeout_resets_on_progress},
                   {"max_call_timeout_seconds", secs(o.max_call_timeout)},
                   {"max_stream_resumptions", o.max_stream_resumptions},
                   {"session_open_timeout_seconds", secs(o.session_open_timeout)},
                   {"tools_refresh_min_interval_seconds", secs(o.tools_refresh_min_interval)},
                   {"tools_cache_ttl_seconds", secs(o.tools_cache_ttl)},
                   {"legacy_sse_endpoint", o.legacy_sse_endpoint},
                   {"max_client_sessions", o.max_client_sessions},
                   {"client_session_idle_timeout_seconds", secs(o.client_session_idle_timeout)},
                   {"retry",
                    {{"max_attempts", o.retry.max_attempts},
                     {"base_delay_ms", o.retry.base_delay.count()},
                     {"max_delay_ms", o.retry.max_delay.count()}}},
                   {"case_id",
                    {{"header", o.case_id.header},
                     {"argument", o.case_id.argument},
                     {"meta_key", o.case_id.meta_key},
                     {"inject", inject}}},
                   {"allowed_hosts", o.allowed_hosts},
                   {"limits", limits(o.limits)},
                   {"upstream",
                    {{"max_inflight", o.upstream.max_inflight},
                     {"max_connections", o.upstream.max_connections},
                     {"max_response_bytes", o.upstream.max_response_bytes},
                     {"idle_timeout_seconds", secs(o.upstream.idle_timeout)}}},
                   {"servers", servers}};
  if (!o.bearer_token.empty()) j["outbound"]["bearer_token"] = secret(o.bearer_token);
  const auto& in = c.inbound;
  nlohmann::json policy = nlohmann::json::array();
  for (const auto& rule : in.policy) {
    nlohmann::json r = {{"callers", rule.callers}, {"tools", rule.tools}};
    if (!rule.prompts.empty()) r["prompts"] = rule.prompts;
    if (!rule.resources.empty()) r["resources"] = rule.resources;
    policy.push_back(std::move(r));
  }
  j["inbound"] = {{"enabled", in.enabled},
                  {"name", in.name},
                  {"listen", in.listen},
                  {"forward_to", in.forward_to},
                  {"require_auth", in.require_auth},
                  {"auth",
                   {{"mode", to_string(in.mode)},
                    {"bearer_tokens_file", in.bearer_tokens_file},
                    {"keep_authorization", in.keep_authorization},
                    {"tls",
                     {{"cert_file", in.tls.cert_file},
                      {"key_file", in.tls.key_file},
                      {"client_ca_file", in.tls.client_ca_file},
                      {"accept_plaintext", in.tls.accept_plaintext}}}}},
                  {"log_arguments", in.log_arguments},
                  {"limits", limits(in.limits)},
                  {"connect_timeout_seconds", secs(in.connect_timeout)},
                  {"response_timeout_seconds", secs(in.response_timeout)},
                  {"stream_idle_timeout_seconds", secs(in.stream_idle_timeout)},
                  {"readiness_interval_seconds", secs(in.readiness_interval)},
                  {"max_upstream_connections", in.max_upstream_connections}};
  if (in.policy_set) j["inbound"]["policy"] = policy;
  if (!in.bearer_token.empty()) j["inbound"]["auth"]["bearer_token"] = secret(in.bearer_token);
  if (c.inject.enabled) {
    auto inject_limits = limits(c.inject.limits);
    inject_limits.erase("max_body_bytes");
    j["inject"] = {{"listen", c.inject.listen},
                   {"tls", {{"cert_file", c.inject.cert_file}, {"key_file", c.inject.key_file}}},
                   {"image", c.inject.image},
                   {"max_review_bytes", c.inject.max_review_bytes},
                   {"limits", inject_limits}};
  }
  j["reload"] = {{"interval_seconds", secs(c.reload.interval)}};
  j["admin"] = {{"enabled", c.admin.enabled},
                {"listen", c.admin.listen},
                {"recent_calls", c.admin.recent_calls},
                {"limits", limits(c.admin.limits)}};
  j["log"] = {{"level", c.log.level}, {"format", "json"}, {"flush_interval_ms", c.log.flush_interval.count()}};
  j["shutdown"] = {{"delay_seconds", secs(c.shutdown.delay)},
                   {"grace_seconds", secs(c.shutdown.grace)},
                   {"close_timeout_seconds", secs(c.shutdown.close_timeout)}};
  return j;
}

namespace {
void emit(YAML::Emitter& out, const nlohmann::json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      emit(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : j) emit(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << YAML::DoubleQuoted << j.get<std::string>();
  } else {
    out << j.dump();
  }
}
}  // namespace

std::string to_yaml(const Config& c, bool redact) {
  YAML::Emitter out;
  emit(out, to_json(c, redact));
  return std::string(out.c_str()) + "\n";
}

}  // namespace mcp_sidecar::config
