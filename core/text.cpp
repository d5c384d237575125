#include "core/text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

namespace minidl {

namespace {

// from_chars takes no '+'; users write "+1e-3" now and then.
std::string_view without_plus(std::string_view t) {
  return !t.empty() && t[0] == '+' && t.size() > 1 && t[1] != '-' ? t.substr(1) : t;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

bool parse_int(std::string_view text, int64_t& out) {
  if (text.empty() || text.size() > kMaxNumberText) return false;
  std::string_view t = without_plus(text);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v, 10);
  if (ec != std::errc() || end != t.data() + t.size()) return false;
  out = v;
  return true;
}

bool parse_number(std::string_view text, double& out) {
  if (text.empty() || text.size() > kMaxNumberText) return false;
  std::string_view t = without_plus(text);
  double v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool parse_bool(std::string_view text, bool& out) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return out = true, true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return out = false, true;
  return false;
}

bool is_utf8(std::string_view s, size_t* bad_at) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 1;
    uint32_t cp = c, min = 0;
    if (c >= 0xC0 && c < 0xE0) len = 2, cp = c & 0x1F, min = 0x80;
    if (c >= 0xE0 && c < 0xF0) len = 3, cp = c & 0x0F, min = 0x800;
    if (c >= 0xF0 && c < 0xF8) len = 4, cp = c & 0x07, min = 0x10000;
    bool ok = c < 0x80 || (len > 1 && s.size() - i >= len);
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      ok = (b & 0xC0) == 0x80;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (ok && len > 1) ok = cp >= min && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    if (!ok) {
      if (bad_at) *bad_at = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::string format_number(double v) {
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    double back = 0;
    if (parse_number(buf, back) && back == v) break;
  }
  return buf;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_blank(s[b])) ++b;
  while (e > b && is_blank(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(trim(s.substr(start, at == std::string_view::npos ? s.npos : at - start)));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace minidl
