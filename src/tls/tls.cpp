#include "tls/tls.hpp"

#include "core/file_stamp.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/ssl/context.hpp>

#include <cstdio>

namespace mcp_sidecar::tls {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2 AEAD suites with forward secrecy; TLS 1.3 suites are OpenSSL's defaults (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Error tls_error(std::string what) { return make_error(ErrorCode::internal, std::move(what)); }

void apply_policy(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
}

Result<void> load_chain_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    return tls_error("cannot load certificate " + cert + ": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    return tls_error("cannot load key " + key + ": " + openssl_error());
  if (SSL_CTX_check_private_key(ctx) != 1) return tls_error("key " + key + " does not match " + cert);
  return {};
}

int verify_errors_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int record_verify(int preverify_ok, X509_STORE_CTX* store) {
  if (!preverify_ok) {
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (ssl && SSL_get_ex_data(ssl, verify_errors_index()) == nullptr) {
      // Remember the first failure (+1 so that 0 stays "nothing recorded").
      long err = X509_STORE_CTX_get_error(store);
      SSL_set_ex_data(ssl, verify_errors_index(), reinterpret_cast<void*>(static_cast<intptr_t>(err + 1)));
    }
  }
  return preverify_ok;
}

}  // namespace

Result<std::shared_ptr<Context>> make_server_context(const ServerFiles& files) {
  auto ctx = std::make_shared<Context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  apply_policy(native);
  if (auto r = load_chain_and_key(native, files.cert_file, files.key_file); !r) return std::move(r).error();
  if (!files.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(native, files.client_ca_file.c_str(), nullptr) != 1)
      return tls_error("cannot load client CA " + files.client_ca_file + ": " + openssl_error());
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(native, names);
    int mode = SSL_VERIFY_PEER | (files.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(native, mode, record_verify);
    // Resumed sessions must belong to this context's verification settings.
    static const unsigned char kSessionContext[] = "mcp-sidecar-inbound";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  }
  return ctx;
}

Result<std::shared_ptr<Context>> make_client_context(const ClientFiles& files) {
  auto ctx = std::make_shared<Context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  apply_policy(native);
  if (files.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(native) != 1) return tls_error("cannot load the system trust store");
  } else if (SSL_CTX_load_verify_locations(native, files.ca_file.c_str(), nullptr) != 1) {
    return tls_error("cannot load CA bundle " + files.ca_file + ": " + openssl_error());
  }
  if (!files.cert_file.empty()) {
    if (auto r = load_chain_and_key(native, files.cert_file, files.key_file); !r) return std::move(r).error();
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, record_verify);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  return ctx;
}

std::vector<std::string> names_of(X509* cert) {
  std::vector<std::string> out;
  if (!cert) return out;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!sans) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
    if (n->type == GEN_URI || n->type == GEN_DNS) {
      const ASN1_IA5STRING* s = n->type == GEN_URI ? n->d.uniformResourceIdentifier : n->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    }
  }
  GENERAL_NAMES_free(sans);
  return out;
}

std::string identity_of(X509* cert) {
  if (!cert) return {};
  std::string uri;
  std::string dns;
  if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      auto text = [](const ASN1_IA5STRING* s) {
        return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
      };
      if (n->type == GEN_URI && uri.empty()) uri = text(n->d.uniformResourceIdentifier);
      if (n->type == GEN_DNS && dns.empty()) dns = text(n->d.dNSName);
    }
    GENERAL_NAMES_free(sans);
  }
  if (!uri.empty()) return uri;
  if (!dns.empty()) return dns;
  char cn[256] = {};
  int len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return len > 0 ? std::string(cn, static_cast<std::size_t>(len)) : std::string();
}

std::optional<std::int64_t> not_after(X509* cert) {
  if (!cert) return std::nullopt;
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::optional<std::int64_t> file_not_after(const std::string& pem_file) {
  FILE* f = std::fopen(pem_file.c_str(), "r");
  if (!f) return std::nullopt;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  auto t = not_after(cert);
  X509_free(cert);
  return t;
}

Refusal classify_verify_result(long r) {
  switch (r) {
    case X509_V_OK:
      return Refusal::none;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return Refusal::expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return Refusal::not_yet_valid;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return Refusal::unknown_ca;
    default:
      return Refusal::bad_certificate;
  }
}

std::string_view to_string(Refusal r) {
  switch (r) {
    case Refusal::none:
      return "none";
    case Refusal::no_certificate:
      return "no_certificate";
    case Refusal::unknown_ca:
      return "unknown_ca";
    case Refusal::expired:
      return "expired";
    case Refusal::not_yet_valid:
      return "not_yet_valid";
    case Refusal::bad_certificate:
      return "bad_certificate";
    case Refusal::handshake:
      return "handshake";
  }
  return "handshake";
}

void remember_verify_errors(SSL* ssl) { SSL_set_ex_data(ssl, verify_errors_index(), nullptr); }

long first_verify_error(SSL* ssl) {
  auto v = reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, verify_errors_index()));
  return v == 0 ? X509_V_OK : static_cast<long>(v - 1);
}

ReloadingContext::ReloadingContext(std::string name, std::vector<std::string> files, Builder build)
    : name_(std::move(name)), files_(std::move(files)), build_(std::move(build)) {}

std::string ReloadingContext::fingerprint() const { return file_stamp(files_); }

Result<void> ReloadingContext::load() {
  stamp_ = fingerprint();
  auto ctx = build_();
  if (!ctx) {
    last_error_ = ctx.error().message;
    return std::move(ctx).error();
  }
  current_ = std::move(ctx).value();
  expiry_ = not_after(SSL_CTX_get0_certificate(current_->native_handle()));
  last_error_.clear();
  return {};
}

Result<void> ReloadingContext::reset(std::vector<std::string> files, Builder build) {
  auto ctx = build();
  if (!ctx) return std::move(ctx).error();
  files_ = std::move(files);
  build_ = std::move(build);
  stamp_ = fingerprint();
  current_ = std::move(ctx).value();
  expiry_ = not_after(SSL_CTX_get0_certificate(current_->native_handle()));
  last_error_.clear();
  return {};
}

ReloadingContext::Check ReloadingContext::check() {
  auto stamp = fingerprint();
  if (stamp == stamp_) return Check::unchanged;
  stamp_ = stamp;  // a bad file is reported once, not on every check
  auto ctx = build_();
  if (!ctx) {
    last_error_ = ctx.error().message;
    return Check::failed;
  }
  current_ = std::move(ctx).value();
  expiry_ = not_after(SSL_CTX_get0_certificate(current_->native_handle()));
  last_error_.clear();
  return Check::reloaded;
}

}  // namespace mcp_sidecar::tls
