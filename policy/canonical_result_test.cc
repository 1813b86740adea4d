// Appraisal::CanonicalResultJson writes the canonical result directly
// (CanonicalObjectWriter); it must stay byte for byte
// CanonicalJson(Appraisal::ToJson()), errors included. Random appraisals
// here; every real and mutated bundle of the property tests as well
// (tests/property/monotonicity.cc, Evaluate).
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "policy/appraisal.h"
#include "policy/canonical_json.h"

namespace rp::policy {
namespace {

// Names and values that exercise the writer: ASCII, BMP, beyond U+FFFF
// (sorted by UTF-16 code units, not bytes), escapes, empty.
const char* const kNames[] = {"a", "b", "B", "", "z\xC3\xA9", "\xF0\x9F\x98\x80", "\xEF\xBD\xA1",
                              "tab\t", "q\"", "gpu0", "gpu1", "cpu0"};

std::string Pick(std::mt19937& rng) { return kNames[rng() % std::size(kNames)]; }

nlohmann::json RandomValue(std::mt19937& rng, int depth) {
  switch (rng() % (depth > 3 ? 5 : 7)) {
    case 0: return nullptr;
    case 1: return rng() % 2 == 0;
    case 2: return static_cast<int64_t>(rng()) - (1LL << 31);
    case 3: return std::ldexp(static_cast<double>(rng() % 100000), static_cast<int>(rng() % 80) - 40);
    case 4: return Pick(rng);
    case 5: {
      nlohmann::json a = nlohmann::json::array();
      for (int i = 0; i < static_cast<int>(rng() % 4); ++i) a.push_back(RandomValue(rng, depth + 1));
      return a;
    }
    default: {
      nlohmann::json o = nlohmann::json::object();
      for (int i = 0; i < static_cast<int>(rng() % 5); ++i) o[Pick(rng)] = RandomValue(rng, depth + 1);
      return o;
    }
  }
}

core::Check RandomCheck(std::mt19937& rng) {
  core::Check c;
  c.name = Pick(rng);
  c.status = static_cast<core::CheckStatus>(rng() % 3);
  c.reason = Pick(rng);
  if (rng() % 2) c.detail = Pick(rng);
  c.affects_status = rng() % 3 != 0;
  if (rng() % 4 == 0) c.relaxed_by = Pick(rng);
  return c;
}

Appraisal RandomAppraisal(std::mt19937& rng) {
  Appraisal a;
  a.verdict = static_cast<Verdict>(rng() % 3);
  a.policy_id = Pick(rng);
  a.policy_version = Pick(rng);
  a.policy_sha256 = Pick(rng);
  a.binding = Pick(rng);
  a.binding_verified = rng() % 2;
  if (rng() % 2) {
    a.runtime_claims.emplace();
    for (int i = 0; i < static_cast<int>(rng() % 4); ++i) (*a.runtime_claims)[Pick(rng)] = Pick(rng);
  }
  if (rng() % 2) a.nonce = Bytes{1, 2, static_cast<uint8_t>(rng())};
  a.simulated = rng() % 2;
  for (int i = 0; i < static_cast<int>(rng() % 3); ++i) a.bundle_checks.push_back(RandomCheck(rng));
  for (int i = 0; i < static_cast<int>(rng() % 3); ++i) a.reasons.push_back(Pick(rng));
  for (int i = 0; i < static_cast<int>(rng() % 4); ++i) {
    AppraisedDevice d;
    d.device.name = Pick(rng);  // duplicates happen: the later one wins in both
    d.device.tee = Pick(rng);
    d.device.claims = rng() % 5 == 0 ? RandomValue(rng, 3) : nlohmann::json::object();
    for (int k = 0; d.device.claims.is_object() && k < static_cast<int>(rng() % 5); ++k) {
      d.device.claims[Pick(rng)] = RandomValue(rng, 4);
    }
    d.device.evidence_authentic = rng() % 2;
    d.device.simulated = rng() % 2;
    for (int k = 0; k < static_cast<int>(rng() % 4); ++k) d.device.checks.push_back(RandomCheck(rng));
    for (int k = 0; k < static_cast<int>(rng() % 3); ++k) {
      core::CollateralRef r{Pick(rng), Pick(rng), Pick(rng), "", ""};
      if (rng() % 2) r.next_update = Pick(rng);
      if (rng() % 2) r.source = Pick(rng);
      d.device.collateral.push_back(r);
    }
    d.status = static_cast<Verdict>(rng() % 3);
    for (int k = 0; k < static_cast<int>(rng() % 4); ++k) {
      d.trust_vector[Pick(rng)] = static_cast<int>(rng() % 100) - 50;
    }
    a.devices.push_back(std::move(d));
  }
  return a;
}

void ExpectSame(const Appraisal& a, const std::string& what) {
  const absl::StatusOr<std::string> direct = a.CanonicalResultJson();
  const absl::StatusOr<std::string> via_tree = CanonicalJson(a.ToJson());
  ASSERT_EQ(direct.ok(), via_tree.ok())
      << what << ": " << direct.status() << " vs " << via_tree.status();
  if (direct.ok()) {
    EXPECT_EQ(*direct, *via_tree) << what;
  } else {
    EXPECT_EQ(direct.status().code(), absl::StatusCode::kInvalidArgument) << what;
  }
}

TEST(CanonicalResultJson, EqualsTheCanonicalFormOfTheResultTree) {
  std::mt19937 rng(20261207);
  for (int round = 0; round < 3000; ++round) {
    ExpectSame(RandomAppraisal(rng), "round " + std::to_string(round));
    if (HasFatalFailure()) return;
  }
}

TEST(CanonicalResultJson, ErrorsAsTheTreeDoes) {
  std::mt19937 rng(7);
  Appraisal a = RandomAppraisal(rng);
  a.devices.resize(1);
  a.devices[0].device.evidence_authentic = true;
  a.devices[0].device.claims = nlohmann::json::object();

  Appraisal bad_value = a;
  bad_value.devices[0].device.claims["x"] = std::string("\xC3");  // cut UTF-8
  ExpectSame(bad_value, "invalid UTF-8 value");
  EXPECT_FALSE(bad_value.CanonicalResultJson().ok());

  Appraisal bad_name = a;
  bad_name.devices[0].device.name = "\xFF";
  ExpectSame(bad_name, "invalid UTF-8 device name");
  EXPECT_FALSE(bad_name.CanonicalResultJson().ok());

  Appraisal bad_reason = a;
  bad_reason.reasons.push_back("\x80");
  ExpectSame(bad_reason, "invalid UTF-8 reason");

  Appraisal inf = a;
  inf.devices[0].device.claims["n"] = std::numeric_limits<double>::infinity();
  ExpectSame(inf, "infinite number");
  EXPECT_FALSE(inf.CanonicalResultJson().ok());

  // Nesting: claims sit at depth 3, so 61 more levels are the limit.
  for (int extra : {60, 61, 62}) {
    Appraisal deep = a;
    nlohmann::json v = 1;
    for (int i = 0; i < extra; ++i) v = nlohmann::json::array({v});
    deep.devices[0].device.claims = v;
    ExpectSame(deep, "nesting " + std::to_string(extra));
  }
}

TEST(CanonicalObjectWriter, LaterMemberOfTheSameNameWins) {
  CanonicalObjectWriter w;
  w.Int("b", 1);
  w.String("a", "x");
  w.Int("b", 2);
  w.Bool("\xF0\x9F\x98\x80", true);  // U+1F600: sorts before U+FF61 in UTF-16
  w.Bool("\xEF\xBD\xA1", false);     // U+FF61
  EXPECT_EQ(*w.Finish(), "{\"a\":\"x\",\"b\":2,\"\xF0\x9F\x98\x80\":true,\"\xEF\xBD\xA1\":false}");
}

TEST(CanonicalObjectWriter, FirstErrorSticks) {
  CanonicalObjectWriter w;
  w.String("a", "\xC3");
  w.Int("b", 1);
  EXPECT_EQ(w.Finish().status().code(), absl::StatusCode::kInvalidArgument);
  CanonicalObjectWriter n;
  n.Int("\xFF", 1);
  EXPECT_EQ(n.Finish().status().message(), "canonical json: a member name is not UTF-8");
  EXPECT_FALSE(CanonicalArray({std::string("1"), absl::InvalidArgumentError("x")}).ok());
  EXPECT_EQ(*CanonicalArray({}), "[]");
}

}  // namespace
}  // namespace rp::policy
