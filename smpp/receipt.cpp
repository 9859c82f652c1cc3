#include "smpp/receipt.hpp"

#include <array>

namespace smsgate::smpp {

namespace {

struct StateName {
  MessageState state;
  std::string_view stat;
};
constexpr std::array<StateName, 8> kStates{{
    {MessageState::enroute, "ENROUTE"},
    {MessageState::delivered, "DELIVRD"},
    {MessageState::expired, "EXPIRED"},
    {MessageState::deleted, "DELETED"},
    {MessageState::undeliverable, "UNDELIV"},
    {MessageState::accepted, "ACCEPTD"},
    {MessageState::unknown, "UNKNOWN"},
    {MessageState::rejected, "REJECTD"},
}};

// ASCII case folding: the keys are ASCII, and a receipt's bytes are not
// text in any locale (std::tolower per byte was 5 % of the gateway's time).
constexpr char fold(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (fold(a[i]) != fold(b[i])) return false;
  return true;
}

// Position of `key` (lower case, e.g. "stat:") starting a word, case-insensitive.
size_t find_key(std::string_view text, std::string_view key) {
  const char first = key.front();
  for (size_t i = 0; i + key.size() <= text.size(); ++i) {
    if (fold(text[i]) != first || (i > 0 && text[i - 1] != ' ')) continue;
    if (iequals(text.substr(i, key.size()), key)) return i;
  }
  return std::string_view::npos;
}

// The keys in Appendix B order, with where each value goes. "text:" comes
// last and runs to the end, so a "stat:" inside the text is not a key.
struct Field {
  std::string_view key;
  std::string Receipt::*member;
};
constexpr std::array<Field, 8> kFields{{
    {"id:", &Receipt::id},
    {"sub:", &Receipt::sub},
    {"dlvrd:", &Receipt::dlvrd},
    {"submit date:", &Receipt::submit_date},
    {"done date:", &Receipt::done_date},
    {"stat:", &Receipt::stat},
    {"err:", &Receipt::err},
    {"text:", &Receipt::text},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view stat_text(MessageState s) {
  for (const auto& n : kStates)
    if (n.state == s) return n.stat;
  return "UNKNOWN";
}

std::optional<MessageState> state_from_stat(std::string_view stat) {
  for (const auto& n : kStates)
    if (iequals(n.stat, stat)) return n.state;
  // Long forms some carriers send.
  if (iequals(stat, "DELIVERED")) return MessageState::delivered;
  if (iequals(stat, "UNDELIVERABLE")) return MessageState::undeliverable;
  if (iequals(stat, "REJECTED")) return MessageState::rejected;
  if (iequals(stat, "ACCEPTED")) return MessageState::accepted;
  return std::nullopt;
}

std::optional<Receipt> parse_receipt(std::string_view text) {
  // Everything after "text:" is free text and may contain key-like words.
  size_t text_at = find_key(text, "text:");
  std::string_view head = text.substr(0, text_at);

  std::array<size_t, kFields.size()> at{};
  for (size_t i = 0; i + 1 < kFields.size(); ++i) at[i] = find_key(head, kFields[i].key);
  at.back() = text_at;
  if (at[0] == std::string_view::npos) return std::nullopt;

  Receipt r;
  for (size_t i = 0; i < kFields.size(); ++i) {
    if (at[i] == std::string_view::npos) continue;
    size_t begin = at[i] + kFields[i].key.size();
    // A value ends where the nearest later key begins.
    size_t end = text.size();
    for (size_t j = 0; j < kFields.size(); ++j)
      if (at[j] != std::string_view::npos && at[j] > at[i] && at[j] < end) end = at[j];
    std::string_view value = kFields[i].key == "text:" ? text.substr(begin) : trim(text.substr(begin, end - begin));
    r.*kFields[i].member = std::string(value);
    if (i == 0) {
      r.id_pos = static_cast<size_t>(value.data() - text.data());
      r.id_len = value.size();
    }
  }
  return r;
}

std::string format_receipt(const Receipt& r) {
  std::string out;
  out.reserve(160);
  for (const auto& f : kFields) {
    if (!out.empty()) out += ' ';
    out += f.key;
    out += r.*f.member;
  }
  return out;
}

std::optional<std::string> rewrite_receipt_id(std::string_view text, std::string_view new_id) {
  auto r = parse_receipt(text);
  if (!r) return std::nullopt;
  std::string out;
  out.reserve(text.size() + new_id.size());
  out.append(text.substr(0, r->id_pos));
  out.append(new_id);
  out.append(text.substr(r->id_pos + r->id_len));
  return out;
}

}  // namespace smsgate::smpp
