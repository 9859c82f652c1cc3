// Redis replies (RESP2), the client's error codes, and command encoding.
//
// A Redis error REPLY (WRONGTYPE, NOSCRIPT, ERR ...) is a Reply with
// is_error(): Redis answered. An error_code (Error below, or an Asio error)
// means there is no reply: not connected, timed out, connection closed, ...
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

namespace smsgate::redis {

using boost::system::error_code;

// ---------------------------------------------------------------- errors

// Client-level errors (category "redis").
enum class Error {
  not_connected = 1,  // no ready connection: the command was not sent (fail fast)
  timeout,            // no reply within request_timeout (the connection is then reopened)
  closed,             // the connection closed (or the client stopped) before the reply came
  protocol,           // close reason: the reply stream did not parse, or a reply nobody asked for
  overloaded,         // max_outstanding commands already in flight: the command was not sent
  handshake_failed,   // close reason: AUTH / SELECT / CLIENT SETNAME / PING answered with an error
};

const boost::system::error_category& error_category() noexcept;
inline error_code make_error_code(Error e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace smsgate::redis

template <>
struct boost::system::is_error_code_enum<smsgate::redis::Error> : std::true_type {};

namespace smsgate::redis {

// ---------------------------------------------------------------- reply

// Thrown by Reply::as_int() / as_string() when the reply is of another type.
class ReplyTypeError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// One RESP2 reply: a plain value type (copyable, comparable). The fields are
// public; the helpers below are the convenient way to read them.
struct Reply {
  enum class Type : uint8_t { nil, integer, status, string, error, array };

  Type type = Type::nil;
  int64_t integer = 0;          // Type::integer
  std::string str;              // Type::status, string (bulk, binary-safe), error
  std::vector<Reply> elements;  // Type::array (may be empty)

  static Reply make_nil() { return {}; }
  static Reply make_integer(int64_t v) { return {Type::integer, v, {}, {}}; }
  static Reply make_status(std::string s) { return {Type::status, 0, std::move(s), {}}; }
  static Reply make_string(std::string s) { return {Type::string, 0, std::move(s), {}}; }
  static Reply make_error(std::string s) { return {Type::error, 0, std::move(s), {}}; }
  static Reply make_array(std::vector<Reply> e) { return {Type::array, 0, {}, std::move(e)}; }

  bool is_nil() const { return type == Type::nil; }
  bool is_integer() const { return type == Type::integer; }
  bool is_status() const { return type == Type::status; }
  bool is_string() const { return type == Type::string; }
  bool is_error() const { return type == Type::error; }
  bool is_array() const { return type == Type::array; }

  // The integer; a bulk string or status holding a decimal integer (GET of a
  // counter) is parsed. Throws ReplyTypeError otherwise.
  int64_t as_int() const;
  // The same without throwing.
  std::optional<int64_t> to_int() const noexcept;
  // The text of a bulk string, status or error. Throws ReplyTypeError
  // otherwise (nil included: check is_nil() first).
  std::string_view as_string() const;
  // Error replies: the first word ("WRONGTYPE", "NOSCRIPT", "ERR"); empty for
  // other types.
  std::string_view error_kind() const;

  bool operator==(const Reply&) const = default;
};

// Readable form for logs and test failures: 42, "bulk", +OK, -ERR x, (nil), [1, "a"].
std::string to_string(const Reply& r);
std::ostream& operator<<(std::ostream& os, const Reply& r);

// What a command completes with: `error` set means no reply (see Error);
// otherwise `reply` is Redis's answer, which may itself be an error reply.
struct Result {
  error_code error;
  Reply reply;
  // A reply that is not an error reply.
  bool ok() const { return !error && !reply.is_error(); }
};

// ---------------------------------------------------------------- encoding

// Appends `args` as one RESP command (an array of bulk strings) to `out`.
// The same bytes as hiredis's redisFormatCommandArgv, without its allocation.
void append_command(std::string& out, std::span<const std::string_view> args);

}  // namespace smsgate::redis
