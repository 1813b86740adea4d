#include "policy/canonical_json.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "verifier/common/jcs.h"

namespace rp::policy {
namespace {

std::string Canon(const nlohmann::json& j) {
  absl::StatusOr<std::string> s = CanonicalJson(j);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

TEST(CanonicalJson, StructureAndOrder) {
  EXPECT_EQ(Canon(nlohmann::json::parse(R"({ "b": [1, 2, {"z": null, "a": true}], "a": false })")),
            R"({"a":false,"b":[1,2,{"a":true,"z":null}]})");
  EXPECT_EQ(Canon(nlohmann::json::object()), "{}");
  EXPECT_EQ(Canon(nlohmann::json::array()), "[]");
  // RFC 8785 §3.2.3: names sorted by UTF-16 code units: U+1F600 (surrogates
  // D83D DE00) sorts before U+FB33, although its code point and UTF-8 bytes
  // sort after.
  const nlohmann::json j = {{"\xef\xac\xb3", "fb33"}, {"\xf0\x9f\x98\x80", "smiley"},
                            {"\xe2\x82\xac", "euro"}, {"\x7f", "del"}, {"1", "one"}};
  EXPECT_EQ(Canon(j),
            "{\"1\":\"one\",\"\x7f\":\"del\",\"\xe2\x82\xac\":\"euro\",\"\xf0\x9f\x98\x80\":"
            "\"smiley\",\"\xef\xac\xb3\":\"fb33\"}");
}

// Names without characters beyond U+FFFF keep nlohmann's (UTF-8 byte)
// order, which must then be the UTF-16 order: random names over the whole
// BMP (surrogate code points excluded), checked against JcsSortKey.
TEST(CanonicalJson, BmpNamesNeedNoSortKeys) {
  std::mt19937 rng(20261207);
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return s;
  };
  for (int round = 0; round < 200; ++round) {
    nlohmann::json j = nlohmann::json::object();
    for (int m = 0; m < 8; ++m) {
      std::string name;
      for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
        uint32_t cp = rng() % 0x10000;
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xE000 + (cp & 0xFF);
        name += utf8(cp);
      }
      j[name] = m;
    }
    std::vector<std::pair<std::u16string, std::string>> keyed;
    for (auto it = j.begin(); it != j.end(); ++it) keyed.emplace_back(rp::JcsSortKey(it.key()), it.key());
    std::sort(keyed.begin(), keyed.end());
    std::string expected = "{";
    for (const auto& [key, name] : keyed) {
      if (expected.size() > 1) expected += ",";
      rp::AppendJcsString(name, &expected);
      expected += ":" + std::to_string(j[name].get<int>());
    }
    expected += "}";
    EXPECT_EQ(Canon(j), expected) << round;
  }
}

TEST(CanonicalJson, Strings) {
  EXPECT_EQ(Canon(std::string("q\"b\\s/\b\t\n\f\r\x01\x1f\x7f")),
            "\"q\\\"b\\\\s/\\b\\t\\n\\f\\r\\u0001\\u001f\x7f\"");
  EXPECT_EQ(Canon("\xe2\x82\xac"), "\"\xe2\x82\xac\"");  // UTF-8 as is
  for (const char* bad : {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82"}) {
    EXPECT_FALSE(CanonicalJson(std::string(bad)).ok()) << bad;
    EXPECT_FALSE(CanonicalJson(nlohmann::json{{std::string(bad), 1}}).ok()) << bad;
  }
}

TEST(CanonicalJson, Numbers) {
  // ECMAScript Number::toString, RFC 8785 appendix B examples.
  const std::pair<double, const char*> cases[] = {
      {0.0, "0"},
      {-0.0, "0"},
      {1.0, "1"},
      {-1.5, "-1.5"},
      {4.5, "4.5"},
      {0.002, "0.002"},
      {1e-7, "1e-7"},
      {0.000001, "0.000001"},
      {1e21, "1e+21"},
      {1e20, "100000000000000000000"},
      {333333333.33333329, "333333333.3333333"},
      {1e30, "1e+30"},
      {9007199254740994.0, "9007199254740994"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {295147905179352830000.0, "295147905179352830000"},
  };
  for (const auto& [d, want] : cases) EXPECT_EQ(Canon(nlohmann::json(d)), want) << want;
  // Integers are written exactly (see the header on the one difference).
  EXPECT_EQ(Canon(nlohmann::json(int64_t{-42})), "-42");
  EXPECT_EQ(Canon(nlohmann::json(uint64_t{18446744073709551615u})), "18446744073709551615");
  EXPECT_FALSE(CanonicalJson(nlohmann::json(std::numeric_limits<double>::infinity())).ok());
  EXPECT_FALSE(CanonicalJson(nlohmann::json(std::nan(""))).ok());
}

TEST(CanonicalJson, DepthIsBounded) {
  nlohmann::json j = 1;
  for (int i = 0; i < 100; ++i) j = nlohmann::json::array({j});
  EXPECT_FALSE(CanonicalJson(j).ok());
}

}  // namespace
}  // namespace rp::policy
