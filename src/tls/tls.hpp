// TLS material for both directions: server contexts (the inbound gate; client certificates
// optional or required), client contexts (https upstreams; CA bundle, optional client
// certificate), caller identity from a verified certificate (URI SAN, else DNS SAN, else CN),
// verification failures by reason, and contexts that follow their files (a Kubernetes Secret
// update swaps a symlink): new connections get the new material, established ones keep theirs,
// a bad new file keeps the old material. Policy: TLS 1.2 minimum, 1.3 preferred, AEAD ciphers.
#pragma once

#include "core/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using X509 = struct x509_st;
using SSL = struct ssl_st;

namespace boost::asio::ssl {
class context;
}

namespace mcp_sidecar::tls {

using Context = boost::asio::ssl::context;

struct ServerFiles {
  std::string cert_file;  // chain, PEM
  std::string key_file;
  std::string client_ca_file;  // empty: no client certificates asked for
  bool require_client_cert = false;
};

struct ClientFiles {
  std::string ca_file;    // empty: the system's trust store
  std::string cert_file;  // client certificate for mTLS, optional
  std::string key_file;
};

Result<std::shared_ptr<Context>> make_server_context(const ServerFiles& files);
Result<std::shared_ptr<Context>> make_client_context(const ClientFiles& files);

// The identity a certificate stands for: its first URI SAN (SPIFFE), else its first DNS SAN,
// else its subject CN; empty if none.
std::string identity_of(X509* cert);
// Every URI and DNS SAN, for checking an expected server identity.
std::vector<std::string> names_of(X509* cert);
// notAfter as Unix seconds.
std::optional<std::int64_t> not_after(X509* cert);

// Why a peer certificate was refused.
enum class Refusal { none, no_certificate, unknown_ca, expired, not_yet_valid, bad_certificate, handshake };
Refusal classify_verify_result(long x509_verify_result);
std::string_view to_string(Refusal r);

// Per-connection record of what the verify callback saw (stored in the SSL object), so a failed
// handshake can be counted by reason.
void remember_verify_errors(SSL* ssl);
long first_verify_error(SSL* ssl);

// A context built from files, rebuilt when any of them changes. Not thread-safe (event loop).
class ReloadingContext {
 public:
  using Builder = std::function<Result<std::shared_ptr<Context>>()>;
  ReloadingContext(std::string name, std::vector<std::string> files, Builder build);

  // Builds the first context; an error here is a startup error.
  Result<void> load();
  // Other files or settings (a configuration reload): builds now; on failure keeps the old.
  Result<void> reset(std::vector<std::string> files, Builder build);
  std::shared_ptr<Context> current() const { return current_; }

  enum class Check { unchanged, reloaded, failed };
  // Rebuilds if a file changed since the last load (path target, inode, size, mtime).
  Check check();
  const std::string& name() const { return name_; }
  const std::string& last_error() const { return last_error_; }
  // notAfter of the certificate in use (Unix seconds), if there is one.
  std::optional<std::int64_t> expiry() const { return expiry_; }

 private:
  std::string fingerprint() const;

  std::string name_;
  std::vector<std::string> files_;
  Builder build_;
  std::shared_ptr<Context> current_;
  std::string stamp_;
  std::string last_error_;
  std::optional<std::int64_t> expiry_;
};

// notAfter of the first certificate in a PEM file.
std::optional<std::int64_t> file_not_after(const std::string& pem_file);

}  // namespace mcp_sidecar::tls
