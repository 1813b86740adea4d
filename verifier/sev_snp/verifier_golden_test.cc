// Golden tests over every real AMD sample in tests/data/snp at the fixed
// time 2025-09-01T00:00:00Z with the offline collateral fixture
// (tests/data/snp/offline: ARK-issued CRLs for Milan and Genoa, KDS cert
// chains). Every claim is compared with the sample's independently made
// expected.json.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/collateral/source.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/golden_samples.h"
#include "verifier/sev_snp/rules.h"
#include "verifier/sev_snp/test_util.h"
#include "verifier/sev_snp/verifier.h"

namespace rp::sev_snp {
namespace {

using core::CheckStatus;
using core::DeviceResult;
using test::GoldenSample;

const std::vector<std::string> kCheckOrder = {
    kCheckReportFormat,   kCheckProduct,   kCheckEndorsementKey,
    kCheckSigningKeyType, kCheckCertChain, kCheckRevocation,
    kCheckTcbMatch,       kCheckChipId,    kCheckCertProduct,
    kCheckReportSignature};

std::string Lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const core::Check* FindCheck(const DeviceResult& d, std::string_view name) {
  for (const auto& c : d.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string Describe(const DeviceResult& d) {
  std::string out;
  for (const auto& c : d.checks) {
    out += "  " + c.name + " " + std::string(core::CheckStatusName(c.status)) +
           " " + c.reason + ": " + c.detail + "\n";
  }
  return out;
}

nlohmann::json ExpectedFor(const GoldenSample& s) {
  nlohmann::json all = nlohmann::json::parse(
      ToString(test::ReadSnpData(s.folder + "/expected.json")));
  for (const auto& e : all) {
    if (e.value("report", "") == s.report) return e;
  }
  return nullptr;
}

class GoldenVerifierTest : public ::testing::TestWithParam<GoldenSample> {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<SnpVerifier>> v =
        SnpVerifier::Create(TrustConfig::Default());
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = v->release();
  }
  static void TearDownTestSuite() {
    delete verifier_;
    verifier_ = nullptr;
  }

  static attestation::v1::EvidenceBundle Bundle(const GoldenSample& s,
                                                bool pem) {
    attestation::v1::EvidenceBundle b;
    b.mutable_sev_snp()->set_report(
        ToString(test::ReadSnpData(s.folder + "/" + s.report)));
    const Bytes der = test::ReadSnpData(s.folder + "/" + s.cert);
    std::string text = Base64Encode(der);
    if (pem) {
      absl::StatusOr<crypto::OpensslPtr<X509>> cert =
          crypto::ParseDerCertificate(der);
      EXPECT_TRUE(cert.ok());
      text = crypto::CertificatePem(cert->get());
    }
    if (s.vlek) {
      b.mutable_sev_snp()->set_vlek(text);
    } else {
      b.mutable_sev_snp()->set_vcek(text);
    }
    return b;
  }

  static absl::StatusOr<DeviceResult> Run(
      const attestation::v1::EvidenceBundle& b,
      const collateral::CollateralSource& src,
      absl::Time at = test::GoldenTime(),
      absl::Duration grace = absl::ZeroDuration()) {
    core::VerifyContext ctx{at, &src, std::nullopt, grace};
    absl::StatusOr<std::vector<DeviceResult>> r = verifier_->Verify(b, ctx);
    if (!r.ok()) return r.status();
    if (r->size() != 1) return absl::InternalError("expected one device");
    return std::move(r->front());
  }

  static SnpVerifier* verifier_;
};
SnpVerifier* GoldenVerifierTest::verifier_ = nullptr;

void ExpectTcbClaims(const nlohmann::json& got, const nlohmann::json& want,
                     const std::string& what) {
  const std::pair<const char*, const char*> names[] = {
      {"bl", "bootloader"},   {"tee", "tee"}, {"snp", "snp"},
      {"ucode", "microcode"}, {"fmc", "fmc"}, {"raw", "raw"}};
  for (const auto& [from, to] : names) {
    if (want.contains(from)) {
      EXPECT_EQ(got.value(to, nlohmann::json()), want[from])
          << what << "." << to;
    } else {
      EXPECT_FALSE(got.contains(to)) << what << "." << to;
    }
  }
}

std::string NormalizeTime(std::string t) {
  const std::string suffix = "+00:00";
  if (t.size() > suffix.size() &&
      t.compare(t.size() - suffix.size(), suffix.size(), suffix) == 0) {
    t.replace(t.size() - suffix.size(), suffix.size(), "Z");
  }
  return t;
}

// Walks expected.json and compares every field that maps onto a claim;
// fields covered elsewhere are listed so a new field cannot be forgotten.
void ExpectClaimsMatch(const nlohmann::json& claims, const nlohmann::json& e) {
  for (const auto& [key, want] : e.items()) {
    if (key == "report" || key == "report_sha256" ||
        key == "sha384_signed_bytes" || key == "sig_r" || key == "sig_s" ||
        key == "reserved_zero" || key == "expect" || key == "sig_algo") {
      continue;  // layout_test.cc / the checks cover these
    }
    if (key == "product_line") {
      EXPECT_EQ(claims["product"], want);
    } else if (key == "version" || key == "guest_svn" || key == "vmpl") {
      EXPECT_EQ(claims[key], want) << key;
    } else if (key == "cpuid_fam_mod_step") {
      if (want.is_array()) {
        EXPECT_EQ(claims["cpuid"]["family"], want[0]);
        EXPECT_EQ(claims["cpuid"]["model"], want[1]);
        EXPECT_EQ(claims["cpuid"]["stepping"], want[2]);
      } else {
        EXPECT_FALSE(claims.contains("cpuid"));
      }
    } else if (key == "policy") {
      EXPECT_EQ(claims["policy"]["raw"], want);
    } else if (key == "policy_decoded") {
      for (const auto& [bit, value] : want.items()) {
        EXPECT_EQ(claims["policy"][bit], value) << "policy." << bit;
      }
    } else if (key == "platform_info") {
      EXPECT_EQ(claims["platform_info"]["raw"], want);
    } else if (key == "signer_info") {
      EXPECT_EQ(claims["signing_key"],
                Lower(want["signing_key"].get<std::string>()));
      EXPECT_EQ(claims["mask_chip_key"], want["mask_chip_key"].get<int>() != 0);
      EXPECT_EQ(claims["author_key_en"], want["author_key_en"].get<int>() != 0);
    } else if (key == "current_tcb" || key == "reported_tcb" ||
               key == "committed_tcb" || key == "launch_tcb") {
      ExpectTcbClaims(claims[key], want, key);
    } else if (key == "current_version" || key == "committed_version" ||
               key == "report_data" || key == "measurement" ||
               key == "host_data" || key == "id_key_digest" ||
               key == "author_key_digest" || key == "report_id" ||
               key == "report_id_ma" || key == "chip_id") {
      EXPECT_EQ(claims[key], want) << key;
    } else if (key == "launch_mit_vector" || key == "current_mit_vector") {
      if (e["version"].get<int>() >= 5) {
        EXPECT_EQ(claims[key], want) << key;
      } else {
        EXPECT_FALSE(claims.contains(key)) << key;
        EXPECT_EQ(want, "0x0") << key;
      }
    } else if (key == "certificate") {
      const nlohmann::json& cert = claims["cert"];
      EXPECT_EQ(cert["subject_cn"], want["subject_cn"]);
      EXPECT_EQ(cert["issuer_cn"], want["issuer_cn"]);
      EXPECT_EQ(cert["not_before"], NormalizeTime(want["not_before"]));
      EXPECT_EQ(cert["not_after"], NormalizeTime(want["not_after"]));
      const nlohmann::json& kds = want["kds_extensions"];
      EXPECT_EQ(cert["product_name"], kds["productName"]);
      if (kds.contains("cspID")) {
        EXPECT_EQ(cert["csp_id"], kds["cspID"]);
      } else {
        EXPECT_FALSE(cert.contains("csp_id"));
      }
    } else {
      ADD_FAILURE() << "expected.json field '" << key
                    << "' is not mapped by this test";
    }
  }
}

TEST_P(GoldenVerifierTest, EveryCheckPassesAndClaimsMatch) {
  const GoldenSample& s = GetParam();
  collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
  for (bool pem : {false, true}) {
    absl::StatusOr<DeviceResult> d = Run(Bundle(s, pem), offline);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->tee, "sev-snp");
    std::vector<std::string> names;
    for (const auto& c : d->checks) names.push_back(c.name);
    EXPECT_EQ(names, kCheckOrder);
    // No Turin CRL and no VLEK CRL exist (tests/data/snp/offline/README.md).
    const bool crl_missing = s.product == "Turin" || s.vlek;
    for (const auto& c : d->checks) {
      if (c.name == kCheckRevocation && crl_missing) {
        EXPECT_EQ(c.status, CheckStatus::kNotChecked) << Describe(*d);
        EXPECT_EQ(c.reason, reason::kCrlUnavailable);
      } else {
        EXPECT_EQ(c.status, CheckStatus::kPass) << c.name << "\n"
                                                << Describe(*d);
        EXPECT_EQ(c.reason, "OK");
      }
    }
    EXPECT_FALSE(d->simulated);
    const nlohmann::json e = ExpectedFor(s);
    ASSERT_FALSE(e.is_null());
    ASSERT_TRUE(d->report_data.has_value());
    EXPECT_EQ(HexEncode(*d->report_data), e["report_data"]);
    ExpectClaimsMatch(d->claims, e);
    EXPECT_EQ(d->claims["product"], s.product);
  }
}

INSTANTIATE_TEST_SUITE_P(RealReports, GoldenVerifierTest,
                         ::testing::ValuesIn(test::GoldenSamples()),
                         [](const auto& p) {
                           return test::SampleName(p.param);
                         });

// Without any collateral the compiled-in ASK/ASVK still complete the chain.
TEST_P(GoldenVerifierTest, CompiledInIntermediatesWithoutCollateral) {
  const GoldenSample& s = GetParam();
  collateral::EmptySource none;
  absl::StatusOr<DeviceResult> d = Run(Bundle(s, false), none);
  ASSERT_TRUE(d.ok()) << d.status();
  const core::Check* chain = FindCheck(*d, kCheckCertChain);
  ASSERT_NE(chain, nullptr);
  EXPECT_EQ(chain->status, CheckStatus::kPass) << Describe(*d);
  EXPECT_NE(chain->detail.find("compiled-in"), std::string::npos)
      << chain->detail;
  const core::Check* crl = FindCheck(*d, kCheckRevocation);
  EXPECT_EQ(crl->status, CheckStatus::kNotChecked);
  EXPECT_EQ(crl->reason, reason::kCrlUnavailable);
  EXPECT_FALSE(d->HasFailure()) << Describe(*d);
}

class GoldenVariantsTest : public GoldenVerifierTest {};

TEST_F(GoldenVariantsTest, BundleChainWithPinnedArkIsAccepted) {
  // trustee's bundle order is ASK, ARK, ASVK; the ARK is byte-identical to
  // the pinned one and is dropped with a note.
  GoldenSample s{"milan_v3_oak_cb", "report.bin", "vcek.der", false, "Milan"};
  attestation::v1::EvidenceBundle b = Bundle(s, true);
  b.mutable_sev_snp()->set_cert_chain(
      ToString(test::ReadSnpData("collateral/trustee_milan_ask_ark_asvk.pem")));
  collateral::EmptySource none;
  absl::StatusOr<DeviceResult> d = Run(b, none);
  ASSERT_TRUE(d.ok()) << d.status();
  const core::Check* chain = FindCheck(*d, kCheckCertChain);
  EXPECT_EQ(chain->status, CheckStatus::kPass) << Describe(*d);
  EXPECT_NE(chain->detail.find("identical"), std::string::npos)
      << chain->detail;
  EXPECT_NE(chain->detail.find("bundle"), std::string::npos) << chain->detail;
}

TEST_F(GoldenVariantsTest, AzureChainShippedWithTheLeafIsAccepted) {
  GoldenSample s{"azure_milan_v2_hcl_trustee", "report.bin", "vcek.der", false,
                 "Milan"};
  attestation::v1::EvidenceBundle b = Bundle(s, false);
  b.mutable_sev_snp()->set_cert_chain(ToString(
      test::ReadSnpData("azure_milan_v2_hcl_trustee/vcek_ask_ark_chain.pem")));
  collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
  absl::StatusOr<DeviceResult> d = Run(b, offline);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->HasFailure()) << Describe(*d);
  EXPECT_EQ(FindCheck(*d, kCheckRevocation)->status, CheckStatus::kPass)
      << Describe(*d);
}

TEST_F(GoldenVariantsTest, ForeignArkInBundleIsIgnoredNotTrusted) {
  // A Milan VCEK with Genoa's ASK+ARK: the Genoa ARK is not Milan's pinned
  // root, so it is dropped, and nothing issues the VCEK.
  GoldenSample s{"milan_v3_oak_cb", "report.bin", "vcek.der", false, "Milan"};
  attestation::v1::EvidenceBundle b = Bundle(s, false);
  b.mutable_sev_snp()->set_cert_chain(
      ToString(test::ReadSnpData("collateral/gsg_ask_ark_genoa.pem")));
  collateral::EmptySource none;
  absl::StatusOr<DeviceResult> d = Run(b, none);
  ASSERT_TRUE(d.ok()) << d.status();
  const core::Check* chain = FindCheck(*d, kCheckCertChain);
  EXPECT_EQ(chain->status, CheckStatus::kFail);
  EXPECT_EQ(chain->reason, reason::kChainUntrustedRoot) << chain->detail;
  EXPECT_NE(chain->detail.find("ignored root \"ARK-Genoa\""), std::string::npos)
      << chain->detail;
  EXPECT_FALSE(d->report_data.has_value());
  // The signature itself is fine: everything else is still reported.
  EXPECT_EQ(FindCheck(*d, kCheckReportSignature)->status, CheckStatus::kPass);
}

TEST_F(GoldenVariantsTest, VcekFromCollateral) {
  attestation::v1::EvidenceBundle b;
  b.mutable_sev_snp()->set_report(
      ToString(test::ReadSnpData("milan_v3_oak_cb/report.bin")));
  collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
  absl::StatusOr<DeviceResult> d = Run(b, offline);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->HasFailure()) << Describe(*d);
  const core::Check* key = FindCheck(*d, kCheckEndorsementKey);
  EXPECT_NE(key->detail.find("collateral amd/vcek/Milan/1f8c2a55"),
            std::string::npos)
      << key->detail;
  EXPECT_TRUE(d->report_data.has_value());
}

TEST_F(GoldenVariantsTest, MissingVcekIsReportedNotFetchedFromNowhere) {
  attestation::v1::EvidenceBundle b;
  b.mutable_sev_snp()->set_report(
      ToString(test::ReadSnpData("milan_v2_gsg/report.bin")));
  collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
  absl::StatusOr<DeviceResult> d = Run(b, offline);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(FindCheck(*d, kCheckEndorsementKey)->reason,
            reason::kEndorsementCertMissing);
  EXPECT_EQ(FindCheck(*d, kCheckProduct)->reason,
            reason::kProductUnknown);  // v2
  EXPECT_EQ(FindCheck(*d, kCheckReportSignature)->reason,
            reason::kPrerequisiteFailed);
  EXPECT_FALSE(d->report_data.has_value());
  EXPECT_EQ(d->claims["product"], "Unknown");
  EXPECT_EQ(d->claims["reported_tcb"],
            (nlohmann::json{{"raw", "0200000000000544"}}));
}

TEST_F(GoldenVariantsTest, LaterTimeStaleCrlAndExpiredVlek) {
  // 2026-11-22: the Milan CRL (nextUpdate 2026-05-12) is stale and the AWS
  // VLEK (notAfter 2025-12-10) has expired.
  const absl::Time later = absl::FromUnixSeconds(1795305600);
  collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
  absl::StatusOr<DeviceResult> vcek =
      Run(Bundle({"milan_v3_oak_cb", "report.bin", "vcek.der", false, "Milan"},
                 false),
          offline, later);
  ASSERT_TRUE(vcek.ok());
  EXPECT_EQ(FindCheck(*vcek, kCheckCertChain)->status, CheckStatus::kPass);
  // The CRL from the offline directory is past its nextUpdate and there is
  // no grace: fail closed (issue 10; it used to be a not-checked warning).
  EXPECT_EQ(FindCheck(*vcek, kCheckRevocation)->status, CheckStatus::kFail);
  EXPECT_EQ(FindCheck(*vcek, kCheckRevocation)->reason,
            "COLLATERAL_STALE_BEYOND_GRACE");
  absl::StatusOr<DeviceResult> vlek =
      Run(Bundle({"milan_v3_vlek_aws_trustee", "report.bin", "vlek.der", true,
                  "Milan"},
                 false),
          offline, later);
  ASSERT_TRUE(vlek.ok());
  EXPECT_EQ(FindCheck(*vlek, kCheckCertChain)->reason, reason::kCertExpired);
  EXPECT_FALSE(vlek->report_data.has_value());
}

TEST_F(GoldenVariantsTest, ExpiredOfflineCrlWithinGraceIsStaleBeyondGraceFails) {
  // The Milan CRL in tests/data/snp/offline has nextUpdate 2026-05-12.
  // 8 days later: inside a 30-day grace it is used (revocation judged as of
  // its last valid moment) and reported as stale collateral; with a 7-day
  // grace it fails closed. The offline directory has no cache in front, so
  // the CRL's own nextUpdate is what decides.
  const absl::Time later = absl::FromUnixSeconds(1779235200);  // 2026-05-20
  collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
  const auto bundle =
      Bundle({"milan_v3_oak_cb", "report.bin", "vcek.der", false, "Milan"}, false);
  absl::StatusOr<DeviceResult> within = Run(bundle, offline, later, absl::Hours(24 * 30));
  ASSERT_TRUE(within.ok()) << within.status();
  EXPECT_EQ(FindCheck(*within, kCheckRevocation)->status, CheckStatus::kPass)
      << Describe(*within);
  const core::Check* fresh = FindCheck(*within, "sev_snp.collateral_freshness");
  ASSERT_NE(fresh, nullptr) << Describe(*within);
  EXPECT_EQ(fresh->status, CheckStatus::kNotChecked);
  EXPECT_EQ(fresh->reason, "STALE_COLLATERAL");
  absl::StatusOr<DeviceResult> beyond = Run(bundle, offline, later, absl::Hours(24 * 7));
  ASSERT_TRUE(beyond.ok()) << beyond.status();
  EXPECT_EQ(FindCheck(*beyond, kCheckRevocation)->status, CheckStatus::kFail);
  EXPECT_EQ(FindCheck(*beyond, kCheckRevocation)->reason, "COLLATERAL_STALE_BEYOND_GRACE");
  EXPECT_EQ(FindCheck(*beyond, "sev_snp.collateral_freshness"), nullptr);
}

// --- Real negative vectors (tests/data/snp/negative)
// ----------------------------

TEST_F(GoldenVariantsTest, UnmatchedVlekFailsOnlyTheSignature) {
  attestation::v1::EvidenceBundle b;
  b.mutable_sev_snp()->set_report(ToString(test::ReadSnpData(
      "negative/vlek_report_v2_unmatched_constellation.bin")));
  b.mutable_sev_snp()->set_vlek(Base64Encode(
      test::ReadSnpData("negative/vlek_unmatched_constellation.der")));
  collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
  absl::StatusOr<DeviceResult> d =
      Run(b, offline, absl::FromUnixSeconds(1704067200));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(FindCheck(*d, kCheckReportSignature)->status, CheckStatus::kFail)
      << Describe(*d);
  EXPECT_EQ(FindCheck(*d, kCheckReportSignature)->reason,
            reason::kSignatureInvalid);
  // Correct chain, matching TCB, product from the VLEK's productName (v2).
  EXPECT_EQ(FindCheck(*d, kCheckProduct)->status, CheckStatus::kPass)
      << Describe(*d);
  EXPECT_EQ(FindCheck(*d, kCheckCertChain)->status, CheckStatus::kPass)
      << Describe(*d);
  EXPECT_EQ(FindCheck(*d, kCheckTcbMatch)->status, CheckStatus::kPass)
      << Describe(*d);
  EXPECT_EQ(FindCheck(*d, kCheckSigningKeyType)->status, CheckStatus::kPass)
      << Describe(*d);
  EXPECT_EQ(FindCheck(*d, kCheckChipId)->status, CheckStatus::kPass)
      << Describe(*d);
  EXPECT_FALSE(d->report_data.has_value());
  EXPECT_EQ(d->claims["product"], "Milan");
}

TEST_F(GoldenVariantsTest, TamperedVceksFailTheChainSignature) {
  for (const char* file : {"negative/vcek_badsig_raw_hwid.der",
                           "negative/vcek_badsig_octetstring_hwid.der"}) {
    attestation::v1::EvidenceBundle b;
    b.mutable_sev_snp()->set_report(
        ToString(test::ReadSnpData("milan_v2_trustee/report.bin")));
    b.mutable_sev_snp()->set_vcek(Base64Encode(test::ReadSnpData(file)));
    collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
    absl::StatusOr<DeviceResult> d = Run(b, offline);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(FindCheck(*d, kCheckEndorsementKey)->status, CheckStatus::kPass)
        << Describe(*d);
    const core::Check* chain = FindCheck(*d, kCheckCertChain);
    EXPECT_EQ(chain->status, CheckStatus::kFail) << file;
    EXPECT_EQ(chain->reason, reason::kChainSignatureInvalid)
        << file << ": " << chain->detail;
    EXPECT_FALSE(d->report_data.has_value());
  }
}

// One verifier instance serves many threads (immutable after Create).
TEST_F(GoldenVariantsTest, ConcurrentVerifyGivesTheSameResult) {
  collateral::OfflineDirectorySource offline(test::SnpDataPath("offline"));
  const std::vector<GoldenSample> samples = test::GoldenSamples();
  std::vector<nlohmann::json> want;
  for (const auto& s : samples) {
    absl::StatusOr<DeviceResult> d = Run(Bundle(s, false), offline);
    ASSERT_TRUE(d.ok());
    want.push_back(d->claims);
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < samples.size(); ++i) {
        const size_t k = (i + static_cast<size_t>(t) * 3) % samples.size();
        absl::StatusOr<DeviceResult> d =
            Run(Bundle(samples[k], t % 2 == 0), offline);
        if (!d.ok() || d->HasFailure() || d->claims != want[k]) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(SnpVerifierTest, NoSevSnpEvidenceGivesNoDevice) {
  absl::StatusOr<std::unique_ptr<SnpVerifier>> v =
      SnpVerifier::Create(TrustConfig::Default());
  ASSERT_TRUE(v.ok());
  collateral::EmptySource none;
  core::VerifyContext ctx{test::GoldenTime(), &none, std::nullopt};
  attestation::v1::EvidenceBundle b;
  absl::StatusOr<std::vector<DeviceResult>> r = (*v)->Verify(b, ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

}  // namespace
}  // namespace rp::sev_snp
