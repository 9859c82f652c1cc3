// libFuzzer target for the UDH parser, the text codecs and the Reassembler.
// Nothing may crash; besides, a UDH that parses must rebuild byte for byte,
// every decoded text must be well-formed UTF-8, and a split text must
// reassemble to itself. An invariant broken traps, so libFuzzer keeps the input.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "smpp/text.hpp"
#include "smpp/udh.hpp"

namespace {

using namespace smsgate::smpp;

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

uint8_t byte_at(std::string_view in, size_t i) { return static_cast<uint8_t>(in[i]); }

void udh_round_trip(std::string_view in) {
  const auto split = parse_udh(in);
  if (!split) return;
  const std::string built = build_udh(split->udh);
  // A parsed UDH fills its UDHL exactly, so nothing is lost in the rebuild.
  check(built == in.substr(0, split->header_length));
  const auto again = parse_udh(built);
  check(again && again->udh == split->udh && again->payload.empty() && again->header_length == built.size());
  if (const auto c = split->udh.concat()) {
    check(c->total >= 1 && c->seq >= 1 && c->seq <= c->total);
    check(concat_udh(*c).concat() == c);
  }
}

void decoders(std::string_view in) {
  constexpr uint8_t kCodings[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0xF0, 0xF3, 0xF4, 0xFF};
  for (const uint8_t dc : kCodings) {
    if (const auto text = decode_text(in, dc)) check(valid_utf8(*text));
  }
  for (const auto alphabet : {DefaultAlphabet::ascii, DefaultAlphabet::latin1}) {
    if (const auto text = decode_text(in, coding::smsc_default, alphabet)) check(valid_utf8(*text));
  }
  // UTF-16BE and Latin-1 are bijective on what they accept.
  if (const auto text = utf16be_to_utf8(in)) check(utf8_to_utf16be(*text) == in);
  check(utf8_to_latin1(latin1_to_utf8(in)) == in);
  // GSM is not (unknown escapes become spaces), but one round settles it.
  if (const auto text = gsm7_to_utf8(in)) {
    const auto septets = utf8_to_gsm7(*text);
    check(septets && gsm7_to_utf8(*septets) == text);
  }
  std::string septets(in);
  for (auto& s : septets) s = static_cast<char>(s & 0x7F);
  const unsigned fill = in.empty() ? 0 : byte_at(in, 0) % 7;
  check(unpack_gsm7(pack_gsm7(septets, fill), septets.size(), fill) == septets);
  if (!in.empty()) (void)unpack_gsm7(in.substr(1), byte_at(in, 0), fill);
}

// The input taken as a message text: every part fits one SMS and the parts,
// shuffled by the input, reassemble to the text.
void split_and_reassemble(std::string_view in) {
  if (!valid_utf8(in)) return;
  const bool ref16 = !in.empty() && (byte_at(in, 0) & 1) != 0;
  const auto parts = split_text(in, 0xABCD, ref16);
  const EncodedText encoded = encode_text(in);
  if (parts.empty()) {
    check(split_body(encoded, ref16 ? 7 : 6).size() > 255);
    return;
  }
  if (!ref16) check(parts.size() == count_parts(in));
  if (parts.size() == 1) {
    check(parts[0].short_message == encoded.bytes);
    return;
  }
  Reassembler reassembler;
  std::optional<Reassembler::Message> done;
  for (size_t k = 0; k < parts.size(); ++k) {
    // Odd positions first, then even: an order split_text did not produce.
    const size_t i = k < parts.size() / 2 ? 2 * k + 1 : 2 * (k - parts.size() / 2);
    const Part& part = parts[i];
    check(part.data_coding == encoded.data_coding);
    const auto split = parse_udh(part.short_message);
    check(split.has_value());
    const auto c = split->udh.concat();
    check(c && c->seq == i + 1 && c->total == parts.size() && c->ref16 == ref16);
    const size_t body_units = encoded.data_coding == coding::ucs2 ? split->payload.size() / 2 : split->payload.size();
    // TS 23.040 §9.2.3.24: 140 octets of user data; for GSM, 160 septets
    // once the UDH is padded to a septet boundary.
    check(encoded.data_coding == coding::ucs2 ? part.short_message.size() <= 140
                                              : (split->header_length * 8 + 6) / 7 + body_units <= 160);
    check(!done);
    done = reassembler.add("fuzz", *c, std::string(split->payload), Reassembler::Clock::time_point{});
  }
  check(done && done->complete && done->joined() == encoded.bytes);
  check(decode_text(done->joined(), encoded.data_coding) == in);
}

// The input taken as a stream of parts: 4 header bytes (originator, ref,
// total/seq nibbles, time step and body length) then the body.
void reassembler_stream(std::string_view in) {
  constexpr size_t kCap = 4;
  Reassembler reassembler(kCap);
  auto now = Reassembler::Clock::time_point{};
  size_t i = 0;
  while (i + 4 <= in.size()) {
    const std::string key(1, static_cast<char>(byte_at(in, i) & 0x03));
    const Concat c{byte_at(in, i + 1), static_cast<uint8_t>(byte_at(in, i + 2) >> 4),
                   static_cast<uint8_t>(byte_at(in, i + 2) & 0x0F), (byte_at(in, i) & 0x80) != 0};
    now += std::chrono::seconds(byte_at(in, i + 3) >> 4);
    const size_t length = std::min<size_t>(byte_at(in, i + 3) & 0x0F, in.size() - i - 4);
    std::string body(in.substr(i + 4, length));
    i += 4 + length;
    if (const auto done = reassembler.add(key, c, std::move(body), now)) {
      check(done->complete && done->total == c.total && done->parts.size() == c.total && done->key == key);
    }
    check(reassembler.pending() <= kCap);
    if ((byte_at(in, i - 1) & 0x40) != 0) {
      for (const auto& m : reassembler.expire(now, std::chrono::seconds(30))) {
        check(!m.complete && m.parts.size() == m.total);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  udh_round_trip(in);
  decoders(in);
  split_and_reassemble(in);
  reassembler_stream(in);
  return 0;
}
