// Text that users write: numbers, lists, names. The one place minidl turns text into numbers
// (flags, config files, schedule specs, model options, shapes): every parser here reads the whole
// text or fails, never backtracks, and rejects a text longer than kMaxNumberText before converting
// it (STYLE.md 10), so a 50,000-digit "number" is an error, not a stack overflow.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace minidl {

constexpr size_t kMaxNumberText = 64;  // characters; no float or int64 needs more

// Decimal integer, optional sign, nothing else (no spaces, no "1e3"); false on overflow.
bool parse_int(std::string_view text, int64_t& out);
// Finite decimal number ("0.1", "-3", "1e-4", ".5"), optional sign; false for inf/nan/hex, on
// overflow and for anything left over.
bool parse_number(std::string_view text, double& out);
// "true"/"false" and the usual synonyms (1/0, yes/no, on/off).
bool parse_bool(std::string_view text, bool& out);

// Well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF), as
// JSON text must be; false with the byte offset of the first bad sequence in `bad_at`.
bool is_utf8(std::string_view s, size_t* bad_at = nullptr);

// The shortest decimal that reads back as the same double (whole numbers without an exponent).
std::string format_number(double v);

// Without leading and trailing blanks (space, tab, CR, LF).
std::string trim(std::string_view s);
// Items between `sep`, each trimmed: "a, ,b" -> {"a", "", "b"}, "a," -> {"a", ""}, "" -> {}.
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);

}  // namespace minidl
