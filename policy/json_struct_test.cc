// JsonObjectToStruct (policy/appraisal.h) gives what the protobuf JSON
// parser made of the same object's text, which it replaces in ToProto.
#include <cmath>
#include <limits>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/appraisal.h"

namespace rp::policy {
namespace {

using nlohmann::json;

// The old path: dump, then protobuf's JSON parser.
google::protobuf::Struct ViaText(const json& j) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(j.dump(), &s).ok()) << j.dump();
  return s;
}

void ExpectSame(const json& j) {
  google::protobuf::Struct direct;
  ASSERT_TRUE(JsonObjectToStruct(j, &direct)) << j.dump();
  const google::protobuf::Struct text = ViaText(j);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(direct, text))
      << "direct: " << direct.DebugString() << "\nvia text: " << text.DebugString();
}

TEST(JsonObjectToStructTest, SameAsTheJsonParserForEveryKindOfValue) {
  ExpectSame(json::object());
  ExpectSame({{"null", nullptr}, {"t", true}, {"f", false}});
  ExpectSame({{"zero", 0}, {"neg", -42}, {"big", 9007199254740993LL},
              {"u64", std::numeric_limits<uint64_t>::max()},
              {"i64min", std::numeric_limits<int64_t>::min()},
              {"pi", 3.14159}, {"tiny", 1e-300}, {"huge", 1.5e308}});
  ExpectSame({{"s", "plain"}, {"empty", ""}, {"utf8", "gr\xC3\xBC\xC3\x9F \xE2\x9C\x93 \xF0\x9F\x94\x91"},
              {"escapes", "quote\" backslash\\ nl\n tab\t nul"}});
  ExpectSame({{"measurements", {{"0", "ab12"}, {"1", "cd34"}}},
              {"list", json::array({1, "two", nullptr, json::array(), json::object(),
                                    json::array({json::array({3})})})},
              {"nested", {{"a", {{"b", {{"c", {{"d", "deep"}}}}}}}}}});
  // Keys that sort differently as bytes and as UTF-16, and an empty key.
  ExpectSame({{"", 1}, {"\xEF\xBD\xA1", 2}, {"\xF0\x9F\x98\x80", 3}, {"Z", 4}, {"a", 5}});
}

TEST(JsonObjectToStructTest, NonFiniteNumbersBecomeNullAsDumpWritesThem) {
  const json j = {{"nan", std::nan("")}, {"inf", std::numeric_limits<double>::infinity()}};
  google::protobuf::Struct direct;
  ASSERT_TRUE(JsonObjectToStruct(j, &direct));
  EXPECT_EQ(direct.fields().at("nan").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(direct.fields().at("inf").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(direct, ViaText(j)));
}

TEST(JsonObjectToStructTest, RefusesWhatIsNotAnObjectOfUtf8) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["stale"].set_bool_value(true);
  EXPECT_FALSE(JsonObjectToStruct(json::array({1}), &s));
  EXPECT_EQ(s.fields_size(), 0);
  (*s.mutable_fields())["stale"].set_bool_value(true);
  EXPECT_FALSE(JsonObjectToStruct(json{{"bad", std::string("\xC3\x28")}}, &s));
  EXPECT_EQ(s.fields_size(), 0);
  EXPECT_FALSE(JsonObjectToStruct(json{{std::string("\xFF"), 1}}, &s));
  EXPECT_EQ(s.fields_size(), 0);
  EXPECT_FALSE(JsonObjectToStruct(json{{"inner", {{"bad", std::string("\xED\xA0\x80")}}}}, &s));
  EXPECT_EQ(s.fields_size(), 0);
}

// protobuf's parser counts its own message levels (about three per JSON
// level) against its limit of 100 and so stops near 30 JSON levels; ours
// counts JSON levels. Claims are a few levels deep either way.
TEST(JsonObjectToStructTest, DepthIsBounded) {
  auto nest = [](int levels) {
    json j = "leaf";
    for (int i = 0; i < levels; ++i) j = json{{"k", j}};
    return j;
  };
  google::protobuf::Struct s;
  EXPECT_TRUE(JsonObjectToStruct(nest(20), &s));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(s, ViaText(nest(20))));
  EXPECT_TRUE(JsonObjectToStruct(nest(99), &s));
  EXPECT_FALSE(JsonObjectToStruct(nest(101), &s));
  EXPECT_EQ(s.fields_size(), 0);
  EXPECT_FALSE(JsonObjectToStruct(nest(1000), &s));
  EXPECT_EQ(s.fields_size(), 0);
}

}  // namespace
}  // namespace rp::policy
