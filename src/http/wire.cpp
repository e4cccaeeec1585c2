#include "http/wire.hpp"

namespace mcp_sidecar::http {

namespace bhttp = boost::beast::http;

namespace {

template <class Message>
void append_fields_and_body(std::string& out, const Message& m) {
  for (const auto& f : m) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += "\r\n";
  out += m.body();
}

template <class Message>
std::size_t size_hint(const Message& m) {
  return 64 + m.body().size() + 32 * static_cast<std::size_t>(std::distance(m.begin(), m.end()));
}

}  // namespace

std::string serialize(const bhttp::request<bhttp::string_body>& req) {
  std::string out;
  out.reserve(size_hint(req) + req.target().size());
  out += req.method_string();
  out += ' ';
  out += req.target();
  out += req.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  append_fields_and_body(out, req);
  return out;
}

std::string serialize(const bhttp::response<bhttp::string_body>& res) {
  std::string out;
  out.reserve(size_hint(res) + res.reason().size());
  out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.result_int());
  out += ' ';
  out += res.reason();
  out += "\r\n";
  append_fields_and_body(out, res);
  return out;
}

}  // namespace mcp_sidecar::http
