// Recipient time zones: which IANA zones a number may be in.
//
// A region's zones come from tzdata's zone1970.tab (country codes to zones);
// a table of E.164 prefix overrides (the YAML "prefix: zone" map, e.g. US area
// codes) narrows a number to one zone, longest prefix first. Zones are
// Howard Hinnant's date/tz over the system tzdata (libstdc++ 12 has no
// std::chrono tzdb).
#pragma once

#include <date/tz.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smsgate::policy {

inline constexpr const char* kSystemZoneTab = "/usr/share/zoneinfo/zone1970.tab";

struct ZoneMapLoaded;

class ZoneMap {
 public:
  // overrides: E.164 prefix (digits, country code first, optional '+') to
  // IANA zone name. zone_tab: a file in zone1970.tab's format. Never throws
  // for bad input.
  static ZoneMapLoaded load(const std::map<std::string, std::string>& overrides = {},
                     const std::string& zone_tab = kSystemZoneTab);

  // The zone of the longest matching override prefix, if any; else every
  // zone zone1970.tab lists for `region` (ISO alpha-2, case-insensitive),
  // in the file's order; empty when the region is unknown.
  std::vector<const date::time_zone*> zones_for(std::string_view e164, std::string_view region) const;

  // The override zone for a number alone, nullptr when no prefix matches.
  const date::time_zone* override_for(std::string_view e164) const;

  // zone1970.tab's zones for a region, empty when unknown.
  const std::vector<const date::time_zone*>& zones_of_region(std::string_view region) const;

 private:
  ZoneMap() = default;

  std::map<std::string, std::vector<const date::time_zone*>, std::less<>> by_region_;
  std::map<std::string, const date::time_zone*, std::less<>> overrides_;
  std::size_t longest_prefix_ = 0;
};

// What ZoneMap::load() gives: the map when everything resolved, else every
// problem found (unreadable file, unknown zone name, bad prefix), one per string.
struct ZoneMapLoaded {
  std::optional<ZoneMap> map;
  std::vector<std::string> errors;
};

}  // namespace smsgate::policy
