// Phone numbers: what a submit_sm or deliver_sm address means as E.164, and
// which region it belongs to. libphonenumber does the parsing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smsgate::policy {

struct Number {
  std::string e164;    // digits only, country code first, no '+': "8613800138000"
  std::string region;  // ISO 3166 alpha-2 of the number ("CN"), "001" for non-geographic
};

// SMPP 3.4 §5.2.5 type_of_number values that matter here.
namespace ton {
inline constexpr uint8_t unknown = 0;
inline constexpr uint8_t international = 1;
inline constexpr uint8_t national = 2;
inline constexpr uint8_t alphanumeric = 5;
}  // namespace ton

// Normalises an SMPP address to E.164.
//   TON international: the digits are the full number (a leading '+' is tolerated).
//   TON national: the number is in `default_region`'s national format.
//   TON unknown: '+' or '00' prefixed numbers are international; otherwise
//     the reading (international, or national in `default_region`) that is a
//     valid number wins, international first.
//   alphanumeric and anything libphonenumber cannot make a possible number of:
//     nullopt, with the reason in `why`.
std::optional<Number> normalise_number(std::string_view address, uint8_t type_of_number,
                                       std::string_view default_region, std::string* why = nullptr);

// The region (ISO alpha-2) of an E.164 number, "" when unknown.
std::string region_of(std::string_view e164);

// A number for logs: "+86138****8000". Keeps the country code and operator
// prefix (5 digits) and the last 4; shorter numbers keep less.
std::string mask_number(std::string_view number);

}  // namespace smsgate::policy
