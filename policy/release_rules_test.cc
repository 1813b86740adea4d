#include "policy/release_rules.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
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
      {"eq string", Cond("ear.status", "eq", "affirming"), true, ""},
      {"eq string differs", Cond("ear.status", "eq", "warning"), false,
       "all_of[0]: ear.status is 'affirming', not eq 'warning'"},
      {"eq bool as text", Cond("submods.gpu0.claims.measurements_match", "eq", "true"), true, ""},
      {"eq bool false", Cond("submods.gpu0.claims.measurements_match", "eq", "false"), false,
       "is 'true', not eq 'false'"},
      {"eq int as text", Cond("submods.cpu0.claims.quote_version", "eq", "4"), true, ""},
      {"eq float as text", Cond("ratio", "eq", "0.5"), true, ""},
      {"eq is case-sensitive", Cond("submods.gpu0.claims.arch", "eq", "hopper"), false,
       "not eq 'hopper'"},
      // ne
      {"ne holds", Cond("submods.gpu0.claims.cc_mode", "ne", "off"), true, ""},
      {"ne equal", Cond("submods.gpu0.claims.cc_mode", "ne", "cc"), false, "is 'cc' (op ne)"},
      // in
      {"in listed", Cond("submods.cpu0.claims.tcb_status", "in", "", {"UpToDate", "SWHardeningNeeded"}),
       true, ""},
      {"in not listed", Cond("submods.cpu0.claims.tcb_status", "in", "", {"OutOfDate"}), false,
       "'UpToDate' is not in [OutOfDate]"},
      {"in bool text", Cond("submods.gpu0.claims.measurements_match", "in", "", {"true"}), true, ""},
      // ge / le on numbers
      {"ge number", Cond("iat", "ge", "1700000000"), true, ""},
      {"ge number fails", Cond("iat", "ge", "1800000000"), false,
       "iat '1764662400' is not ge '1800000000'"},
      {"le number", Cond("exp", "le", "1764662700"), true, ""},
      {"le number fails", Cond("exp", "le", "1764662699"), false, "is not le"},
      {"ge float claim", Cond("ratio", "ge", "0.25"), true, ""},
      {"le float claim fails", Cond("ratio", "le", "0.25"), false, "is not le '0.25'"},
      {"string integers compare numerically", Cond("submods.cpu0.claims.svn_text", "ge", "9"), true,
       ""},
      // ge / le on dotted versions
      {"driver ge", Cond("submods.gpu0.claims.driver_version", "ge", "550.54.14"), true, ""},
      {"driver ge fails", Cond("submods.gpu0.claims.driver_version", "ge", "555.42.02"), false,
       "'550.90.07' is not ge '555.42.02'"},
      {"driver le equal", Cond("submods.gpu0.claims.driver_version", "le", "550.90.07"), true, ""},
      {"driver missing components are 0", Cond("submods.gpu0.claims.driver_version", "ge", "550"),
       true, ""},
      {"vbios hex components", Cond("submods.gpu0.claims.vbios_version", "ge", "96.00.74.00.01"),
       true, ""},
      {"vbios hex le fails", Cond("submods.gpu0.claims.vbios_version", "le", "96.00.9E.00.FF"),
       false, "is not le"},
      // ge / le type mismatches fail.
      {"ge on a word", Cond("submods.cpu0.claims.tcb_status", "ge", "1"), false,
       "'UpToDate' and '1' are not both numbers or both dotted versions"},
      {"ge on a bool", Cond("submods.gpu0.claims.measurements_match", "ge", "1"), false,
       "is a boolean, not a number or version"},
      {"number claim vs version value", Cond("submods.cpu0.claims.quote_version", "ge", "4.1.2"),
       false, "is a number but '4.1.2' is not"},
      {"ge on an object", Cond("submods.cpu0.claims.td_attributes", "ge", "1"), false,
       "is an object, not a scalar"},
      // matches: whole-text ECMAScript regex.
      {"matches", Cond("submods.gpu0.claims.arch", "matches", "HOP.*"), true, ""},
      {"matches is anchored", Cond("submods.gpu0.claims.arch", "matches", "HOP"), false,
       "'HOPPER' does not match /HOP/"},
      {"matches a number's text", Cond("submods.cpu0.claims.quote_version", "matches", "[45]"),
       true, ""},
      {"matches on an array", Cond("submods.cpu0.claims.rtmr", "matches", ".*"), false,
       "is an array, not a scalar"},
      // exists
      {"exists default true", Cond("ear.status", "exists", ""), true, ""},
      {"exists true", Cond("submods.gpu0", "exists", "true"), true, ""},
      {"exists true missing", Cond("submods.gpu1", "exists", "true"), false,
       "submods.gpu1 is missing"},
      {"exists false missing", Cond("submods.switch0", "exists", "false"), true, ""},
      {"exists false present", Cond("submods.gpu0", "exists", "false"), false,
       "submods.gpu0 exists (exists: false)"},
      {"null counts as missing", Cond("submods.gpu0.claims.hwmodel", "exists", "false"), true, ""},
      {"exists on an object", Cond("submods.cpu0.claims.td_attributes", "exists", "true"), true, ""},
      // Paths: array indices and dotted member names.
      {"array index", Cond("submods.cpu0.claims.rtmr.2", "eq", "cc"), true, ""},
      {"array index out of range", Cond("submods.cpu0.claims.rtmr.4", "eq", "cc"), false,
       "submods.cpu0.claims.rtmr.4 is missing"},
      {"array index not a number", Cond("submods.cpu0.claims.rtmr.x", "exists", "true"), false,
       "is missing"},
      {"dotted member name", Cond("submods.gpu0.ear.status", "eq", "affirming"), true, ""},
      {"dotted member at the top", Cond("ear.verifier-id.developer", "eq", "attestation-rp"), true,
       ""},
      {"trust vector tier", Cond("submods.cpu0.ear.trustworthiness-vector.hardware", "le", "2"),
       true, ""},
      {"path below a scalar", Cond("ear.status.x", "exists", "true"), false, "is missing"},
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
  const std::string missing = "submods.gpu7.claims.driver_version";
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
  EXPECT_FALSE(EvalOne(Cond("submods.gpu0.claims.hwmodel", "ne", "GH100")).allowed);
}

TEST(ReleaseRules, LongTextsAndLargeNumbers) {
  nlohmann::json claims = Claims();
  claims["long"] = std::string(kMaxMatchTextBytes + 1, 'a');
  claims["big"] = uint64_t{18446744073709551615u};
  claims["neg"] = -5;
  ReleaseRule r;
  r.set_name("t");
  *r.add_all_of() = Cond("long", "matches", "a*");
  RuleResult res = EvaluateReleaseRule(r, claims);
  EXPECT_FALSE(res.allowed);
  ASSERT_THAT(res.failed, SizeIs(1));
  EXPECT_THAT(res.failed[0], HasSubstr("long is longer than 4096 bytes; not matched"));
  // The failure text shows a bounded prefix of long values.
  r.clear_all_of();
  *r.add_all_of() = Cond("long", "eq", "b");
  res = EvaluateReleaseRule(r, claims);
  ASSERT_THAT(res.failed, SizeIs(1));
  EXPECT_LT(res.failed[0].size(), 400u);
  EXPECT_THAT(res.failed[0], HasSubstr("...(4097 bytes)"));
  for (const auto& [cond, want] : std::vector<std::pair<Condition, bool>>{
           {Cond("big", "ge", "18446744073709551614"), true},
           {Cond("big", "eq", "18446744073709551615"), true},
           {Cond("neg", "le", "-4"), true},
           {Cond("neg", "ge", "-4"), false},
           {Cond("neg", "ge", "-5.5"), true}}) {
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
  *r.add_all_of() = Cond("s", "matches", "(a+)+b");
  *r.add_all_of() = Cond("s", "matches", "(a|aa)*c");
  *r.add_all_of() = Cond("s", "matches", "(.*){1,64}x");
  const auto start = std::chrono::steady_clock::now();
  RuleResult res = EvaluateReleaseRule(r, claims);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(res.allowed);
  EXPECT_THAT(res.failed, SizeIs(3));
  EXPECT_LT(elapsed, std::chrono::seconds(5));  // backtracking: longer than the universe
  // Lookahead still works.
  nlohmann::json build = {{"b", "attestation-rp 0.1.0"}};
  EXPECT_TRUE(EvalOneOn(Cond("b", "matches", "(?!.*SIMULATED).*"), build).allowed);
  build["b"] = "attestation-rp 0.1.0 (SIMULATED EVIDENCE)";
  EXPECT_FALSE(EvalOneOn(Cond("b", "matches", "(?!.*SIMULATED).*"), build).allowed);
}

TEST(ReleaseRules, ResolveClaimPath) {
  const nlohmann::json& c = Claims();
  ASSERT_NE(ResolveClaimPath(c, "submods.gpu0.ear.status"), nullptr);
  EXPECT_EQ(*ResolveClaimPath(c, "submods.gpu0.ear.status"), "affirming");
  EXPECT_EQ(*ResolveClaimPath(c, "submods.cpu0.claims.rtmr.0"), "aa");
  EXPECT_EQ(ResolveClaimPath(c, ""), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "submods..cpu0"), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "submods.cpu0.claims.rtmr.-1"), nullptr);
  EXPECT_EQ(ResolveClaimPath(c, "submods.cpu0.claims.rtmr.99999999999"), nullptr);
  // Longest member name wins when both "a" and "a.b" exist.
  nlohmann::json both = {{"a", {{"b", 1}}}, {"a.b", 2}};
  EXPECT_EQ(*ResolveClaimPath(both, "a.b"), 2);
}

ReleaseRule Rule(std::vector<Condition> all, std::vector<Condition> any) {
  ReleaseRule r;
  r.set_name("kms/model-key");
  for (auto& c : all) *r.add_all_of() = c;
  for (auto& c : any) *r.add_any_of() = c;
  return r;
}

TEST(ReleaseRules, AllOfAnyOfCombinations) {
  const Condition yes1 = Cond("ear.status", "eq", "affirming");
  const Condition yes2 = Cond("submods.gpu0.claims.cc_mode", "in", "", {"cc", "ppcie"});
  const Condition no1 = Cond("submods.cpu0.claims.tcb_status", "eq", "OutOfDate");
  const Condition no2 = Cond("submods.gpu1.ear.status", "exists", "true");

  RuleResult r = EvaluateReleaseRule(Rule({yes1, yes2}, {}), Claims());
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.name, "kms/model-key");

  r = EvaluateReleaseRule(Rule({yes1, no1, yes2}, {}), Claims());
  EXPECT_FALSE(r.allowed);
  ASSERT_THAT(r.failed, SizeIs(1));
  EXPECT_THAT(r.failed[0], HasSubstr("all_of[1]: submods.cpu0.claims.tcb_status"));

  // any_of: one holding is enough; failing siblings are not reported.
  r = EvaluateReleaseRule(Rule({}, {no1, yes1}), Claims());
  EXPECT_TRUE(r.allowed);
  EXPECT_THAT(r.failed, IsEmpty());

  // None holds: every any_of failure is listed.
  r = EvaluateReleaseRule(Rule({}, {no1, no2}), Claims());
  EXPECT_FALSE(r.allowed);
  ASSERT_THAT(r.failed, SizeIs(2));
  EXPECT_THAT(r.failed[0], HasSubstr("any_of[0]: "));
  EXPECT_THAT(r.failed[1], HasSubstr("any_of[1]: submods.gpu1.ear.status is missing"));

  // all_of holds, any_of does not.
  r = EvaluateReleaseRule(Rule({yes1}, {no1, no2}), Claims());
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.failed, SizeIs(2));

  // any_of holds, all_of does not: only the all_of failure is reported.
  r = EvaluateReleaseRule(Rule({no2, yes1}, {yes2}), Claims());
  EXPECT_FALSE(r.allowed);
  ASSERT_THAT(r.failed, SizeIs(1));
  EXPECT_THAT(r.failed[0], HasSubstr("all_of[0]: submods.gpu1.ear.status is missing"));

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
      - {claim: ear.status, op: in, values: [affirming, warning]}
      - {claim: submods.gpu0.claims.measurements_match, op: eq, value: "true"}
      - {claim: submods.gpu0.claims.driver_version, op: ge, value: "550.54.14"}
    any_of:
      - {claim: submods.cpu0.claims.tcb_status, op: eq, value: UpToDate}
      - {claim: submods.cpu0.claims.advisory_ids.0, op: matches, value: "INTEL-SA-0082[0-9]"}
  - name: k8s-admission
    allOf:
      - {claim: submods.gpu1, op: exists, value: "true"}
)yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<RuleResult> results = EvaluateReleaseRules(*p, Claims());
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_EQ(results[0].name, "kms/model-key");
  EXPECT_TRUE(results[0].allowed);
  EXPECT_EQ(results[1].name, "k8s-admission");
  EXPECT_FALSE(results[1].allowed);
  EXPECT_THAT(results[1].failed, ElementsAre("all_of[0]: submods.gpu1 is missing"));
  ASSERT_NE(FindReleaseRule(*p, "k8s-admission"), nullptr);
  EXPECT_EQ(FindReleaseRule(*p, "k8s-admission")->all_of_size(), 1);
  EXPECT_EQ(FindReleaseRule(*p, "nope"), nullptr);
}

TEST(ReleaseRules, RulesArePinnedToTheirPolicy) {
  auto p = ParseRules(R"yaml(
release_rules:
  - name: kms/model-key
    all_of:
      - {claim: ear.status, op: eq, value: affirming}
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
    absl::StrAppend(&y, "  - {name: r", i, ", all_of: [{claim: a, op: exists}]}\n");
  }
  return y;
}

std::string ManyConditions(int n) {
  std::string y = "release_rules:\n  - name: r\n    all_of:\n";
  for (int i = 0; i < n; ++i) absl::StrAppend(&y, "      - {claim: a", i, ", op: exists}\n");
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
  const std::string long_path(kMaxClaimPathLength + 1, 'a');
  const std::string long_regex(kMaxRegexLength + 1, 'a');
  const Case cases[] = {
      {"unknown op",
       "release_rules:\n"
       "  - {name: a, all_of: [{claim: x, op: exists}]}\n"
       "  - {name: b, all_of: [{claim: x, op: exists}]}\n"
       "  - {name: c, all_of: [{claim: ear.status, op: gt, value: '1'}]}\n",
       "t.yaml: release_rules[2].all_of[0].op: 'gt' is not eq | ne | in | ge | le | matches | "
       "exists"},
      {"op missing", OneCondition("{claim: x}"),
       "t.yaml: release_rules[0].all_of[0].op: required: eq | ne | in | ge | le | matches | "
       "exists"},
      {"any_of path",
       "release_rules:\n  - name: r\n    any_of:\n      - {claim: x, op: exists}\n"
       "      - {claim: y, op: regex, value: a}\n",
       "t.yaml: release_rules[0].any_of[1].op: 'regex' is not eq | ne | in | ge | le | matches | "
       "exists"},
      {"duplicate name",
       "release_rules:\n  - {name: kms, all_of: [{claim: x, op: exists}]}\n"
       "  - {name: kms, all_of: [{claim: x, op: exists}]}\n",
       "t.yaml: release_rules[1].name: duplicate 'kms' (also release_rules[0])"},
      {"name missing", "release_rules:\n  - {all_of: [{claim: x, op: exists}]}\n",
       "t.yaml: release_rules[0].name: required"},
      {"bad name", "release_rules:\n  - {name: 'a b', all_of: [{claim: x, op: exists}]}\n",
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
      {"empty segment", OneCondition("{claim: 'submods..gpu0', op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: 'submods..gpu0' has an empty segment"},
      {"bad character", OneCondition("{claim: 'submods.gpu 0', op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: 'submods.gpu 0': segments are "
       "[A-Za-z0-9_:/@-], separated by '.'"},
      {"too many segments",
       OneCondition("{claim: a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a, "
                    "op: exists}"),
       "t.yaml: release_rules[0].all_of[0].claim: more than 32 segments"},
      {"eq without value", OneCondition("{claim: x, op: eq}"),
       "t.yaml: release_rules[0].all_of[0].value: required for op eq (use op exists for "
       "presence)"},
      {"in without values", OneCondition("{claim: x, op: in}"),
       "t.yaml: release_rules[0].all_of[0].values: op in needs at least one value"},
      {"in with value", OneCondition("{claim: x, op: in, value: a}"),
       "t.yaml: release_rules[0].all_of[0].value: op in takes `values` (a list), not `value`"},
      {"values with eq", OneCondition("{claim: x, op: eq, value: a, values: [b]}"),
       "t.yaml: release_rules[0].all_of[0].values: only op in takes `values`; op eq takes "
       "`value`"},
      {"ge not comparable", OneCondition("{claim: x, op: ge, value: 'v1.2'}"),
       "t.yaml: release_rules[0].all_of[0].value: 'v1.2' is neither a number nor a dotted "
       "version"},
      {"exists value", OneCondition("{claim: x, op: exists, value: 'yes'}"),
       "t.yaml: release_rules[0].all_of[0].value: 'yes' is not \"true\" or \"false\""},
      {"back-reference", OneCondition("{claim: x, op: matches, value: '(a)\\1'}"),
       "t.yaml: release_rules[0].all_of[0].value: regex /(a)\\1/: back-references are not "
       "supported (matching must stay linear in the claim's length)"},
      {"regex too long", OneCondition(absl::StrCat("{claim: x, op: matches, value: ", long_regex,
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
  auto bad_regex = ParseRules(OneCondition("{claim: x, op: matches, value: 'a(b'}"));
  ASSERT_FALSE(bad_regex.ok());
  EXPECT_THAT(bad_regex.status().message(),
              HasSubstr("t.yaml: release_rules[0].all_of[0].value: invalid regex /a(b/: "));
}

// YAML turns plain true/false into booleans, which the proto JSON mapping
// refuses for the string field `value`: booleans must be quoted
// (docs/policy.md says so).
TEST(ReleaseRules, UnquotedBooleanValueIsRefused) {
  EXPECT_FALSE(ParseRules(OneCondition("{claim: x, op: eq, value: true}")).ok());
  EXPECT_TRUE(ParseRules(OneCondition("{claim: x, op: eq, value: \"true\"}")).ok());
  EXPECT_TRUE(ParseRules(OneCondition("{claim: x, op: ge, value: 550.54.14}")).ok());
}

TEST(ReleaseRules, BoundsAreInclusive) {
  EXPECT_TRUE(ParseRules(ManyRules(kMaxReleaseRules)).ok());
  EXPECT_TRUE(ParseRules(ManyConditions(kMaxConditionsPerRule)).ok());
  const std::string path(kMaxClaimPathLength, 'a');
  EXPECT_TRUE(ParseRules(OneCondition(absl::StrCat("{claim: ", path, ", op: exists}"))).ok());
  const std::string re(kMaxRegexLength, 'a');
  EXPECT_TRUE(
      ParseRules(OneCondition(absl::StrCat("{claim: x, op: matches, value: ", re, "}"))).ok());
  EXPECT_TRUE(ParseRules("").ok());  // no rules is valid
  // An escaped backslash before a digit is not a back-reference; one after a
  // bracket expression is.
  EXPECT_TRUE(ParseRules(OneCondition("{claim: x, op: matches, value: 'a\\\\1'}")).ok());
  EXPECT_FALSE(ParseRules(OneCondition("{claim: x, op: matches, value: '[ab](a)\\1'}")).ok());
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
}

}  // namespace
}  // namespace rp::policy
