// GSM 03.38, UCS-2, Latin-1 and IA5 against UTF-8, and part counting.
// Expected values are written out from 3GPP TS 23.038, never computed by the
// code under test.
#include "smpp/text.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <set>
#include <string>

namespace smsgate::smpp {
namespace {

// 3GPP TS 23.038 §6.2.1, one row per septet; 0x1B (escape) has no character.
struct BasicChar {
  uint8_t septet;
  const char* utf8;
};
constexpr std::array<BasicChar, 128> kExpectedBasic = {{
    {0x00, "@"},      {0x01, "\u00A3"}, {0x02, "$"},      {0x03, "\u00A5"},  // @ £ $ ¥
    {0x04, "\u00E8"}, {0x05, "\u00E9"}, {0x06, "\u00F9"}, {0x07, "\u00EC"},  // è é ù ì
    {0x08, "\u00F2"}, {0x09, "\u00C7"}, {0x0A, "\n"},     {0x0B, "\u00D8"},  // ò Ç LF Ø
    {0x0C, "\u00F8"}, {0x0D, "\r"},     {0x0E, "\u00C5"}, {0x0F, "\u00E5"},  // ø CR Å å
    {0x10, "\u0394"}, {0x11, "_"},      {0x12, "\u03A6"}, {0x13, "\u0393"},  // Δ _ Φ Γ
    {0x14, "\u039B"}, {0x15, "\u03A9"}, {0x16, "\u03A0"}, {0x17, "\u03A8"},  // Λ Ω Π Ψ
    {0x18, "\u03A3"}, {0x19, "\u0398"}, {0x1A, "\u039E"}, {0x1B, nullptr},   // Σ Θ Ξ ESC
    {0x1C, "\u00C6"}, {0x1D, "\u00E6"}, {0x1E, "\u00DF"}, {0x1F, "\u00C9"},  // Æ æ ß É
    {0x20, " "},      {0x21, "!"},      {0x22, "\""},     {0x23, "#"},
    {0x24, "\u00A4"}, {0x25, "%"},      {0x26, "&"},      {0x27, "'"},       // ¤
    {0x28, "("},      {0x29, ")"},      {0x2A, "*"},      {0x2B, "+"},
    {0x2C, ","},      {0x2D, "-"},      {0x2E, "."},      {0x2F, "/"},
    {0x30, "0"},      {0x31, "1"},      {0x32, "2"},      {0x33, "3"},
    {0x34, "4"},      {0x35, "5"},      {0x36, "6"},      {0x37, "7"},
    {0x38, "8"},      {0x39, "9"},      {0x3A, ":"},      {0x3B, ";"},
    {0x3C, "<"},      {0x3D, "="},      {0x3E, ">"},      {0x3F, "?"},
    {0x40, "\u00A1"}, {0x41, "A"},      {0x42, "B"},      {0x43, "C"},       // ¡
    {0x44, "D"},      {0x45, "E"},      {0x46, "F"},      {0x47, "G"},
    {0x48, "H"},      {0x49, "I"},      {0x4A, "J"},      {0x4B, "K"},
    {0x4C, "L"},      {0x4D, "M"},      {0x4E, "N"},      {0x4F, "O"},
    {0x50, "P"},      {0x51, "Q"},      {0x52, "R"},      {0x53, "S"},
    {0x54, "T"},      {0x55, "U"},      {0x56, "V"},      {0x57, "W"},
    {0x58, "X"},      {0x59, "Y"},      {0x5A, "Z"},      {0x5B, "\u00C4"},  // Ä
    {0x5C, "\u00D6"}, {0x5D, "\u00D1"}, {0x5E, "\u00DC"}, {0x5F, "\u00A7"},  // Ö Ñ Ü §
    {0x60, "\u00BF"}, {0x61, "a"},      {0x62, "b"},      {0x63, "c"},       // ¿
    {0x64, "d"},      {0x65, "e"},      {0x66, "f"},      {0x67, "g"},
    {0x68, "h"},      {0x69, "i"},      {0x6A, "j"},      {0x6B, "k"},
    {0x6C, "l"},      {0x6D, "m"},      {0x6E, "n"},      {0x6F, "o"},
    {0x70, "p"},      {0x71, "q"},      {0x72, "r"},      {0x73, "s"},
    {0x74, "t"},      {0x75, "u"},      {0x76, "v"},      {0x77, "w"},
    {0x78, "x"},      {0x79, "y"},      {0x7A, "z"},      {0x7B, "\u00E4"},  // ä
    {0x7C, "\u00F6"}, {0x7D, "\u00F1"}, {0x7E, "\u00FC"}, {0x7F, "\u00E0"},  // ö ñ ü à
}};

// 3GPP TS 23.038 §6.2.1.1, the septet that follows the escape.
constexpr std::array<BasicChar, 10> kExpectedExtension = {{
    {0x0A, "\f"}, {0x14, "^"}, {0x28, "{"}, {0x29, "}"}, {0x2F, "\\"},
    {0x3C, "["}, {0x3D, "~"}, {0x3E, "]"}, {0x40, "|"}, {0x65, "\u20AC"},
}};

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) out += static_cast<char>(v);
  return out;
}

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// The test's own UTF-8 encoder (RFC 3629 §3), to walk every code point.
std::string utf8_of(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// Reference packing, one bit at a time, straight from TS 23.038 §6.1.2.1.1:
// bit b of septet k goes to bit fill + 7k + b of the packed octets.
std::string pack_bit_by_bit(std::string_view septets, unsigned fill) {
  if (septets.empty()) return {};
  std::string out((fill + 7 * septets.size() + 7) / 8, '\0');
  for (size_t k = 0; k < septets.size(); ++k) {
    for (unsigned b = 0; b < 7; ++b) {
      if ((static_cast<uint8_t>(septets[k]) >> b & 1) == 0) continue;
      const size_t bit = fill + 7 * k + b;
      out[bit / 8] = static_cast<char>(out[bit / 8] | (1 << (bit % 8)));
    }
  }
  return out;
}

TEST(Gsm7, EveryBasicSeptetDecodesToItsTs23038Character) {
  for (const auto& [septet, utf8] : kExpectedBasic) {
    if (utf8 == nullptr) continue;
    EXPECT_EQ(gsm7_to_utf8(std::string(1, static_cast<char>(septet))), std::string(utf8))
        << "septet 0x" << std::hex << int{septet};
  }
}

TEST(Gsm7, EveryBasicCharacterEncodesToItsSeptet) {
  for (const auto& [septet, utf8] : kExpectedBasic) {
    if (utf8 == nullptr) continue;
    EXPECT_EQ(utf8_to_gsm7(utf8), std::string(1, static_cast<char>(septet))) << "septet 0x" << std::hex << int{septet};
  }
}

TEST(Gsm7, WholeBasicTableDecodesInOnePass) {
  std::string septets, expected;
  for (const auto& [septet, utf8] : kExpectedBasic) {
    if (utf8 == nullptr) continue;
    septets += static_cast<char>(septet);
    expected += utf8;
  }
  EXPECT_EQ(gsm7_to_utf8(septets), expected);
  EXPECT_EQ(utf8_to_gsm7(expected), septets);
}

TEST(Gsm7, EveryExtensionCharacterIsEscapePlusItsCodeBothWays) {
  for (const auto& [code, utf8] : kExpectedExtension) {
    const std::string septets = bytes({0x1B, code});
    EXPECT_EQ(gsm7_to_utf8(septets), std::string(utf8)) << "code 0x" << std::hex << int{code};
    EXPECT_EQ(utf8_to_gsm7(utf8), septets) << "code 0x" << std::hex << int{code};
  }
}

TEST(Gsm7, NoCodePointOutsideTheTablesEncodes) {
  std::set<std::string> in_tables;
  for (const auto& c : kExpectedBasic) {
    if (c.utf8 != nullptr) in_tables.insert(c.utf8);
  }
  for (const auto& c : kExpectedExtension) in_tables.insert(c.utf8);
  ASSERT_EQ(in_tables.size(), 137u);
  size_t encodable = 0;
  for (char32_t cp = 0; cp < 0x10000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string utf8 = utf8_of(cp);
    const bool expected = in_tables.count(utf8) != 0;
    ASSERT_EQ(utf8_to_gsm7(utf8).has_value(), expected) << "U+" << std::hex << uint32_t{cp};
    encodable += expected;
  }
  EXPECT_EQ(encodable, 137u);
  EXPECT_FALSE(utf8_to_gsm7("\U0001F600"));
}

TEST(Gsm7, LookalikesOutsideTheAlphabetDoNotEncode) {
  EXPECT_FALSE(utf8_to_gsm7("`"));        // 0x60 is ¿, not the grave accent
  EXPECT_FALSE(utf8_to_gsm7("\u00E7"));   // ç: only the capital Ç is in the table
  EXPECT_FALSE(utf8_to_gsm7("\x1B"));     // the ESC control is not the escape septet
  EXPECT_FALSE(utf8_to_gsm7("abc\u00E3"));
}

TEST(Gsm7, EuroSignTakesTwoSeptets) {
  EXPECT_EQ(utf8_to_gsm7("5\u20AC"), bytes({'5', 0x1B, 0x65}));
  EXPECT_EQ(encode_text("\u20AC").units, 2u);
}

TEST(Gsm7, UnknownEscapeDecodesAsSpace) {
  EXPECT_EQ(gsm7_to_utf8(bytes({'a', 0x1B, 'A', 'b'})), "a b");
  EXPECT_EQ(gsm7_to_utf8(bytes({0x1B, 0x0D})), " ");        // CR2 is reserved
  EXPECT_EQ(gsm7_to_utf8(bytes({0x1B, 0x1B, 'x'})), " x");  // second extension table, undefined
}

TEST(Gsm7, TrailingEscapeDecodesAsSpace) {
  EXPECT_EQ(gsm7_to_utf8(bytes({'a', 0x1B})), "a ");
}

TEST(Gsm7, ByteAbove7FIsRejected) {
  EXPECT_FALSE(gsm7_to_utf8(bytes({'a', 0x80})));
  EXPECT_FALSE(gsm7_to_utf8(bytes({0x1B, 0xE5})));
}

TEST(Gsm7, InvalidUtf8DoesNotEncode) {
  EXPECT_FALSE(utf8_to_gsm7("ab\xC3"));
  EXPECT_FALSE(utf8_to_gsm7("\xC0\x80"));
}

TEST(Gsm7Packing, HellohelloPacksToTheClassicNineOctets) {
  EXPECT_EQ(pack_gsm7("hellohello"), bytes({0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37}));
  EXPECT_EQ(unpack_gsm7(bytes({0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37}), 10), "hellohello");
}

TEST(Gsm7Packing, OneFillBitAfterASixOctetUdhShiftsTheFirstSeptet) {
  // 'H' 0x48 lands in bits 1-7 of the first octet, 'i' 0x69 in bits 0-6 of the next.
  EXPECT_EQ(pack_gsm7("Hi", 1), bytes({0x90, 0x69}));
  EXPECT_EQ(unpack_gsm7(bytes({0x90, 0x69}), 2, 1), "Hi");
}

TEST(Gsm7Packing, EightSeptetsFillSevenOctetsExactly) {
  EXPECT_EQ(pack_gsm7("12345678").size(), 7u);
  EXPECT_EQ(pack_gsm7("1234567").size(), 7u);
  EXPECT_EQ(pack_gsm7("1234567", 1).size(), 7u);
  EXPECT_EQ(pack_gsm7("12345678", 1).size(), 8u);
}

TEST(Gsm7Packing, MatchesBitByBitReferenceForEveryFill) {
  std::mt19937 rng(23038);
  for (unsigned fill = 0; fill <= 6; ++fill) {
    for (size_t n = 0; n <= 24; ++n) {
      std::string septets(n, '\0');
      for (auto& s : septets) s = static_cast<char>(rng() & 0x7F);
      const std::string packed = pack_gsm7(septets, fill);
      ASSERT_EQ(packed, pack_bit_by_bit(septets, fill)) << "fill " << fill << " n " << n;
      ASSERT_EQ(unpack_gsm7(packed, n, fill), septets) << "fill " << fill << " n " << n;
    }
  }
}

TEST(Gsm7Packing, UnpackRefusesTooFewOctets) {
  EXPECT_FALSE(unpack_gsm7(bytes({0xE8, 0x32}), 3));
  const std::string seven = pack_gsm7("1234567", 1);
  EXPECT_EQ(unpack_gsm7(seven, 7, 1), "1234567");
  EXPECT_FALSE(unpack_gsm7(seven.substr(0, 6), 7, 1));
  EXPECT_FALSE(unpack_gsm7("", 1));
  EXPECT_FALSE(unpack_gsm7("x", SIZE_MAX));
  EXPECT_EQ(unpack_gsm7("", 0), "");
}

TEST(Ucs2, EmojiIsASurrogatePairBothWays) {
  EXPECT_EQ(utf8_to_utf16be("\U0001F600"), bytes({0xD8, 0x3D, 0xDE, 0x00}));
  EXPECT_EQ(utf16be_to_utf8(bytes({0xD8, 0x3D, 0xDE, 0x00})), "\U0001F600");
  EXPECT_EQ(utf8_to_utf16be("\U0010FFFF"), bytes({0xDB, 0xFF, 0xDF, 0xFF}));
  EXPECT_EQ(utf16be_to_utf8(bytes({0xDB, 0xFF, 0xDF, 0xFF})), "\U0010FFFF");
}

TEST(Ucs2, BmpCharactersAreOneUnit) {
  EXPECT_EQ(utf8_to_utf16be("A\u20AC\u4E2D"), bytes({0x00, 0x41, 0x20, 0xAC, 0x4E, 0x2D}));
  EXPECT_EQ(utf16be_to_utf8(bytes({0x00, 0x41, 0x20, 0xAC, 0x4E, 0x2D})), "A\u20AC\u4E2D");
}

TEST(Ucs2, LoneSurrogateFails) {
  EXPECT_FALSE(utf16be_to_utf8(bytes({0xD8, 0x3D})));                // high at the end
  EXPECT_FALSE(utf16be_to_utf8(bytes({0xDE, 0x00, 0x00, 0x41})));    // low first
  EXPECT_FALSE(utf16be_to_utf8(bytes({0xD8, 0x3D, 0x00, 0x41})));    // high then not low
  EXPECT_FALSE(utf16be_to_utf8(bytes({0xD8, 0x3D, 0xD8, 0x3D})));    // high then high
}

TEST(Ucs2, OddLengthFails) {
  EXPECT_FALSE(utf16be_to_utf8(bytes({0x00, 0x41, 0x00})));
}

TEST(Ucs2, IllFormedUtf8BecomesOneReplacementPerMaximalSubpart) {
  EXPECT_EQ(utf8_to_utf16be("a\xC0" "b"), bytes({0x00, 0x61, 0xFF, 0xFD, 0x00, 0x62}));
  // E2 82 is a truncated €: one U+FFFD for both bytes.
  EXPECT_EQ(utf8_to_utf16be("\xE2\x82z"), bytes({0xFF, 0xFD, 0x00, 0x7A}));
  // ED A0 80 would be a surrogate: ED alone is the subpart, then two strays.
  EXPECT_EQ(utf8_to_utf16be("\xED\xA0\x80"), bytes({0xFF, 0xFD, 0xFF, 0xFD, 0xFF, 0xFD}));
}

TEST(TextUtf8, AcceptsWellFormedUpToU10FFFF) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("\u00E9\u20AC\U0001F600"));
  EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_TRUE(valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(valid_utf8("\xEE\x80\x80"));      // U+E000, just above them
  EXPECT_TRUE(valid_utf8(std::string("a\0b", 3)));
}

TEST(TextUtf8, RejectsOverlongsSurrogatesAndBeyondU10FFFF) {
  EXPECT_FALSE(valid_utf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(valid_utf8("\xC1\xBF"));          // overlong 0x7F
  EXPECT_FALSE(valid_utf8("\xE0\x80\x80"));      // overlong 3-byte
  EXPECT_FALSE(valid_utf8("\xE0\x9F\xBF"));      // overlong U+07FF
  EXPECT_FALSE(valid_utf8("\xF0\x80\x80\x80"));  // overlong 4-byte
  EXPECT_FALSE(valid_utf8("\xF0\x8F\xBF\xBF"));  // overlong U+FFFF
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // U+D800
  EXPECT_FALSE(valid_utf8("\xED\xBF\xBF"));      // U+DFFF
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(valid_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(valid_utf8("\xFF"));
}

TEST(TextUtf8, RejectsTruncatedAndStraySequences) {
  EXPECT_FALSE(valid_utf8("\xE2\x82"));      // € cut short
  EXPECT_FALSE(valid_utf8("\x80"));          // continuation with no lead
  EXPECT_FALSE(valid_utf8("\xC3" "a"));      // lead then ASCII
  EXPECT_FALSE(valid_utf8("\xF0\x9F\x98"));  // emoji cut short
}

TEST(TextLatin1, EveryByteRoundTrips) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const std::string utf8 = latin1_to_utf8(all);
  EXPECT_TRUE(valid_utf8(utf8));
  EXPECT_EQ(utf8_to_latin1(utf8), all);
  EXPECT_EQ(latin1_to_utf8("\xE9\xFF"), "\u00E9\u00FF");
}

TEST(TextLatin1, CharacterAboveFFDoesNotEncode) {
  EXPECT_FALSE(utf8_to_latin1("\u20AC"));
  EXPECT_FALSE(utf8_to_latin1("\xC3"));
}

TEST(TextDecode, DefaultCodingFollowsTheConfiguredAlphabet) {
  const std::string body = bytes({0x00, 0x40, 0xE9});
  EXPECT_FALSE(decode_text(body, coding::smsc_default));  // 0xE9 is no septet
  EXPECT_EQ(decode_text(bytes({0x00, 0x40}), coding::smsc_default), "@\u00A1");
  EXPECT_FALSE(decode_text(body, coding::smsc_default, DefaultAlphabet::ascii));
  EXPECT_EQ(decode_text(bytes({0x40, 0x5B}), coding::smsc_default, DefaultAlphabet::ascii), "@[");
  EXPECT_EQ(decode_text(body, coding::smsc_default, DefaultAlphabet::latin1), std::string("\0@\u00E9", 4));
}

TEST(TextDecode, EachDataCodingPicksItsDecoder) {
  EXPECT_EQ(decode_text("[x]", coding::ia5), "[x]");
  EXPECT_FALSE(decode_text("\xE9", coding::ia5));
  EXPECT_EQ(decode_text("caf\xE9", coding::latin1), "caf\u00E9");
  EXPECT_EQ(decode_text(bytes({0x04, 0x1F, 0xD8, 0x3D, 0xDE, 0x00}), coding::ucs2), "\u041F\U0001F600");
  EXPECT_FALSE(decode_text(bytes({0xD8, 0x3D}), coding::ucs2));
}

TEST(TextDecode, GsmWithMessageClassDecodesAsGsm) {
  EXPECT_EQ(decode_text(bytes({0x00, 0x1B, 0x65}), 0xF0, DefaultAlphabet::latin1), "@\u20AC");
  EXPECT_EQ(decode_text("abc", 0xF3), "abc");
}

TEST(TextDecode, BinaryAndUnknownCodingsGiveNothing) {
  EXPECT_FALSE(decode_text("abc", coding::octet));
  EXPECT_FALSE(decode_text("abc", coding::octet4));
  EXPECT_FALSE(decode_text("abc", 0xF4));
  EXPECT_FALSE(decode_text("abc", 0x05));
  EXPECT_FALSE(decode_text("abc", 0xFF));
}

TEST(TextEncode, GsmWhenEveryCharacterFits) {
  const EncodedText e = encode_text("Caf\u00E9 {ok} \u00A3");
  EXPECT_EQ(e.data_coding, coding::smsc_default);
  EXPECT_EQ(e.bytes, bytes({'C', 'a', 'f', 0x05, ' ', 0x1B, 0x28, 'o', 'k', 0x1B, 0x29, ' ', 0x01}));
  EXPECT_EQ(e.units, 13u);
}

TEST(TextEncode, Ucs2WhenOneCharacterDoesNot) {
  const EncodedText e = encode_text("a\u00E7\U0001F600");
  EXPECT_EQ(e.data_coding, coding::ucs2);
  EXPECT_EQ(e.bytes, bytes({0x00, 0x61, 0x00, 0xE7, 0xD8, 0x3D, 0xDE, 0x00}));
  EXPECT_EQ(e.units, 4u);
}

TEST(TextEncode, IllFormedUtf8GoesUcs2WithReplacement) {
  const EncodedText e = encode_text("a\xFF");
  EXPECT_EQ(e.data_coding, coding::ucs2);
  EXPECT_EQ(e.bytes, bytes({0x00, 0x61, 0xFF, 0xFD}));
}

TEST(Parts, EmptyTextIsOnePart) {
  EXPECT_EQ(count_parts(""), 1u);
}

TEST(Parts, Gsm160CharactersFitOnePartAnd161NeedTwo) {
  EXPECT_EQ(count_parts(std::string(160, 'a')), 1u);
  EXPECT_EQ(count_parts(std::string(161, 'a')), 2u);
}

TEST(Parts, GsmConcatenatedPartsHold153Septets) {
  EXPECT_EQ(count_parts(std::string(306, 'a')), 2u);
  EXPECT_EQ(count_parts(std::string(307, 'a')), 3u);
  EXPECT_EQ(count_parts(std::string(459, 'a')), 3u);
}

TEST(Parts, ExtensionCharactersCountDouble) {
  EXPECT_EQ(count_parts(repeat("\u20AC", 80)), 1u);  // 160 septets
  EXPECT_EQ(count_parts(repeat("\u20AC", 81)), 2u);
  EXPECT_EQ(count_parts(std::string(159, 'a') + "["), 2u);
}

TEST(Gsm7, EuroSignTakesTwoSeptetsAndNeverSplitsAcrossParts) {
  const EncodedText e = encode_text(std::string(152, 'a') + "\u20AC" + std::string(10, 'b'));
  ASSERT_EQ(e.units, 164u);
  const auto parts = split_body(e);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], std::string(152, 'a'));  // 153 would end on the escape
  EXPECT_EQ(parts[1], bytes({0x1B, 0x65}) + std::string(10, 'b'));
}

TEST(Parts, EscapePairEndingExactlyAtThePartBoundaryStaysInThatPart) {
  const EncodedText e = encode_text(std::string(151, 'a') + "\u20AC" + std::string(10, 'b'));
  const auto parts = split_body(e);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].size(), 153u);
  EXPECT_EQ(parts[1], std::string(10, 'b'));
}

TEST(Parts, Ucs2SeventyUnitsFitOnePartAnd71NeedTwo) {
  EXPECT_EQ(count_parts(repeat("\u0436", 70)), 1u);  // ж
  EXPECT_EQ(count_parts(repeat("\u0436", 71)), 2u);
  EXPECT_EQ(count_parts(repeat("\u0436", 134)), 2u);  // 2 x 67
  EXPECT_EQ(count_parts(repeat("\u0436", 135)), 3u);
}

TEST(Parts, ChineseTextCountsOneUnitPerCharacter) {
  const std::string ni_hao = "\u4F60\u597D";  // 你好
  EXPECT_EQ(count_parts(repeat(ni_hao, 35)), 1u);  // 70 characters
  EXPECT_EQ(count_parts(repeat(ni_hao, 36)), 2u);
  EXPECT_EQ(count_parts(repeat(ni_hao, 67)), 2u);  // 134
  EXPECT_EQ(count_parts(repeat(ni_hao, 68)), 3u);
}

TEST(Parts, OneNonGsmCharacterTurnsTheWholeTextUcs2) {
  EXPECT_EQ(count_parts(std::string(69, 'a') + "\u00E7"), 1u);
  EXPECT_EQ(count_parts(std::string(70, 'a') + "\u00E7"), 2u);
}

TEST(Parts, SurrogatePairNeverSplitsAcrossParts) {
  const std::string zhong = "\u4E2D";
  const EncodedText e = encode_text(repeat(zhong, 66) + "\U0001F600" + repeat(zhong, 10));
  ASSERT_EQ(e.units, 78u);
  const auto parts = split_body(e);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].size(), 66u * 2);  // unit 67 would be the high surrogate alone
  EXPECT_EQ(parts[1].substr(0, 4), bytes({0xD8, 0x3D, 0xDE, 0x00}));
  EXPECT_EQ(parts[1].size(), 12u * 2);
}

TEST(Parts, EmojiCountTwoUnits) {
  EXPECT_EQ(count_parts(repeat("\U0001F600", 35)), 1u);  // 70 units
  EXPECT_EQ(count_parts(repeat("\U0001F600", 36)), 2u);
}

TEST(Parts, SixteenBitReferenceLeavesOneSeptetLessPerPart) {
  const EncodedText gsm = encode_text(std::string(304, 'a'));
  EXPECT_EQ(split_body(gsm, 6).size(), 2u);
  const auto parts = split_body(gsm, 7);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].size(), 152u);
  const EncodedText zhe = encode_text(repeat("\u0436", 134));
  const auto ucs2 = split_body(zhe, 7);
  ASSERT_EQ(ucs2.size(), 3u);
  EXPECT_EQ(ucs2[0].size(), 66u * 2);
}

TEST(Parts, HeaderLeavingNoRoomGivesNoParts) {
  const EncodedText too_long = encode_text(std::string(200, 'a'));
  EXPECT_TRUE(split_body(too_long, 140).empty());
  const EncodedText fits = encode_text(std::string(100, 'a'));
  EXPECT_EQ(split_body(fits, 140).size(), 1u);  // needs no UDH
}

}  // namespace
}  // namespace smsgate::smpp
