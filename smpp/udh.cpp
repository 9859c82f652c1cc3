// User Data Header (3GPP TS 23.040 §9.2.3.24) and concatenated short
// messages (§9.2.3.24.1 8-bit reference, §9.2.3.24.8 16-bit reference).
#include "smpp/udh.hpp"

#include <algorithm>

namespace smsgate::smpp {
namespace {

constexpr uint8_t kIeiConcat8 = 0x00;
constexpr uint8_t kIeiConcat16 = 0x08;
constexpr size_t kMaxUdhl = 0xFF;

// nullopt for any other IE, and for a concatenation IE of the wrong length or
// whose sequence number is 0 or past the total (§9.2.3.24.1 says to ignore
// such an IE; the caller decides what ignoring means).
std::optional<Concat> concat_from_ie(const UdhIe& ie) {
  const auto at = [&](size_t i) { return static_cast<uint8_t>(ie.data[i]); };
  Concat c;
  if (ie.iei == kIeiConcat8 && ie.data.size() == 3) {
    c.ref = at(0);
  } else if (ie.iei == kIeiConcat16 && ie.data.size() == 4) {
    c.ref = static_cast<uint16_t>(at(0) << 8 | at(1));
    c.ref16 = true;
  } else {
    return std::nullopt;
  }
  c.total = at(ie.data.size() - 2);
  c.seq = at(ie.data.size() - 1);
  if (c.total == 0 || c.seq == 0 || c.seq > c.total) return std::nullopt;
  return c;
}

bool is_concat_iei(uint8_t iei) { return iei == kIeiConcat8 || iei == kIeiConcat16; }

// pending_ key: the originator key then a fixed-size suffix, so no two
// (key, ref, total) give the same string whatever bytes the key holds.
std::string pending_key(std::string_view key, const Concat& c) {
  std::string id(key);
  id += static_cast<char>(c.ref >> 8);
  id += static_cast<char>(c.ref & 0xFF);
  id += static_cast<char>(c.total);
  return id;
}

}  // namespace

std::optional<Concat> Udh::concat() const {
  const auto last = std::find_if(ies.rbegin(), ies.rend(), [](const UdhIe& ie) { return is_concat_iei(ie.iei); });
  if (last == ies.rend()) return std::nullopt;
  return concat_from_ie(*last);
}

std::optional<UdhSplit> parse_udh(std::string_view short_message) {
  if (short_message.empty()) return std::nullopt;
  const size_t end = 1 + static_cast<uint8_t>(short_message[0]);
  if (end > short_message.size()) return std::nullopt;
  UdhSplit split;
  for (size_t i = 1; i < end;) {
    if (end - i < 2) return std::nullopt;  // no room for IEI and IE length
    UdhIe ie;
    ie.iei = static_cast<uint8_t>(short_message[i]);
    const size_t length = static_cast<uint8_t>(short_message[i + 1]);
    i += 2;
    if (length > end - i) return std::nullopt;
    ie.data = std::string(short_message.substr(i, length));
    i += length;
    if (is_concat_iei(ie.iei) && !concat_from_ie(ie)) return std::nullopt;
    split.udh.ies.push_back(std::move(ie));
  }
  split.payload = short_message.substr(end);
  split.header_length = end;
  return split;
}

std::string build_udh(const Udh& udh) {
  std::string out(1, '\0');
  for (const auto& ie : udh.ies) {
    if (ie.data.size() > 0xFF || out.size() - 1 + 2 + ie.data.size() > kMaxUdhl) continue;
    out += static_cast<char>(ie.iei);
    out += static_cast<char>(ie.data.size());
    out += ie.data;
  }
  out[0] = static_cast<char>(out.size() - 1);
  return out;
}

Udh concat_udh(const Concat& c) {
  UdhIe ie;
  if (c.ref16) {
    ie.iei = kIeiConcat16;
    ie.data += static_cast<char>(c.ref >> 8);
  } else {
    ie.iei = kIeiConcat8;
  }
  ie.data += static_cast<char>(c.ref & 0xFF);
  ie.data += static_cast<char>(c.total);
  ie.data += static_cast<char>(c.seq);
  return Udh{{std::move(ie)}};
}

std::vector<Part> split_text(std::string_view utf8, uint16_t ref, bool ref16) {
  const EncodedText text = encode_text(utf8);
  Concat c{ref, 0, 0, ref16};
  const std::vector<std::string_view> bodies = split_body(text, build_udh(concat_udh(c)).size());
  if (bodies.size() == 1) return {Part{std::string(bodies.front()), text.data_coding}};
  if (bodies.empty() || bodies.size() > 0xFF) return {};
  std::vector<Part> parts;
  parts.reserve(bodies.size());
  c.total = static_cast<uint8_t>(bodies.size());
  for (const std::string_view body : bodies) {
    ++c.seq;
    parts.push_back(Part{build_udh(concat_udh(c)) + std::string(body), text.data_coding});
  }
  return parts;
}

std::string Reassembler::Message::joined() const {
  std::string out;
  for (const auto& part : parts) out += part;
  return out;
}

Reassembler::Reassembler(size_t max_pending) : max_pending_(std::max<size_t>(max_pending, 1)) {}

void Reassembler::drop_oldest() {
  const auto oldest = by_age_.begin();
  pending_.erase(oldest->second);
  by_age_.erase(oldest);
  ++evicted_;
}

std::optional<Reassembler::Message> Reassembler::add(std::string_view key, const Concat& c, std::string body,
                                                     Clock::time_point now) {
  if (c.total == 0 || c.seq == 0 || c.seq > c.total) return std::nullopt;
  if (c.total == 1) return Message{std::string(key), c.ref, 1, {std::move(body)}, true};

  std::string id = pending_key(key, c);
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    if (pending_.size() >= max_pending_) drop_oldest();
    Pending fresh;
    fresh.msg = Message{std::string(key), c.ref, c.total, std::vector<std::string>(c.total), false};
    fresh.first_seen = now;
    by_age_.emplace(now, id);
    it = pending_.emplace(std::move(id), std::move(fresh)).first;
  }

  Pending& p = it->second;
  const size_t index = c.seq - 1u;
  if (!p.seen[index]) {
    p.seen.set(index);
    ++p.have;
  }
  p.msg.parts[index] = std::move(body);
  if (p.have < p.msg.total) return std::nullopt;

  Message done = std::move(p.msg);
  done.complete = true;
  by_age_.erase({p.first_seen, it->first});
  pending_.erase(it);
  return done;
}

std::vector<Reassembler::Message> Reassembler::expire(Clock::time_point now, Clock::duration timeout) {
  std::vector<Message> expired;
  // by_age_ is ordered by first part, so the expired ones are a prefix.
  while (!by_age_.empty() && now - by_age_.begin()->first > timeout) {
    const auto oldest = by_age_.begin();
    const auto it = pending_.find(oldest->second);
    expired.push_back(std::move(it->second.msg));
    pending_.erase(it);
    by_age_.erase(oldest);
  }
  return expired;
}

}  // namespace smsgate::smpp
