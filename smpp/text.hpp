// Message text: data_coding to UTF-8 and back, GSM 03.38 (with its extension
// table, unpacked septets and packed 7-bit) and part counting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smsgate::smpp {

// What data_coding 0 ("SMSC default alphabet", SMPP 3.4 §5.2.19) means for a
// peer. GSM 03.38 unless a peer's configuration says otherwise.
enum class DefaultAlphabet { gsm7, ascii, latin1 };

// data_coding values this code decodes.
namespace coding {
inline constexpr uint8_t smsc_default = 0x00;
inline constexpr uint8_t ia5 = 0x01;
inline constexpr uint8_t octet = 0x02;     // binary, not text
inline constexpr uint8_t latin1 = 0x03;
inline constexpr uint8_t octet4 = 0x04;    // binary
inline constexpr uint8_t ucs2 = 0x08;
}  // namespace coding

// GSM 03.38 septets (one value 0-127 per byte, escape 0x1B before an
// extension character) to UTF-8. Unknown escapes decode as a space
// (3GPP TS 23.038 §6.2.1.1). Returns nullopt if a byte is above 0x7F.
std::optional<std::string> gsm7_to_utf8(std::string_view septets);

// UTF-8 to GSM 03.38 septets, nullopt when some character has no GSM form.
std::optional<std::string> utf8_to_gsm7(std::string_view utf8);

// 7-bit packing (3GPP TS 23.038 §6.1.2.1.1). `fill_bits` is the padding that
// aligns packed text after a UDH (0-6).
std::string pack_gsm7(std::string_view septets, unsigned fill_bits = 0);
// Unpacks `count` septets; nullopt if the bytes are too short for them.
std::optional<std::string> unpack_gsm7(std::string_view packed, size_t count, unsigned fill_bits = 0);

// UCS-2 / UTF-16BE (surrogate pairs included) to UTF-8, and back. Decoding
// fails on odd length or a lone surrogate. Encoding cannot fail: each
// ill-formed UTF-8 subsequence becomes one U+FFFD (Unicode §3.9, "maximal
// subpart" practice).
std::optional<std::string> utf16be_to_utf8(std::string_view bytes);
std::string utf8_to_utf16be(std::string_view utf8);
// Latin-1 to UTF-8; UTF-8 to Latin-1 (nullopt if a character is outside it).
std::string latin1_to_utf8(std::string_view bytes);
std::optional<std::string> utf8_to_latin1(std::string_view utf8);
// True when `s` is well-formed UTF-8.
bool valid_utf8(std::string_view s);

// Decodes a message body (short_message or message_payload, without UDH) to
// UTF-8. data_coding 0 follows `default_alphabet`; GSM is taken as unpacked
// septets, as SMPP carries it. 0xF0-0xF3 (3GPP TS 23.038 §4 coding group
// 1111, message class with the GSM default alphabet, e.g. flash SMS) decode
// as GSM 03.38 whatever `default_alphabet` says. Binary codings (2, 4,
// 0xF4-0xF7) and unknown ones give nullopt, as does malformed input.
std::optional<std::string> decode_text(std::string_view body, uint8_t data_coding,
                                       DefaultAlphabet default_alphabet = DefaultAlphabet::gsm7);

// UTF-8 to the body a carrier expects: GSM 03.38 septets with data_coding 0
// when every character fits, else UCS-2 with data_coding 8 (ill-formed UTF-8
// never fits GSM and becomes U+FFFD, as in utf8_to_utf16be).
struct EncodedText {
  uint8_t data_coding = coding::smsc_default;
  std::string bytes;   // septets (one per byte) or UTF-16BE
  size_t units = 0;    // septets (an extension character counts 2) or UTF-16 code units
};
EncodedText encode_text(std::string_view utf8);

// How many SMS parts a text needs: GSM 160 in one part, 153 per part when
// concatenated; UCS-2 70, 67 per part. A part never splits an escape pair or
// a surrogate pair. An empty text is one (empty) part.
size_t count_parts(std::string_view utf8);

// Cuts an encoded body into part bodies (views into text.bytes). One element
// when it fits in a single SMS without a UDH (160 septets, 70 UCS-2 units,
// 140 octets for any other coding); else as many as needed, each leaving room
// for a concatenation UDH of `udh_octets` octets (UDHL included: 6 for an
// 8-bit reference, 7 for a 16-bit one), never splitting an escape pair or a
// surrogate pair. Empty when `udh_octets` leaves no room for a character.
std::vector<std::string_view> split_body(const EncodedText& text, size_t udh_octets = 6);
// The views would outlive a temporary's bytes.
std::vector<std::string_view> split_body(EncodedText&& text, size_t udh_octets = 6) = delete;

}  // namespace smsgate::smpp
