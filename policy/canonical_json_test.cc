#include "policy/canonical_json.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "gtest/gtest.h"

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
