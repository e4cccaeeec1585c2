// transport: auto. Which era an HTTP server speaks is found the way the 2026-07-28
// backward-compatibility rules describe: a modern request first (server/discover); a 4xx without
// a recognized modern JSON-RPC error in its body sends the client to initialize; an initialize
// refused at the HTTP level (400/404/405) sends it to the 2024-11-05 event stream. The verdict is
// a property of the server, so it is kept for the upstream and reused by every later session;
// when the server answers in a way that contradicts it (it was replaced by one of another era),
// the next session detects again.
#include "outbound/transports.hpp"

namespace mcp_sidecar::outbound {

namespace {

constexpr Era kProbeOrder[] = {Era::stateless, Era::sessions, Era::legacy_sse};

class DetectingSession final : public UpstreamSession {
 public:
  DetectingSession(http::ConnectionPool& pool, const TransportSettings& settings, EraVerdict& verdict)
      : pool_(pool), settings_(settings), verdict_(verdict) {}

  asio::awaitable<Result<void>> open(TimePoint deadline) override {
    if (verdict_.era) {
      auto opened = co_await open_as(*verdict_.era, deadline);
      if (opened || !inner_->era_contradicted()) co_return opened;
      contradicted();
    }
    std::optional<Error> last;
    for (Era era : kProbeOrder) {
      auto opened = co_await open_as(era, deadline);
      if (opened) {
        // Sessions of one pool detect side by side: only a new conclusion is news.
        if (verdict_.era != era) {
          verdict_.era = era;
          if (verdict_.on_detected) verdict_.on_detected(era);
        }
        co_return opened;
      }
      // Only an answer that rules this era out moves on to the next; anything else (a refused
      // credential, a timeout, a server error) is the answer.
      if (!inner_->era_contradicted()) co_return opened;
      last = std::move(opened).error();
    }
    Error e = make_error(ErrorCode::upstream_protocol, "upstream speaks no MCP transport the sidecar knows");
    if (last) e.detail = last->detail;
    co_return e;
  }

  asio::awaitable<Result<json>> request(std::string_view method, const json& params,
                                        const RpcOptions& options) override {
    auto reply = co_await inner_->request(method, params, options);
    if (inner_->era_contradicted()) contradicted();
    co_return reply;
  }

  asio::awaitable<Result<void>> notify(std::string_view method, const json& params, TimePoint deadline) override {
    co_return co_await inner_->notify(method, params, deadline);
  }

  asio::awaitable<void> close(TimePoint deadline) override {
    if (inner_) co_await inner_->close(deadline);
  }

  bool alive() const override { return inner_ && inner_->alive(); }
  std::string_view failure_reason() const override { return inner_ ? inner_->failure_reason() : "transport"; }
  const SessionInfo& info() const override { return inner_ ? inner_->info() : empty_; }
  bool era_contradicted() const override { return inner_ && inner_->era_contradicted(); }
  void on_lost(std::function<void()> callback) override {
    if (inner_) inner_->on_lost(std::move(callback));
  }

 private:
  asio::awaitable<Result<void>> open_as(Era era, TimePoint deadline) {
    inner_ = make_session(pool_, settings_, era);
    co_return co_await inner_->open(deadline);
  }

  // The server is no longer what the verdict says: forget it, once.
  void contradicted() {
    if (!verdict_.era || *verdict_.era != inner_->info().era) return;
    const Era was = *verdict_.era;
    verdict_.era.reset();
    if (verdict_.on_contradicted) verdict_.on_contradicted(was);
  }

  http::ConnectionPool& pool_;
  const TransportSettings& settings_;
  EraVerdict& verdict_;
  std::shared_ptr<UpstreamSession> inner_;
  SessionInfo empty_;
};

}  // namespace

std::shared_ptr<UpstreamSession> make_detecting_session(http::ConnectionPool& pool, const TransportSettings& settings,
                                                        EraVerdict& verdict) {
  return std::make_shared<DetectingSession>(pool, settings, verdict);
}

}  // namespace mcp_sidecar::outbound
