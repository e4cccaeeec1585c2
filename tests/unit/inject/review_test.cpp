// The webhook's AdmissionReview answers, without sockets.
#include "inject/review.hpp"

#include <gtest/gtest.h>
#include <boost/beast/core/detail/base64.hpp>

namespace mcp_sidecar::inject {
namespace {

using nlohmann::json;

const Settings kSettings{"mcp-sidecar:0.1.0"};

json pod(json annotations) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"generateName", "web-"}, {"annotations", annotations}}},
      {"spec",
       {{"containers", json::array({{{"name", "app"},
                                     {"image", "web:1"},
                                     {"env", json::array({{{"name", "API_KEY"}, {"value", "s3cr3t-value"}}})}}})}}}};
}

json admission(json object, std::string operation = "CREATE") {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"namespace", "team-a"},
            {"operation", operation},
            {"object", std::move(object)}}}};
}

json decode_patch(const json& response) {
  namespace b64 = boost::beast::detail::base64;
  const auto& text = response.at("patch").get_ref<const std::string&>();
  std::string raw(b64::decoded_size(text.size()), '\0');
  raw.resize(b64::decode(raw.data(), text.data(), text.size()).first);
  return json::parse(raw);
}

TEST(Review, AnnotatedPodGetsAJsonPatchThatAppliesCleanly) {
  json object = pod({{"mcp-sidecar.io/inject", "true"}});
  auto a = review(admission(object).dump(), kSettings);
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.outcome, "injected");
  const json& r = a.body.at("response");
  EXPECT_EQ(a.body.at("apiVersion"), "admission.k8s.io/v1");
  EXPECT_EQ(a.body.at("kind"), "AdmissionReview");
  EXPECT_EQ(r.at("uid"), "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(r.at("allowed"), true);
  EXPECT_EQ(r.at("patchType"), "JSONPatch");
  json patched = object.patch(decode_patch(r));
  EXPECT_EQ(patched, inject(object, kSettings)->object);
  // The patched pod, reviewed again: allowed, nothing to change.
  auto again = review(admission(patched).dump(), kSettings);
  EXPECT_EQ(again.outcome, "unchanged");
  EXPECT_EQ(again.body.at("response"), json({{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"}, {"allowed", true}}));
}

TEST(Review, UnannotatedPodIsAllowedWithoutAPatch) {
  for (const json& annotations : {json::object(), json{{"mcp-sidecar.io/inject", "false"}}}) {
    auto a = review(admission(pod(annotations)).dump(), kSettings);
    EXPECT_EQ(a.status, 200u);
    EXPECT_EQ(a.outcome, "unchanged");
    EXPECT_FALSE(a.body.at("response").contains("patch"));
    EXPECT_EQ(a.body.at("response").at("allowed"), true);
  }
}

TEST(Review, BadAnnotationDeniesThePodWithTheReason) {
  auto a =
      review(admission(pod({{"mcp-sidecar.io/inject", "true"}, {"mcp-sidecar.io/mode", "sidecar"}})).dump(), kSettings);
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.outcome, "denied");
  const json& r = a.body.at("response");
  EXPECT_EQ(r.at("allowed"), false);
  EXPECT_EQ(r.at("status").at("code"), 400);
  EXPECT_EQ(r.at("status").at("message"), "mcp-sidecar.io/mode: expected native or classic, got \"sidecar\"");
  EXPECT_FALSE(r.contains("patch"));
  EXPECT_EQ(a.fields.at("reason"), r.at("status").at("message"));
}

TEST(Review, LeavesDeletesSubresourcesAndPodUpdatesAlone) {
  json object = pod({{"mcp-sidecar.io/inject", "true"}});
  EXPECT_EQ(review(admission(object, "UPDATE").dump(), kSettings).outcome, "unchanged");
  json del = admission(nullptr, "DELETE");
  EXPECT_EQ(review(del.dump(), kSettings).outcome, "unchanged");
  json sub = admission(object);
  sub["request"]["subResource"] = "ephemeralcontainers";
  EXPECT_EQ(review(sub.dump(), kSettings).outcome, "unchanged");
  // A Deployment may be mutated on UPDATE: its template is not immutable.
  json dep = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"spec", {{"template", pod({{"mcp-sidecar.io/inject", "true"}})}}}};
  json review_dep = admission(dep, "UPDATE");
  review_dep["request"]["kind"] = {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
  EXPECT_EQ(review(review_dep.dump(), kSettings).outcome, "injected");
}

TEST(Review, MalformedReviewsGetA400WithAJsonError) {
  const json good = admission(pod({}));
  std::vector<std::string> bodies = {"", "not json", "[1,2]", std::string(200, '['), "{\"apiVersion\":1}"};
  auto variant = [&](auto change) {
    json j = good;
    change(j);
    bodies.push_back(j.dump());
  };
  variant([](json& j) { j["apiVersion"] = "admission.k8s.io/v1beta1"; });
  variant([](json& j) { j["kind"] = "Review"; });
  variant([](json& j) { j.erase("request"); });
  variant([](json& j) { j["request"] = "x"; });
  variant([](json& j) { j["request"].erase("uid"); });
  variant([](json& j) { j["request"]["uid"] = 42; });
  variant([](json& j) { j["request"]["uid"] = ""; });
  variant([](json& j) { j["request"]["uid"] = std::string(300, 'u'); });
  variant([](json& j) { j["request"].erase("kind"); });
  variant([](json& j) { j["request"]["kind"] = {{"group", ""}}; });
  variant([](json& j) { j["request"].erase("object"); });
  variant([](json& j) { j["request"]["object"] = json::array(); });
  variant([](json& j) { j["request"]["operation"] = 7; });
  for (const auto& body : bodies) {
    auto a = review(body, kSettings);
    EXPECT_EQ(a.status, 400u) << body.substr(0, 80);
    EXPECT_EQ(a.outcome, "invalid") << body.substr(0, 80);
    EXPECT_EQ(a.body.at("error").at("code"), "bad_request");
    EXPECT_TRUE(a.body.at("error").at("message").is_string());
  }
}

TEST(Review, LogFieldsNameTheReviewNeverTheObject) {
  auto a = review(admission(pod({{"mcp-sidecar.io/inject", "true"}})).dump(), kSettings);
  EXPECT_EQ(a.fields.at("uid"), "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(a.fields.at("kind"), "Pod");
  EXPECT_EQ(a.fields.at("namespace"), "team-a");
  EXPECT_EQ(a.fields.at("operation"), "CREATE");
  EXPECT_EQ(a.fields.dump().find("s3cr3t"), std::string::npos);
  auto denied =
      review(admission(pod({{"mcp-sidecar.io/inject", "true"}, {"mcp-sidecar.io/role", "x"}})).dump(), kSettings);
  EXPECT_EQ(denied.fields.dump().find("s3cr3t"), std::string::npos);
}

}  // namespace
}  // namespace mcp_sidecar::inject
