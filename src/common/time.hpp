// Times as text: RFC 3339 in UTC with nanoseconds ("2026-11-29T12:00:00.123456789Z"), the
// format of Docker's logs and inspect output.
#pragma once

#include <time.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace berth {

// Unix time in nanoseconds (CLOCK_REALTIME).
inline int64_t now_ns() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// CLOCK_MONOTONIC in nanoseconds: for intervals and deadlines, which clock changes must not move.
inline int64_t mono_ns() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline std::string rfc3339_nano(int64_t unix_ns) {
  time_t s = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm {};
  gmtime_r(&s, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(unix_ns % 1000000000));
  return buf;
}

// "2026-11-29T12:00:00[.fraction][Z]" → unix seconds (UTC; the fraction and zone are not
// read); 0 when it does not parse.
inline int64_t parse_rfc3339(const std::string& s) {
  struct tm tm {};
  if (!::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return static_cast<int64_t>(::timegm(&tm));
}

// The same with the fraction (up to nanoseconds): unix ns; 0 when it does not parse. Two
// images committed within one second still compare (images --filter before/since).
inline int64_t parse_rfc3339_ns(const std::string& s) {
  const int64_t secs = parse_rfc3339(s);
  if (secs == 0) return 0;
  int64_t frac = 0;
  size_t digits = 0;
  if (s.size() > 20 && s[19] == '.')
    for (size_t i = 20; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
      if (digits < 9) {
        frac = frac * 10 + (s[i] - '0');
        ++digits;
      }
  for (; digits < 9; ++digits) frac *= 10;
  return secs * 1000000000 + frac;
}

}  // namespace berth
