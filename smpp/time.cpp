#include "smpp/time.hpp"

#include <array>

namespace smsgate::smpp {

namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_smpp_time(std::string_view text,
                                                                     std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  if (text.size() != 16) return std::nullopt;
  std::array<int, 13> n{};
  for (std::size_t i = 0; i < 13; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    n[i] = text[i] - '0';
  }
  const auto two = [&](std::size_t i) { return n[i] * 10 + n[i + 1]; };
  const int yy = two(0), mo = two(2), dd = two(4), hh = two(6), mi = two(8), ss = two(10), tenths = n[12];
  const int quarters = (text[13] >= '0' && text[13] <= '9' && text[14] >= '0' && text[14] <= '9')
                           ? (text[13] - '0') * 10 + (text[14] - '0')
                           : -1;
  const char p = text[15];
  if (p == 'R') {
    if (hh > 23 || mi > 59 || ss > 59) return std::nullopt;
    const auto span = days(365LL * yy + 30LL * mo + dd) + hours(hh) + minutes(mi) + seconds(ss);
    return now + duration_cast<system_clock::duration>(span);
  }
  if ((p != '+' && p != '-') || quarters < 0 || quarters > 48) return std::nullopt;
  const int64_t year = 2000 + yy;
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || dd < 1) return std::nullopt;
  if (dd > kDays[mo - 1] + (mo == 2 && is_leap(year) ? 1 : 0)) return std::nullopt;
  if (hh > 23 || mi > 59 || ss > 59) return std::nullopt;
  auto local = sys_days(days(days_from_civil(year, static_cast<unsigned>(mo), static_cast<unsigned>(dd)))) +
               hours(hh) + minutes(mi) + seconds(ss) + milliseconds(100 * tenths);
  // Local time = UTC + offset: UTC = local - offset.
  const auto offset = minutes(15 * quarters);
  const auto utc = p == '+' ? local - offset : local + offset;
  return time_point_cast<system_clock::duration>(utc);
}

}  // namespace smsgate::smpp
