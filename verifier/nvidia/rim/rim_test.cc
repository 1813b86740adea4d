#include "verifier/nvidia/rim/rim.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "verifier/crypto/x509.h"
#include "verifier/nvidia/rim/nvidia_corim_root.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim_signature.h"
#include "verifier/nvidia/rim/rim_test_util.h"

namespace rp::nvidia::rim {
namespace {

using ::rp::nvidia::rim::testing::At20250115;
using ::rp::nvidia::rim::testing::At20261201;
using ::rp::nvidia::rim::testing::At20270101;
using ::rp::nvidia::rim::testing::GenuineRims;
using ::rp::nvidia::rim::testing::ReadRim;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<uint32_t> Range(uint32_t a, uint32_t b) {  // [a, b]
  std::vector<uint32_t> v;
  for (uint32_t i = a; i <= b; ++i) v.push_back(i);
  return v;
}

TEST(RimParse, GenuineSetHas20Files) { EXPECT_EQ(GenuineRims().size(), 20u); }

TEST(RimParse, VbiosRimFacts) {
  for (const std::string& f : GenuineRims()) {
    if (f.find("VBIOS") == std::string::npos) continue;
    SCOPED_TRACE(f);
    absl::StatusOr<Rim> rim = ParseRimUnverified(ReadRim(f));
    ASSERT_TRUE(rim.ok()) << rim.status();
    EXPECT_EQ(rim->name, "GH100");
    EXPECT_EQ(rim->version, "1.0");
    EXPECT_EQ(rim->firmware_manufacturer_id, "5703");
    EXPECT_EQ(rim->measurements.size(), 64u);
    std::vector<uint32_t> want = Range(0, 6);
    for (uint32_t i = 8; i <= 12; ++i) want.push_back(i);
    EXPECT_EQ(rim->ActiveIndices(), want);
    ASSERT_NE(rim->Find(12), nullptr);
    EXPECT_EQ(rim->Find(12)->alternatives.size(), 4u);
    for (const auto& m : rim->measurements) {
      for (const Bytes& b : m.alternatives) EXPECT_EQ(b.size(), 48u);
    }
    // The RIM id in the file name ends with the version without dots.
    std::string ver = rim->colloquial_version;
    ver.erase(std::remove(ver.begin(), ver.end(), '.'), ver.end());
    EXPECT_THAT(f, HasSubstr("_" + ver));
  }
}

TEST(RimParse, DriverRimFacts) {
  absl::StatusOr<Rim> rim = ParseRimUnverified(ReadRim("driver/NV_GPU_DRIVER_GH100_550.144.03.xml"));
  ASSERT_TRUE(rim.ok()) << rim.status();
  EXPECT_EQ(rim->colloquial_version, "550.144.03");
  std::vector<uint32_t> want = {7};
  for (uint32_t i : Range(21, 40)) want.push_back(i);
  EXPECT_EQ(rim->ActiveIndices(), want);
  for (uint32_t i : {23u, 24u, 32u, 33u, 34u, 35u, 36u}) {
    ASSERT_NE(rim->Find(i), nullptr);
    EXPECT_GE(rim->Find(i)->alternatives.size(), 2u) << i;
    EXPECT_LE(rim->Find(i)->alternatives.size(), 4u) << i;
  }
  EXPECT_EQ(rim->Find(7)->alternatives.size(), 1u);

  absl::StatusOr<Rim> d545 = ParseRimUnverified(ReadRim("store_545.00_testnogpu/NV_GPU_DRIVER_GH100_545.00.xml"));
  ASSERT_TRUE(d545.ok()) << d545.status();
  EXPECT_EQ(d545->colloquial_version, "545.00");
  EXPECT_EQ(d545->ActiveIndices().size(), 21u);
  absl::StatusOr<Rim> tampered = ParseRimUnverified(
      ReadRim("negative/NV_GPU_DRIVER_GH100_535.86.09__TAMPERED_digest_invalid.xml"));
  ASSERT_TRUE(tampered.ok()) << tampered.status();
  EXPECT_EQ(tampered->ActiveIndices().size(), 22u);
  EXPECT_EQ(tampered->ActiveIndices().back(), 41u);
}

TEST(RimVerify, CompiledRootIsTheNvidiaCorimRoot) {
  absl::StatusOr<std::vector<crypto::OpensslPtr<X509>>> roots = TrustedRimRoots({});
  ASSERT_TRUE(roots.ok());
  ASSERT_EQ(roots->size(), 1u);
  unsigned char md[32];
  unsigned int len = 0;
  ASSERT_EQ(X509_digest((*roots)[0].get(), EVP_sha256(), md, &len), 1);
  EXPECT_EQ(HexEncode({md, len}),
            "12977b5115acb0381179279fffeb5a8c4d264971ebb32298023a465fa41df5d1");
  EXPECT_EQ(crypto::SubjectCommonName((*roots)[0].get()), "NVIDIA CoRIM signing Root CA");
}

TEST(RimVerify, EveryGenuineRimVerifiesIn2025) {
  for (const std::string& f : GenuineRims()) {
    SCOPED_TRACE(f);
    absl::StatusOr<RimVerification> v = VerifyRim(ReadRim(f), {}, At20250115());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->signature.reason, "OK") << v->signature.detail;
    EXPECT_EQ(v->chain.reason, "OK") << v->chain.detail;
    EXPECT_TRUE(v->ok());
    EXPECT_TRUE(v->nvidia_root);
    EXPECT_EQ(v->path.size(), 4u);
    EXPECT_EQ(v->embedded_certs.size(), 4u);
    EXPECT_EQ(v->signer, "HCC RIM L4 Signer");
  }
}

TEST(RimVerify, GenuineRimsExpireButSignaturesStayValid) {
  for (const std::string& f : GenuineRims()) {
    SCOPED_TRACE(f);
    const bool driver_550 = f.find("550.144.03") != std::string::npos;
    // 550.144.03's L4 signer is valid until 2026-12-30T16:56:50Z.
    const absl::Time late = driver_550 ? At20270101() : At20261201();
    absl::StatusOr<RimVerification> v = VerifyRim(ReadRim(f), {}, late);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->signature.reason, "OK") << v->signature.detail;
    EXPECT_EQ(v->chain.reason, reason::kRimSignerExpired) << v->chain.detail;
    EXPECT_FALSE(v->ok());
    EXPECT_TRUE(v->path.empty());
    if (driver_550) {
      absl::StatusOr<RimVerification> still = VerifyRim(ReadRim(f), {}, At20261201());
      ASSERT_TRUE(still.ok());
      EXPECT_TRUE(still->ok()) << still->chain.detail;
    }
  }
}

TEST(RimVerify, TamperedRimsFailTheDigest) {
  for (const char* f : {"negative/NV_GPU_DRIVER_GH100_535.86.09__TAMPERED_digest_invalid.xml",
                        "negative/NV_GPU_DRIVER_GH100_570.124.03__TAMPERED_expired_signer.xml"}) {
    SCOPED_TRACE(f);
    absl::StatusOr<RimVerification> v = VerifyRim(ReadRim(f), {}, At20250115());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->signature.reason, reason::kRimDigestMismatch) << v->signature.detail;
    EXPECT_FALSE(v->ok());
  }
}

TEST(RimVerify, ExpiredSignerRim) {
  absl::StatusOr<RimVerification> v = VerifyRim(
      ReadRim("negative/NV_GPU_DRIVER_GH100_570.124.03__TAMPERED_expired_signer.xml"), {},
      At20250115());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->chain.reason, reason::kRimSignerExpired) << v->chain.detail;
  EXPECT_EQ(v->signer, "RIM L4 Signer");
}

TEST(RimVerify, DebugChainIsNotTrusted) {
  absl::StatusOr<RimVerification> v = VerifyRim(
      ReadRim("negative/NV_GPU_VBIOS_GB100_97.00.83.00.09__DEBUG_chain.xml"), {}, At20250115());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->chain.reason, reason::kRimChainInvalid) << v->chain.detail;
  EXPECT_EQ(v->signature.reason, "OK") << v->signature.detail;  // signed, but by a debug key
  EXPECT_FALSE(v->ok());
  // Not even when the chain length is left open.
  RimTrustConfig any_length;
  any_length.expected_chain_length = 0;
  v = VerifyRim(ReadRim("negative/NV_GPU_VBIOS_GB100_97.00.83.00.09__DEBUG_chain.xml"),
                any_length, At20250115());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->chain.reason, reason::kRimChainInvalid) << v->chain.detail;
}

TEST(RimVerify, WrongAnchorCertIsNotARoot) {
  // The SDK's "incorrect RIM root" (an L4 signer) as the only trusted root.
  RimTrustConfig trust;
  trust.trust_nvidia_root = false;
  trust.extra_root_pems.push_back(testing::ReadFileOrDie(
      testing::RimDataDir() / "negative/debug_rim_L4_signer_not_a_root.crt"));
  absl::StatusOr<RimVerification> v =
      VerifyRim(ReadRim("vbios/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml"), trust, At20250115());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->chain.reason, reason::kRimChainInvalid) << v->chain.detail;
}

TEST(RimVerify, ConcurrentVerificationsAgree) {
  // One-time xmlsec1 init and per-call contexts: many threads at once.
  const std::vector<std::string> files = GenuineRims();
  std::vector<std::string> xmls;
  for (const std::string& f : files) xmls.push_back(ReadRim(f));
  xmls.push_back(ReadRim("negative/NV_GPU_DRIVER_GH100_535.86.09__TAMPERED_digest_invalid.xml"));
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < xmls.size(); ++i) {
          absl::StatusOr<RimVerification> v = VerifyRim(xmls[(i + static_cast<size_t>(t)) % xmls.size()], {}, At20250115());
          const bool tampered = (i + static_cast<size_t>(t)) % xmls.size() == xmls.size() - 1;
          if (!v.ok() || v->ok() == tampered) ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace rp::nvidia::rim
