#include "verifier/common/jcs.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "verifier/common/encoding.h"

namespace rp {
namespace {

std::string Canon(const std::map<std::string, std::string>& m, size_t max = 1 << 20) {
  auto c = JcsCanonicalizeStringObject(m, max);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : "";
}

std::string Hex(const std::string& s) { return HexEncode(AsBytes(s)); }

// Expected bytes below were produced independently by Node.js 20
// (JSON.stringify per member, names sorted with Array.prototype.sort, which
// compares UTF-16 code units: exactly JCS for an object of strings).

// RFC 8785 §3.2.3 "Sorting of Object Properties" example: UTF-16 order puts
// U+1F600 (surrogates D83D DE00) before U+FB33, unlike UTF-8 byte order.
TEST(Jcs, Rfc8785SortingExample) {
  const std::map<std::string, std::string> m = {
      {"\u20ac", "Euro Sign"},
      {"\r", "Carriage Return"},
      {"\ufb33", "Hebrew Letter Dalet With Dagesh"},
      {"1", "One"},
      {"\U0001F600", "Emoji: Grinning Face"},
      {"\u0080", "Control"},
      {"\u00f6", "Latin Small Letter O With Diaeresis"}};
  EXPECT_EQ(Hex(Canon(m)),
            "7b225c72223a2243617272696167652052657475726e222c2231223a224f6e65222c22c280223a2243"
            "6f6e74726f6c222c22c3b6223a224c6174696e20536d616c6c204c6574746572204f20576974682044"
            "6961657265736973222c22e282ac223a224575726f205369676e222c22f09f9880223a22456d6f6a69"
            "3a204772696e6e696e672046616365222c22efacb3223a22486562726577204c65747465722044616c"
            "6574205769746820446167657368227d");
}

// RFC 8785 §3.2.2.2 string example: "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"
// serialises as "€$\u000f\nA'B\"\\\\\"/".
TEST(Jcs, Rfc8785StringExample) {
  const std::string value = "\u20ac$\x0f\nA'B\"\\\\\"/";
  EXPECT_EQ(Canon({{"s", value}}), "{\"s\":\"\u20ac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

// Every byte value, alone and amid plain runs, escapes as a per-character
// reference does (ECMAScript JSON.stringify for ASCII; other bytes pass).
TEST(Jcs, EveryByteEscapesLikeAPerCharacterReference) {
  auto reference = [](std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string r = "\"";
    for (const char ch : s) {
      const auto c = static_cast<uint8_t>(ch);
      if (c == '"') r += "\\\"";
      else if (c == '\\') r += "\\\\";
      else if (c == 0x08) r += "\\b";
      else if (c == 0x09) r += "\\t";
      else if (c == 0x0A) r += "\\n";
      else if (c == 0x0C) r += "\\f";
      else if (c == 0x0D) r += "\\r";
      else if (c < 0x20) r += std::string("\\u00") + kHex[c >> 4] + kHex[c & 0x0F];
      else r.push_back(ch);
    }
    return r + "\"";
  };
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    for (const std::string& s : {one, "ab" + one, one + "cd", "ab" + one + "cd" + one + one + "ef"}) {
      std::string out = "prefix";
      AppendJcsString(s, &out);
      EXPECT_EQ(out, "prefix" + reference(s)) << "byte " << b;
    }
  }
}

TEST(Jcs, ControlCharactersAndSeparators) {
  const std::string b("\x00\x1f\x7f\u2028\u2029\b\t\f", 12);
  EXPECT_EQ(Hex(Canon({{"b", b}, {"a", "x"}})),
            "7b2261223a2278222c2262223a225c75303030305c75303031667fe280a8e280a95c625c745c66227d");
}

TEST(Jcs, TypicalRuntimeClaimsAndEmpty) {
  EXPECT_EQ(Canon({{"workload", "llm-serving"}, {"node", "gpu-node-1"}, {"pod_uid", "3f2a"}}),
            "{\"node\":\"gpu-node-1\",\"pod_uid\":\"3f2a\",\"workload\":\"llm-serving\"}");
  EXPECT_EQ(Canon({}), "{}");
}

TEST(Jcs, RejectsInvalidUtf8) {
  for (const std::string bad : {std::string("\xff"), std::string("\xc0\xaf"),  // overlong '/'
                                std::string("\xed\xa0\x80"),                    // U+D800
                                std::string("\xf4\x90\x80\x80"),                // > U+10FFFF
                                std::string("\xe2\x82")}) {                     // truncated
    EXPECT_FALSE(JcsCanonicalizeStringObject({{"k", bad}}, 4096).ok()) << Hex(bad);
    EXPECT_FALSE(JcsCanonicalizeStringObject({{bad, "v"}}, 4096).ok()) << Hex(bad);
    EXPECT_FALSE(IsValidUtf8(bad));
  }
  EXPECT_TRUE(IsValidUtf8("\U0010FFFF\u00e9"));
}

// IsValidUtf8 skips ASCII eight bytes at a time: a bad or good sequence must
// be judged the same at every offset from those words' boundaries, and a
// lone non-ASCII byte anywhere in a long ASCII run must be found.
TEST(Jcs, Utf8VerdictDoesNotDependOnWhereTheSequenceSits) {
  const std::vector<std::string> bad = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                        "\xe2\x82", "\x80", "\xf0\x9f\x98"};
  const std::vector<std::string> good = {"\u00e9", "\u2028", "\U0001F600", "\U0010FFFF", "\x7f"};
  for (size_t before = 0; before <= 17; ++before) {
    for (size_t after : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}}) {
      const std::string pre(before, 'a');
      const std::string post(after, 'z');
      for (const std::string& b : bad) {
        EXPECT_FALSE(IsValidUtf8(pre + b + post)) << before << " " << after << " " << Hex(b);
      }
      for (const std::string& g : good) {
        EXPECT_TRUE(IsValidUtf8(pre + g + post)) << before << " " << after << " " << Hex(g);
      }
    }
  }
  EXPECT_TRUE(IsValidUtf8(std::string(4096, 'x')));
  EXPECT_TRUE(IsValidUtf8(""));
  std::string with_nul(64, 'x');
  with_nul[40] = '\0';
  EXPECT_TRUE(IsValidUtf8(with_nul));
}

TEST(Jcs, SizeBound) {
  const std::map<std::string, std::string> m = {{"a", std::string(10, 'x')}};
  // {"a":"xxxxxxxxxx"} is 18 bytes.
  EXPECT_TRUE(JcsCanonicalizeStringObject(m, 18).ok());
  EXPECT_FALSE(JcsCanonicalizeStringObject(m, 17).ok());
  // Escapes count: six bytes for each control character.
  EXPECT_FALSE(JcsCanonicalizeStringObject({{"a", std::string(3, '\x01')}}, 18).ok());
}

}  // namespace
}  // namespace rp
