#include "policy/release_rules.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/appraisal.h"
#include "policy/yaml_json.h"

namespace rp::policy {
namespace {

using attestation::v1::Condition;
using attestation::v1::Policy;
using attestation::v1::ReleaseRule;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// Token claims in the shape Appraisal::EarClaims + TokenIssuer emit.
const nlohmann::json& Claims() {
  static const nlohmann::json kClaims = nlohmann::json::parse(R"json({
    "eat_profile": "tag:github.com,2023:veraison/ear",
    "iat": 1764662400, "exp": 1764662700,
    "ratio": 0.5,
    "ear.status": "affirming",
    "ear.verifier-id": {"developer": "attestation-rp", "build": "attestation-rp 0.1.0"},
    "policy": {"id": "strict-production", "version": "3", "sha256": "00ff"},
    "binding": "attest-v1",
    "reasons": [],
    "submods": {
      "cpu0": {
        "ear.status": "affirming",
        "ear.trustworthiness-vector": {"hardware": 2, "configuration": 2, "executables": 2},
        "tee": "tdx",
        "claims": {"tcb_status": "UpToDate", "quote_version": 4, "svn_text": "10",
                   "rtmr": ["aa", "bb", "cc", "dd"], "td_attributes": {"debug": false},
                   "advisory_ids": []}
      },
      "gpu0": {
        "ear.status": "affirming",
        "tee": "nvidia-gpu",
        "claims": {"arch": "HOPPER", "driver_version": "550.90.07",
                   "vbios_version": "96.00.9F.00.01", "measurements_match": true,
                   "cc_mode": "cc", "hwmodel": null}
      }
    }
  })json");
  return kClaims;
}

Condition Cond(const std::string& claim, const std::string& op, const std::string& value,
               std::vector<std::string> values = {}) {
  Condition c;
  c.set_claim(claim);
  c.set_op(op);
  c.set_value(value);
  for (auto& v : values) c.add_values(v);
  return c;
}

RuleResult EvalOneOn(const Condition& c, const nlohmann::json& claims) {
  ReleaseRule r;
  r.set_name("t");
  *r.add_all_of() = c;
  return EvaluateReleaseRule(r, claims);
}

RuleResult EvalOne(const Condition& c) {
  ReleaseRule r;
  r.set_name("t");
  *r.add_all_of() = c;
  return EvaluateReleaseRule(r, Claims());
}

struct CondCase {
  const char* label;
  Condition cond;
  bool allowed;
  const char* failure;  // substring of the failure text when denied
};

TEST(ReleaseRules, EachOperatorPassingAndFailing) {
  const CondCase cases[] = {
      // eq: text form of scalars.
      {"eq string", Cond("/ear.status", "eq", "affirming"), true, ""},
      {"eq string differs", Cond("/ear.status", "eq", "warning"), false,
       "all_of[0]: /ear.status is 'affirming', not eq 'warning'"},
      {"eq bool as text", Cond("/submods/gpu0/claims/measurements_match", "eq", "true"), true, ""},
      {"eq bool false", Cond("/submods/gpu0/claims/measurements_match", "eq", "false"), false,
       "is 'true', not eq 'false'"},
      {"eq int as text", Cond("/submods/cpu0/claims/quote_version", "eq", "4"), true, ""},
      {"eq float as text", Cond("/ratio", "eq", "0.5"), true, ""},
      {"eq is case-sensitive", Cond("/submods/gpu0/claims/arch", "eq", "hopper"), false,
       "not eq 'hopper'"},
      // ne
      {"ne holds", Cond("/submods/gpu0/claims/cc_mode", "ne", "off"), true, ""},
      {"ne equal", Cond("/submods/gpu0/claims/cc_mode", "ne", "cc"), false, "is 'cc' (op ne)"},
      // in
      {"in listed", Cond("/submods/cpu0/claims/tcb_status", "in", "", {"UpToDate", "SWHardeningNeeded"}),
       true, ""},
      {"in not listed", Cond("/submods/cpu0/claims/tcb_status", "in", "", {"OutOfDate"}), false,
       "'UpToDate' is not in [OutOfDate]"},
      {"in bool text", Cond("/submods/gpu0/claims/measurements_match", "in", "", {"true"}), true, ""},
      // ge / le on numbers
      {"ge number", Cond("/iat", "ge", "1700000000"), true, ""},
      {"ge number fails", Cond("/iat", "ge", "1800000000"), false,
       "/iat '1764662400' is not ge '1800000000'"},
      {"le number", Cond("/exp", "le", "1764662700"), true, ""},
      {"le number fails", Cond("/exp", "le", "1764662699"), false, "is not le"},
      {"ge float claim", Cond("/ratio", "ge", "0.25"), true, ""},
      {"le float claim fails", Cond("/ratio", "le", "0.25"), false, "is not le '0.25'"},
      {"string integers compare numerically", Cond("/submods/cpu0/claims/svn_text", "ge", "9"), true,
       ""},
      // ge / le on dotted versions
      {"driver ge", Cond("/submods/gpu0/claims/driver_version", "ge", "550.54.14"), true, ""},
      {"driver ge fails", Cond("/submods/gpu0/claims/driver_version", "ge", "555.42.02"), false,
       "'550.90.07' is not ge '555.42.02'"},
      {"driver le equal", Cond("/submods/gpu0/claims/driver_version", "le", "550.90.07"), true, ""},
      {"driver missing components are 0", Cond("/submods/gpu0/claims/driver_version", "ge", "550"),
       true, ""},
      {"vbios hex components", Cond("/submods/gpu0/claims/vbios_version", "ge", "96.00.74.00.01"),
       true, ""},
      {"vbios hex le fails", Cond("/submods/gpu0/claims/vbios_version", "le", "96.00.9E.00.FF"),
       false, "is not le"},
      // ge / le type mismatches fail.
      {"ge on a word", Cond("/submods/cpu0/claims/tcb_status", "ge", "1"), false,
       "'UpToDate' and '1' are not both numbers or both dotted versions"},
      {"ge on a bool", Cond("/submods/gpu0/claims/measurements_match", "ge", "1"), false,
       "is a boolean, not a number or version"},
      {"number claim vs version value", Cond("/submods/cpu0/claims/quote_version", "ge", "4.1.2"),
       false, "is a number but '4.1.2' is not"},
      {"ge on an object", Cond("/submods/cpu0/claims/td_attributes", "ge", "1"), false,
       "is an object, not a scalar"},
      // matches: whole-text ECMAScript regex.
      {"matches", Cond("/submods/gpu0/claims/arch", "matches", "HOP.*"), true, ""},
      {"matches is anchored", Cond("/submods/gpu0/claims/arch", "matches", "HOP"), false,
       "'HOPPER' does not match /HOP/"},
      {"matches a number's text", Cond("/submods/cpu0/claims/quote_version", "matches", "[45]"),
       true, ""},
      {"matches on an array", Cond("/submods/cpu0/claims/rtmr", "matches", ".*"), false,
       "is an array, not a scalar"},
      // exists
      {"exists default true", Cond("/ear.status", "exists", ""), true, ""},
      {"exists true", Cond("/submods/gpu0", "exists", "true"), true, ""},
      {"exists true missing", Cond("/submods/gpu1", "exists", "true"), false,
       "/submods/gpu1 is missing"},
      {"exists false missing", Cond("/submods/switch0", "exists", "false"), true, ""},
      {"exists false present", Cond("/submods/gpu0", "exists", "false"), false,
       "/submods/gpu0 exists (exists: false)"},
      {"null counts as missing", Cond("/submods/gpu0/claims/hwmodel", "exists", "false"), true, ""},
      {"exists on an object", Cond("/submods/cpu0/claims/td_attributes", "exists", "true"), true, ""},
      // Pointers: array indices and member names that contain dots.
      {"array index", Cond("/submods/cpu0/claims/rtmr/2", "eq", "cc"), true, ""},
      {"array index out of range", Cond("/submods/cpu0/claims/rtmr/4", "eq", "cc"), false,
       "/submods/cpu0/claims/rtmr/4 is missing"},
      {"array index not a number", Cond("/submods/cpu0/claims/rtmr/x", "exists", "true"), false,
       "is missing"},
      {"dotted member name", Cond("/submods/gpu0/ear.status", "eq", "affirming"), true, ""},
      {"dotted member at the top", Cond("/ear.verifier-id/developer", "eq", "attestation-rp"), true,
       ""},
      {"trust vector tier", Cond("/submods/cpu0/ear.trustworthiness-vector/hardware", "le", "2"),
       true, ""},
      {"path below a scalar", Cond("/ear.status/x", "exists", "true"), false, "is missing"},
  };
  for (const CondCase& c : cases) {
    SCOPED_TRACE(c.label);
    RuleResult r = EvalOne(c.cond);
    EXPECT_EQ(r.name, "t");
    EXPECT_EQ(r.allowed, c.allowed);
    if (c.allowed) {
      EXPECT_THAT(r.failed, IsEmpty());
    } else {
      ASSERT_THAT(r.failed, SizeIs(1));
      EXPECT_THAT(r.failed[0], HasSubstr(c.failure));
    }
  }
}

TEST(ReleaseRules, MissingClaimFailsEveryOperatorExceptExistsFalse) {
  const std::string missing = "/submods/gpu7/claims/driver_version";
  for (const char* op : {"eq", "ne", "ge", "le", "matches"}) {
    SCOPED_TRACE(op);
    RuleResult r = EvalOne(Cond(missing, op, "1"));
    EXPECT_FALSE(r.allowed);
    ASSERT_THAT(r.failed, SizeIs(1));
    EXPECT_EQ(r.failed[0], "all_of[0]: " + missing + " is missing");
  }
  EXPECT_FALSE(EvalOne(Cond(missing, "in", "", {"1"})).allowed);
  EXPECT_FALSE(EvalOne(Cond(missing, "exists", "true")).allowed);
  EXPECT_TRUE(EvalOne(Cond(missing, "exists", "false")).allowed);
  // A null claim is missing for comparisons too (fail closed).
  EXPECT_FALSE(EvalOne(Cond("/submods/gpu0/claims/hwmodel", "ne", "GH100")).allowed);
}

TEST(ReleaseRules, LongTextsAndLargeNumbers) {
  nlohmann::json claims = Claims();
  claims["long"] = std::string(kMaxMatchTextBytes + 1, 'a');
  claims["big"] = uint64_t{18446744073709551615u};
  claims["neg"] = -5;
  ReleaseRule r;
  r.set_name("t");
  *r.add_all_of() = Cond("/long", "matches", "a*");
  RuleResult res = EvaluateReleaseRule(r, claims);
  EXPECT_FALSE(res.allowed);
  ASSERT_THAT(res.failed, SizeIs(1));
  EXPECT_THAT(res.failed[0], HasSubstr("/long is longer than 4096 bytes; not matched"));
  // The failure text shows a bounded prefix of long values.
  r.clear_all_of();
  *r.add_all_of() = Cond("/long", "eq", "b");
  res = EvaluateReleaseRule(r, claims);
  ASSERT_THAT(res.failed, SizeIs(1));
  EXPECT_LT(res.failed[0].size(), 400u);
  EXPECT_THAT(res.failed[0], HasSubstr("...(4097 bytes)"));
  for (const auto& [cond, want] : std::vector<std::pair<Condition, bool>>{
           {Cond("/big", "ge", "18446744073709551614"), true},
           {Cond("/big", "eq", "18446744073709551615"), true},
           {Cond("/neg", "le", "-4"), true},
           {Cond("/neg", "ge", "-4"), false},
           {Cond("/neg", "ge", "-5.5"), true}}) {
    SCOPED_TRACE(cond.ShortDebugString());
    ReleaseRule one;
    one.set_name("n");
    *one.add_all_of() = cond;
    EXPECT_EQ(EvaluateReleaseRule(one, claims).allowed, want);
  }
}

// Claim texts come from the attester: a pattern that backtracks
// exponentially in libstdc++'s default executor must stay fast.
TEST(ReleaseRules, MatchesDoesNotBacktrackExponentially) {
  nlohmann::json claims = {{"s", std::string(kMaxMatchTextBytes - 1, 'a') + "!"}};
  ReleaseRule r;
  r.set_name("t");
  *r.add_all_of() = Cond("/s", "matches", "(a+)+b");
  *r.add_all_of() = Cond("/s", "matches", "(a|aa)*c");
  *r.add_all_of() = Cond("/s", "matches", "(.*){1,64}x");
  const auto start = std::chrono::steady_clock::now();
  RuleResult res = EvaluateReleaseRule(r, claims);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(res.allowed);
  EXPECT_THAT(res.failed, SizeIs(3));
  EXPECT_LT(elapsed, std::chrono::seconds(5));  // backtracking: longer than the universe
  // Lookahead still works.
  nlohmann::json build = {{"b", "attestation-rp 0.1.0"}};
  EXPECT_TRUE(EvalOneOn(Cond("/b", "matches", "(?!.*SIMULATED).*"), build).allowed);
  build["b"] = "attestation-rp 0.1.0 (SIMULATED EVIDENCE)";
  EXPECT_FALSE(EvalOneOn(Cond("/b", "matches", "(?!.*SIMULATED).*"), build).allowed);
}

TEST(ReleaseRules, ResolveClaimPath) {
  const nlohmann::json& c = Claims();
  ASSERT_NE(ResolveClaimPath(c, "/submods/gpu0/ear.status"), nullptr);
  EXPECT_EQ(*ResolveClaimPath(c, "/submods/gpu0/ear.status"), "affirming");
  EXPECT_EQ(*ResolveClaimPath(c, "/submods/cpu0/claims/rtmr/0"), "aa");
  EXPECT_EQ(*ResolveClaimPath(c, "/submods/cpu0/claims/rtmr/3"), "dd");
  EXPECT_EQ(ResolveClaimPath(c, ""), nullptr);  // the whole document is never a claim
  EXPECT_EQ(ResolveClaimPath(c, "/"), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "/submods//cpu0"), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "/submods/cpu0/"), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "/submods/cpu0/claims/rtmr/-1"), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "/submods/cpu0/claims/rtmr/-"), nullptr);  // past the end
  EXPECT_EQ(ResolveClaimPath(c, "/submods/cpu0/claims/rtmr/01"), nullptr);  // leading zero
  EXPECT_EQ(ResolveClaimPath(c, "/submods/cpu0/claims/rtmr/+1"), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "/submods/cpu0/claims/rtmr/99999999999"), nullptr);
  // Dotted paths are not pointers: they resolve to nothing.
  EXPECT_EQ(ResolveClaimPath(c, "submods.gpu0.ear.status"), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "ear.status"), nullptr);
  // A pointer names one member per step: "a.b" and a/b are different claims
  // (the dotted syntax had to guess which one was meant).
  nlohmann::json both = {{"a", {{"b", 1}}}, {"a.b", 2}};
  EXPECT_EQ(*ResolveClaimPath(both, "/a.b"), 2);
  EXPECT_EQ(*ResolveClaimPath(both, "/a/b"), 1);
}

// RFC 6901 section 5's examples, plus our refusals of typos.
TEST(ReleaseRules, PointerEscapes) {
  const nlohmann::json doc = nlohmann::json::parse(R"json({
    "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5,
    "k\"l": 6, "m~n": 8, "~1": 9, "x": {"/": {"~": 10}}
  })json");
  EXPECT_EQ(*ResolveClaimPath(doc, "/foo/0"), "bar");
  EXPECT_EQ(*ResolveClaimPath(doc, "/a~1b"), 1);
  EXPECT_EQ(*ResolveClaimPath(doc, "/c%d"), 2);
  EXPECT_EQ(*ResolveClaimPath(doc, "/e^f"), 3);
  EXPECT_EQ(*ResolveClaimPath(doc, "/g|h"), 4);
  EXPECT_EQ(*ResolveClaimPath(doc, "/i\\j"), 5);
  EXPECT_EQ(*ResolveClaimPath(doc, "/k\"l"), 6);
  EXPECT_EQ(*ResolveClaimPath(doc, "/m~0n"), 8);
  // "~01" is "~1" (unescape ~0 first would make it "/"): the member "~1".
  EXPECT_EQ(*ResolveClaimPath(doc, "/~01"), 9);
  EXPECT_EQ(*ResolveClaimPath(doc, "/x/~1/~0"), 10);
  // Unescaped '/' separates: "/a/b" is not the member "a/b".
  EXPECT_EQ(ResolveClaimPath(doc, "/a/b"), nullptr);
  // Bad escapes and typos never resolve...
  EXPECT_EQ(ResolveClaimPath(doc, "/m~2n"), nullptr);
  EXPECT_EQ(ResolveClaimPath(doc, "/m~"), nullptr);
  EXPECT_EQ(ResolveClaimPath(doc, "/"), nullptr);  // RFC 6901: the member "" (refused)
  EXPECT_EQ(ResolveClaimPath(doc, "/g h"), nullptr);
  // ...and fail every operator, exists: false included (fail closed).
  EXPECT_FALSE(EvalOneOn(Cond("/m~2n", "exists", "false"), doc).allowed);
  EXPECT_THAT(EvalOneOn(Cond("/m~2n", "exists", "false"), doc).failed[0],
              HasSubstr("is not a valid JSON Pointer"));
  EXPECT_FALSE(EvalOneOn(Cond("submods.gpu9", "exists", "false"), doc).allowed);
  EXPECT_TRUE(EvalOneOn(Cond("/m~0n", "eq", "8"), doc).allowed);
  EXPECT_TRUE(EvalOneOn(Cond("/nope~1x", "exists", "false"), doc).allowed);
}

ReleaseRule Rule(std::vector<Condition> all, std::vector<Condition> any) {
  ReleaseRule r;
  r.set_name("kms/model-key");
  for (auto& c : all) *r.add_all_of() = c;
  for (auto& c : any) *r.add_any_of() = c;
  return r;
}

TEST(ReleaseRules, AllOfAnyOfCombinations) {
  const Condition yes1 = Cond("/ear.status", "eq", "affirming");
  const Condition yes2 = Cond("/submods/gpu0/claims/cc_mode", "in", "", {"cc", "ppcie"});
  const Condition no1 = Cond("/submods/cpu0/claims/tcb_status", "eq", "OutOfDate");
  const Condition no2 = Cond("/submods/gpu1/ear.status", "exists", "true");

  RuleResult r = EvaluateReleaseRule(Rule({yes1, yes2}, {}), Claims());
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.name, "kms/model-key");

  r = EvaluateReleaseRule(Rule({yes1, no1, yes2}, {}), Claims());
  EXPECT_FALSE(r.allowed);
  ASSERT_THAT(r.failed, SizeIs(1));
  EXPECT_THAT(r.failed[0], HasSubstr("all_of[1]: /submods/cpu0/claims/tcb_status"));

  // any_of: one holding is enough; failing siblings are not reported.
  r = EvaluateReleaseRule(Rule({}, {no1, yes1}), Claims());
  EXPECT_TRUE(r.allowed);
  EXPECT_THAT(r.failed, IsEmpty());

  // None holds: every any_of failure is listed.
  r = EvaluateReleaseRule(Rule({}, {no1, no2}), Claims());
  EXPECT_FALSE(r.allowed);
  ASSERT_THAT(r.failed, SizeIs(2));
  EXPECT_THAT(r.failed[0], HasSubstr("any_of[0]: "));
  EXPECT_THAT(r.failed[1], HasSubstr("any_of[1]: /submods/gpu1/ear.status is missing"));

  // all_of holds, any_of does not.
  r = EvaluateReleaseRule(Rule({yes1}, {no1, no2}), Claims());
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, SizeIs(2));

  // any_of holds, all_of does not: only the all_of failure is reported.
  r = EvaluateReleaseRule(Rule({no2, yes1}, {yes2}), Claims());
  EXPECT_FALSE(r.allowed);
  ASSERT_THAT(r.failed, SizeIs(1));
  EXPECT_THAT(r.failed[0], HasSubstr("all_of[0]: /submods/gpu1/ear.status is missing"));

  // Both hold.
  r = EvaluateReleaseRule(Rule({yes1, yes2}, {no1, yes2}), Claims());
  EXPECT_TRUE(r.allowed);

  // A rule without conditions (refused at load) still denies.
  r = EvaluateReleaseRule(Rule({}, {}), Claims());
  EXPECT_FALSE(r.allowed);

  // Against an empty claim set everything but exists:false fails.
  r = EvaluateReleaseRule(Rule({yes1}, {}), nlohmann::json::object());
  EXPECT_FALSE(r.allowed);
  r = EvaluateReleaseRule(Rule({yes1}, {}), nlohmann::json("not an object"));
  EXPECT_FALSE(r.allowed);
}

// ---- Quantifiers over devices ----

// Claims() with its gpu0 replaced by `n` copies gpu0..gpu<n-1>.
nlohmann::json NodeWithGpus(int n) {
  nlohmann::json c = Claims();
  const nlohmann::json gpu = c["submods"]["gpu0"];
  c["submods"].erase("gpu0");
  for (int i = 0; i < n; ++i) c["submods"][absl::StrCat("gpu", i)] = gpu;
  return c;
}

Condition Every(const std::string& glob, const std::string& claim, const std::string& op,
                const std::string& value, std::vector<std::string> values = {}) {
  Condition c = Cond(claim, op, value, std::move(values));
  c.set_every(glob);
  return c;
}

Condition Count(const std::string& glob, const std::string& op, const std::string& value) {
  Condition c;
  c.set_count(glob);
  c.set_op(op);
  c.set_value(value);
  return c;
}

// Today's rule shape (before quantifiers): it can only name gpu0.
ReleaseRule Gpu0OnlyRule() {
  ReleaseRule r;
  r.set_name("kms/model-key");
  *r.add_all_of() = Cond("/submods/gpu0/ear.status", "eq", "affirming");
  *r.add_all_of() = Cond("/submods/gpu0/claims/measurements_match", "eq", "true");
  *r.add_all_of() = Cond("/submods/gpu0/claims/cc_mode", "eq", "cc");
  *r.add_all_of() = Cond("/submods/gpu0/claims/driver_version", "ge", "550.54.14");
  return r;
}

ReleaseRule EveryGpuRule() {
  ReleaseRule r;
  r.set_name("kms/model-key");
  *r.add_all_of() = Count("gpu*", "ge", "8");
  *r.add_all_of() = Every("gpu*", "/ear.status", "eq", "affirming");
  *r.add_all_of() = Every("gpu*", "/claims/measurements_match", "eq", "true");
  *r.add_all_of() = Every("gpu*", "/claims/cc_mode", "eq", "cc");
  *r.add_all_of() = Every("gpu*", "/claims/driver_version", "ge", "550.54.14");
  return r;
}

// The issue's case: 8 GPUs, gpu0 passes, gpu5 does not. The gpu0-only rule
// allows; every gpu* denies, and the failure names gpu5.
TEST(ReleaseRulesQuantifiers, OneBadGpuOutOfEight) {
  const nlohmann::json good = NodeWithGpus(8);
  EXPECT_TRUE(EvaluateReleaseRule(Gpu0OnlyRule(), good).allowed);
  EXPECT_TRUE(EvaluateReleaseRule(EveryGpuRule(), good).allowed)
      << ::testing::PrintToString(EvaluateReleaseRule(EveryGpuRule(), good).failed);

  nlohmann::json mismatch = good;
  mismatch["submods"]["gpu5"]["claims"]["measurements_match"] = false;
  EXPECT_TRUE(EvaluateReleaseRule(Gpu0OnlyRule(), mismatch).allowed);
  RuleResult r = EvaluateReleaseRule(EveryGpuRule(), mismatch);
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, ElementsAre("all_of[2]: every gpu* (1 of 8 failed): "
                                    "/submods/gpu5/claims/measurements_match is 'false', not eq "
                                    "'true'"));

  nlohmann::json contraindicated = good;
  contraindicated["submods"]["gpu5"]["ear.status"] = "contraindicated";
  EXPECT_TRUE(EvaluateReleaseRule(Gpu0OnlyRule(), contraindicated).allowed);
  r = EvaluateReleaseRule(EveryGpuRule(), contraindicated);
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, ElementsAre("all_of[1]: every gpu* (1 of 8 failed): "
                                    "/submods/gpu5/ear.status is 'contraindicated', not eq "
                                    "'affirming'"));

  // Several bad GPUs and several bad claims: one line per failed condition,
  // each naming every failing device.
  nlohmann::json two = mismatch;
  two["submods"]["gpu7"]["claims"]["measurements_match"] = false;
  two["submods"]["gpu7"]["claims"]["driver_version"] = "535.104.05";
  r = EvaluateReleaseRule(EveryGpuRule(), two);
  EXPECT_THAT(r.failed,
              ElementsAre("all_of[2]: every gpu* (2 of 8 failed): "
                          "/submods/gpu5/claims/measurements_match is 'false', not eq 'true'; "
                          "/submods/gpu7/claims/measurements_match is 'false', not eq 'true'",
                          "all_of[4]: every gpu* (1 of 8 failed): "
                          "/submods/gpu7/claims/driver_version '535.104.05' is not ge "
                          "'550.54.14'"));
}

TEST(ReleaseRulesQuantifiers, CountGpus) {
  const Condition ge8 = Count("gpu*", "ge", "8");
  RuleResult r = EvalOneOn(ge8, NodeWithGpus(7));
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, ElementsAre("all_of[0]: count gpu* '7' is not ge '8'"));
  EXPECT_TRUE(EvalOneOn(ge8, NodeWithGpus(8)).allowed);
  EXPECT_TRUE(EvalOneOn(ge8, NodeWithGpus(9)).allowed);
  // The every-GPU rule with 7 GPUs: only the count fails.
  r = EvaluateReleaseRule(EveryGpuRule(), NodeWithGpus(7));
  EXPECT_THAT(r.failed, ElementsAre("all_of[0]: count gpu* '7' is not ge '8'"));

  EXPECT_TRUE(EvalOneOn(Count("gpu*", "eq", "8"), NodeWithGpus(8)).allowed);
  EXPECT_THAT(EvalOneOn(Count("gpu*", "eq", "8"), NodeWithGpus(9)).failed,
              ElementsAre("all_of[0]: count gpu* is '9', not eq '8'"));
  EXPECT_TRUE(EvalOneOn(Count("gpu*", "le", "8"), NodeWithGpus(8)).allowed);
  EXPECT_FALSE(EvalOneOn(Count("gpu*", "le", "8"), NodeWithGpus(9)).allowed);
  EXPECT_TRUE(EvalOneOn(Count("gpu*", "ne", "0"), NodeWithGpus(1)).allowed);
  EXPECT_FALSE(EvalOneOn(Count("gpu*", "ne", "0"), NodeWithGpus(0)).allowed);
  Condition in = Count("gpu*", "in", "");
  in.add_values("4");
  in.add_values("8");
  EXPECT_TRUE(EvalOneOn(in, NodeWithGpus(4)).allowed);
  EXPECT_THAT(EvalOneOn(in, NodeWithGpus(5)).failed,
              ElementsAre("all_of[0]: count gpu* '5' is not in [4, 8]"));
  // "*" counts every device (cpu0 + GPUs); "switch*" none here.
  EXPECT_TRUE(EvalOneOn(Count("*", "eq", "9"), NodeWithGpus(8)).allowed);
  EXPECT_TRUE(EvalOneOn(Count("switch*", "eq", "0"), NodeWithGpus(8)).allowed);
  EXPECT_TRUE(EvalOneOn(Count("gpu*", "ge", "0"), NodeWithGpus(0)).allowed);
}

TEST(ReleaseRulesQuantifiers, EveryOverNoDeviceFails) {
  const nlohmann::json none = NodeWithGpus(0);
  const Condition every = Every("gpu*", "/claims/measurements_match", "eq", "true");
  RuleResult r = EvalOneOn(every, none);
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, ElementsAre("all_of[0]: every gpu*: no submod matches (every over no "
                                    "device fails; allow_empty: true accepts that)"));
  // The gpu0-only rule denies too (gpu0 is missing), but every gpu* must not
  // be weaker than it: an empty every is not vacuously true.
  EXPECT_FALSE(EvaluateReleaseRule(Gpu0OnlyRule(), none).allowed);
  EXPECT_FALSE(EvaluateReleaseRule(EveryGpuRule(), none).allowed);
  // allow_empty says "if there are GPUs, each must ...".
  Condition lenient = every;
  lenient.set_allow_empty(true);
  EXPECT_TRUE(EvalOneOn(lenient, none).allowed);
  nlohmann::json bad = NodeWithGpus(2);
  bad["submods"]["gpu1"]["claims"]["measurements_match"] = false;
  EXPECT_FALSE(EvalOneOn(lenient, bad).allowed);
  // No (or a malformed) submods: every quantifier fails, allow_empty or not.
  nlohmann::json missing = Claims();
  missing.erase("submods");
  for (const Condition& c : {every, lenient, Count("gpu*", "ge", "0")}) {
    SCOPED_TRACE(c.ShortDebugString());
    r = EvalOneOn(c, missing);
    EXPECT_FALSE(r.allowed);
    ASSERT_THAT(r.failed, SizeIs(1));
    EXPECT_THAT(r.failed[0], HasSubstr(": /submods is missing"));
    nlohmann::json array = Claims();
    array["submods"] = nlohmann::json::array({1, 2});
    EXPECT_THAT(EvalOneOn(c, array).failed,
                ElementsAre(HasSubstr("/submods is not an object (array)")));
    EXPECT_FALSE(EvalOneOn(c, nlohmann::json("not an object")).allowed);
  }
}

TEST(ReleaseRulesQuantifiers, DeviceLackingTheClaimFails) {
  nlohmann::json c = NodeWithGpus(8);
  // Non-authentic evidence: the token carries no claims for that device.
  c["submods"]["gpu3"]["claims"] = nlohmann::json::object();
  c["submods"]["gpu3"]["claims-omitted"] = "evidence-not-authentic";
  c["submods"]["gpu6"]["claims"]["measurements_match"] = nullptr;  // null is missing
  RuleResult r = EvalOneOn(Every("gpu*", "/claims/measurements_match", "eq", "true"), c);
  EXPECT_THAT(r.failed, ElementsAre("all_of[0]: every gpu* (2 of 8 failed): "
                                    "/submods/gpu3/claims/measurements_match is missing; "
                                    "/submods/gpu6/claims/measurements_match is missing"));
  // ne / in / ge / matches fail on the missing claim too.
  EXPECT_FALSE(EvalOneOn(Every("gpu*", "/claims/measurements_match", "ne", "false"), c).allowed);
  EXPECT_FALSE(EvalOneOn(Every("gpu*", "/claims/cc_mode", "in", "", {"cc"}), c).allowed);
  EXPECT_FALSE(EvalOneOn(Every("gpu*", "/claims/driver_version", "ge", "1"), c).allowed);
  EXPECT_FALSE(EvalOneOn(Every("gpu*", "/claims/arch", "matches", ".*"), c).allowed);
  // exists: false asks for the absence on every device.
  EXPECT_TRUE(EvalOneOn(Every("gpu*", "/claims-omitted", "exists", "false"),
                        NodeWithGpus(8)).allowed);
  EXPECT_THAT(EvalOneOn(Every("gpu*", "/claims-omitted", "exists", "false"), c).failed,
              ElementsAre("all_of[0]: every gpu* (1 of 8 failed): /submods/gpu3/claims-omitted "
                          "exists (exists: false)"));
  // A submod that is not an object has no claims.
  c = NodeWithGpus(2);
  c["submods"]["gpu1"] = "junk";
  EXPECT_THAT(EvalOneOn(Every("gpu*", "/ear.status", "eq", "affirming"), c).failed,
              ElementsAre("all_of[0]: every gpu* (1 of 2 failed): /submods/gpu1/ear.status is "
                          "missing"));
}

TEST(ReleaseRulesQuantifiers, GlobsAndEveryDevice) {
  EXPECT_TRUE(SubmodGlobMatches("gpu*", "gpu0"));
  EXPECT_TRUE(SubmodGlobMatches("gpu*", "gpu17"));
  EXPECT_TRUE(SubmodGlobMatches("gpu*", "gpu"));
  EXPECT_FALSE(SubmodGlobMatches("gpu*", "cpu0"));
  EXPECT_FALSE(SubmodGlobMatches("gpu*", "xgpu0"));
  EXPECT_FALSE(SubmodGlobMatches("gpu*", "GPU0"));  // case-sensitive
  EXPECT_TRUE(SubmodGlobMatches("*", "switch3"));
  EXPECT_TRUE(SubmodGlobMatches("*", ""));
  EXPECT_TRUE(SubmodGlobMatches("gpu?", "gpu9"));
  EXPECT_FALSE(SubmodGlobMatches("gpu?", "gpu10"));
  EXPECT_FALSE(SubmodGlobMatches("gpu?", "gpu"));
  EXPECT_TRUE(SubmodGlobMatches("*0", "gpu0"));
  EXPECT_TRUE(SubmodGlobMatches("*u*0", "cpu0"));
  EXPECT_FALSE(SubmodGlobMatches("*u*0", "cpu1"));
  EXPECT_TRUE(SubmodGlobMatches("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(SubmodGlobMatches("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(SubmodGlobMatches("cpu0", "cpu0"));
  EXPECT_FALSE(SubmodGlobMatches("cpu0", "cpu00"));
  EXPECT_TRUE(SubmodGlobMatches("**", "x"));

  // every "*": every device, the CPU included.
  nlohmann::json c = NodeWithGpus(8);
  const Condition all = Every("*", "/ear.status", "eq", "affirming");
  EXPECT_TRUE(EvalOneOn(all, c).allowed);
  c["submods"]["cpu0"]["ear.status"] = "warning";
  EXPECT_THAT(EvalOneOn(all, c).failed,
              ElementsAre("all_of[0]: every * (1 of 9 failed): /submods/cpu0/ear.status is "
                          "'warning', not eq 'affirming'"));
  // gpu? leaves gpu10 out; gpu* does not.
  c = NodeWithGpus(11);
  c["submods"]["gpu10"]["claims"]["cc_mode"] = "off";
  EXPECT_TRUE(EvalOneOn(Every("gpu?", "/claims/cc_mode", "eq", "cc"), c).allowed);
  EXPECT_THAT(EvalOneOn(Every("gpu*", "/claims/cc_mode", "eq", "cc"), c).failed,
              ElementsAre("all_of[0]: every gpu* (1 of 11 failed): /submods/gpu10/claims/cc_mode "
                          "is 'off', not eq 'cc'"));
  // Device names are shown as pointer tokens (escaped).
  c = NodeWithGpus(0);
  c["submods"]["g/p~u"] = {{"ear.status", "warning"}};
  EXPECT_THAT(EvalOneOn(Every("g*", "/ear.status", "eq", "affirming"), c).failed,
              ElementsAre("all_of[0]: every g* (1 of 1 failed): /submods/g~1p~0u/ear.status is "
                          "'warning', not eq 'affirming'"));
  // Relative pointers reach into arrays and nested objects of each device.
  c = NodeWithGpus(2);
  EXPECT_TRUE(EvalOneOn(Every("cpu*", "/claims/rtmr/2", "eq", "cc"), c).allowed);
  EXPECT_TRUE(EvalOneOn(Every("cpu*", "/ear.trustworthiness-vector/hardware", "le", "2"), c)
                  .allowed);
  // any_of with quantifiers.
  ReleaseRule r;
  r.set_name("t");
  *r.add_any_of() = Every("gpu*", "/claims/cc_mode", "eq", "ppcie");
  *r.add_any_of() = Every("gpu*", "/claims/cc_mode", "eq", "cc");
  EXPECT_TRUE(EvaluateReleaseRule(r, c).allowed);
}

TEST(ReleaseRulesQuantifiers, BoundedWork) {
  // More submods than kMaxQuantifiedSubmods: quantifiers fail rather than
  // look at some of the devices.
  nlohmann::json c = NodeWithGpus(static_cast<int>(kMaxQuantifiedSubmods));  // + cpu0
  EXPECT_THAT(EvalOneOn(Every("gpu*", "/ear.status", "eq", "affirming"), c).failed,
              ElementsAre("all_of[0]: every gpu*: /submods has 65 members, more than 64; not "
                          "evaluated"));
  EXPECT_FALSE(EvalOneOn(Count("gpu*", "ge", "1"), c).allowed);
  c["submods"].erase("cpu0");
  EXPECT_TRUE(EvalOneOn(Every("gpu*", "/ear.status", "eq", "affirming"), c).allowed);
  EXPECT_TRUE(EvalOneOn(Count("gpu*", "eq", "64"), c).allowed);

  // A failure line spells out at most 8 devices.
  c = NodeWithGpus(20);
  RuleResult r = EvalOneOn(Every("gpu*", "/claims/cc_mode", "eq", "ppcie"), c);
  ASSERT_THAT(r.failed, SizeIs(1));
  EXPECT_THAT(r.failed[0], HasSubstr("every gpu* (20 of 20 failed): /submods/gpu0/claims/cc_mode"));
  EXPECT_THAT(r.failed[0], HasSubstr("; ... and 12 more"));
  EXPECT_LT(r.failed[0].size(), 1000u);

  // Regexes over attester-chosen texts: at most kMaxMatchBytesPerRule bytes
  // per rule evaluation, however many devices an every covers.
  c = NodeWithGpus(20);
  for (int i = 0; i < 20; ++i) {
    c["submods"][absl::StrCat("gpu", i)]["claims"]["arch"] = std::string(kMaxMatchTextBytes, 'a');
  }
  r = EvalOneOn(Every("gpu*", "/claims/arch", "matches", "a*"), c);
  ASSERT_THAT(r.failed, SizeIs(1));
  EXPECT_THAT(r.failed[0], HasSubstr("every gpu* (4 of 20 failed): /submods/gpu16/claims/arch: "
                                     "the rule's budget of 65536 claim bytes for regexes is "
                                     "spent; not matched"));
  // A pathological pattern over 64 devices' maximal texts stays fast.
  c = NodeWithGpus(64);
  c["submods"].erase("cpu0");
  for (int i = 0; i < 64; ++i) {
    c["submods"][absl::StrCat("gpu", i)]["claims"]["arch"] =
        std::string(kMaxMatchTextBytes - 1, 'a') + "!";
  }
  ReleaseRule slow;
  slow.set_name("t");
  for (int k = 0; k < kMaxConditionsPerRule; ++k) {
    *slow.add_all_of() = Every("gpu*", "/claims/arch", "matches", "(.*){1,64}x");
  }
  const auto start = std::chrono::steady_clock::now();
  r = EvaluateReleaseRule(slow, c);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, SizeIs(kMaxConditionsPerRule));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

// Quantified conditions that skipped validation fail instead of holding.
TEST(ReleaseRulesQuantifiers, UnvalidatedConditionsFail) {
  const nlohmann::json c = NodeWithGpus(8);
  Condition both = Every("gpu*", "/ear.status", "exists", "");
  both.set_count("gpu*");
  Condition count_exists = Count("gpu*", "exists", "");
  Condition count_claim = Count("gpu*", "ge", "1");
  count_claim.set_claim("/ear.status");
  Condition count_word = Count("gpu*", "ne", "eight");
  Condition dotted_every = Every("gpu*", "ear.status", "exists", "false");
  for (const Condition& bad : {both, count_exists, count_claim, count_word, dotted_every}) {
    SCOPED_TRACE(bad.ShortDebugString());
    RuleResult r = EvalOneOn(bad, c);
    EXPECT_FALSE(r.allowed);
    ASSERT_THAT(r.failed, SizeIs(1));
    EXPECT_THAT(r.failed[0], HasSubstr("invalid condition"));
  }
}

absl::StatusOr<Policy> ParseRules(const std::string& yaml) {
  Policy p;
  // The id of the policy the Claims() were appraised under: rules are
  // pinned to their own policy.
  if (auto st = ParseDocumentToProto(absl::StrCat("id: strict-production\n", yaml), "t.yaml", &p);
      !st.ok()) {
    return st;
  }
  if (auto st = ValidateReleaseRules(p, "t.yaml"); !st.ok()) return st;
  return p;
}

TEST(ReleaseRules, ParsesAndEvaluatesAPolicyDocument) {
  auto p = ParseRules(R"yaml(
release_rules:
  - name: kms/model-key
    all_of:
      - {claim: /ear.status, op: in, values: [affirming, warning]}
      - {claim: /submods/gpu0/claims/measurements_match, op: eq, value: "true"}
      - {claim: /submods/gpu0/claims/driver_version, op: ge, value: "550.54.14"}
    any_of:
      - {claim: /submods/cpu0/claims/tcb_status, op: eq, value: UpToDate}
      - {claim: /submods/cpu0/claims/advisory_ids/0, op: matches, value: "INTEL-SA-0082[0-9]"}
  - name: k8s-admission
    allOf:
      - {claim: /submods/gpu1, op: exists, value: "true"}
  - name: kms/every-gpu
    all_of:
      - {count: "gpu*", op: eq, value: 1}
      - {count: switch*, op: in, values: [0, 4]}
      - {every: "*", claim: /ear.status, op: eq, value: affirming}
      - {every: gpu*, claim: /claims/driver_version, op: ge, value: 550.54.14}
      - {every: switch*, claim: /ear.status, op: eq, value: affirming, allowEmpty: true}
)yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<RuleResult> results = EvaluateReleaseRules(*p, Claims());
  ASSERT_THAT(results, SizeIs(3));
  EXPECT_EQ(results[2].name, "kms/every-gpu");
  EXPECT_TRUE(results[2].allowed) << ::testing::PrintToString(results[2].failed);
  EXPECT_TRUE(p->release_rules(2).all_of(4).allow_empty());
  EXPECT_EQ(results[0].name, "kms/model-key");
  EXPECT_TRUE(results[0].allowed);
  EXPECT_EQ(results[1].name, "k8s-admission");
  EXPECT_FALSE(results[1].allowed);
  EXPECT_THAT(results[1].failed, ElementsAre("all_of[0]: /submods/gpu1 is missing"));
  ASSERT_NE(FindReleaseRule(*p, "k8s-admission"), nullptr);
  EXPECT_EQ(FindReleaseRule(*p, "k8s-admission")->all_of_size(), 1);
  EXPECT_EQ(FindReleaseRule(*p, "nope"), nullptr);
}

TEST(ReleaseRules, RulesArePinnedToTheirPolicy) {
  auto p = ParseRules(R"yaml(
release_rules:
  - name: kms/model-key
    all_of:
      - {claim: /ear.status, op: eq, value: affirming}
)yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(EvaluateReleaseRules(*p, Claims())[0].allowed);
  // The same claims appraised under another (laxer) policy: denied, even
  // though the rule itself does not mention policy.id.
  nlohmann::json other = Claims();
  other["policy"]["id"] = "demo";
  std::vector<RuleResult> r = EvaluateReleaseRules(*p, other);
  EXPECT_FALSE(r[0].allowed);
  ASSERT_FALSE(r[0].failed.empty());
  EXPECT_THAT(r[0].failed[0], ::testing::HasSubstr("policy pin"));
  other.erase("policy");
  EXPECT_FALSE(EvaluateReleaseRules(*p, other)[0].allowed);
  // The unpinned single-rule evaluator still answers for the rule alone.
  EXPECT_TRUE(EvaluateReleaseRule(p->release_rules(0), other).allowed);
}

std::string ManyRules(int n) {
  std::string y = "release_rules:\n";
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&y, "  - {name: r", i, ", all_of: [{claim: /a, op: exists}]}\n");
  }
  return y;
}

std::string ManyConditions(int n) {
  std::string y = "release_rules:\n  - name: r\n    all_of:\n";
  for (int i = 0; i < n; ++i) absl::StrAppend(&y, "      - {claim: /a", i, ", op: exists}\n");
  return y;
}

std::string OneCondition(const std::string& cond) {
  return absl::StrCat("release_rules:\n  - name: r\n    all_of:\n      - ", cond, "\n");
}

TEST(ReleaseRules, ValidationErrorsNameThePath) {
  struct Case {
    const char* label;
    std::string yaml;
    std::string error;  // the whole message
  };
  const std::string long_path = "/" + std::string(kMaxClaimPathLength, 'a');
  const std::string long_regex(kMaxRegexLength + 1, 'a');
  const Case cases[] = {
      {"unknown op",
       "release_rules:\n"
       "  - {name: a, all_of: [{claim: /x, op: exists}]}\n"
       "  - {name: b, all_of: [{claim: /x, op: exists}]}\n"
       "  - {name: c, all_of: [{claim: /ear.status, op: gt, value: '1'}]}\n",
       "t.yaml: release_rules[2].all_of[0].op: 'gt' is not eq | ne | in | ge | le | matches | "
       "exists"},
      {"op missing", OneCondition("{claim: /x}"),
       "t.yaml: release_rules[0].all_of[0].op: required: eq | ne | in | ge | le | matches | "
       "exists"},
      {"any_of path",
       "release_rules:\n  - name: r\n    any_of:\n      - {claim: /x, op: exists}\n"
       "      - {claim: /y, op: regex, value: a}\n",
       "t.yaml: release_rules[0].any_of[1].op: 'regex' is not eq | ne | in | ge | le | matches | "
       "exists"},
      {"duplicate name",
       "release_rules:\n  - {name: kms, all_of: [{claim: /x, op: exists}]}\n"
       "  - {name: kms, all_of: [{claim: /x, op: exists}]}\n",
       "t.yaml: release_rules[1].name: duplicate 'kms' (also release_rules[0])"},
      {"name missing", "release_rules:\n  - {all_of: [{claim: /x, op: exists}]}\n",
       "t.yaml: release_rules[0].name: required"},
      {"bad name", "release_rules:\n  - {name: 'a b', all_of: [{claim: /x, op: exists}]}\n",
       "t.yaml: release_rules[0].name: 'a b' is not 1-128 of [A-Za-z0-9._:/@-]"},
      {"empty rule", "release_rules:\n  - {name: r}\n",
       "t.yaml: release_rules[0]: needs at least one all_of or any_of condition (an empty rule "
       "would allow everything)"},
      {"too many rules", ManyRules(kMaxReleaseRules + 1),
       "t.yaml: release_rules: at most 64 rules, got 65"},
      {"too many conditions", ManyConditions(kMaxConditionsPerRule + 1),
       "t.yaml: release_rules[0]: at most 64 conditions (all_of + any_of), got 65"},
      {"claim missing", OneCondition("{op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: required"},
      {"claim too long", OneCondition(absl::StrCat("{claim: ", long_path, ", op: exists}")),
       "t.yaml: release_rules[0].all_of[0].claim: longer than 256 characters (257)"},
      // Dotted paths (earlier versions) are refused, with the pointer to write.
      {"dotted path", OneCondition("{claim: submods.gpu0.claims.driver_version, op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: 'submods.gpu0.claims.driver_version' is not a "
       "JSON Pointer (RFC 6901); dotted paths are ambiguous and no longer accepted: write "
       "'/submods/gpu0/claims/driver_version'"},
      {"dotted ear name", OneCondition("{claim: submods.cpu0.ear.status, op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: 'submods.cpu0.ear.status' is not a JSON "
       "Pointer (RFC 6901); dotted paths are ambiguous and no longer accepted: write "
       "'/submods/cpu0/ear.status'"},
      {"dotted top-level", OneCondition("{claim: ear.status, op: eq, value: affirming}"),
       "t.yaml: release_rules[0].all_of[0].claim: 'ear.status' is not a JSON Pointer (RFC 6901); "
       "dotted paths are ambiguous and no longer accepted: write '/ear.status'"},
      {"bad escape", OneCondition("{claim: /submods/a~2b, op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: '/submods/a~2b': bad escape '~2' at offset 10 "
       "(RFC 6901: ~0 is '~', ~1 is '/')"},
      {"trailing tilde", OneCondition("{claim: /a~, op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: '/a~': bad escape '~' at offset 2 (RFC 6901: "
       "~0 is '~', ~1 is '/')"},
      {"empty token", OneCondition("{claim: '/submods//gpu0', op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: '/submods//gpu0': empty reference token at "
       "offset 9 ('//' or a trailing '/')"},
      {"trailing slash", OneCondition("{claim: /submods/, op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: '/submods/': empty reference token at offset 9 "
       "('//' or a trailing '/')"},
      {"bad character", OneCondition("{claim: '/submods/gpu 0', op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: '/submods/gpu 0': character 0x20 at offset 12 "
       "is not printable ASCII"},
      {"too many tokens",
       OneCondition("{claim: /a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a, "
                    "op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: '/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/"
       "a/a/a/a/a/a/a/a/a/a/a': more than 32 reference tokens"},
      // Quantifiers.
      {"every without claim", OneCondition("{every: 'gpu*', op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: required (with every: a JSON Pointer relative "
       "to each matching submod, e.g. /claims/measurements_match)"},
      {"every with an absolute submods pointer",
       OneCondition("{every: 'gpu*', claim: /submods/gpu0/ear.status, op: eq, value: affirming}"),
       "t.yaml: release_rules[0].all_of[0].claim: '/submods/gpu0/ear.status': with every, the "
       "pointer is relative to each matching submod (e.g. /claims/measurements_match, "
       "/ear.status)"},
      {"every with a dotted claim",
       OneCondition("{every: 'gpu*', claim: claims.cc_mode, op: eq, value: cc}"),
       "t.yaml: release_rules[0].all_of[0].claim: 'claims.cc_mode' is not a JSON Pointer (RFC "
       "6901); dotted paths are ambiguous and no longer accepted: write '/claims/cc_mode'"},
      {"bad glob", OneCondition("{every: 'gpu[0-3]', claim: /ear.status, op: exists}"),
       "t.yaml: release_rules[0].all_of[0].every: 'gpu[0-3]' is not a submod glob: "
       "[A-Za-z0-9._-] match themselves, '*' any run, '?' one character"},
      {"glob with a slash", OneCondition("{count: 'gpu/*', op: ge, value: '1'}"),
       "t.yaml: release_rules[0].all_of[0].count: 'gpu/*' is not a submod glob: "
       "[A-Za-z0-9._-] match themselves, '*' any run, '?' one character"},
      {"glob too long",
       OneCondition(absl::StrCat("{every: ", std::string(65, 'g'), ", claim: /x, op: exists}")),
       "t.yaml: release_rules[0].all_of[0].every: glob longer than 64 characters"},
      {"every and count", OneCondition("{every: 'gpu*', count: 'gpu*', op: ge, value: '1'}"),
       "t.yaml: release_rules[0].all_of[0].count: every and count exclude each other (a "
       "condition quantifies one way)"},
      {"allow_empty without every",
       OneCondition("{claim: /x, op: exists, allow_empty: true}"),
       "t.yaml: release_rules[0].all_of[0].allow_empty: only every takes allow_empty"},
      {"allow_empty with count", OneCondition("{count: 'gpu*', op: ge, value: '1', "
                                              "allow_empty: true}"),
       "t.yaml: release_rules[0].all_of[0].allow_empty: only every takes allow_empty"},
      {"count with a claim", OneCondition("{count: 'gpu*', claim: /ear.status, op: ge, "
                                          "value: '1'}"),
       "t.yaml: release_rules[0].all_of[0].claim: count takes no claim: it counts the submods "
       "whose names match 'gpu*' (use every to test each one's claims)"},
      {"count with a non-integer", OneCondition("{count: 'gpu*', op: ge, value: '7.5'}"),
       "t.yaml: release_rules[0].all_of[0].value: '7.5' is not an integer 0..64 (a number of "
       "submods)"},
      {"count with a negative", OneCondition("{count: 'gpu*', op: ge, value: '-1'}"),
       "t.yaml: release_rules[0].all_of[0].value: '-1' is not an integer 0..64 (a number of "
       "submods)"},
      {"count above the cap", OneCondition("{count: 'gpu*', op: ge, value: '65'}"),
       "t.yaml: release_rules[0].all_of[0].value: '65' is not an integer 0..64 (a number of "
       "submods)"},
      {"count with a leading zero", OneCondition("{count: 'gpu*', op: eq, value: '08'}"),
       "t.yaml: release_rules[0].all_of[0].value: '08' is not an integer 0..64 (a number of "
       "submods)"},
      {"count without value", OneCondition("{count: 'gpu*', op: ge}"),
       "t.yaml: release_rules[0].all_of[0].value: required for count"},
      {"count in with a word", OneCondition("{count: 'gpu*', op: in, values: ['8', eight]}"),
       "t.yaml: release_rules[0].all_of[0].values[1]: 'eight' is not an integer 0..64 (a number "
       "of submods)"},
      {"count with matches", OneCondition("{count: 'gpu*', op: matches, value: '8'}"),
       "t.yaml: release_rules[0].all_of[0].op: 'matches' is not eq | ne | in | ge | le (count "
       "compares a number of submods)"},
      {"count without op", OneCondition("{count: 'gpu*', value: '8'}"),
       "t.yaml: release_rules[0].all_of[0].op: required: eq | ne | in | ge | le"},
      {"any_of quantifier path",
       "release_rules:\n  - name: r\n    any_of:\n      - {claim: /x, op: exists}\n"
       "      - {every: '*', claim: /ear.status, op: gt, value: a}\n",
       "t.yaml: release_rules[0].any_of[1].op: 'gt' is not eq | ne | in | ge | le | matches | "
       "exists"},
      {"eq without value", OneCondition("{claim: /x, op: eq}"),
       "t.yaml: release_rules[0].all_of[0].value: required for op eq (use op exists for "
       "presence)"},
      {"in without values", OneCondition("{claim: /x, op: in}"),
       "t.yaml: release_rules[0].all_of[0].values: op in needs at least one value"},
      {"in with value", OneCondition("{claim: /x, op: in, value: a}"),
       "t.yaml: release_rules[0].all_of[0].value: op in takes `values` (a list), not `value`"},
      {"values with eq", OneCondition("{claim: /x, op: eq, value: a, values: [b]}"),
       "t.yaml: release_rules[0].all_of[0].values: only op in takes `values`; op eq takes "
       "`value`"},
      {"ge not comparable", OneCondition("{claim: /x, op: ge, value: 'v1.2'}"),
       "t.yaml: release_rules[0].all_of[0].value: 'v1.2' is neither a number nor a dotted "
       "version"},
      {"exists value", OneCondition("{claim: /x, op: exists, value: 'yes'}"),
       "t.yaml: release_rules[0].all_of[0].value: 'yes' is not \"true\" or \"false\""},
      {"back-reference", OneCondition("{claim: /x, op: matches, value: '(a)\\1'}"),
       "t.yaml: release_rules[0].all_of[0].value: regex /(a)\\1/: back-references are not "
       "supported (matching must stay linear in the claim's length)"},
      {"regex too long", OneCondition(absl::StrCat("{claim: /x, op: matches, value: ", long_regex,
                                                   "}")),
       "t.yaml: release_rules[0].all_of[0].value: regex longer than 256 characters"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    auto p = ParseRules(c.yaml);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(p.status().message(), c.error);
  }
  // The regex is compiled at validation (the message text is libstdc++'s).
  auto bad_regex = ParseRules(OneCondition("{claim: /x, op: matches, value: 'a(b'}"));
  ASSERT_FALSE(bad_regex.ok());
  EXPECT_THAT(bad_regex.status().message(),
              HasSubstr("t.yaml: release_rules[0].all_of[0].value: invalid regex /a(b/: "));
}

// YAML turns plain true/false into booleans, which the proto JSON mapping
// refuses for the string field `value`: booleans must be quoted
// (docs/policy.md says so).
TEST(ReleaseRules, UnquotedBooleanValueIsRefused) {
  EXPECT_FALSE(ParseRules(OneCondition("{claim: /x, op: eq, value: true}")).ok());
  EXPECT_TRUE(ParseRules(OneCondition("{claim: /x, op: eq, value: \"true\"}")).ok());
  EXPECT_TRUE(ParseRules(OneCondition("{claim: /x, op: ge, value: 550.54.14}")).ok());
}

TEST(ReleaseRules, BoundsAreInclusive) {
  EXPECT_TRUE(ParseRules(ManyRules(kMaxReleaseRules)).ok());
  EXPECT_TRUE(ParseRules(ManyConditions(kMaxConditionsPerRule)).ok());
  const std::string path = "/" + std::string(kMaxClaimPathLength - 1, 'a');
  EXPECT_TRUE(ParseRules(OneCondition(absl::StrCat("{claim: ", path, ", op: exists}"))).ok());
  EXPECT_TRUE(ParseRules(OneCondition(
                             "{claim: /a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/"
                             "a/a/a, op: exists}"))
                  .ok());  // 32 reference tokens
  EXPECT_TRUE(ParseRules(OneCondition(absl::StrCat("{every: '", std::string(kMaxGlobLength, '?'),
                                                   "', claim: /x, op: exists}")))
                  .ok());
  EXPECT_TRUE(ParseRules(OneCondition("{count: 'gpu*', op: le, value: '64'}")).ok());
  EXPECT_TRUE(ParseRules(OneCondition("{count: 'gpu*', op: eq, value: '0'}")).ok());
  const std::string re(kMaxRegexLength, 'a');
  EXPECT_TRUE(
      ParseRules(OneCondition(absl::StrCat("{claim: /x, op: matches, value: ", re, "}"))).ok());
  EXPECT_TRUE(ParseRules("").ok());  // no rules is valid
  // An escaped backslash before a digit is not a back-reference; one after a
  // bracket expression is.
  EXPECT_TRUE(ParseRules(OneCondition("{claim: /x, op: matches, value: 'a\\\\1'}")).ok());
  EXPECT_FALSE(ParseRules(OneCondition("{claim: /x, op: matches, value: '[ab](a)\\1'}")).ok());
}

// Every shipped policy loads, validates (appraisal + release rules) and has
// the identity its file name promises.
TEST(DeployPolicies, EveryFileLoads) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(RP_SOURCE_DIR) / "deploy" / "policies";
  std::vector<std::string> ids;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    auto lp = LoadPolicyFile(entry.path().string());
    ASSERT_TRUE(lp.ok()) << lp.status();
    EXPECT_TRUE(ValidateReleaseRules(lp->policy, entry.path().string()).ok())
        << ValidateReleaseRules(lp->policy, entry.path().string());
    EXPECT_EQ(lp->id, entry.path().stem().string());
    ids.push_back(lp->id);
  }
  std::sort(ids.begin(), ids.end());
  for (const char* want : {"demo", "fleet", "offline-airgapped", "strict-production"}) {
    EXPECT_TRUE(std::binary_search(ids.begin(), ids.end(), want)) << want;
  }
}

TEST(DeployPolicies, ProfilesSayWhatTheyPromise) {
  const std::string dir = std::string(RP_SOURCE_DIR) + "/deploy/policies/";
  auto strict = LoadPolicyFile(dir + "strict-production.yaml");
  ASSERT_TRUE(strict.ok()) << strict.status();
  const Policy& s = strict->policy;
  EXPECT_FALSE(s.allow_simulated());
  EXPECT_EQ(s.collateral_grace_seconds(), 0);
  ASSERT_EQ(s.allowed_bindings_size(), 1);
  EXPECT_EQ(s.allowed_bindings(0), "attest-v1");
  EXPECT_THAT(s.tdx().accepted_tcb_statuses(), ElementsAre("UpToDate"));
  EXPECT_THAT(s.tdx().tolerated_tcb_statuses(), IsEmpty());
  EXPECT_EQ(s.nvidia().mode(), "cc");
  EXPECT_FALSE(s.nvidia().allow_rim_mismatch());
  EXPECT_FALSE(s.nvidia().ocsp().allow_hold());
  EXPECT_FALSE(s.nvidia().ocsp().allow_unknown());
  EXPECT_FALSE(s.nvidia().ocsp().soft_fail());

  auto fleet = LoadPolicyFile(dir + "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_THAT(fleet->policy.tdx().tolerated_tcb_statuses(), ElementsAre("SWHardeningNeeded"));
  EXPECT_THAT(fleet->policy.tdx().accepted_advisory_ids(),
              ElementsAre("INTEL-SA-00828", "INTEL-SA-00837"));

  auto offline = LoadPolicyFile(dir + "offline-airgapped.yaml");
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_EQ(offline->policy.collateral_grace_seconds(), 7 * 24 * 3600);
  EXPECT_TRUE(offline->policy.nvidia().ocsp().soft_fail());
  EXPECT_FALSE(offline->policy.allow_simulated());

  auto demo = LoadPolicyFile(dir + "demo.yaml");
  ASSERT_TRUE(demo.ok()) << demo.status();
  EXPECT_TRUE(demo->policy.allow_simulated());

  // The strict profile's key-release rule admits the affirming sample claims
  // and refuses them once the GPU measurements stop matching.
  const ReleaseRule* kms = FindReleaseRule(s, "kms/model-key");
  ASSERT_NE(kms, nullptr);
  nlohmann::json claims = Claims();
  claims["policy"]["id"] = "strict-production";
  EXPECT_TRUE(EvaluateReleaseRule(*kms, claims).allowed)
      << ::testing::PrintToString(EvaluateReleaseRule(*kms, claims).failed);
  claims["submods"]["gpu0"]["claims"]["measurements_match"] = false;
  EXPECT_FALSE(EvaluateReleaseRule(*kms, claims).allowed);

  // The issue's node: 8 GPUs, gpu0 fine, gpu5 not. Denied, naming gpu5.
  nlohmann::json node = NodeWithGpus(8);
  RuleResult r = EvaluatePinnedReleaseRule(s, *kms, node);
  EXPECT_TRUE(r.allowed) << ::testing::PrintToString(r.failed);
  node["submods"]["gpu5"]["claims"]["measurements_match"] = false;
  r = EvaluatePinnedReleaseRule(s, *kms, node);
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, ElementsAre(HasSubstr("every gpu* (1 of 8 failed): "
                                              "/submods/gpu5/claims/measurements_match is "
                                              "'false', not eq 'true'")));
  node = NodeWithGpus(8);
  node["submods"]["gpu5"]["claims"]["driver_version"] = "535.104.05";
  node["submods"]["gpu5"]["claims"]["cc_mode"] = "off";
  r = EvaluatePinnedReleaseRule(s, *kms, node);
  EXPECT_THAT(r.failed, SizeIs(2));
  EXPECT_THAT(r.failed, Each(HasSubstr("/submods/gpu5/claims/")));
  // No GPU at all: denied (count, and every over no GPU is not vacuous).
  r = EvaluatePinnedReleaseRule(s, *kms, NodeWithGpus(0));
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, Contains("all_of[5]: count gpu* '0' is not ge '1'"));
  EXPECT_THAT(r.failed, Contains(HasSubstr("every gpu*: no submod matches")));

  // The same node under the other shipped key rules.
  const std::pair<const char*, const char*> keys[] = {{"fleet", "kms/workload-key"},
                                                      {"offline-airgapped", "kms/site-key"},
                                                      {"demo", "kms/demo-key"}};
  for (const auto& [id, rule] : keys) {
    SCOPED_TRACE(id);
    auto lp = LoadPolicyFile(dir + id + ".yaml");
    ASSERT_TRUE(lp.ok()) << lp.status();
    const ReleaseRule* key = FindReleaseRule(lp->policy, rule);
    ASSERT_NE(key, nullptr);
    nlohmann::json n = NodeWithGpus(8);
    n["policy"]["id"] = id;
    r = EvaluatePinnedReleaseRule(lp->policy, *key, n);
    EXPECT_TRUE(r.allowed) << ::testing::PrintToString(r.failed);
    n["submods"]["gpu5"]["claims"]["measurements_match"] = false;
    r = EvaluatePinnedReleaseRule(lp->policy, *key, n);
    EXPECT_FALSE(r.allowed);
    EXPECT_THAT(r.failed, Contains(HasSubstr("/submods/gpu5/claims/measurements_match")));
    // Without GPUs: fleet and offline-airgapped deny, the demo key allows
    // (allow_empty: the demo may run CPU-only).
    n = NodeWithGpus(0);
    n["policy"]["id"] = id;
    EXPECT_EQ(EvaluatePinnedReleaseRule(lp->policy, *key, n).allowed, std::string(id) == "demo");
  }
}

// ---- Compact tokens: a claim the token left out is unknown, not absent ----

nlohmann::json WithProfile(const char* profile) {
  nlohmann::json j = Claims();
  if (profile != nullptr) j["token_profile"] = profile;
  return j;
}

TEST(CompactTokens, AMissingDeviceClaimFailsEveryOpIncludingExistsFalse) {
  // advisory_ids/0 is missing inside a carried claim: a real absence.
  const Condition no_advisory = Cond("/submods/cpu0/claims/advisory_ids/0", "exists", "false");
  // report_data is not carried at all (the compact profile left it out).
  const Condition no_report_data = Cond("/submods/cpu0/claims/report_data", "exists", "false");
  const Condition no_reasons = Cond("/submods/gpu0/reasons", "exists", "false");
  const Condition every_no_ocsp = Every("gpu*", "/claims/ocsp", "exists", "false");
  const Condition ocsp_ne = Every("gpu*", "/claims/ocsp/0/status", "ne", "revoked");
  // Results and tokens without token_profile (and full tokens) carry every
  // claim: what is missing is absent, as before.
  for (const char* full : {static_cast<const char*>(nullptr), "full"}) {
    const nlohmann::json claims = WithProfile(full);
    EXPECT_TRUE(EvalOneOn(no_advisory, claims).allowed);
    EXPECT_TRUE(EvalOneOn(no_report_data, claims).allowed);
    EXPECT_TRUE(EvalOneOn(no_reasons, claims).allowed);
    EXPECT_TRUE(EvalOneOn(every_no_ocsp, claims).allowed);
  }
  // Compact (or any profile this evaluator does not know): refused.
  for (const char* compact : {"compact", "tiny", ""}) {
    const nlohmann::json claims = WithProfile(compact);
    EXPECT_TRUE(EvalOneOn(no_advisory, claims).allowed) << compact;
    for (const Condition& c : {no_report_data, no_reasons, every_no_ocsp, ocsp_ne}) {
      const RuleResult r = EvalOneOn(c, claims);
      EXPECT_FALSE(r.allowed) << compact << " " << c.claim();
      EXPECT_THAT(r.failed, Contains(HasSubstr("is not in this compact token"))) << c.claim();
    }
    // What the token carries works as before.
    EXPECT_TRUE(EvalOneOn(Cond("/submods/cpu0/claims/tcb_status", "eq", "UpToDate"), claims)
                    .allowed);
    EXPECT_TRUE(EvalOneOn(Every("gpu*", "/claims/cc_mode", "eq", "cc"), claims).allowed);
    // A device the token does not have is simply missing.
    EXPECT_TRUE(EvalOneOn(Cond("/submods/gpu9/claims/cc_mode", "exists", "false"), claims).allowed);
    // A claim carried as null is null, not omitted.
    EXPECT_FALSE(EvalOneOn(Cond("/submods/gpu0/claims/hwmodel", "exists", "true"), claims).allowed);
    EXPECT_TRUE(EvalOneOn(Cond("/submods/gpu0/claims/hwmodel", "exists", "false"), claims).allowed);
  }
  // Non-authentic evidence has no claims in any profile: not "omitted".
  nlohmann::json bad = WithProfile("compact");
  bad["submods"]["cpu0"]["claims"] = nlohmann::json::object();
  bad["submods"]["cpu0"]["claims-omitted"] = "evidence-not-authentic";
  EXPECT_TRUE(EvalOneOn(Cond("/submods/cpu0/claims/tcb_status", "exists", "false"), bad).allowed);
}

TEST(CompactTokens, TokenNeedsNamesWhatTheRulesRead) {
  Policy p;
  ReleaseRule* r = p.add_release_rules();
  r->set_name("a");
  *r->add_all_of() = Cond("/submods/cpu0/claims/rtmr/2", "eq", "x");
  *r->add_all_of() = Every("gpu*", "/claims/ocsp/0/status", "eq", "good");
  *r->add_all_of() = Every("*", "/ear.status", "eq", "affirming");
  *r->add_any_of() = Cond("/submods/gpu0/collateral/0/sha256", "eq", "x");
  *r->add_any_of() = Cond("/submods/cpu0/ear.status", "eq", "affirming");
  *r->add_any_of() = Cond("/runtime_claims/node", "exists", "true");
  *r->add_any_of() = Cond("/submods/gpu~1x/claims/a~1b", "exists", "true");
  const TokenNeeds needs = ReleaseRuleTokenNeeds(p);
  EXPECT_EQ(needs.device_claims, (std::set<std::string>{"rtmr", "ocsp", "a/b"}));
  EXPECT_EQ(needs.device_members, (std::set<std::string>{"collateral"}));
}

}  // namespace
}  // namespace rp::policy
