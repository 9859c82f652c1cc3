#include "policy/timezone.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <fstream>
#include <sstream>

namespace smsgate::policy {
namespace {

// date::locate_zone throws for unknown names; keep that inside this file.
const date::time_zone* find_zone(const std::string& name, std::string* why) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return nullptr;
  }
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string_view strip_plus(std::string_view e164) {
  if (!e164.empty() && e164.front() == '+') e164.remove_prefix(1);
  return e164;
}

}  // namespace

ZoneMapLoaded ZoneMap::load(const std::map<std::string, std::string>& overrides,
                              const std::string& zone_tab) {
  ZoneMapLoaded out;
  ZoneMap map;

  std::ifstream in(zone_tab);
  if (!in) {
    out.errors.push_back("cannot read " + zone_tab);
  } else {
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty() || line.front() == '#') continue;
      // codes <TAB> coordinates <TAB> zone [<TAB> comments]
      std::vector<std::string> cols;
      std::stringstream ss(line);
      for (std::string col; std::getline(ss, col, '\t');) cols.push_back(col);
      if (cols.size() < 3 || cols[0].empty() || cols[2].empty()) {
        out.errors.push_back(zone_tab + ":" + std::to_string(line_no) + ": expected codes, coordinates, zone");
        continue;
      }
      std::string why;
      const date::time_zone* zone = find_zone(cols[2], &why);
      if (!zone) {
        out.errors.push_back(zone_tab + ":" + std::to_string(line_no) + ": unknown zone " + cols[2] + ": " + why);
        continue;
      }
      std::stringstream codes(cols[0]);
      for (std::string code; std::getline(codes, code, ',');) {
        if (!code.empty()) map.by_region_[upper(code)].push_back(zone);
      }
    }
  }

  for (const auto& [raw_prefix, name] : overrides) {
    std::string_view prefix = strip_plus(raw_prefix);
    if (prefix.empty() || !std::all_of(prefix.begin(), prefix.end(),
                                       [](unsigned char c) { return std::isdigit(c) != 0; })) {
      out.errors.push_back("override prefix \"" + raw_prefix + "\": not a digit string");
      continue;
    }
    std::string why;
    const date::time_zone* zone = find_zone(name, &why);
    if (!zone) {
      out.errors.push_back("override " + raw_prefix + ": unknown zone " + name + ": " + why);
      continue;
    }
    map.overrides_[std::string(prefix)] = zone;
    map.longest_prefix_ = std::max(map.longest_prefix_, prefix.size());
  }

  if (out.errors.empty()) out.map = std::move(map);
  return out;
}

const date::time_zone* ZoneMap::override_for(std::string_view e164) const {
  e164 = strip_plus(e164);
  for (std::size_t len = std::min(e164.size(), longest_prefix_); len > 0; --len) {
    if (auto it = overrides_.find(e164.substr(0, len)); it != overrides_.end()) return it->second;
  }
  return nullptr;
}

const std::vector<const date::time_zone*>& ZoneMap::zones_of_region(std::string_view region) const {
  static const std::vector<const date::time_zone*> none;
  auto it = by_region_.find(upper(region));
  return it == by_region_.end() ? none : it->second;
}

std::vector<const date::time_zone*> ZoneMap::zones_for(std::string_view e164, std::string_view region) const {
  if (const date::time_zone* zone = override_for(e164)) return {zone};
  return zones_of_region(region);
}

}  // namespace smsgate::policy
