// core/text.h: the one number parser (whole text or nothing, bounded length, no overflow), the
// shortest round-trip format, the list helpers and the UTF-8 check.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/text.h"

namespace minidl {
namespace {

TEST(Text, IntegersAreTheWholeTextOrNothing) {
  int64_t v = 7;
  EXPECT_TRUE(parse_int("42", v) && v == 42);
  EXPECT_TRUE(parse_int("-3", v) && v == -3);
  EXPECT_TRUE(parse_int("+5", v) && v == 5);
  EXPECT_TRUE(parse_int("9223372036854775807", v) && v == INT64_MAX);
  v = 7;
  for (const char* bad : {"", " 1", "1 ", "1e3", "0x10", "12x", "+", "+-1", "1.0",
                          "9223372036854775808", "99999999999999999999"}) {
    EXPECT_FALSE(parse_int(bad, v)) << bad;
    EXPECT_EQ(v, 7) << bad << ": a failed parse leaves the output alone";
  }
  EXPECT_FALSE(parse_int(std::string(kMaxNumberText + 1, '1'), v));
  EXPECT_FALSE(parse_int(std::string(50000, '1'), v));  // no recursion, no time: rejected at once
}

TEST(Text, NumbersAreFiniteDecimals) {
  double v = 0;
  EXPECT_TRUE(parse_number("0.1", v) && v == 0.1);
  EXPECT_TRUE(parse_number("-1e-4", v) && v == -1e-4);
  EXPECT_TRUE(parse_number(".5", v) && v == 0.5);
  EXPECT_TRUE(parse_number("+3", v) && v == 3);
  for (const char* bad : {"", "nan", "inf", "-inf", "1e400", "0x1p3", "1,5", "1.5.", " 2"})
    EXPECT_FALSE(parse_number(bad, v)) << bad;
  EXPECT_FALSE(parse_number("0." + std::string(50000, '1'), v));
  bool b = false;
  EXPECT_TRUE(parse_bool("yes", b) && b);
  EXPECT_TRUE(parse_bool("0", b) && !b);
  EXPECT_FALSE(parse_bool("maybe", b));
}

TEST(Text, FormatNumberIsTheShortestRoundTrip) {
  for (double v : {0.1, 0.08, 1e-4, 4003.0, -2.5, 1.0 / 3, 1e20, 5e-324}) {
    double back = 0;
    std::string text = format_number(v);
    ASSERT_TRUE(parse_number(text, back)) << text;
    EXPECT_EQ(back, v) << text;
  }
  EXPECT_EQ(format_number(0.08), "0.08");
  EXPECT_EQ(format_number(4003), "4003");
}

TEST(Text, ListsAndAffixes) {
  EXPECT_EQ(split(" a, b ,,c ", ','), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(split("a,", ','), (std::vector<std::string>{"a", ""}));
  EXPECT_TRUE(split("", ',').empty());
  EXPECT_EQ(trim("\t x y \r\n"), "x y");
  EXPECT_EQ(join({"a", "b", "c"}, ";"), "a;b;c");
  EXPECT_TRUE(starts_with("iter_000010", "iter_"));
  EXPECT_TRUE(ends_with("x.tar.gz", ".gz"));
  EXPECT_FALSE(ends_with("gz", ".gz"));
}

TEST(Text, Utf8) {
  EXPECT_TRUE(is_utf8("runs/r20"));
  EXPECT_TRUE(is_utf8("d\xc3\xa9j\xc3\xa0 \xe2\x82\xac \xf0\x9f\x98\x80"));  // déjà € 😀
  for (const char* bad :
       {"\xff", "\xc3", "a\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"})
    EXPECT_FALSE(is_utf8(bad)) << "bad sequence";
}

}  // namespace
}  // namespace minidl
