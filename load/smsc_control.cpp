// The simulator's HTTP control endpoint (Boost.Beast), on the main io_context:
//   POST /mo     {"from","to","text","coding":"auto|gsm|ucs2","split":"udh|sar|none"}
//                -> 200 {"sent":N,"ok":K} once the peer answered every part (K of them ESME_ROK),
//                   400 bad request, 503 no receiver bind, 504 no answer in time
//   GET  /stats  -> the counters as one JSON object
//   POST /drop   -> closes every SMPP connection now: {"dropped":N}
// This file alone includes Beast and compiles Boost.JSON (src.hpp).
#include <array>
#include <optional>
#include <utility>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/src.hpp>

#include "load/smsc.hpp"

namespace smsgate::smsc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

Response reply(http::status status, const json::value& body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = json::serialize(body);
  res.body() += '\n';
  return res;
}

Response error_reply(http::status status, std::string_view message) {
  return reply(status, json::object{{"error", message}});
}

// A string member of `o`, `fallback` when absent; nullopt when not a string.
std::optional<std::string_view> member(const json::object& o, std::string_view key, std::string_view fallback) {
  const auto* v = o.if_contains(key);
  if (!v) return fallback;
  if (!v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

// Sets `out` to the value `key` names in `table`; false when none does.
template <class T, std::size_t N>
bool lookup(const std::array<std::pair<std::string_view, T>, N>& table, std::optional<std::string_view> key, T& out) {
  for (const auto& [name, value] : table) {
    if (key == name) {
      out = value;
      return true;
    }
  }
  return false;
}

// Parses the POST /mo body; an error message when it is not usable.
std::variant<MoSpec, std::string> parse_mo(std::string_view body) {
  json::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::string("body is not a JSON object");
  const auto& o = v.get_object();
  MoSpec spec;
  const auto from = member(o, "from", {});
  const auto to = member(o, "to", {});
  const auto text = member(o, "text", {});
  const auto coding = member(o, "coding", "auto");
  const auto split = member(o, "split", "udh");
  if (!from || from->empty() || !to || to->empty()) return std::string("\"from\" and \"to\" are required strings");
  if (!text || !o.contains("text")) return std::string("\"text\" is a required string");
  spec.from = *from;
  spec.to = *to;
  spec.text = *text;
  constexpr std::array<std::pair<std::string_view, MoSpec::Coding>, 3> kCodings{
      {{"auto", MoSpec::Coding::automatic}, {"gsm", MoSpec::Coding::gsm}, {"ucs2", MoSpec::Coding::ucs2}}};
  constexpr std::array<std::pair<std::string_view, MoSpec::Split>, 3> kSplits{
      {{"udh", MoSpec::Split::udh}, {"sar", MoSpec::Split::sar}, {"none", MoSpec::Split::none}}};
  if (!lookup(kCodings, coding, spec.coding)) return std::string("\"coding\" is auto, gsm or ucs2");
  if (!lookup(kSplits, split, spec.split)) return std::string("\"split\" is udh, sar or none");
  return spec;
}

}  // namespace

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
  Impl(asio::io_context& main, Simulator& s, tcp::endpoint ep) : sim(s), acceptor(main), endpoint(ep) {}

  asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (stopped || ec == asio::error::operation_aborted) break;
      if (ec) continue;
      asio::co_spawn(acceptor.get_executor(), serve(self, std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<Impl> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    while (!stopped) {
      Request req;
      stream.expires_after(std::chrono::seconds(60));
      auto [rec, rn] = co_await http::async_read(stream, buffer, req, kTuple);
      if (rec) break;
      stream.expires_never();
      Response res = co_await handle(req);
      res.version(req.version());
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      stream.expires_after(std::chrono::seconds(60));
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<Response> handle(const Request& req) {
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));
    if (target == "/mo") {
      if (req.method() != http::verb::post) co_return error_reply(http::status::method_not_allowed, "use POST");
      auto parsed = parse_mo(req.body());
      if (auto* err = std::get_if<std::string>(&parsed)) co_return error_reply(http::status::bad_request, *err);
      const MoResult r = co_await sim.inject_mo(std::move(std::get<MoSpec>(parsed)));
      if (r.http_status == 200) co_return reply(http::status::ok, json::object{{"sent", r.sent}, {"ok", r.ok}});
      co_return reply(static_cast<http::status>(r.http_status),
                      json::object{{"error", r.error}, {"sent", r.sent}, {"ok", r.ok}});
    }
    if (target == "/stats") {
      if (req.method() != http::verb::get) co_return error_reply(http::status::method_not_allowed, "use GET");
      json::object o;
      for (const auto& [name, value] : sim.stats()) o[name] = value;
      co_return reply(http::status::ok, o);
    }
    if (target == "/drop") {
      if (req.method() != http::verb::post) co_return error_reply(http::status::method_not_allowed, "use POST");
      co_return reply(http::status::ok, json::object{{"dropped", sim.drop_all()}});
    }
    co_return error_reply(http::status::not_found, "POST /mo, GET /stats, POST /drop");
  }

  Simulator& sim;
  tcp::acceptor acceptor;
  tcp::endpoint endpoint;
  bool stopped = false;
};

ControlServer::ControlServer(asio::io_context& main, Simulator& sim, tcp::endpoint endpoint)
    : impl_(std::make_shared<Impl>(main, sim, endpoint)) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() {
  auto& a = impl_->acceptor;
  a.open(impl_->endpoint.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  a.bind(impl_->endpoint);
  a.listen();
  asio::co_spawn(a.get_executor(), impl_->accept_loop(impl_), asio::detached);
}

void ControlServer::stop() {
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

tcp::endpoint ControlServer::local_endpoint() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec);
}

}  // namespace smsgate::smsc
