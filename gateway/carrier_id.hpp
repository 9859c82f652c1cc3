// Carrier message ids as keys: the id from a carrier's submit_sm_resp and
// the id in its receipts must give the same key, although carriers write
// them differently (case, leading zeros, and the well-known quirk of a hex
// id in submit_sm_resp and the same number in decimal in the receipt).
#pragma once

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace smsgate::gateway {

// The canonical form of `id` written in `format`:
//   hex, decimal: the number's value in decimal ("000FF" hex and "255"
//     decimal are both "255"), when it is all digits of that base and fits in
//     64 bits;
//   string, or a number that does not fit or has other characters: the id
//     with ASCII letters lowercased.
std::string canonical_carrier_id(std::string_view id, config::IdFormat format);

}  // namespace smsgate::gateway
