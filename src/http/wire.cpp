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

WireMessage WireMessage::request(std::string_view method, std::string_view target) {
  WireMessage m;
  m.text_.reserve(512);
  m.text_ += method;
  m.text_ += ' ';
  m.text_ += target;
  m.text_ += " HTTP/1.1\r\n";
  return m;
}

WireMessage WireMessage::response(unsigned status, unsigned version) {
  WireMessage m;
  m.text_.reserve(256);
  m.text_ += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  m.text_ += std::to_string(status);
  m.text_ += ' ';
  m.text_ += bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  m.text_ += "\r\n";
  return m;
}

WireMessage& WireMessage::field(std::string_view name, std::string_view value) {
  text_ += name;
  text_ += ": ";
  text_ += value;
  text_ += "\r\n";
  return *this;
}

std::string WireMessage::finish(std::string_view body, bool send_body) && {
  text_ += "Content-Length: ";
  text_ += std::to_string(body.size());
  text_ += "\r\n\r\n";
  if (send_body) text_ += body;
  return std::move(text_);
}

std::string WireMessage::finish_request(bhttp::verb method, std::string_view body) && {
  if (!body.empty() || method == bhttp::verb::post || method == bhttp::verb::put || method == bhttp::verb::options)
    return std::move(*this).finish(body);
  text_ += "\r\n";
  return std::move(text_);
}

}  // namespace mcp_sidecar::http
