// A byte stream that an SMPP session runs over: plain TCP or TLS.
//
// Stream is a small virtual interface so that Session is not a template (one
// compiled Session for both transports). Reads and writes are awaitables on
// the stream's executor. Everything here, like the session, belongs to one
// executor: call it only from there.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/system/error_code.hpp>

namespace smsgate::smpp::net {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

class Stream {
 public:
  virtual ~Stream() = default;

  virtual asio::any_io_executor get_executor() = 0;

  // Reads at least one byte into `buf`. On failure returns 0 and sets `ec`
  // (asio::error::eof on an orderly close by the peer).
  virtual asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, error_code& ec) = 0;

  // Writes all of `buf` (one composed write). Sets `ec` on failure.
  virtual asio::awaitable<void> write_all(asio::const_buffer buf, error_code& ec) = 0;

  // Closes the socket at once; pending reads and writes complete with an
  // error. Idempotent. TLS: no close_notify is sent (the session only closes
  // after unbind/unbind_resp, which is SMPP's own orderly end).
  virtual void close() = 0;

  // The peer's address, captured at construction (valid after close()).
  virtual tcp::endpoint remote_endpoint() const = 0;
  virtual bool is_tls() const = 0;
};

// Wraps a connected socket. Sets TCP_NODELAY.
std::unique_ptr<Stream> make_tcp_stream(tcp::socket socket);

// Wraps a TLS stream whose handshake is already done. Sets TCP_NODELAY.
// The ssl::context must outlive the stream (hold it in a shared_ptr).
std::unique_ptr<Stream> make_tls_stream(asio::ssl::stream<tcp::socket> stream);

// TLS contexts with TLS 1.2 as the minimum version (OpenSSL 3).
// Server: certificate chain and private key in PEM files.
std::shared_ptr<asio::ssl::context> make_tls_server_context(const std::string& cert_chain_pem_file,
                                                            const std::string& private_key_pem_file);
// Client: verifies the server's certificate against `ca_pem_file` (and the
// host name given to connect_stream) when ca_pem_file is not empty; an empty
// ca_pem_file means no verification (test setups, self-signed carriers).
// Both refuse TLS 1.0 and 1.1 whatever the peer offers.
std::shared_ptr<asio::ssl::context> make_tls_client_context(const std::string& ca_pem_file = {});

struct ConnectOptions {
  std::string host;                  // name or address
  std::string port;                  // "2775"
  // TLS when set; `tls_server_name` is used for SNI and host name
  // verification (defaults to `host`).
  std::shared_ptr<asio::ssl::context> tls;
  std::string tls_server_name;
  std::chrono::milliseconds timeout{5000};  // resolve + connect + TLS handshake
};

// Resolves, connects (trying each address) and, with TLS, does the client
// handshake, all within options.timeout. Returns null and sets `ec` on failure
// (asio::error::timed_out on timeout).
asio::awaitable<std::unique_ptr<Stream>> connect_stream(asio::any_io_executor ex,
                                                        const ConnectOptions& options,
                                                        error_code& ec);

// A client handshake that failed because the server's certificate did not
// verify (connect_stream with a verifying context): the value is OpenSSL's
// X509_V_ERR_*, the message says why, e.g. "certificate verify failed:
// certificate has expired", "...: hostname mismatch", "...: self-signed
// certificate".
const boost::system::error_category& tls_verify_category() noexcept;

// Server side TLS: does the handshake on an accepted socket within `timeout`.
// Returns null and sets `ec` on failure.
asio::awaitable<std::unique_ptr<Stream>> accept_tls_stream(tcp::socket socket, asio::ssl::context& ctx,
                                                           std::chrono::milliseconds timeout,
                                                           error_code& ec);

}  // namespace smsgate::smpp::net
