// Message text encodings to and from UTF-8: GSM 03.38 (3GPP TS 23.038),
// UCS-2/UTF-16BE, Latin-1 and IA5, and how a text is cut into SMS parts.
#include "smpp/text.hpp"

#include <array>
#include <utility>

namespace smsgate::smpp {
namespace {

constexpr uint8_t kEscape = 0x1B;
constexpr char32_t kReplacement = 0xFFFD;

// 3GPP TS 23.038 §6.2.1, indexed by septet. 0x1B is the escape to the
// extension table, not a character; its slot is never looked up.
constexpr std::array<char32_t, 128> kGsmBasic = {
    U'@', U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø', U'\r', U'Å', U'å',
    U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ', U'\x1B', U'Æ', U'æ', U'ß', U'É',
    U' ', U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-', U'.', U'/',
    U'0', U'1', U'2', U'3', U'4', U'5', U'6', U'7', U'8', U'9', U':', U';', U'<', U'=', U'>', U'?',
    U'¡', U'A', U'B', U'C', U'D', U'E', U'F', U'G', U'H', U'I', U'J', U'K', U'L', U'M', U'N', U'O',
    U'P', U'Q', U'R', U'S', U'T', U'U', U'V', U'W', U'X', U'Y', U'Z', U'Ä', U'Ö', U'Ñ', U'Ü', U'§',
    U'¿', U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'i', U'j', U'k', U'l', U'm', U'n', U'o',
    U'p', U'q', U'r', U's', U't', U'u', U'v', U'w', U'x', U'y', U'z', U'ä', U'ö', U'ñ', U'ü', U'à',
};

struct GsmExtension {
  uint8_t code;  // the septet after the escape
  char32_t cp;
};
// 3GPP TS 23.038 §6.2.1.1. 0x0D (CR2) and 0x1B (a second extension table)
// are reserved controls with no character, so they are not here.
constexpr std::array<GsmExtension, 10> kGsmExtension = {{
    {0x0A, U'\f'}, {0x14, U'^'}, {0x28, U'{'}, {0x29, U'}'}, {0x2F, U'\\'},
    {0x3C, U'['}, {0x3D, U'~'}, {0x3E, U']'}, {0x40, U'|'}, {0x65, U'€'},
}};

// For a code point: its septet, or kEscape << 8 | code for an extension
// character. Below U+0100 by table, as nearly all text is Latin.
constexpr uint16_t kNoGsm = 0xFFFF;
constexpr auto kGsmFromLatin = [] {
  std::array<uint16_t, 256> t{};
  t.fill(kNoGsm);
  for (size_t septet = 0; septet < kGsmBasic.size(); ++septet) {
    if (septet != kEscape && kGsmBasic[septet] < t.size()) t[kGsmBasic[septet]] = static_cast<uint16_t>(septet);
  }
  for (const auto& e : kGsmExtension) {
    if (e.cp < t.size()) t[e.cp] = static_cast<uint16_t>(kEscape << 8 | e.code);
  }
  return t;
}();

uint16_t gsm_code(char32_t cp) {
  if (cp < kGsmFromLatin.size()) return kGsmFromLatin[cp];
  // Only the Greek capitals and € lie above U+00FF.
  for (size_t septet = 0; septet < kGsmBasic.size(); ++septet) {
    if (kGsmBasic[septet] == cp) return static_cast<uint16_t>(septet);
  }
  for (const auto& e : kGsmExtension) {
    if (e.cp == cp) return static_cast<uint16_t>(kEscape << 8 | e.code);
  }
  return kNoGsm;
}

struct CodePoint {
  char32_t cp = 0;
  size_t length = 1;  // on failure, the maximal ill-formed subpart (>= 1)
  bool ok = false;
};

// One code point from s[i...], well-formed per Unicode §3.9 Table 3-7: no
// overlong forms, no UTF-16 surrogates, nothing above U+10FFFF. The second
// byte's range is what excludes all three.
CodePoint next_code_point(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return {b0, 1, true};
  size_t n = 0;
  char32_t cp = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {};
  }
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) return {0, k, false};
    const auto b = static_cast<uint8_t>(s[i + k]);
    if (b < lo || b > hi) return {0, k, false};
    lo = 0x80;
    hi = 0xBF;
    cp = cp << 6 | (b & 0x3F);
  }
  return {cp, n, true};
}

// Calls f(code point) for each character of s while f returns true; false
// at the first ill-formed sequence or when f says stop.
template <class F>
bool for_each_code_point(std::string_view s, F&& f) {
  for (size_t i = 0; i < s.size();) {
    const CodePoint c = next_code_point(s, i);
    if (!c.ok || !f(c.cp)) return false;
    i += c.length;
  }
  return true;
}

// UTF-8 to a narrower charset: append(out, cp) writes cp's encoding and
// returns false when cp has none.
template <class Append>
std::optional<std::string> transcode_utf8(std::string_view utf8, Append&& append) {
  std::string out;
  out.reserve(utf8.size());
  if (!for_each_code_point(utf8, [&](char32_t cp) { return append(out, cp); })) return std::nullopt;
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void append_utf16be_unit(std::string& out, char32_t unit) {
  out += static_cast<char>(unit >> 8);
  out += static_cast<char>(unit & 0xFF);
}

bool is_high_surrogate(char32_t u) { return u >= 0xD800 && u <= 0xDBFF; }
bool is_low_surrogate(char32_t u) { return u >= 0xDC00 && u <= 0xDFFF; }

char32_t utf16be_unit(std::string_view bytes, size_t i) {
  return static_cast<char32_t>(static_cast<uint8_t>(bytes[i]) << 8 | static_cast<uint8_t>(bytes[i + 1]));
}

std::optional<std::string> ascii_to_utf8(std::string_view bytes) {
  for (const char c : bytes) {
    if (static_cast<uint8_t>(c) > 0x7F) return std::nullopt;
  }
  return std::string(bytes);
}

// How a coding lays out a part body: bytes per unit, units in a lone SMS
// (no UDH), units per concatenated part.
struct PartLayout {
  size_t unit_bytes = 1;
  size_t single_units = 0;
  size_t part_units = 0;
};

PartLayout part_layout(uint8_t data_coding, size_t udh_octets) {
  constexpr size_t kUserDataOctets = 140;  // TS 23.040 §9.2.3.24: TP-UD is at most 140 octets
  const size_t room = udh_octets < kUserDataOctets ? kUserDataOctets - udh_octets : 0;
  if (data_coding == coding::smsc_default) {
    // TS 23.040 §9.2.3.24: the UDH is padded with fill bits to a septet
    // boundary, so 6 octets (48 bits) cost 7 septets.
    const size_t room_septets = room * 8 / 7;
    return {1, 160, room_septets};
  }
  if (data_coding == coding::ucs2) return {2, 70, room / 2};
  return {1, kUserDataOctets, room};
}

// Bytes taken by the character at bytes[i]: an escape pair (TS 23.038
// §6.2.1.1) or a surrogate pair stays whole.
size_t char_width(std::string_view bytes, size_t i, uint8_t data_coding) {
  const size_t left = bytes.size() - i;
  if (data_coding == coding::smsc_default) {
    return static_cast<uint8_t>(bytes[i]) == kEscape && left >= 2 ? 2 : 1;
  }
  if (data_coding == coding::ucs2) {
    if (left < 2) return left;
    if (left >= 4 && is_high_surrogate(utf16be_unit(bytes, i)) && is_low_surrogate(utf16be_unit(bytes, i + 2))) {
      return 4;
    }
    return 2;
  }
  return 1;
}

}  // namespace

std::optional<std::string> gsm7_to_utf8(std::string_view septets) {
  std::string out;
  out.reserve(septets.size());
  for (size_t i = 0; i < septets.size(); ++i) {
    const auto s = static_cast<uint8_t>(septets[i]);
    if (s > 0x7F) return std::nullopt;
    if (s != kEscape) {
      append_utf8(out, kGsmBasic[s]);
      continue;
    }
    // TS 23.038 §6.2.1.1: an escape followed by a code the extension table
    // does not define (or by nothing) is shown as a space.
    char32_t cp = U' ';
    if (i + 1 < septets.size()) {
      const auto code = static_cast<uint8_t>(septets[++i]);
      if (code > 0x7F) return std::nullopt;
      for (const auto& e : kGsmExtension) {
        if (e.code == code) cp = e.cp;
      }
    }
    append_utf8(out, cp);
  }
  return out;
}

std::optional<std::string> utf8_to_gsm7(std::string_view utf8) {
  return transcode_utf8(utf8, [](std::string& out, char32_t cp) {
    const uint16_t code = gsm_code(cp);
    if (code == kNoGsm) return false;
    if (code > 0x7F) out += static_cast<char>(kEscape);
    out += static_cast<char>(code & 0x7F);
    return true;
  });
}

// TS 23.038 §6.1.2.1.1: septet k occupies bits fill + 7k onwards, least
// significant bit first, so a septet may straddle two octets.
std::string pack_gsm7(std::string_view septets, unsigned fill_bits) {
  if (septets.empty()) return {};
  std::string out((fill_bits + 7 * septets.size() + 7) / 8, '\0');
  for (size_t k = 0; k < septets.size(); ++k) {
    const unsigned value = static_cast<uint8_t>(septets[k]) & 0x7Fu;
    const size_t bit = fill_bits + 7 * k;
    const size_t octet = bit / 8;
    const unsigned shift = bit % 8;
    out[octet] = static_cast<char>(static_cast<uint8_t>(out[octet]) | (value << shift & 0xFF));
    if (shift > 1) out[octet + 1] = static_cast<char>(static_cast<uint8_t>(out[octet + 1]) | value >> (8 - shift));
  }
  return out;
}

std::optional<std::string> unpack_gsm7(std::string_view packed, size_t count, unsigned fill_bits) {
  if (count == 0) return std::string();
  if (count > (packed.size() * 8) / 7) return std::nullopt;  // also keeps 7 * count from overflowing
  if ((fill_bits + 7 * count + 7) / 8 > packed.size()) return std::nullopt;
  std::string out(count, '\0');
  for (size_t k = 0; k < count; ++k) {
    const size_t bit = fill_bits + 7 * k;
    const size_t octet = bit / 8;
    const unsigned shift = bit % 8;
    unsigned value = static_cast<uint8_t>(packed[octet]) >> shift;
    if (shift > 1) value |= static_cast<unsigned>(static_cast<uint8_t>(packed[octet + 1])) << (8 - shift);
    out[k] = static_cast<char>(value & 0x7F);
  }
  return out;
}

std::optional<std::string> utf16be_to_utf8(std::string_view bytes) {
  if (bytes.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  for (size_t i = 0; i < bytes.size(); i += 2) {
    char32_t cp = utf16be_unit(bytes, i);
    if (is_low_surrogate(cp)) return std::nullopt;
    if (is_high_surrogate(cp)) {
      if (i + 4 > bytes.size()) return std::nullopt;
      const char32_t low = utf16be_unit(bytes, i + 2);
      if (!is_low_surrogate(low)) return std::nullopt;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      i += 2;
    }
    append_utf8(out, cp);
  }
  return out;
}

std::string utf8_to_utf16be(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() * 2);
  for (size_t i = 0; i < utf8.size();) {
    const CodePoint c = next_code_point(utf8, i);
    i += c.length;
    const char32_t cp = c.ok ? c.cp : kReplacement;
    if (cp < 0x10000) {
      append_utf16be_unit(out, cp);
    } else {
      append_utf16be_unit(out, 0xD800 + ((cp - 0x10000) >> 10));
      append_utf16be_unit(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
    }
  }
  return out;
}

std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) append_utf8(out, static_cast<uint8_t>(c));
  return out;
}

std::optional<std::string> utf8_to_latin1(std::string_view utf8) {
  return transcode_utf8(utf8, [](std::string& out, char32_t cp) {
    if (cp > 0xFF) return false;
    out += static_cast<char>(cp);
    return true;
  });
}

bool valid_utf8(std::string_view s) {
  return for_each_code_point(s, [](char32_t) { return true; });
}

std::optional<std::string> decode_text(std::string_view body, uint8_t data_coding, DefaultAlphabet default_alphabet) {
  switch (data_coding) {
    case coding::smsc_default:
      switch (default_alphabet) {
        case DefaultAlphabet::gsm7: return gsm7_to_utf8(body);
        case DefaultAlphabet::ascii: return ascii_to_utf8(body);
        case DefaultAlphabet::latin1: return latin1_to_utf8(body);
      }
      return std::nullopt;
    case coding::ia5: return ascii_to_utf8(body);
    case coding::latin1: return latin1_to_utf8(body);
    case coding::ucs2: return utf16be_to_utf8(body);
    case 0xF0: case 0xF1: case 0xF2: case 0xF3: return gsm7_to_utf8(body);
    default: return std::nullopt;
  }
}

EncodedText encode_text(std::string_view utf8) {
  if (auto septets = utf8_to_gsm7(utf8)) {
    const size_t units = septets->size();
    return {coding::smsc_default, std::move(*septets), units};
  }
  std::string ucs2 = utf8_to_utf16be(utf8);
  const size_t units = ucs2.size() / 2;
  return {coding::ucs2, std::move(ucs2), units};
}

std::vector<std::string_view> split_body(const EncodedText& text, size_t udh_octets) {
  const std::string_view bytes = text.bytes;
  const PartLayout layout = part_layout(text.data_coding, udh_octets);
  if (bytes.size() <= layout.single_units * layout.unit_bytes) return {bytes};
  // Two units is the widest character (escape pair, surrogate pair); with
  // less room no cut keeps every character whole.
  if (layout.part_units < 2) return {};
  const size_t part_bytes = layout.part_units * layout.unit_bytes;
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i < bytes.size();) {
    const size_t width = char_width(bytes, i, text.data_coding);
    if (i + width - start > part_bytes) {
      parts.push_back(bytes.substr(start, i - start));
      start = i;
    }
    i += width;
  }
  parts.push_back(bytes.substr(start));
  return parts;
}

size_t count_parts(std::string_view utf8) {
  const EncodedText text = encode_text(utf8);
  return split_body(text).size();
}

}  // namespace smsgate::smpp
