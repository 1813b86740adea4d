// One-flip negatives with the test RIM builder (tests/testing/rim_builder.h):
// start from a valid RIM signed under a test hierarchy, change one thing.
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/rim_builder.h"
#include "verifier/crypto/digest.h"
#include "verifier/nvidia/rim/appraise.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim_signature.h"
#include "verifier/nvidia/rim/rim_source.h"
#include "verifier/nvidia/rim/rim_test_util.h"

namespace rp::nvidia::rim {
namespace {

using ::rp::nvidia::rim::testing::MapSource;
using ::rp::nvidia::rim::testing::Outcome;
using ::rp::testing::RimContent;
using ::rp::testing::RimSignOptions;
using ::rp::testing::RimSigningHierarchy;
using ::testing::HasSubstr;

const absl::Time kAt = absl::FromUnixSeconds(1767225600);  // 2026-01-01

Bytes Digest(uint8_t tag) { return crypto::Sha384(Bytes{tag}); }

RimMeasurement Active(uint32_t index, std::vector<Bytes> alts) {
  RimMeasurement m;
  m.index = index;
  m.active = true;
  m.alternatives = std::move(alts);
  return m;
}

class RimBuilderFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<RimSigningHierarchy> h = rp::testing::MakeRimSigningHierarchy();
    ASSERT_TRUE(h.ok()) << h.status();
    h_ = new RimSigningHierarchy(*std::move(h));
    rp::testing::RimHierarchySpec other_spec;
    other_spec.name_prefix = "Other";
    absl::StatusOr<RimSigningHierarchy> other = rp::testing::MakeRimSigningHierarchy(other_spec);
    ASSERT_TRUE(other.ok());
    other_ = new RimSigningHierarchy(*std::move(other));
  }
  static void TearDownTestSuite() {
    delete h_;
    delete other_;
  }
  static inline RimSigningHierarchy* h_ = nullptr;
  static inline RimSigningHierarchy* other_ = nullptr;
};

// ---------------------------------------------------------------------------
// Signature and chain: VerifyRim on a builder RIM with one thing changed.

struct SigCase {
  std::string name;
  std::function<void(RimSignOptions&)> flip;
  std::string want_signature;
  std::string want_chain = "OK";
  // Build differently than with the default hierarchy/key (optional).
  enum class Signer { kDefault, kWrongKey, kSmuggledKey, kNoL3, kExpiredLeaf, kUntrusted } signer = Signer::kDefault;
};

void PrintTo(const SigCase& c, std::ostream* os) { *os << c.name; }

class RimSignatureNegativeTest : public RimBuilderFixture,
                                 public ::testing::WithParamInterface<SigCase> {};

TEST_P(RimSignatureNegativeTest, OneFlip) {
  const SigCase& c = GetParam();
  RimSignOptions options;
  if (c.flip) c.flip(options);
  const RimContent content = rp::testing::MakeRimContent("96.00.5E.00.01", {Active(3, {Digest(3)})});
  const std::string unsigned_xml = rp::testing::RimXmlUnsigned(content);
  RimTrustConfig trust = h_->TrustOnlyThis();
  absl::StatusOr<std::string> xml;
  switch (c.signer) {
    case SigCase::Signer::kDefault:
      xml = rp::testing::SignRimXml(unsigned_xml, h_->l4.key.get(), h_->Chain(), options);
      break;
    case SigCase::Signer::kWrongKey:  // L3's key, but L4's certificate in KeyInfo
      xml = rp::testing::SignRimXml(unsigned_xml, h_->l3.key.get(), h_->Chain(), options);
      break;
    case SigCase::Signer::kSmuggledKey:
      // Signed by another hierarchy's L4, whose certificate is appended to
      // the trusted chain in X509Data: only the first (validated)
      // certificate's key may be used.
      xml = rp::testing::SignRimXml(unsigned_xml, other_->l4.key.get(),
                                    {h_->l4.cert.get(), h_->l3.cert.get(), h_->ca.cert.get(),
                                     other_->l4.cert.get()},
                                    options);
      break;
    case SigCase::Signer::kNoL3:
      xml = rp::testing::SignRimXml(unsigned_xml, h_->l4.key.get(),
                                    {h_->l4.cert.get(), h_->ca.cert.get()}, options);
      break;
    case SigCase::Signer::kExpiredLeaf: {
      rp::testing::RimHierarchySpec spec;
      spec.leaf_not_after = kAt - absl::Hours(1);
      absl::StatusOr<RimSigningHierarchy> eh = rp::testing::MakeRimSigningHierarchy(spec);
      ASSERT_TRUE(eh.ok());
      trust = eh->TrustOnlyThis();
      xml = rp::testing::SignRimXml(unsigned_xml, eh->l4.key.get(), eh->Chain(), options);
      break;
    }
    case SigCase::Signer::kUntrusted:
      xml = rp::testing::SignRimXml(unsigned_xml, other_->l4.key.get(), other_->Chain(), options);
      break;
  }
  ASSERT_TRUE(xml.ok()) << xml.status();
  absl::StatusOr<RimVerification> v = VerifyRim(*xml, trust, kAt);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->signature.reason, c.want_signature) << v->signature.detail;
  if (c.want_chain != "-") {
    EXPECT_EQ(v->chain.reason, c.want_chain) << v->chain.detail;
  }
  EXPECT_EQ(v->ok(), c.want_signature == "OK" && c.want_chain == "OK");
  if (c.signer == SigCase::Signer::kDefault && c.want_signature == "OK") {
    EXPECT_FALSE(v->nvidia_root);
    EXPECT_EQ(v->rim.ActiveIndices(), std::vector<uint32_t>({3}));
  }
}

const char kExcC14n[] = "http://www.w3.org/2001/10/xml-exc-c14n#";

INSTANTIATE_TEST_SUITE_P(
    Table, RimSignatureNegativeTest,
    ::testing::Values(
        SigCase{"baseline_valid", nullptr, "OK"},
        SigCase{"signature_alg_ecdsa_sha256",
                [](RimSignOptions& o) {
                  o.signature_alg = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
                },
                reason::kRimAlgorithmUnsupported, "PREREQUISITE_FAILED"},
        SigCase{"digest_sha256",
                [](RimSignOptions& o) { o.digest_alg = "http://www.w3.org/2001/04/xmlenc#sha256"; },
                reason::kRimAlgorithmUnsupported, "PREREQUISITE_FAILED"},
        SigCase{"c14n_exclusive", [](RimSignOptions& o) { o.c14n_alg = kExcC14n; },
                reason::kRimAlgorithmUnsupported, "PREREQUISITE_FAILED"},
        SigCase{"reference_transform_exclusive_c14n",
                [](RimSignOptions& o) { o.transforms = {kEnvelopedAlg, kExcC14n}; },
                reason::kRimAlgorithmUnsupported, "PREREQUISITE_FAILED"},
        SigCase{"reference_transform_missing_enveloped",
                [](RimSignOptions& o) { o.transforms = {kC14n11Alg}; },
                reason::kRimAlgorithmUnsupported, "PREREQUISITE_FAILED"},
        SigCase{"two_signatures", [](RimSignOptions& o) { o.second_signature = true; },
                reason::kRimSignatureInvalid, "PREREQUISITE_FAILED"},
        SigCase{"reference_uri_not_empty",
                [](RimSignOptions& o) { o.reference_uri = "#xpointer(/)"; },
                reason::kRimSignatureInvalid, "PREREQUISITE_FAILED"},
        SigCase{"content_changed_after_signing",
                [](RimSignOptions& o) { o.tamper_after_signing = true; },
                reason::kRimDigestMismatch},
        SigCase{"signed_with_another_key_than_the_leaf", nullptr, reason::kRimSignatureInvalid,
                "OK", SigCase::Signer::kWrongKey},
        SigCase{"signer_key_smuggled_into_x509data", nullptr, reason::kRimSignatureInvalid,
                "OK", SigCase::Signer::kSmuggledKey},
        SigCase{"chain_missing_l3", nullptr, "OK", reason::kRimChainInvalid,
                SigCase::Signer::kNoL3},
        SigCase{"leaf_expired", nullptr, "OK", reason::kRimSignerExpired,
                SigCase::Signer::kExpiredLeaf},
        SigCase{"untrusted_root", nullptr, "OK", reason::kRimChainInvalid,
                SigCase::Signer::kUntrusted}),
    [](const ::testing::TestParamInfo<SigCase>& i) { return i.param.name; });

TEST_F(RimBuilderFixture, NvidiaRootDoesNotTrustTestRims) {
  absl::StatusOr<std::string> xml = rp::testing::BuildSignedRim(
      rp::testing::MakeRimContent("1.0", {Active(1, {Digest(1)})}), *h_);
  ASSERT_TRUE(xml.ok());
  absl::StatusOr<RimVerification> v = VerifyRim(*xml, RimTrustConfig{}, kAt);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->signature.reason, "OK");
  EXPECT_EQ(v->chain.reason, reason::kRimChainInvalid);
}

TEST_F(RimBuilderFixture, RealGoldenValuesResignedRoundTrip) {
  absl::StatusOr<Rim> real = ParseRimUnverified(
      testing::ReadRim("store_545.00_testnogpu/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml"));
  ASSERT_TRUE(real.ok());
  absl::StatusOr<std::string> xml = rp::testing::BuildSignedRim(rp::testing::ContentFromRim(*real), *h_);
  ASSERT_TRUE(xml.ok()) << xml.status();
  absl::StatusOr<RimVerification> v = VerifyRim(*xml, h_->TrustOnlyThis(), kAt);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->signature.detail << " / " << v->chain.detail;
  EXPECT_EQ(v->rim.measurements.size(), real->measurements.size());
  EXPECT_EQ(v->rim.ActiveIndices(), real->ActiveIndices());
  EXPECT_EQ(v->rim.Find(12)->alternatives, real->Find(12)->alternatives);
}

// ---------------------------------------------------------------------------
// Appraisal rules with builder RIMs (versions, overlap, alternatives,
// inactive indices, NVDEC0).

struct AppraiseCase {
  std::string name;
  std::vector<RimMeasurement> driver_active;
  std::vector<RimMeasurement> vbios_active;
  std::map<uint32_t, Bytes> runtime;  // block index (1-based)
  std::optional<bool> nvdec0 = false;
  std::string driver_rim_version = "570.00";
  std::string want_measurements;      // "pass/OK", "fail/MEASUREMENT_MISMATCH", ...
  std::vector<uint32_t> want_mismatched;
  std::string want_disjoint = "pass/OK";
  std::string want_driver_version = "pass/OK";
};

void PrintTo(const AppraiseCase& c, std::ostream* os) { *os << c.name; }

class RimAppraiseRulesTest : public RimBuilderFixture,
                             public ::testing::WithParamInterface<AppraiseCase> {};

TEST_P(RimAppraiseRulesTest, OneFlip) {
  const AppraiseCase& c = GetParam();
  absl::StatusOr<std::string> drv = rp::testing::BuildSignedRim(
      rp::testing::MakeRimContent(c.driver_rim_version, c.driver_active), *h_);
  absl::StatusOr<std::string> vb = rp::testing::BuildSignedRim(
      rp::testing::MakeRimContent("96.00.AA.00.01", c.vbios_active), *h_);
  ASSERT_TRUE(drv.ok() && vb.ok());
  MapSource src;
  src.Put(RimCollateralKey("NV_GPU_DRIVER_GH100_570.00"), *drv);
  src.Put(RimCollateralKey("NV_GPU_VBIOS_G520_0280_895_9600AA0001"), *vb);
  RimInputs in;
  in.driver_version = "570.00";
  in.vbios_version = "96.00.AA.00.01";
  in.project = "G520";
  in.project_sku = "0280";
  in.chip_sku = "895";
  in.measurements = c.runtime;
  in.nvdec0_enabled = c.nvdec0;
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(in, h_->TrustOnlyThis(), {kAt, &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.signature"), "pass/OK");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.cert_chain"), "pass/OK");
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.version_match"), c.want_driver_version);
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.identity"), "pass/OK");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.identity"), "pass/OK");
  EXPECT_EQ(Outcome(out, "nvidia.rim.indices_disjoint"), c.want_disjoint);
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), c.want_measurements);
  if (c.want_measurements != "not-checked/PREREQUISITE_FAILED") {
    EXPECT_EQ(out.claims["mismatched_indices"], nlohmann::json(c.want_mismatched));
  }
  EXPECT_EQ(out.claims["driver_rim"]["trusted_root"], "extra");
  // Without an NVDEC0 status the appraisal says so (informational: index 35
  // is compared, the status is not affected); with one it says nothing.
  const core::Check* nvdec0 = nullptr;
  for (const core::Check& check : out.checks) {
    if (check.name == "nvidia.rim.nvdec0") nvdec0 = &check;
  }
  if (c.nvdec0.has_value()) {
    EXPECT_EQ(nvdec0, nullptr);
  } else {
    ASSERT_NE(nvdec0, nullptr);
    EXPECT_EQ(Outcome(out, "nvidia.rim.nvdec0"), "not-checked/NVDEC0_STATUS_MISSING");
    EXPECT_FALSE(nvdec0->affects_status);
    EXPECT_TRUE(out.HasFailure());  // index 35 was compared, and differs
  }
}

// Runtime of the baseline: driver index 7 (block 8), VBIOS index 1 (block 2).
std::map<uint32_t, Bytes> Runtime(std::map<uint32_t, Bytes> extra = {}) {
  std::map<uint32_t, Bytes> r = {{8, Digest(7)}, {2, Digest(1)}, {36, Digest(35)}};
  for (auto& [k, v] : extra) r[k] = v;
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    Table, RimAppraiseRulesTest,
    ::testing::Values(
        AppraiseCase{"baseline_match", {Active(7, {Digest(7)})}, {Active(1, {Digest(1)})},
                     Runtime(), false, "570.00", "pass/OK", {}},
        AppraiseCase{"one_runtime_value_differs", {Active(7, {Digest(7)})},
                     {Active(1, {Digest(1)})}, Runtime({{2, Digest(99)}}), false, "570.00",
                     "fail/MEASUREMENT_MISMATCH", {1}},
        AppraiseCase{"driver_version_mismatch", {Active(7, {Digest(7)})},
                     {Active(1, {Digest(1)})}, Runtime(), false, "570.01", "pass/OK", {},
                     "pass/OK", "fail/RIM_VERSION_MISMATCH"},
        AppraiseCase{"indices_overlap", {Active(7, {Digest(7)}), Active(1, {Digest(1)})},
                     {Active(1, {Digest(1)})}, Runtime(), false, "570.00",
                     "not-checked/PREREQUISITE_FAILED", {}, "fail/RIM_INDICES_OVERLAP"},
        AppraiseCase{"third_alternative_matches",
                     {Active(7, {Digest(70), Digest(71), Digest(7)})}, {Active(1, {Digest(1)})},
                     Runtime(), false, "570.00", "pass/OK", {}},
        AppraiseCase{"no_alternative_matches", {Active(7, {Digest(70), Digest(71)})},
                     {Active(1, {Digest(1)})}, Runtime(), false, "570.00",
                     "fail/MEASUREMENT_MISMATCH", {7}},
        AppraiseCase{"inactive_index_ignored", {Active(7, {Digest(7)})},
                     {Active(1, {Digest(1)})}, Runtime({{5, Digest(123)}}), false, "570.00",
                     "pass/OK", {}},
        AppraiseCase{"runtime_value_missing", {Active(7, {Digest(7)})},
                     {Active(1, {Digest(1)}), Active(4, {Digest(4)})}, Runtime(), false,
                     "570.00", "fail/MEASUREMENT_MISMATCH", {4}},
        AppraiseCase{"runtime_value_wrong_length", {Active(7, {Digest(7)})},
                     {Active(1, {Digest(1)})}, Runtime({{8, Bytes(32, 0)}}), false, "570.00",
                     "fail/MEASUREMENT_MISMATCH", {7}},
        AppraiseCase{"nvdec0_disabled_skips_index_35",
                     {Active(7, {Digest(7)}), Active(35, {Digest(200)})},
                     {Active(1, {Digest(1)})}, Runtime(), false, "570.00", "pass/OK", {}},
        AppraiseCase{"nvdec0_enabled_compares_index_35",
                     {Active(7, {Digest(7)}), Active(35, {Digest(200)})},
                     {Active(1, {Digest(1)})}, Runtime(), true, "570.00",
                     "fail/MEASUREMENT_MISMATCH", {35}},
        AppraiseCase{"nvdec0_absent_compares_index_35",
                     {Active(7, {Digest(7)}), Active(35, {Digest(200)})},
                     {Active(1, {Digest(1)})}, Runtime(), std::nullopt, "570.00",
                     "fail/MEASUREMENT_MISMATCH", {35}},
        AppraiseCase{"nvdec0_enabled_index_35_matches",
                     {Active(7, {Digest(7)}), Active(35, {Digest(35)})},
                     {Active(1, {Digest(1)})}, Runtime(), true, "570.00", "pass/OK", {}},
        AppraiseCase{"block_index_zero_is_malformed", {Active(7, {Digest(7)})},
                     {Active(1, {Digest(1)})}, Runtime({{0, Digest(0)}}), false, "570.00",
                     "fail/MEASUREMENTS_MALFORMED", {}}),
    [](const ::testing::TestParamInfo<AppraiseCase>& i) { return i.param.name; });

// ---------------------------------------------------------------------------
// Issue 10: the signed RIM's own identity (tagId, chip) must fit the RIM id
// the report asks for, not only the id it was stored or served under. Before,
// a validly signed RIM of another driver / VBIOS with the same
// colloquialVersion was accepted (and its golden values compared).

struct IdentityCase {
  std::string name;
  std::string side;  // "driver" | "vbios": the RIM changed
  std::string tag_id;
  std::string chip = "GH100";  // name, product and PlatformModel
  std::string want;            // outcome of nvidia.<side>_rim.identity
};

void PrintTo(const IdentityCase& c, std::ostream* os) { *os << c.name; }

class RimIdentityTest : public RimBuilderFixture,
                        public ::testing::WithParamInterface<IdentityCase> {};

constexpr char kDriverId[] = "NV_GPU_DRIVER_GH100_570.00";
constexpr char kVbiosId[] = "NV_GPU_VBIOS_G520_0280_895_9600AA0001";

TEST_P(RimIdentityTest, SignedIdentityAgainstRequestedId) {
  const IdentityCase& c = GetParam();
  RimContent drv = rp::testing::MakeRimContent("570.00", {Active(7, {Digest(7)})});
  RimContent vb = rp::testing::MakeRimContent("96.00.AA.00.01", {Active(1, {Digest(1)})});
  drv.tag_id = kDriverId;
  vb.tag_id = kVbiosId;
  RimContent& changed = c.side == "driver" ? drv : vb;
  changed.tag_id = c.tag_id;
  changed.name = c.chip;
  changed.product = c.chip;
  // Re-signed: the signature and chain are valid.
  absl::StatusOr<std::string> drv_xml = rp::testing::BuildSignedRim(drv, *h_);
  absl::StatusOr<std::string> vb_xml = rp::testing::BuildSignedRim(vb, *h_);
  ASSERT_TRUE(drv_xml.ok() && vb_xml.ok());
  MapSource src;
  src.Put(RimCollateralKey(kDriverId), *drv_xml);
  src.Put(RimCollateralKey(kVbiosId), *vb_xml);
  RimInputs in;
  in.driver_version = "570.00";
  in.vbios_version = "96.00.AA.00.01";
  in.project = "G520";
  in.project_sku = "0280";
  in.chip_sku = "895";
  in.measurements = {{8, Digest(7)}, {2, Digest(1)}};
  in.nvdec0_enabled = false;
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(in, h_->TrustOnlyThis(), {kAt, &src}, out).ok());
  const std::string prefix = "nvidia." + c.side + "_rim";
  EXPECT_EQ(Outcome(out, prefix + ".signature"), "pass/OK");
  EXPECT_EQ(Outcome(out, prefix + ".cert_chain"), "pass/OK");
  EXPECT_EQ(Outcome(out, prefix + ".version_match"), "pass/OK");
  EXPECT_EQ(Outcome(out, prefix + ".identity"), c.want);
  EXPECT_EQ(out.claims[c.side + "_rim"]["tag_id"], c.tag_id);
  if (c.want == "pass/OK") {
    EXPECT_EQ(Outcome(out, "nvidia.measurements"), "pass/OK");
    EXPECT_EQ(out.claims["measurements_match"], true);
    EXPECT_FALSE(out.HasFailure());
  } else {
    // The golden values of another device's RIM are never read.
    EXPECT_EQ(Outcome(out, "nvidia.measurements"), "not-checked/PREREQUISITE_FAILED");
    EXPECT_EQ(out.claims["measurements_match"], nullptr);
    EXPECT_EQ(out.claims[c.side + "_rim"]["identity_match"], false);
    EXPECT_TRUE(out.HasFailure());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, RimIdentityTest,
    ::testing::Values(
        IdentityCase{"driver_tag_is_the_id", "driver", kDriverId, "GH100", "pass/OK"},
        IdentityCase{"driver_tag_nvidia_digest_form", "driver",
                     "f0d3a263ab9ef4b93c8fc9727493b61a979814cbf31c07614842a9486b84db8c",
                     "GH100", "pass/OK"},
        // Same colloquialVersion, but the RIM says it is another driver's.
        IdentityCase{"driver_rim_of_another_driver", "driver", "NV_GPU_DRIVER_GH100_570.00.1",
                     "GH100", "fail/RIM_ID_MISMATCH"},
        IdentityCase{"driver_rim_of_blackwell", "driver", "NV_GPU_CC_DRIVER_GB100_570.00",
                     "GH100", "fail/RIM_ID_MISMATCH"},
        // A VBIOS RIM of another board (project / SKU) with the same version.
        IdentityCase{"vbios_rim_of_another_board", "vbios",
                     "NV_GPU_VBIOS_1010_0200_882_9600AA0001", "GH100", "fail/RIM_ID_MISMATCH"},
        IdentityCase{"vbios_rim_names_another_chip", "vbios", kVbiosId, "GB100",
                     "fail/RIM_ID_MISMATCH"},
        IdentityCase{"vbios_tag_neither_id_nor_digest", "vbios", "some-other-rim", "GH100",
                     "fail/RIM_ID_MISMATCH"},
        IdentityCase{"vbios_tag_empty_like", "vbios", "NV_", "GH100",
                     "fail/RIM_ID_MISMATCH"}),
    [](const ::testing::TestParamInfo<IdentityCase>& i) { return i.param.name; });

}  // namespace
}  // namespace rp::nvidia::rim
