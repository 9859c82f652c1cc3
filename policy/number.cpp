#include "policy/number.hpp"

#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <unordered_map>

namespace smsgate::policy {

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

const PhoneNumberUtil& util() { return *PhoneNumberUtil::GetInstance(); }

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A possible number, parsed from text that libphonenumber understands
// ("+861380..." or a national number with a region). With `valid_only`,
// only a number valid in libphonenumber's metadata counts.
std::optional<Number> parse(const std::string& text, const std::string& region, bool valid_only = false) {
  PhoneNumber n;
  if (util().Parse(text, region, &n) != PhoneNumberUtil::NO_PARSING_ERROR) return std::nullopt;
  if (!util().IsPossibleNumber(n)) return std::nullopt;
  if (valid_only && !util().IsValidNumber(n)) return std::nullopt;
  std::string e164;
  util().Format(n, PhoneNumberUtil::E164, &e164);
  Number out;
  out.e164 = e164.substr(1);  // drop '+'
  util().GetRegionCodeForNumber(n, &out.region);
  if (out.region.empty() || out.region == "ZZ") util().GetRegionCodeForCountryCode(n.country_code(), &out.region);
  return out;
}

void set_why(std::string* why, std::string text) {
  if (why) *why = std::move(text);
}

}  // namespace

namespace {

// What normalise_number answered for an input, per thread: libphonenumber's
// Parse (regexes) was a quarter of the gateway's CPU, and campaigns send to
// the same numbers again and again. Two generations of at most kGeneration
// entries each: when the current one is full it becomes the old one (the
// older is dropped), and a hit in the old one moves back. Near-LRU with
// O(1) work and no lock; at most 2 x kGeneration entries (~150 bytes each:
// about 10 MB per worker thread at worst).
class NumberCache {
 public:
  struct Entry {
    std::optional<Number> number;
    std::string why;
  };
  static constexpr std::size_t kGeneration = 1u << 15;

  // The key of an input, built in a buffer reused between calls (no allocation once warm).
  const std::string& key(std::string_view address, uint8_t ton, std::string_view region) {
    key_.assign(1, static_cast<char>(ton));
    key_.append(region);  // a config value: never holds a NUL
    key_ += '\0';
    key_.append(address);
    return key_;
  }
  const Entry* find(const std::string& key) {
    if (const auto it = current_.find(key); it != current_.end()) return &it->second;
    const auto it = old_.find(key);
    if (it == old_.end()) return nullptr;
    return &insert(key, std::move(it->second));
  }
  const Entry& insert(const std::string& key, Entry entry) {
    if (current_.size() >= kGeneration) {
      old_ = std::move(current_);
      current_ = {};
      current_.reserve(kGeneration);
    }
    return current_.insert_or_assign(key, std::move(entry)).first->second;
  }

 private:
  std::unordered_map<std::string, Entry> current_, old_;
  std::string key_;
};

std::optional<Number> normalise_uncached(std::string_view address, uint8_t type_of_number,
                                         std::string_view default_region, std::string* why);

}  // namespace

std::optional<Number> normalise_number(std::string_view address, uint8_t type_of_number,
                                       std::string_view default_region, std::string* why) {
  thread_local NumberCache cache;
  const std::string& key = cache.key(address, type_of_number, default_region);
  const NumberCache::Entry* e = cache.find(key);
  if (!e) {
    NumberCache::Entry fresh;
    fresh.number = normalise_uncached(address, type_of_number, default_region, &fresh.why);
    e = &cache.insert(key, std::move(fresh));
  }
  if (!e->number) set_why(why, e->why);
  return e->number;
}

namespace {

std::optional<Number> normalise_uncached(std::string_view address, uint8_t type_of_number,
                                         std::string_view default_region, std::string* why) {
  if (type_of_number == ton::alphanumeric) {
    set_why(why, "alphanumeric address is not a phone number");
    return std::nullopt;
  }
  std::string_view digits = address;
  bool plus = false;
  if (!digits.empty() && digits.front() == '+') {
    plus = true;
    digits.remove_prefix(1);
  }
  if (!all_digits(digits)) {
    set_why(why, "address has characters other than digits");
    return std::nullopt;
  }
  std::string region(default_region);
  std::optional<Number> n;
  if (type_of_number == ton::international || plus) {
    n = parse("+" + std::string(digits), "ZZ");
  } else if (type_of_number == ton::national) {
    if (region.empty()) {
      set_why(why, "national number and the account has no default_region");
      return std::nullopt;
    }
    n = parse(std::string(digits), region);
  } else if (digits.size() > 2 && digits.substr(0, 2) == "00") {
    n = parse("+" + std::string(digits.substr(2)), "ZZ");
  } else {
    // Both readings can be possible ("13800138000" is +1 380… or CN 138…):
    // a reading that is valid wins over one that is merely possible, and
    // international wins a tie.
    std::string intl = "+" + std::string(digits);
    std::string national(digits);
    n = parse(intl, "ZZ", true);
    if (!n && !region.empty()) n = parse(national, region, true);
    if (!n) n = parse(intl, "ZZ");
    if (!n && !region.empty()) n = parse(national, region);
  }
  if (!n) set_why(why, "not a possible phone number");
  return n;
}

}  // namespace

std::string region_of(std::string_view e164) {
  auto n = parse("+" + std::string(e164), "ZZ");
  return n ? n->region : std::string();
}

std::string mask_number(std::string_view number) {
  bool plus = !number.empty() && number.front() == '+';
  std::string_view d = plus ? number.substr(1) : number;
  std::string out = "+";
  if (d.size() >= 10) {
    out.append(d.substr(0, 5)).append("****").append(d.substr(d.size() - 4));
  } else if (d.size() >= 5) {
    out.append(d.substr(0, 2)).append("****").append(d.substr(d.size() - 2));
  } else {
    out.append("****");
  }
  return out;
}

}  // namespace smsgate::policy
