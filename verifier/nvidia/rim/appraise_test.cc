#include "verifier/nvidia/rim/appraise.h"

#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "verifier/crypto/verified_memo.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim_source.h"
#include "verifier/nvidia/rim/rim_test_util.h"

namespace rp::nvidia::rim {
namespace {

using ::rp::nvidia::rim::testing::At20250115;
using ::rp::nvidia::rim::testing::At20261201;
using ::rp::nvidia::rim::testing::FindCheck;
using ::rp::nvidia::rim::testing::MapSource;
using ::rp::nvidia::rim::testing::MeasurementsFromReportHex;
using ::rp::nvidia::rim::testing::Outcome;
using ::rp::nvidia::rim::testing::ReadFileOrDie;
using ::rp::nvidia::rim::testing::ReadRim;
using ::rp::nvidia::rim::testing::RimDataDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kDriver545[] = "NV_GPU_DRIVER_GH100_545.00";
constexpr char kVbios5E01[] = "NV_GPU_VBIOS_1010_0200_882_96005E0001";

std::map<uint32_t, Bytes> Report545() {
  return MeasurementsFromReportHex(
      ReadRim("report/h100_drv545.00_vbios96005E0001_report.hex"));
}

// The report fields of hopper/h100_drv545.00_vbios96005E0001 (PROVENANCE).
RimInputs Inputs545() {
  RimInputs in;
  in.arch = GpuArch::kHopper;
  in.driver_version = std::string("545.00\0", 7);  // as in the opaque data
  in.vbios_version = "96.00.5E.00.01";
  in.project = "1010";
  in.project_sku = "0200";
  in.chip_sku = "882";
  in.measurements = Report545();
  in.nvdec0_enabled = false;  // NVDEC0_STATUS 0x55
  return in;
}

void PutStore545(MapSource& src) {
  src.Put(RimCollateralKey(kDriver545),
          ReadRim("store_545.00_testnogpu/NV_GPU_DRIVER_GH100_545.00.xml"));
  src.Put(RimCollateralKey(kVbios5E01),
          ReadRim("store_545.00_testnogpu/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml"));
}

TEST(RuntimeMeasurements, ReportParseMatchesTheJsonFile) {
  const std::map<uint32_t, Bytes> m = Report545();
  ASSERT_EQ(m.size(), 64u);
  const nlohmann::json j = nlohmann::json::parse(
      ReadFileOrDie(RimDataDir() / "h100_drv545.00_runtime_measurements.json"));
  ASSERT_EQ(j["measurements"].size(), 64u);
  for (const auto& [k, v] : j["measurements"].items()) {
    EXPECT_EQ(HexEncode(m.at(static_cast<uint32_t>(std::stoul(k)))), v.get<std::string>()) << k;
  }
}

TEST(Appraise, RealPositiveSetMatchesEveryActiveIndex) {
  MapSource src;
  PutStore545(src);
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src}, out).ok());
  for (const char* side : {"nvidia.driver_rim", "nvidia.vbios_rim"}) {
    EXPECT_EQ(Outcome(out, absl::StrCat(side, ".signature")), "pass/OK");
    EXPECT_EQ(Outcome(out, absl::StrCat(side, ".cert_chain")), "pass/OK");
    EXPECT_EQ(Outcome(out, absl::StrCat(side, ".version_match")), "pass/OK");
    // NVIDIA's tagId is an opaque digest; the chip is GH100.
    EXPECT_EQ(Outcome(out, absl::StrCat(side, ".identity")), "pass/OK");
    // No fetcher and nothing under nvidia/ocsp/: never a silent pass.
    EXPECT_EQ(Outcome(out, absl::StrCat(side, ".ocsp")), "not-checked/OCSP_NOT_CONFIGURED");
  }
  EXPECT_EQ(Outcome(out, "nvidia.rim.indices_disjoint"), "pass/OK");
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), "pass/OK");
  EXPECT_THAT(FindCheck(out, "nvidia.measurements")->detail,
              HasSubstr("32 active indices match, index 35 skipped"));
  EXPECT_EQ(out.claims["measurements_match"], true);
  EXPECT_TRUE(out.claims["mismatched_indices"].empty());
  EXPECT_EQ(out.claims["rim_ids"]["driver"], kDriver545);
  EXPECT_EQ(out.claims["rim_ids"]["vbios"], kVbios5E01);
  EXPECT_EQ(out.claims["driver_rim"]["version"], "545.00");
  EXPECT_EQ(out.claims["driver_rim"]["cert_status"], "valid");
  EXPECT_EQ(out.claims["driver_rim"]["trusted_root"], "nvidia");
  EXPECT_EQ(out.claims["vbios_rim"]["signer"], "HCC RIM L4 Signer");
  EXPECT_EQ(out.claims["oemid"], "5703");
  EXPECT_FALSE(out.HasFailure());
  ASSERT_EQ(out.collateral.size(), 2u);
  EXPECT_EQ(out.collateral[0].kind, "rim");
  EXPECT_EQ(out.collateral[0].id, "nvidia/rims/NV_GPU_DRIVER_GH100_545.00.xml");
  EXPECT_EQ(out.collateral[0].sha256.size(), 64u);
  EXPECT_EQ(out.collateral[0].source, "map");
}

TEST(Appraise, Index35MatchesToo) {
  // The spec verified index 35 matches as well: comparing it changes nothing.
  MapSource src;
  PutStore545(src);
  RimInputs in = Inputs545();
  in.nvdec0_enabled = true;
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(in, {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), "pass/OK");
  EXPECT_THAT(FindCheck(out, "nvidia.measurements")->detail, HasSubstr("33 active indices"));
}

TEST(Appraise, ExpiredRimsFailTheChainButStillCompare) {
  MapSource src;
  PutStore545(src);
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20261201(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.signature"), "pass/OK");
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.cert_chain"), "fail/RIM_SIGNER_EXPIRED");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.cert_chain"), "fail/RIM_SIGNER_EXPIRED");
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.ocsp"), "not-checked/PREREQUISITE_FAILED");
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), "pass/OK");
  EXPECT_THAT(FindCheck(out, "nvidia.measurements")->detail, HasSubstr("expired RIM"));
  EXPECT_EQ(out.claims["driver_rim"]["cert_status"], "expired");
  EXPECT_TRUE(out.HasFailure());
}

TEST(Appraise, ProdVbiosRimMismatchesThe545Report) {
  // PROVENANCE: against the PROD VBIOS RIM the 545.00 report mismatches at 1,2,3,9;
  // the re-signed variant (valid NVIDIA signature) likewise.
  for (const char* f : {"vbios/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml",
                        "variants/NV_GPU_VBIOS_1010_0200_882_96005E0001__resigned_L3-GH100-002.xml"}) {
    SCOPED_TRACE(f);
    MapSource src;
    PutStore545(src);
    src.Put(RimCollateralKey(kVbios5E01), ReadRim(f));
    core::DeviceResult out;
    ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src}, out).ok());
    EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.signature"), "pass/OK");
    EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.cert_chain"), "pass/OK");
    EXPECT_EQ(Outcome(out, "nvidia.measurements"), "fail/MEASUREMENT_MISMATCH");
    EXPECT_THAT(FindCheck(out, "nvidia.measurements")->detail,
                HasSubstr("mismatched RIM indices: 1,2,3,9"));
    EXPECT_EQ(out.claims["mismatched_indices"], nlohmann::json({1, 2, 3, 9}));
    EXPECT_EQ(out.claims["measurements_match"], false);
    ASSERT_EQ(out.claims["mismatch_records"].size(), 4u);
    EXPECT_EQ(out.claims["mismatch_records"][3]["block"], 10);
    EXPECT_EQ(out.claims["mismatch_records"][3]["source"], "vbios");
  }
}

TEST(Appraise, ResignedVariantMismatchesOnlyIndex9OnThe535Report) {
  // PROVENANCE: the 535.86.09 report's VBIOS part matches PROD fully but
  // mismatches index 9 against the re-signed variant (both genuinely signed).
  const std::map<uint32_t, Bytes> runtime = MeasurementsFromReportHex(
      ReadRim("report/h100_drv535.86.09_vbios96005E0001_report.hex"));
  Rim no_driver;  // VBIOS part only
  for (const auto& [f, want] :
       std::vector<std::pair<std::string, std::vector<uint32_t>>>{
           {"vbios/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml", {}},
           {"variants/NV_GPU_VBIOS_1010_0200_882_96005E0001__resigned_L3-GH100-002.xml", {9}}}) {
    SCOPED_TRACE(f);
    absl::StatusOr<RimVerification> v = VerifyRim(ReadRim(f), {}, At20250115());
    ASSERT_TRUE(v.ok());
    ASSERT_TRUE(v->ok()) << v->signature.detail << v->chain.detail;
    const MeasurementComparison c = CompareMeasurements(no_driver, v->rim, runtime, false);
    EXPECT_EQ(c.mismatched, want);
    EXPECT_EQ(c.compared.size(), 12u);
  }
}

TEST(Appraise, TamperedDriverRimIsNeverUsed) {
  MapSource src;
  PutStore545(src);
  src.Put(RimCollateralKey(kDriver545),
          ReadRim("negative/NV_GPU_DRIVER_GH100_535.86.09__TAMPERED_digest_invalid.xml"));
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.signature"), "fail/RIM_DIGEST_MISMATCH");
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.version_match"), "not-checked/PREREQUISITE_FAILED");
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), "not-checked/PREREQUISITE_FAILED");
  EXPECT_EQ(out.claims["measurements_match"], nullptr);
  EXPECT_EQ(out.claims["driver_rim"]["signature_verified"], false);
}

TEST(Appraise, ExpiredSignerTamperedRim) {
  MapSource src;
  PutStore545(src);
  src.Put(RimCollateralKey(kDriver545),
          ReadRim("negative/NV_GPU_DRIVER_GH100_570.124.03__TAMPERED_expired_signer.xml"));
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.signature"), "fail/RIM_DIGEST_MISMATCH");
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.cert_chain"), "fail/RIM_SIGNER_EXPIRED");
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), "not-checked/PREREQUISITE_FAILED");
}

TEST(Appraise, DebugChainRimIsNotTrusted) {
  MapSource src;
  PutStore545(src);
  src.Put(RimCollateralKey(kVbios5E01),
          ReadRim("negative/NV_GPU_VBIOS_GB100_97.00.83.00.09__DEBUG_chain.xml"));
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.signature"), "pass/OK");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.cert_chain"), "fail/RIM_CHAIN_INVALID");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.version_match"), "not-checked/PREREQUISITE_FAILED");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.identity"), "not-checked/PREREQUISITE_FAILED");
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), "not-checked/PREREQUISITE_FAILED");
  EXPECT_EQ(out.claims["vbios_rim"]["cert_status"], "invalid");
}

TEST(Appraise, VersionMismatchWithAGenuineRim) {
  MapSource src;
  PutStore545(src);
  RimInputs in = Inputs545();
  in.driver_version = "545.01";
  src.Put(RimCollateralKey("NV_GPU_DRIVER_GH100_545.01"),
          ReadRim("store_545.00_testnogpu/NV_GPU_DRIVER_GH100_545.00.xml"));
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(in, {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.version_match"), "fail/RIM_VERSION_MISMATCH");
  EXPECT_EQ(out.claims["driver_rim"]["version_match"], false);
}

TEST(Appraise, VbiosVersionIsCaseInsensitive) {
  MapSource src;
  PutStore545(src);
  RimInputs in = Inputs545();
  in.vbios_version = "96.00.5e.00.01";
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(in, {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.version_match"), "pass/OK");
}

TEST(Appraise, MissingRim) {
  MapSource src;
  src.Put(RimCollateralKey(kDriver545),
          ReadRim("store_545.00_testnogpu/NV_GPU_DRIVER_GH100_545.00.xml"));
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.signature"), "fail/RIM_NOT_FOUND");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.cert_chain"), "not-checked/PREREQUISITE_FAILED");
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), "not-checked/PREREQUISITE_FAILED");
  EXPECT_EQ(out.claims["vbios_rim"]["fetched"], false);
}

TEST(Appraise, UnavailableSourceIsRetryable) {
  MapSource src;
  PutStore545(src);
  src.PutError(RimCollateralKey(kVbios5E01), absl::UnavailableError("nvidia-rim: HTTP 503"));
  core::DeviceResult out;
  const absl::Status s = AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src}, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.signature"), "fail/RIM_UNAVAILABLE");
}

TEST(Appraise, StaleBeyondGraceAndStaleWithinGrace) {
  MapSource src;
  PutStore545(src);
  src.PutError(RimCollateralKey(kVbios5E01), absl::FailedPreconditionError("stale"));
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.signature"), "fail/COLLATERAL_STALE_BEYOND_GRACE");

  MapSource src2;
  PutStore545(src2);
  src2.PutStale(RimCollateralKey(kVbios5E01));
  core::DeviceResult out2;
  ASSERT_TRUE(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), &src2}, out2).ok());
  EXPECT_EQ(Outcome(out2, "nvidia.measurements"), "pass/OK");
  EXPECT_EQ(Outcome(out2, "nvidia.rim.collateral_freshness"), "not-checked/STALE_COLLATERAL");
}

TEST(Appraise, MalformedRimAndBadIds) {
  MapSource src;
  PutStore545(src);
  src.Put(RimCollateralKey(kVbios5E01), "<not-a-rim/>");
  RimInputs in = Inputs545();
  in.driver_version = "545.00/../x";
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(in, {}, {At20250115(), &src}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.signature"), "fail/RIM_ID_INVALID");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.signature"), "fail/RIM_MALFORMED");
}

// Counts the look-ups per key (the request-scoped document memo).
class CountingSource : public collateral::CollateralSource {
 public:
  explicit CountingSource(const MapSource& inner) : inner_(inner) {}
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override {
    ++gets_[std::string(key)];
    return inner_.Get(key);
  }
  absl::StatusOr<std::optional<collateral::CollateralItem>> GetItem(
      std::string_view key, const collateral::GetOptions& o) const override {
    ++gets_[std::string(key)];
    return inner_.GetItem(key, o);
  }
  std::string Describe() const override { return inner_.Describe(); }
  int total() const {
    int n = 0;
    for (const auto& [k, v] : gets_) n += v;
    return n;
  }

 private:
  const MapSource& inner_;
  mutable std::map<std::string, int> gets_;
};

// Everything a DeviceResult says, for comparisons.
std::string Describe(const core::DeviceResult& r) {
  std::string s = r.claims.dump();
  for (const core::Check& c : r.checks) {
    absl::StrAppend(&s, "\n", c.name, " ", std::string(core::CheckStatusName(c.status)), " ",
                    c.reason, " ", c.detail);
  }
  for (const core::CollateralRef& c : r.collateral) {
    absl::StrAppend(&s, "\n", c.kind, " ", c.id, " ", c.sha256, " ", c.next_update, " ",
                    c.source);
  }
  return s;
}

// An eight-GPU node asks for the same two RIMs once per GPU: inside one
// request (crypto::ScopedRequestMemo) each RIM document is fetched and
// checked once and the result is the same as fetching and checking it for
// every GPU; a different trust configuration or time, or no request scope,
// is never served from it.
TEST(Appraise, OneRequestChecksEachRimDocumentOnce) {
  for (const bool malformed_vbios : {false, true}) {
    SCOPED_TRACE(malformed_vbios ? "malformed VBIOS RIM" : "genuine RIMs");
    MapSource map;
    PutStore545(map);
    if (malformed_vbios) map.Put(RimCollateralKey(kVbios5E01), "<not-a-rim/>");
    CountingSource src(map);
    const RimContext ctx{At20250115(), &src};
    auto appraise = [&](const RimTrustConfig& trust, const RimContext& c) {
      core::DeviceResult out;
      EXPECT_TRUE(AppraiseGpuMeasurements(Inputs545(), trust, c, out).ok());
      return Describe(out);
    };
    // Reference: no request scope, every GPU in full. `per`: the look-ups of
    // one full appraisal (two RIMs and the offline OCSP answers of their
    // chains).
    const std::string full = appraise({}, ctx);
    const int per = src.total();
    EXPECT_EQ(per, malformed_vbios ? 2 + 3 : 2 + 2 * 3);
    EXPECT_EQ(appraise({}, ctx), full);
    EXPECT_EQ(src.total(), 2 * per);
    {
      const crypto::ScopedRequestMemo request;
      for (int gpu = 0; gpu < 8; ++gpu) EXPECT_EQ(appraise({}, ctx), full) << "gpu " << gpu;
      EXPECT_EQ(src.total(), 3 * per);  // each document once for the eight GPUs
      // Another trust configuration or another time: fetched and checked again.
      RimTrustConfig hold;
      hold.allow_hold = true;
      (void)appraise(hold, ctx);
      EXPECT_EQ(src.total(), 4 * per);
      const RimContext later{At20250115() + absl::Seconds(1), &src};
      (void)appraise({}, later);
      EXPECT_EQ(src.total(), 5 * per);
      {
        const crypto::ScopedMemoBypass bypass;  // the reference path inside a request
        EXPECT_EQ(appraise({}, ctx), full);
        EXPECT_EQ(src.total(), 6 * per);
      }
    }
    // A new request fetches again.
    {
      const crypto::ScopedRequestMemo request;
      EXPECT_EQ(appraise({}, ctx), full);
      EXPECT_EQ(src.total(), 7 * per);
    }
  }
}

TEST(Appraise, NullCollateralIsAnError) {
  core::DeviceResult out;
  EXPECT_EQ(AppraiseGpuMeasurements(Inputs545(), {}, {At20250115(), nullptr}, out).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rp::nvidia::rim
