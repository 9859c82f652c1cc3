#include "smpp/net/stream.hpp"
#include "smpp/net/coroutine_warnings.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
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
  error_code not_ip;
  asio::ip::make_address(name, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(tls.native_handle(), name.c_str());  // SNI carries no IP addresses
  const bool verify = SSL_CTX_get_verify_mode(options.tls->native_handle()) & SSL_VERIFY_PEER;
  if (verify) {
    // OpenSSL's own name check rather than a verify callback: a mismatch is
    // then reported as X509_V_ERR_HOSTNAME_MISMATCH, not as an unspecified error.
    X509_VERIFY_PARAM* param = SSL_get0_param(tls.native_handle());
    if (not_ip) {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    }
  }
  auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
  if (hec) {
    // Say why the certificate was refused (the handshake's own error is only
    // "certificate verify failed").
    const long result = SSL_get_verify_result(tls.native_handle());
    if (verify && result != X509_V_OK) co_return failed(error_code(static_cast<int>(result), tls_verify_category()));
    co_return failed(hec);
  }
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

class TlsVerifyCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tls_verify"; }
  std::string message(int value) const override {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(value);
  }
};

}  // namespace

const boost::system::error_category& tls_verify_category() noexcept {
  static const TlsVerifyCategory category;
  return category;
}

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
