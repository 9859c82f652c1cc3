#include "smpp/net/stream.hpp"
#include "smpp/net/coroutine_warnings.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace smsgate::smpp::net {

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

template <class S>
tcp::socket& lowest(S& s) {
  if constexpr (std::is_same_v<S, tcp::socket>) {
    return s;
  } else {
    return s.next_layer();
  }
}

template <class S>
class StreamImpl final : public Stream {
 public:
  explicit StreamImpl(S s) : s_(std::move(s)) {
    error_code ec;
    remote_ = lowest(s_).remote_endpoint(ec);
    lowest(s_).set_option(tcp::no_delay(true), ec);
  }

  asio::any_io_executor get_executor() override { return s_.get_executor(); }

  asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, error_code& ec) override {
    auto [e, n] = co_await s_.async_read_some(buf, tuple_awaitable);
    ec = e;
    co_return n;
  }

  asio::awaitable<void> write_all(asio::const_buffer buf, error_code& ec) override {
    auto [e, n] = co_await asio::async_write(s_, buf, tuple_awaitable);
    ec = e;
  }

  void close() override {
    error_code ignored;
    lowest(s_).shutdown(tcp::socket::shutdown_both, ignored);
    lowest(s_).close(ignored);
  }

  tcp::endpoint remote_endpoint() const override { return remote_; }
  bool is_tls() const override { return !std::is_same_v<S, tcp::socket>; }

 private:
  S s_;
  tcp::endpoint remote_;
};

std::shared_ptr<asio::ssl::context> tls_context(asio::ssl::context::method method) {
  auto ctx = std::make_shared<asio::ssl::context>(method);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  return ctx;
}

// Runs `op` with a deadline; sets ec = timed_out when the deadline wins.
template <class T>
asio::awaitable<T> with_timeout(asio::awaitable<T> op, std::chrono::milliseconds timeout, error_code& ec) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto result = co_await (std::move(op) || timer.async_wait(tuple_awaitable));
  if (result.index() == 1) {
    ec = asio::error::timed_out;
    co_return T{};
  }
  co_return std::move(std::get<0>(result));
}

using StreamOrError = std::pair<error_code, std::unique_ptr<Stream>>;
StreamOrError failed(error_code ec) { return StreamOrError(ec, nullptr); }
StreamOrError done(std::unique_ptr<Stream> s) { return StreamOrError(error_code(), std::move(s)); }

asio::awaitable<StreamOrError> connect_plain(asio::any_io_executor ex, ConnectOptions options) {
  tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(options.host, options.port, tuple_awaitable);
  if (rec) co_return failed(rec);
  tcp::socket socket(ex);
  auto [cec, ep] = co_await asio::async_connect(socket, endpoints, tuple_awaitable);
  if (cec) co_return failed(cec);
  if (!options.tls) co_return done(make_tcp_stream(std::move(socket)));

  asio::ssl::stream<tcp::socket> tls(std::move(socket), *options.tls);
  const std::string& name = options.tls_server_name.empty() ? options.host : options.tls_server_name;
  SSL_set_tlsext_host_name(tls.native_handle(), name.c_str());
  if (SSL_CTX_get_verify_mode(options.tls->native_handle()) & SSL_VERIFY_PEER) {
    tls.set_verify_callback(asio::ssl::host_name_verification(name));
  }
  auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
  if (hec) co_return failed(hec);
  co_return done(make_tls_stream(std::move(tls)));
}

asio::awaitable<StreamOrError> handshake_server(tcp::socket socket, asio::ssl::context& ctx) {
  asio::ssl::stream<tcp::socket> tls(std::move(socket), ctx);
  auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, tuple_awaitable);
  if (ec) co_return failed(ec);
  co_return done(make_tls_stream(std::move(tls)));
}

asio::awaitable<std::unique_ptr<Stream>> finish(asio::awaitable<StreamOrError> op,
                                                std::chrono::milliseconds timeout, error_code& ec) {
  ec = {};
  auto [err, stream] = co_await with_timeout(std::move(op), timeout, ec);
  if (!ec) ec = err;
  co_return std::move(stream);
}

}  // namespace

std::unique_ptr<Stream> make_tcp_stream(tcp::socket socket) {
  return std::make_unique<StreamImpl<tcp::socket>>(std::move(socket));
}

std::unique_ptr<Stream> make_tls_stream(asio::ssl::stream<tcp::socket> stream) {
  return std::make_unique<StreamImpl<asio::ssl::stream<tcp::socket>>>(std::move(stream));
}

std::shared_ptr<asio::ssl::context> make_tls_server_context(const std::string& cert_chain_pem_file,
                                                            const std::string& private_key_pem_file) {
  auto ctx = tls_context(asio::ssl::context::tls_server);
  ctx->use_certificate_chain_file(cert_chain_pem_file);
  ctx->use_private_key_file(private_key_pem_file, asio::ssl::context::pem);
  return ctx;
}

std::shared_ptr<asio::ssl::context> make_tls_client_context(const std::string& ca_pem_file) {
  auto ctx = tls_context(asio::ssl::context::tls_client);
  if (ca_pem_file.empty()) {
    ctx->set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx->load_verify_file(ca_pem_file);
    ctx->set_verify_mode(asio::ssl::verify_peer);
  }
  return ctx;
}

asio::awaitable<std::unique_ptr<Stream>> connect_stream(asio::any_io_executor ex,
                                                        const ConnectOptions& options,
                                                        error_code& ec) {
  co_return co_await finish(connect_plain(ex, options), options.timeout, ec);
}

asio::awaitable<std::unique_ptr<Stream>> accept_tls_stream(tcp::socket socket, asio::ssl::context& ctx,
                                                           std::chrono::milliseconds timeout,
                                                           error_code& ec) {
  co_return co_await finish(handshake_server(std::move(socket), ctx), timeout, ec);
}

}  // namespace smsgate::smpp::net
