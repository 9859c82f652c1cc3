// The policy's state in Redis (see store.hpp): the Lua scripts and the code
// that calls them and checks their replies.
#include "policy/store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <string>
#include <system_error>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace smsgate::policy {

namespace {

using redis::Reply;
using redis::Result;

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------- the scripts

// decide. KEYS: opt-out hash, sent list, part key, then the cap logs: one
// per scope the rules use (recipient, recipient+account, recipient+source),
// shared by every rule of that scope - their sends are the same, only the
// windows differ, so one ZADD records a send for all of them.
// ARGV: now_ms, message_id, account, source, check_opt_out, check_caps,
// use_part, part_ttl_ms, history_keep, history_ttl_ms, history entry,
// refresh ('1': this Store's TTLs for the recipient are due), ttl_margin_ms,
// the number of rules; per rule: limit, "(<now - window>", name, its log
// (1-based); then per log: trim bound (now - its widest window), TTL ms
// (widest window + ttl_margin).
// Answers {kind, detail}: {"allow", ""}, {"opted_out", field}, {"cap", rule}.
// A cap counts the sends in (now - window, +inf) with ZCOUNT: a send at
// exactly now - window has left the window.
// check_caps 0 (transactional) neither checks nor adds to the cap logs; the
// history is kept for every allowed send. With use_part the answer is kept
// under the part key ("allow", "opted_out:<field>", "cap:<rule>") and
// returned as it is, counting nothing, for the message's other parts.
// TTLs: a key gets one when it is (or may be) new - a cap log with nothing
// in its window, a history of one entry - and otherwise only when the
// caller says refresh (Store::refresh_due): a cap log lives window + margin
// past the refresh, and the caller refreshes at least every margin / 2, so
// no send that still counts can expire with its key. Four PEXPIREs a
// message were a fifth of Redis's work (docs/performance.md).
const redis::Script& decide_script() {
  static const redis::Script script(R"lua(
local function decide(K, A)
  local use_part = A[7] == '1'
  if use_part then
    local stored = redis.call('GET', K[3])
    if stored then
      return string.match(stored, '^([^:]*):?(.*)$')
    end
  end
  local function answer(kind, detail)
    if use_part then
      local value = kind
      if detail ~= '' then value = kind .. ':' .. detail end
      redis.call('SET', K[3], value, 'PX', A[8])
    end
    return kind, detail
  end
  if A[5] == '1' then
    local fields = {'*', 'a:' .. A[3], 's:' .. A[4]}
    local found = redis.call('HMGET', K[1], fields[1], fields[2], fields[3])
    for i = 1, 3 do
      if found[i] then return answer('opted_out', fields[i]) end
    end
  end
  local logs = #K - 3
  local refresh = A[12] == '1'
  if A[6] == '1' and logs > 0 then
    local rules = tonumber(A[14])
    local maybe_new = {}
    for i = 1, rules do
      local a = 15 + 4 * (i - 1)
      local log = tonumber(A[a + 3])
      local count = redis.call('ZCOUNT', K[3 + log], A[a + 1], '+inf')
      if count >= tonumber(A[a]) then return answer('cap', A[a + 2]) end
      if count == 0 then maybe_new[log] = true end
    end
    -- Sends that left the widest window of a log are removed lazily, on about
    -- one call in 8: ZCOUNT ignores them, and the TTL bounds a key's life.
    local trim = tonumber(A[1]) % 8 == 0
    local b = 15 + 4 * rules
    for j = 1, logs do
      local key = K[3 + j]
      if trim then redis.call('ZREMRANGEBYSCORE', key, '-inf', A[b + 2 * (j - 1)]) end
      redis.call('ZADD', key, A[1], A[2])
      if refresh or maybe_new[j] then redis.call('PEXPIRE', key, A[b + 2 * (j - 1) + 1]) end
    end
  end
  local keep = tonumber(A[9])
  if keep > 0 then
    local length = redis.call('LPUSH', K[2], A[11])
    if length > keep then redis.call('LTRIM', K[2], 0, keep - 1) end
    if refresh or length == 1 then redis.call('PEXPIRE', K[2], A[10]) end
  end
  return answer('allow', '')
end
-- The batch: ARGV[1] messages; per message its key count, its argument
-- count and its arguments; its keys follow each other in KEYS. One
-- message's error (a key of the wrong type) is its own answer, not the
-- batch's.
local out = {}
local k, a = 0, 2
for m = 1, tonumber(ARGV[1]) do
  local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local ok, kind, detail = pcall(decide, {unpack(KEYS, k + 1, k + nk)}, {unpack(ARGV, a + 2, a + 1 + na)})
  if not ok then
    if type(kind) == 'table' then kind = kind.err or kind.message end
    kind, detail = 'error', tostring(kind)
  end
  out[#out + 1] = kind
  out[#out + 1] = detail
  k, a = k + nk, a + 2 + na
end
return out
)lua");
  return script;
}

// The part shared by the opt-out add and remove scripts. KEYS: opt-out hash,
// optlog, audit stream. ARGV: e164, field, at_ms, source, reason,
// audit_retention_ms, audit MINID, audit entry ID, record JSON (add), the
// change's JSON up to its field (`{"action":...,"field":`).
//
// The audit entry's ID is <at>-<seq> (time is passed in, never read), or
// right after the stream's last ID when that is later (another node's
// clock, an `at` in the past). MINID ~ trims whole stream nodes older than
// at - audit_retention.
constexpr std::string_view kOptOutCommon = R"lua(
local function audit(id, action, field)
  return redis.pcall('XADD', KEYS[3], 'MINID', '~', ARGV[7], id, 'action', action, 'e164', ARGV[1],
                     'field', field, 'at', ARGV[3], 'source', ARGV[4], 'reason', ARGV[5])
end
local function record_change(action, field)
  if redis.call('LPUSH', KEYS[2], ARGV[10] .. cjson.encode(field) .. '}') > 100 then
    redis.call('LTRIM', KEYS[2], 0, 99)
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  local added = audit(ARGV[8], action, field)
  if type(added) == 'table' and added.err then
    local last = nil
    local info = redis.pcall('XINFO', 'STREAM', KEYS[3])
    if type(info) == 'table' and not info.err then
      for i = 1, #info, 2 do
        if info[i] == 'last-generated-id' then last = string.match(info[i + 1], '^%d+') end
      end
    end
    if not last then return redis.error_reply(added.err) end
    added = audit(last .. '-*', action, field)
    if type(added) == 'table' and added.err then return redis.error_reply(added.err) end
  end
end
)lua";

// add: the record is written unless the field is there (the first record
// stays); the change is logged either way. Answers 1 when the field is new.
const redis::Script& add_opt_out_script() {
  static const redis::Script script(std::string(kOptOutCommon) + R"lua(
local new = redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[9])
local failed = record_change('add', ARGV[2])
if failed then return failed end
return new
)lua");
  return script;
}

// remove: the field (every field when ARGV[2] is ""); every field removed,
// or the one asked for, is logged. Answers 1 when something was removed.
const redis::Script& remove_opt_out_script() {
  static const redis::Script script(std::string(kOptOutCommon) + R"lua(
local fields = {ARGV[2]}
if ARGV[2] == '' then
  fields = redis.call('HKEYS', KEYS[1])
  table.sort(fields)
  if #fields == 0 then fields = {''} end
end
local removed = 0
for _, field in ipairs(fields) do
  if field ~= '' then removed = removed + redis.call('HDEL', KEYS[1], field) end
  local failed = record_change('remove', field)
  if failed then return failed end
end
if removed > 0 then return 1 end
return 0
)lua");
  return script;
}

// lookup: KEYS opt-out hash, optlog. Answers {{field, at, source, reason,
// ...}, {action, e164, field, at, source, reason, ...}} with the JSON
// decoded (a value that is not JSON: its text as the reason).
const redis::Script& lookup_opt_out_script() {
  static const redis::Script script(R"lua(
local function decode(s)
  local ok, t = pcall(cjson.decode, s)
  if ok and type(t) == 'table' then return t end
  return {reason = s}
end
local function text(v)
  if type(v) == 'string' then return v end
  if type(v) == 'number' then return string.format('%.0f', v) end
  return ''
end
local records = {}
local hash = redis.call('HGETALL', KEYS[1])
for i = 1, #hash, 2 do
  local t = decode(hash[i + 1])
  for _, v in ipairs({hash[i], text(t.at), text(t.source), text(t.reason)}) do records[#records + 1] = v end
end
local history = {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, 99)) do
  local t = decode(entry)
  for _, v in ipairs({text(t.action), text(t.e164), text(t.field), text(t.at), text(t.source), text(t.reason)}) do
    history[#history + 1] = v
  end
end
return {records, history}
)lua");
  return script;
}

// defer. KEYS: due, taken, message hash. ARGV: id, release_ms, then the
// hash's field/value pairs (replacing any earlier hash of that id).
const redis::Script& defer_script() {
  static const redis::Script script(R"lua(
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 3))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
)lua");
  return script;
}

// take_due. KEYS: due, taken. ARGV: now_ms, batch, lease_ms, message key
// prefix. Leases that ended (lease end <= now) go back to due at `now`
// with attempts + 1 (at most 10000 a call); then up to `batch` due ids
// (release <= now, oldest release first) move to taken until now + lease.
// An id whose hash is gone is dropped. Answers the taken hashes (HGETALL).
const redis::Script& take_due_script() {
  static const redis::Script script(R"lua(
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 10000)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  local key = ARGV[4] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('ZADD', KEYS[1], ARGV[1], id)
  end
end
local out = {}
if tonumber(ARGV[2]) > 0 then
  local lease_end = string.format('%.0f', now + tonumber(ARGV[3]))
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
  for _, id in ipairs(ids) do
    redis.call('ZREM', KEYS[1], id)
    local message = redis.call('HGETALL', ARGV[4] .. id)
    if #message > 0 then
      redis.call('ZADD', KEYS[2], lease_end, id)
      out[#out + 1] = message
    end
  end
end
return out
)lua");
  return script;
}

// finish. KEYS: due, taken, message hash[, id map key]. ARGV: id[, id map
// value, its TTL (ms)]: sent, the carrier id mapping is written with it.
const redis::Script& finish_script() {
  static const redis::Script script(R"lua(
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[3]) end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[3])
)lua");
  return script;
}

// mark_sending. KEYS: message hash. ARGV: now_ms, attempts as taken.
// Answers 0 when the message is gone, already marked or taken since.
const redis::Script& mark_sending_script() {
  static const redis::Script script(R"lua(
local m = redis.call('HMGET', KEYS[1], 'attempts', 'sending')
if not m[1] or m[1] ~= ARGV[2] or m[2] then return 0 end
redis.call('HSET', KEYS[1], 'sending', ARGV[1])
return 1
)lua");
  return script;
}

// extend_leases. KEYS: taken. ARGV: lease end, message key prefix, then
// id, attempts pairs. Only ids still taken, with those attempts.
const redis::Script& extend_leases_script() {
  static const redis::Script script(R"lua(
local n = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) and redis.call('HGET', ARGV[2] .. id, 'attempts') == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], id)
    n = n + 1
  end
end
return n
)lua");
  return script;
}

// requeue. KEYS: due, taken, message hash. ARGV: id, release_ms. A message
// whose hash is gone is only removed from both sets. Answers 1 when queued.
const redis::Script& requeue_script() {
  static const redis::Script script(R"lua(
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('HINCRBY', KEYS[3], 'attempts', 1)
redis.call('HDEL', KEYS[3], 'sending')
redis.call('HSET', KEYS[3], 'release', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
)lua");
  return script;
}

// depth. KEYS: due, taken. Answers {due, taken}.
const redis::Script& depth_script() {
  static const redis::Script script(R"lua(
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}
)lua");
  return script;
}

// ---------------------------------------------------------------- helpers

std::string tagged(std::string_view e164, std::string_view suffix) {
  std::string k;
  k.reserve(12 + e164.size() + suffix.size());
  k += "smsgate:{";
  k += e164;
  k += "}:";
  k += suffix;
  return k;
}

// Appends `s` as a JSON string. Invalid UTF-8 bytes become U+FFFD, so the
// result is always valid JSON.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < s.size() && byte(i) >= lo && byte(i) <= hi;
  };
  for (std::size_t i = 0; i < s.size();) {
    std::size_t run = i;  // plain ASCII, appended as it is
    while (run < s.size() && byte(run) >= 0x20 && byte(run) < 0x80 && byte(run) != '"' && byte(run) != '\\') ++run;
    if (run > i) {
      out.append(s.substr(i, run - i));
      i = run;
      continue;
    }
    const unsigned char c = byte(i);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c < 0x20) {
      switch (c) {
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
      }
      ++i;
      continue;
    }
    std::size_t n = 0;  // length of a valid UTF-8 sequence at i, 0 if invalid
    if (c >= 0xC2 && c <= 0xDF) {
      n = cont(i + 1) ? 2 : 0;
    } else if (c >= 0xE0 && c <= 0xEF) {
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
      const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
      n = cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
    } else if (c >= 0xF0 && c <= 0xF4) {
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
      n = cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out += '"';
}

std::string history_entry(const Submit& s, int64_t now_ms, bool with_text) {
  std::string j;
  j.reserve(96 + s.message_id.size() + s.account.size() + s.source.size() + s.text_hash.size() +
            (with_text ? s.text.size() + 16 : 0));
  j += "{\"id\":";
  append_json_string(j, s.message_id);
  j += ",\"t\":";
  j += std::to_string(now_ms);
  j += ",\"account\":";
  append_json_string(j, s.account);
  j += ",\"source\":";
  append_json_string(j, s.source);
  j += ",\"hash\":";
  append_json_string(j, s.text_hash);
  if (with_text) {
    j += ",\"text\":";
    append_json_string(j, s.text);
  }
  j += '}';
  return j;
}

// The failure a result stands for: none, the client's error, or a script
// error reply (with its text).
error_code failure(const Result& r, std::string* text = nullptr) {
  if (r.error) return r.error;
  if (r.reply.is_error()) {
    if (text) *text = r.reply.str;
    return PolicyErrc::script;
  }
  return {};
}

error_code bad_reply(const Result& r, std::string* text = nullptr) {
  if (text) *text = "unexpected reply: " + redis::to_string(r.reply);
  return PolicyErrc::bad_reply;
}

bool is_text(const Reply& r) { return r.is_string() || r.is_status(); }

bool all_text(const Reply& r) {
  return r.is_array() && std::all_of(r.elements.begin(), r.elements.end(), is_text);
}

template <class Int>
bool parse_int(std::string_view s, Int& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// A flat HGETALL of a deferred message.
bool parse_deferred(const Reply& r, Deferred& d) {
  if (!all_text(r) || r.elements.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < r.elements.size(); i += 2) {
    const std::string_view k = r.elements[i].str;
    const std::string& v = r.elements[i + 1].str;
    bool ok = true;
    if (k == "id") d.message_id = v;
    else if (k == "pdu") d.pdu = v;
    else if (k == "account") d.account = v;
    else if (k == "e164") d.e164 = v;
    else if (k == "source") d.source = v;
    else if (k == "part") d.part = v;
    else if (k == "rule") d.rule = v;
    else if (k == "accepted") ok = parse_int(v, d.accepted_ms);
    else if (k == "release") ok = parse_int(v, d.release_ms);
    else if (k == "expires") ok = parse_int(v, d.expires_ms);
    else if (k == "attempts") ok = parse_int(v, d.attempts);
    else if (k == "sending") ok = parse_int(v, d.sending_ms);
    if (!ok) return false;
  }
  return !d.message_id.empty();
}

// An audit stream entry: [id, [field, value, ...]].
bool parse_audit_entry(const Reply& r, OptOutChange& c) {
  if (!r.is_array() || r.elements.size() != 2 || !is_text(r.elements[0])) return false;
  const Reply& f = r.elements[1];
  if (!all_text(f) || f.elements.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < f.elements.size(); i += 2) {
    const std::string_view k = f.elements[i].str;
    const std::string& v = f.elements[i + 1].str;
    if (k == "action") c.action = v;
    else if (k == "e164") c.e164 = v;
    else if (k == "field") c.record.field = v;
    else if (k == "at") {
      if (!parse_int(v, c.record.at_ms)) return false;
    } else if (k == "source") c.record.source = v;
    else if (k == "reason") c.record.reason = v;
  }
  return true;
}

// One message's {kind, detail} of the decide script's answer.
bool parse_decision(std::string_view kind, std::string_view detail, Decision& d) {
  d.rule = detail;
  if (kind == "allow") d.outcome = Outcome::allow;
  else if (kind == "opted_out") d.outcome = Outcome::opted_out;
  else if (kind == "cap") d.outcome = Outcome::frequency_cap;
  else return false;
  return true;
}

// The answers of a batch of n: every message gets the call's failure, or
// its own pair ("error", text) or decision.
std::vector<DecideResult> to_decide_results(const Result& r, std::size_t n) {
  std::vector<DecideResult> out(n);
  DecideResult all;
  all.error = failure(r, &all.error_text);
  if (!all.error && (!all_text(r.reply) || r.reply.elements.size() != 2 * n)) {
    all.error = bad_reply(r, &all.error_text);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (all.error) {
      out[i] = all;
      continue;
    }
    const std::string_view kind = r.reply.elements[2 * i].str;
    const std::string_view detail = r.reply.elements[2 * i + 1].str;
    if (kind == "error") {
      out[i].error = make_error_code(PolicyErrc::script);
      out[i].error_text = detail;
    } else if (!parse_decision(kind, detail, out[i].decision)) {
      out[i].error = bad_reply(r, &out[i].error_text);
    }
  }
  return out;
}

// The arguments of one decide, owned.
struct DecideCall {
  std::vector<std::string> keys;
  std::vector<std::string> args;
};

DecideCall decide_call(const Submit& s, int64_t now_ms, const StoreSettings& settings, int64_t margin, bool refresh) {
  DecideCall c;
  c.keys.reserve(3 + settings.caps.size());
  c.keys.push_back(keys::opt_out(s.e164));
  c.keys.push_back(keys::sent(s.e164));
  c.keys.push_back(keys::part(s.e164, s.account, s.part));
  // The logs (at most one per scope) and the widest window of each.
  std::vector<std::size_t> log_of(settings.caps.size());
  std::vector<int64_t> widest;
  for (std::size_t i = 0; i < settings.caps.size(); ++i) {
    std::string key = keys::cap(s.e164, settings.caps[i], s.account, s.source);
    const auto at = std::find(c.keys.begin() + 3, c.keys.end(), key);
    log_of[i] = static_cast<std::size_t>(at - (c.keys.begin() + 3));
    const int64_t window = std::max<int64_t>(1, settings.caps[i].window.count());
    if (at == c.keys.end()) {
      c.keys.push_back(std::move(key));
      widest.push_back(window);
    } else {
      widest[log_of[i]] = std::max(widest[log_of[i]], window);
    }
  }
  c.args.reserve(14 + 4 * settings.caps.size() + 2 * widest.size());
  c.args.push_back(std::to_string(now_ms));
  c.args.push_back(s.message_id);
  c.args.push_back(s.account);
  c.args.push_back(s.source);
  c.args.push_back(s.check_opt_out ? "1" : "0");
  c.args.push_back(s.check_caps ? "1" : "0");
  c.args.push_back(s.part.empty() ? "0" : "1");
  c.args.push_back(std::to_string(std::max<int64_t>(1, settings.part_ttl.count())));
  c.args.push_back(std::to_string(settings.history.keep));
  c.args.push_back(std::to_string(std::max<int64_t>(1, settings.history.ttl.count())));
  c.args.push_back(settings.history.keep > 0 ? history_entry(s, now_ms, settings.history.text) : std::string());
  c.args.push_back(refresh ? "1" : "0");
  c.args.push_back(std::to_string(margin));
  c.args.push_back(std::to_string(settings.caps.size()));
  for (std::size_t i = 0; i < settings.caps.size(); ++i) {
    const CapRule& rule = settings.caps[i];
    c.args.push_back(std::to_string(rule.limit));
    c.args.push_back("(" + std::to_string(now_ms - std::max<int64_t>(1, rule.window.count())));
    c.args.push_back(rule.name);
    c.args.push_back(std::to_string(log_of[i] + 1));
  }
  for (const int64_t window : widest) {
    c.args.push_back(std::to_string(now_ms - window));
    c.args.push_back(std::to_string(window + margin));
  }
  return c;
}

// What the opt-out changes of one add/remove/import share.
struct ChangeTemplate {
  std::string action;
  std::string field;
  std::string at;
  std::string source;
  std::string reason;
  std::string retention;
  std::string minid;
  std::string id;
  std::string record;       // add: the record JSON
  std::string change_tail;  // the change JSON after the number, up to its field

  ChangeTemplate(std::string_view action_, std::string_view field_, int64_t at_ms, std::string_view source_,
                 std::string_view reason_, Millis audit_retention)
      : action(action_), field(field_), at(std::to_string(at_ms)), source(source_), reason(reason_) {
    const int64_t keep = std::max<int64_t>(1, audit_retention.count());
    const int64_t id_ms = std::max<int64_t>(0, at_ms);
    retention = std::to_string(keep);
    minid = std::to_string(std::max<int64_t>(0, id_ms - keep));
    id = std::to_string(id_ms) + "-*";
    std::string escaped_source;
    append_json_string(escaped_source, source);
    std::string escaped_reason;
    append_json_string(escaped_reason, reason);
    const std::string common = "\"at\":" + at + ",\"source\":" + escaped_source + ",\"reason\":" + escaped_reason;
    if (action == "add") record = "{" + common + "}";
    change_tail = "," + common + ",\"field\":";
  }
};

// The KEYS and ARGV of one opt-out change (add/remove scripts), viewing `t`.
struct ChangeCall {
  std::array<std::string, 3> keys;
  std::string e164;
  std::string change;
  std::array<std::string_view, 3> key_views;
  std::array<std::string_view, 10> arg_views;

  ChangeCall(const ChangeTemplate& t, std::string_view number)
      : keys{keys::opt_out(number), keys::opt_out_log(number), std::string(keys::kAudit)}, e164(number) {
    change.reserve(32 + t.action.size() + 2 * number.size() + t.change_tail.size());
    change = "{\"action\":\"";
    change += t.action;  // "add" | "remove"
    change += "\",\"e164\":";
    append_json_string(change, number);
    change += t.change_tail;
    for (std::size_t i = 0; i < keys.size(); ++i) key_views[i] = keys[i];
    arg_views = {e164, t.field, t.at, t.source, t.reason, t.retention, t.minid, t.id, t.record, change};
  }
  ChangeCall(const ChangeCall&) = delete;
  ChangeCall& operator=(const ChangeCall&) = delete;
};

// A 0/1 integer reply.
std::pair<error_code, bool> to_flag(const Result& r) {
  if (error_code ec = failure(r)) return {ec, false};
  if (!r.reply.is_integer()) return {bad_reply(r), false};
  return {{}, r.reply.integer != 0};
}

class PolicyCategory : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "smsgate.policy"; }
  std::string message(int ev) const override {
    switch (static_cast<PolicyErrc>(ev)) {
      case PolicyErrc::script: return "the Redis script answered with an error";
      case PolicyErrc::bad_reply: return "the Redis script's reply has an unexpected shape";
    }
    return "unknown policy store error";
  }
};

}  // namespace

// ---------------------------------------------------------------- free functions

const boost::system::error_category& policy_category() {
  static const PolicyCategory category;
  return category;
}

int64_t to_ms(TimePoint t) { return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count(); }

namespace keys {
std::string opt_out(std::string_view e164) { return tagged(e164, "optout"); }
std::string opt_out_log(std::string_view e164) { return tagged(e164, "optlog"); }
std::string cap(std::string_view e164, const CapRule& rule, std::string_view account, std::string_view source) {
  std::string k = tagged(e164, "cap");
  switch (rule.per) {
    case CapScope::recipient: break;
    case CapScope::recipient_account:
      k += ":a:";
      k += account;
      break;
    case CapScope::recipient_source:
      k += ":s:";
      k += source;
      break;
  }
  return k;
}
std::string sent(std::string_view e164) { return tagged(e164, "sent"); }
std::string part(std::string_view e164, std::string_view account, std::string_view ref_and_total) {
  std::string k = tagged(e164, "part:");
  k += account;
  k += ':';
  k += ref_and_total;
  return k;
}
std::string deferred(std::string_view message_id) {
  std::string k = "smsgate:{defer}:msg:";
  k += message_id;
  return k;
}
}  // namespace keys

// ---------------------------------------------------------------- Store

// Decides waiting for the end of the executor's turn, to go as one EVALSHA.
struct Store::DecideQueue {
  std::shared_ptr<redis::Client> client;
  std::vector<DecideCall> calls;
  std::vector<std::function<void(DecideResult&&)>> done;
  bool posted = false;
};

Store::Store(std::shared_ptr<redis::Client> client, std::shared_ptr<const StoreSettings> settings)
    : client_(std::move(client)),
      settings_(std::move(settings)),
      margin_ms_(ttl_margin(*settings_).count()),
      refresh_every_ms_((margin_ms_ - settings_->pipeline_slack.count()) / 2),
      queue_(std::make_shared<DecideQueue>()) {
  queue_->client = client_;
}

Millis ttl_margin(const StoreSettings& settings) {
  Millis shortest = settings.history.ttl;
  for (const CapRule& rule : settings.caps) shortest = std::min(shortest, rule.window);
  // Twice the refresh interval, plus time for a call to wait in a pipeline
  // (a refresh sent earlier may run later than the send that skipped one).
  return 2 * std::max(Millis{1}, shortest / 8) + settings.pipeline_slack;
}

bool Store::refresh_due(const Submit& submit, int64_t now_ms) {
  if (!submit.check_caps && settings_->history.keep == 0) return false;
  std::string key;
  key.reserve(submit.e164.size() + submit.account.size() + submit.source.size() + 2);
  key.append(submit.e164).append(1, '\0').append(submit.account).append(1, '\0').append(submit.source);
  // Forgetting is safe (it only refreshes again): bound the memory.
  if (refreshed_.size() >= kRefreshMemory && !refreshed_.contains(key)) refreshed_.clear();
  auto [it, fresh] = refreshed_.try_emplace(std::move(key), now_ms);
  if (fresh) return true;
  if (now_ms - it->second < refresh_every_ms_ && now_ms >= it->second) return false;
  it->second = now_ms;
  return true;
}

namespace {

// The calls as the decide script's KEYS and ARGV (views into `calls` and
// `counts`, which must outlive them).
void flatten(const std::vector<DecideCall>& calls, std::vector<std::string>& counts,
             std::vector<std::string_view>& keys, std::vector<std::string_view>& args) {
  counts.reserve(1 + 2 * calls.size());
  counts.push_back(std::to_string(calls.size()));
  for (const DecideCall& c : calls) {
    counts.push_back(std::to_string(c.keys.size()));
    counts.push_back(std::to_string(c.args.size()));
  }
  args.push_back(counts[0]);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    for (const std::string& k : calls[i].keys) keys.push_back(k);
    args.push_back(counts[1 + 2 * i]);
    args.push_back(counts[2 + 2 * i]);
    for (const std::string& a : calls[i].args) args.push_back(a);
  }
}

void send_decides(const std::shared_ptr<Store::DecideQueue>& q) {
  q->posted = false;
  if (q->calls.empty()) return;
  std::vector<DecideCall> calls = std::move(q->calls);
  auto done = std::move(q->done);
  q->calls.clear();
  q->done.clear();
  std::vector<std::string> counts;
  std::vector<std::string_view> keys, args;
  flatten(calls, counts, keys, args);
  q->client->eval(decide_script(), keys, args, [done = std::move(done)](Result&& r) mutable {
    std::vector<DecideResult> results = to_decide_results(r, done.size());
    for (std::size_t i = 0; i < done.size(); ++i) done[i](std::move(results[i]));
  });
}

}  // namespace

void Store::decide(const Submit& submit, TimePoint now, std::function<void(DecideResult&&)> done) {
  const int64_t now_ms = to_ms(now);
  queue_->calls.push_back(decide_call(submit, now_ms, *settings_, margin_ms_, refresh_due(submit, now_ms)));
  queue_->done.push_back(std::move(done));
  if (queue_->calls.size() >= kDecideBatch) {
    send_decides(queue_);
  } else if (!queue_->posted) {
    queue_->posted = true;
    asio::post(client_->get_executor(), [q = queue_] { send_decides(q); });
  }
}

asio::awaitable<DecideResult> Store::decide(const Submit& submit, TimePoint now) {
  auto client = client_;
  const int64_t now_ms = to_ms(now);
  std::vector<DecideCall> calls;
  calls.push_back(decide_call(submit, now_ms, *settings_, margin_ms_, refresh_due(submit, now_ms)));
  std::vector<std::string> counts;
  std::vector<std::string_view> keys, args;
  flatten(calls, counts, keys, args);
  const Result r = co_await client->eval(decide_script(), keys, args);
  std::vector<DecideResult> results = to_decide_results(r, 1);
  co_return std::move(results.front());
}

asio::awaitable<DecideResult> Store::check_opt_out(std::string_view e164, std::string_view account,
                                                   std::string_view source) {
  auto client = client_;
  const std::string key = keys::opt_out(e164);
  const std::array<std::string, 3> fields{"*", "a:" + std::string(account), "s:" + std::string(source)};
  const std::array<std::string_view, 5> argv{"HMGET", key, fields[0], fields[1], fields[2]};
  const Result r = co_await client->command(std::span<const std::string_view>(argv));
  DecideResult out;
  out.error = failure(r, &out.error_text);
  if (out.error) co_return out;
  if (!r.reply.is_array() || r.reply.elements.size() != fields.size()) {
    out.error = bad_reply(r, &out.error_text);
    co_return out;
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const Reply& v = r.reply.elements[i];
    if (v.is_nil()) continue;
    if (!is_text(v)) {
      out.error = bad_reply(r, &out.error_text);
      co_return out;
    }
    out.decision.outcome = Outcome::opted_out;
    out.decision.rule = fields[i];
    co_return out;
  }
  co_return out;
}

// ---- opt-outs

asio::awaitable<std::pair<error_code, bool>> Store::add_opt_out(std::string_view e164, OptOutRecord record) {
  auto client = client_;
  if (e164.empty() || record.field.empty()) {
    co_return std::pair{make_error_code(boost::system::errc::invalid_argument), false};
  }
  const ChangeTemplate change("add", record.field, record.at_ms, record.source, record.reason,
                              settings_->audit_retention);
  const ChangeCall call(change, e164);
  const Result r = co_await client->eval(add_opt_out_script(), call.key_views, call.arg_views);
  co_return to_flag(r);
}

asio::awaitable<std::pair<error_code, bool>> Store::remove_opt_out(std::string_view e164, std::string_view field,
                                                                   std::string_view source, std::string_view reason,
                                                                   TimePoint now) {
  auto client = client_;
  if (e164.empty()) co_return std::pair{make_error_code(boost::system::errc::invalid_argument), false};
  const ChangeTemplate change("remove", field, to_ms(now), source, reason, settings_->audit_retention);
  const ChangeCall call(change, e164);
  const Result r = co_await client->eval(remove_opt_out_script(), call.key_views, call.arg_views);
  co_return to_flag(r);
}

asio::awaitable<std::pair<error_code, OptOutState>> Store::lookup_opt_out(std::string_view e164) {
  auto client = client_;
  const std::array<std::string, 2> k{keys::opt_out(e164), keys::opt_out_log(e164)};
  const std::array<std::string_view, 2> kv{k[0], k[1]};
  const Result r = co_await client->eval(lookup_opt_out_script(), kv);
  OptOutState state;
  if (error_code ec = failure(r)) co_return std::pair{ec, std::move(state)};
  const Reply& reply = r.reply;
  if (!reply.is_array() || reply.elements.size() != 2 || !all_text(reply.elements[0]) ||
      reply.elements[0].elements.size() % 4 != 0 || !all_text(reply.elements[1]) ||
      reply.elements[1].elements.size() % 6 != 0) {
    co_return std::pair{bad_reply(r), std::move(state)};
  }
  const auto& rec = reply.elements[0].elements;
  for (std::size_t i = 0; i < rec.size(); i += 4) {
    OptOutRecord o;
    o.field = rec[i].str;
    if (!parse_int(rec[i + 1].str, o.at_ms)) o.at_ms = 0;
    o.source = rec[i + 2].str;
    o.reason = rec[i + 3].str;
    state.records.push_back(std::move(o));
  }
  std::sort(state.records.begin(), state.records.end(),
            [](const OptOutRecord& a, const OptOutRecord& b) { return a.field < b.field; });
  const auto& hist = reply.elements[1].elements;
  for (std::size_t i = 0; i < hist.size(); i += 6) {
    OptOutChange c;
    c.action = hist[i].str;
    c.e164 = hist[i + 1].str;
    c.record.field = hist[i + 2].str;
    if (!parse_int(hist[i + 3].str, c.record.at_ms)) c.record.at_ms = 0;
    c.record.source = hist[i + 4].str;
    c.record.reason = hist[i + 5].str;
    state.history.push_back(std::move(c));
  }
  co_return std::pair{error_code{}, std::move(state)};
}

asio::awaitable<Store::ImportResult> Store::import_opt_outs(const std::vector<std::string>& e164s,
                                                           const OptOutRecord& record) {
  auto client = client_;
  const auto settings = settings_;
  ImportResult result;
  if (record.field.empty()) {
    result.error = make_error_code(boost::system::errc::invalid_argument);
    co_return result;
  }
  // The evals of one batch are issued at once (the client pipelines them);
  // the last callback to complete wakes the coroutine.
  struct Batch {
    explicit Batch(asio::any_io_executor ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    std::size_t outstanding = 0;
    uint64_t added = 0;
    uint64_t existing = 0;
    error_code error;
  };
  const ChangeTemplate change("add", record.field, record.at_ms, record.source, record.reason,
                              settings->audit_retention);
  constexpr std::size_t kBatch = 1000;
  auto batch = std::make_shared<Batch>(client->get_executor());
  for (std::size_t begin = 0; begin < e164s.size() && !batch->error; begin += kBatch) {
    const std::size_t end = std::min(e164s.size(), begin + kBatch);
    for (std::size_t i = begin; i < end; ++i) {
      if (e164s[i].empty()) {
        batch->error = make_error_code(boost::system::errc::invalid_argument);
        break;
      }
      const ChangeCall call(change, e164s[i]);
      ++batch->outstanding;
      client->eval(add_opt_out_script(), call.key_views, call.arg_views, [batch](Result&& r) {
        const auto [ec, added] = to_flag(r);
        if (ec) {
          if (!batch->error) batch->error = ec;
        } else if (added) {
          ++batch->added;
        } else {
          ++batch->existing;
        }
        if (--batch->outstanding == 0) batch->timer.cancel();
      });
    }
    while (batch->outstanding > 0) co_await batch->timer.async_wait(tuple_awaitable);
  }
  result.error = batch->error;
  result.added = batch->added;
  result.existing = batch->existing;
  co_return result;
}

asio::awaitable<std::pair<error_code, std::vector<OptOutChange>>> Store::audit(int64_t since_ms, uint32_t count) {
  auto client = client_;
  std::vector<OptOutChange> out;
  if (count == 0) co_return std::pair{error_code{}, std::move(out)};
  const std::string since = std::to_string(std::max<int64_t>(0, since_ms));
  const std::string n = std::to_string(count);
  const std::array<std::string_view, 6> argv{"XRANGE", keys::kAudit, since, "+", "COUNT", n};
  const Result r = co_await client->command(std::span<const std::string_view>(argv));
  if (error_code ec = failure(r)) co_return std::pair{ec, std::move(out)};
  if (!r.reply.is_array()) co_return std::pair{bad_reply(r), std::move(out)};
  out.reserve(r.reply.elements.size());
  for (const Reply& e : r.reply.elements) {
    OptOutChange c;
    if (!parse_audit_entry(e, c)) co_return std::pair{bad_reply(r), std::vector<OptOutChange>{}};
    out.push_back(std::move(c));
  }
  co_return std::pair{error_code{}, std::move(out)};
}

asio::awaitable<std::pair<error_code, std::vector<std::string>>> Store::history(std::string_view e164) {
  auto client = client_;
  std::vector<std::string> out;
  const std::string key = keys::sent(e164);
  const std::array<std::string_view, 4> argv{"LRANGE", key, "0", "-1"};
  const Result r = co_await client->command(std::span<const std::string_view>(argv));
  if (error_code ec = failure(r)) co_return std::pair{ec, std::move(out)};
  if (!all_text(r.reply)) co_return std::pair{bad_reply(r), std::move(out)};
  out.reserve(r.reply.elements.size());
  for (const Reply& e : r.reply.elements) out.push_back(e.str);
  co_return std::pair{error_code{}, std::move(out)};
}

// ---- the deferred queue

asio::awaitable<error_code> Store::defer(const Deferred& m) {
  auto client = client_;
  if (m.message_id.empty()) co_return make_error_code(boost::system::errc::invalid_argument);
  const std::string msg_key = keys::deferred(m.message_id);
  const std::array<std::string_view, 3> k{keys::kDue, keys::kTaken, msg_key};
  const std::string accepted = std::to_string(m.accepted_ms);
  const std::string release = std::to_string(m.release_ms);
  const std::string expires = std::to_string(m.expires_ms);
  const std::string attempts = std::to_string(m.attempts);
  const std::array<std::string_view, 24> a{
      m.message_id, release,                                      //
      "id", m.message_id, "pdu", m.pdu, "account", m.account, "e164", m.e164,  //
      "source", m.source, "part", m.part, "rule", m.rule,                      //
      "accepted", accepted, "release", release, "expires", expires, "attempts", attempts};
  const Result r = co_await client->eval(defer_script(), k, a);
  if (error_code ec = failure(r)) co_return ec;
  if (!r.reply.is_integer()) co_return bad_reply(r);
  co_return error_code{};
}

asio::awaitable<std::pair<error_code, std::vector<Deferred>>> Store::take_due(TimePoint now, uint32_t batch,
                                                                              Millis lease) {
  auto client = client_;
  std::vector<Deferred> out;
  const std::string now_ms = std::to_string(to_ms(now));
  const std::string n = std::to_string(batch);
  const std::string lease_ms = std::to_string(std::max<int64_t>(0, lease.count()));
  const std::string prefix = keys::deferred("");
  const std::array<std::string_view, 2> k{keys::kDue, keys::kTaken};
  const std::array<std::string_view, 4> a{now_ms, n, lease_ms, prefix};
  const Result r = co_await client->eval(take_due_script(), k, a);
  if (error_code ec = failure(r)) co_return std::pair{ec, std::move(out)};
  if (!r.reply.is_array()) co_return std::pair{bad_reply(r), std::move(out)};
  out.reserve(r.reply.elements.size());
  for (const Reply& e : r.reply.elements) {
    Deferred d;
    if (!parse_deferred(e, d)) co_return std::pair{bad_reply(r), std::vector<Deferred>{}};
    out.push_back(std::move(d));
  }
  co_return std::pair{error_code{}, std::move(out)};
}

asio::awaitable<std::pair<error_code, bool>> Store::mark_sending(std::string_view message_id, int32_t attempts,
                                                                 TimePoint now) {
  auto client = client_;
  const std::string msg_key = keys::deferred(message_id);
  const std::string now_ms = std::to_string(to_ms(now));
  const std::string taken_with = std::to_string(attempts);
  const std::array<std::string_view, 1> k{msg_key};
  const std::array<std::string_view, 2> a{now_ms, taken_with};
  const Result r = co_await client->eval(mark_sending_script(), k, a);
  if (error_code ec = failure(r)) co_return std::pair{ec, false};
  if (!r.reply.is_integer()) co_return std::pair{bad_reply(r), false};
  co_return std::pair{error_code{}, r.reply.integer == 1};
}

asio::awaitable<std::pair<error_code, uint64_t>> Store::extend_leases(
    const std::vector<std::pair<std::string, int32_t>>& held, TimePoint lease_end) {
  auto client = client_;
  if (held.empty()) co_return std::pair{error_code{}, uint64_t{0}};
  const std::string end_ms = std::to_string(to_ms(lease_end));
  const std::string prefix = keys::deferred("");
  std::vector<std::string> attempts;
  attempts.reserve(held.size());
  for (const auto& h : held) attempts.push_back(std::to_string(h.second));
  std::vector<std::string_view> a;
  a.reserve(2 + 2 * held.size());
  a.push_back(end_ms);
  a.push_back(prefix);
  for (std::size_t i = 0; i < held.size(); ++i) {
    a.push_back(held[i].first);
    a.push_back(attempts[i]);
  }
  const std::array<std::string_view, 1> k{keys::kTaken};
  const Result r = co_await client->eval(extend_leases_script(), k, a);
  if (error_code ec = failure(r)) co_return std::pair{ec, uint64_t{0}};
  if (!r.reply.is_integer()) co_return std::pair{bad_reply(r), uint64_t{0}};
  co_return std::pair{error_code{}, static_cast<uint64_t>(r.reply.integer)};
}

asio::awaitable<error_code> Store::finish_deferred(std::string_view message_id) {
  auto client = client_;
  const std::string msg_key = keys::deferred(message_id);
  const std::array<std::string_view, 3> k{keys::kDue, keys::kTaken, msg_key};
  const std::array<std::string_view, 1> a{message_id};
  const Result r = co_await client->eval(finish_script(), k, a);
  if (error_code ec = failure(r)) co_return ec;
  if (!r.reply.is_integer()) co_return bad_reply(r);
  co_return error_code{};
}

asio::awaitable<error_code> Store::finish_sent(std::string_view message_id, std::string_view id_key,
                                               std::string_view id_value, int64_t ttl_ms) {
  auto client = client_;
  const std::string msg_key = keys::deferred(message_id);
  const std::string ttl = std::to_string(std::max<int64_t>(1, ttl_ms));
  const std::array<std::string_view, 4> k{keys::kDue, keys::kTaken, msg_key, id_key};
  const std::array<std::string_view, 3> a{message_id, id_value, ttl};
  const Result r = co_await client->eval(finish_script(), k, a);
  if (error_code ec = failure(r)) co_return ec;
  if (!r.reply.is_integer()) co_return bad_reply(r);
  co_return error_code{};
}

asio::awaitable<error_code> Store::requeue_deferred(std::string_view message_id, TimePoint release) {
  auto client = client_;
  const std::string msg_key = keys::deferred(message_id);
  const std::string release_ms = std::to_string(to_ms(release));
  const std::array<std::string_view, 3> k{keys::kDue, keys::kTaken, msg_key};
  const std::array<std::string_view, 2> a{message_id, release_ms};
  const Result r = co_await client->eval(requeue_script(), k, a);
  if (error_code ec = failure(r)) co_return ec;
  if (!r.reply.is_integer()) co_return bad_reply(r);
  co_return error_code{};
}

asio::awaitable<std::pair<error_code, std::pair<uint64_t, uint64_t>>> Store::deferred_depth() {
  auto client = client_;
  const std::array<std::string_view, 2> k{keys::kDue, keys::kTaken};
  const Result r = co_await client->eval(depth_script(), k);
  std::pair<uint64_t, uint64_t> depth{0, 0};
  if (error_code ec = failure(r)) co_return std::pair{ec, depth};
  const Reply& reply = r.reply;
  if (!reply.is_array() || reply.elements.size() != 2 || !reply.elements[0].is_integer() ||
      !reply.elements[1].is_integer()) {
    co_return std::pair{bad_reply(r), depth};
  }
  depth = {static_cast<uint64_t>(reply.elements[0].integer), static_cast<uint64_t>(reply.elements[1].integer)};
  co_return std::pair{error_code{}, depth};
}

}  // namespace smsgate::policy
