#include "tls/tls.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace mcp_sidecar::tls {
namespace {

namespace fs = std::filesystem;

// Real certificates from the openssl CLI, made once per test run.
class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tls-unit-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto make = [](const std::string& name, const std::string& subject, const std::string& san) {
      std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj '" +
                        subject + "' -keyout " + (dir_ / (name + ".key")).string() + " -out " +
                        (dir_ / (name + ".crt")).string();
      if (!san.empty()) cmd += " -addext 'subjectAltName=" + san + "'";
      cmd += " 2>/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    };
    make("uri", "/CN=cn-uri", "URI:spiffe://kyc.local/ns/kyc/sa/risk,DNS:risk.kyc.svc");
    make("dns", "/CN=cn-dns", "DNS:pep.kyc.svc,DNS:pep");
    make("cn", "/CN=only-a-cn", "");
    make("other", "/CN=other", "DNS:other");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string path(const std::string& f) { return (dir_ / f).string(); }
  static std::unique_ptr<X509, decltype(&X509_free)> load(const std::string& name) {
    FILE* f = std::fopen(path(name + ".crt").c_str(), "r");
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    return {cert, X509_free};
  }

  static fs::path dir_;
};
fs::path Tls::dir_;

TEST_F(Tls, IdentityIsTheUriSanElseDnsSanElseCn) {
  EXPECT_EQ(identity_of(load("uri").get()), "spiffe://kyc.local/ns/kyc/sa/risk");
  EXPECT_EQ(identity_of(load("dns").get()), "pep.kyc.svc");
  EXPECT_EQ(identity_of(load("cn").get()), "only-a-cn");
  EXPECT_EQ(identity_of(nullptr), "");
  auto names = names_of(load("uri").get());
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[1], "risk.kyc.svc");
}

TEST_F(Tls, NotAfterIsReadFromTheCertificate) {
  auto t = file_not_after(path("uri.crt"));
  ASSERT_TRUE(t);
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT(*t, now + 86400);
  EXPECT_LT(*t, now + 3 * 86400);
  EXPECT_FALSE(file_not_after(path("missing.crt")));
}

TEST_F(Tls, VerifyResultsAreClassified) {
  EXPECT_EQ(classify_verify_result(X509_V_OK), Refusal::none);
  EXPECT_EQ(classify_verify_result(X509_V_ERR_CERT_HAS_EXPIRED), Refusal::expired);
  EXPECT_EQ(classify_verify_result(X509_V_ERR_CERT_NOT_YET_VALID), Refusal::not_yet_valid);
  EXPECT_EQ(classify_verify_result(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY), Refusal::unknown_ca);
  EXPECT_EQ(classify_verify_result(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT), Refusal::unknown_ca);
  EXPECT_EQ(classify_verify_result(X509_V_ERR_INVALID_PURPOSE), Refusal::bad_certificate);
  EXPECT_EQ(to_string(Refusal::no_certificate), "no_certificate");
}

TEST_F(Tls, ContextsReportMissingAndMismatchedFiles) {
  auto ok = make_server_context({path("uri.crt"), path("uri.key"), path("dns.crt"), true});
  EXPECT_TRUE(ok);
  auto missing = make_server_context({path("nope.crt"), path("uri.key"), "", false});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope.crt"), std::string::npos);
  auto mismatch = make_server_context({path("uri.crt"), path("dns.key"), "", false});
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("dns.key"), std::string::npos);  // names the key that does not fit
  EXPECT_TRUE(make_client_context({path("uri.crt"), "", ""}));
  EXPECT_FALSE(make_client_context({path("nope.crt"), "", ""}));
}

TEST_F(Tls, ReloadingContextFollowsItsFilesAndKeepsTheOldOnABadOne) {
  fs::copy_file(path("uri.crt"), path("live.crt"), fs::copy_options::overwrite_existing);
  fs::copy_file(path("uri.key"), path("live.key"), fs::copy_options::overwrite_existing);
  ServerFiles files{path("live.crt"), path("live.key"), "", false};
  ReloadingContext ctx("live", {files.cert_file, files.key_file}, [files] { return make_server_context(files); });
  ASSERT_TRUE(ctx.load());
  auto first = ctx.current();
  EXPECT_EQ(ctx.check(), ReloadingContext::Check::unchanged);

  // A new certificate and key: swapped in.
  fs::copy_file(path("other.crt"), path("live.crt.new"));
  fs::copy_file(path("other.key"), path("live.key.new"));
  fs::rename(path("live.crt.new"), path("live.crt"));
  fs::rename(path("live.key.new"), path("live.key"));
  EXPECT_EQ(ctx.check(), ReloadingContext::Check::reloaded);
  EXPECT_NE(ctx.current(), first);
  auto second = ctx.current();

  // A half-written update (certificate without its key): refused, the last good one stays.
  { std::ofstream(path("live.crt")) << "-----BEGIN CERTIFICATE-----\ngarbage\n"; }
  EXPECT_EQ(ctx.check(), ReloadingContext::Check::failed);
  EXPECT_EQ(ctx.current(), second);
  EXPECT_FALSE(ctx.last_error().empty());
  EXPECT_EQ(ctx.check(), ReloadingContext::Check::unchanged);  // reported once, not on every check
}

}  // namespace
}  // namespace mcp_sidecar::tls
