// Table-driven TDX and GPU policy checks: for each check a device that
// passes it and one that fails it, with the trust-vector component and
// device status expected.
#include <functional>
#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "policy/appraise.h"

namespace rp::policy {
namespace {

using core::CheckStatus;
using core::Component;

const std::string kHex48a(96, 'a');
const std::string kHex48b(96, 'b');

core::DeviceResult TdxDevice() {
  core::DeviceResult d;
  d.tee = "tdx";
  d.name = "cpu0";
  d.claims = {{"quote_version", 4},
              {"td_attributes", {{"debug", false}}},
              {"mrtd", kHex48a},
              {"mrseam", kHex48a},
              {"mrconfigid", kHex48a},
              {"rtmr", {kHex48a, kHex48a, kHex48a, kHex48a}},
              {"fmspc", "b0c06f000000"},
              {"tcb_status", "UpToDate"},
              {"advisory_ids", nlohmann::json::array()},
              {"tcb_date", "2024-03-13T00:00:00Z"},
              {"tcb_evaluation_data_number", 17}};
  d.Pass("tdx.quote_signature", Component::kHardware);
  d.evidence_authentic = true;
  return d;
}

core::DeviceResult GpuDevice() {
  core::DeviceResult d;
  d.tee = "nvidia-gpu";
  d.name = "gpu0";
  d.claims = {{"cc_mode", "cc"},
              {"hwmodel", "GH100 A01 GSP BROM"},
              {"driver_version", "550.90.07"},
              {"vbios_version", "96.00.9F.00.01"},
              {"measurements_match", true}};
  d.Pass("nvidia.report_signature", Component::kHardware);
  d.evidence_authentic = true;
  return d;
}

struct Row {
  std::string name;
  std::string policy;  // YAML
  std::function<core::DeviceResult()> device;
  std::function<void(core::DeviceResult&)> flip;  // null: the device passes
  std::string check;
  CheckStatus want_status;
  std::string want_reason;
  std::string component;  // AR4SI component of the check
  Verdict want_device;
};

void PrintTo(const Row& r, std::ostream* os) { *os << r.name; }

class PolicyCheckTable : public ::testing::TestWithParam<Row> {};

TEST_P(PolicyCheckTable, CheckOutcome) {
  const Row& r = GetParam();
  absl::StatusOr<LoadedPolicy> p = ParsePolicy(r.policy, "table");
  ASSERT_TRUE(p.ok()) << p.status();
  core::DeviceResult d = r.device();
  if (r.flip) r.flip(d);
  core::Check binding{"binding", CheckStatus::kPass, "OK", "", Component::kInstanceIdentity};
  Appraisal a = AppraiseAll(*p, "attest-v1", {d}, {binding});
  ASSERT_EQ(a.devices.size(), 1u);
  const core::Check* found = nullptr;
  for (const auto& c : a.devices[0].device.checks) {
    if (c.name == r.check) found = &c;
  }
  ASSERT_NE(found, nullptr) << r.check;
  EXPECT_EQ(found->status, r.want_status) << found->detail;
  EXPECT_EQ(found->reason, r.want_reason) << found->detail;
  EXPECT_EQ(core::ComponentName(found->component), r.component);
  EXPECT_EQ(a.devices[0].status, r.want_device);
  if (r.want_status == CheckStatus::kFail) {
    EXPECT_EQ(a.devices[0].trust_vector.at(r.component), kTierContraindicated);
  }
}

const CheckStatus kPass = CheckStatus::kPass;
const CheckStatus kFail = CheckStatus::kFail;
const CheckStatus kNot = CheckStatus::kNotChecked;
const Verdict kOk = Verdict::kAffirming;
const Verdict kWarn = Verdict::kWarning;
const Verdict kBad = Verdict::kContraindicated;

INSTANTIATE_TEST_SUITE_P(
    Tdx, PolicyCheckTable,
    ::testing::Values(
        Row{"debug_off", "id: p\n", TdxDevice, nullptr, "policy.tdx.debug", kPass, "OK",
            "configuration", kOk},
        Row{"debug_on", "id: p\n", TdxDevice,
            [](auto& d) { d.claims["td_attributes"]["debug"] = true; }, "policy.tdx.debug", kFail,
            "DEBUG_ENABLED", "configuration", kBad},
        Row{"debug_allowed", "id: p\ntdx: {allow_debug: true}\n", TdxDevice,
            [](auto& d) { d.claims["td_attributes"]["debug"] = true; }, "policy.tdx.debug", kPass,
            "OK", "configuration", kOk},
        Row{"tcb_uptodate", "id: p\n", TdxDevice, nullptr, "policy.tdx.tcb_status", kPass, "OK",
            "hardware", kOk},
        Row{"tcb_swhardening_tolerated_by_default", "id: p\n", TdxDevice,
            [](auto& d) { d.claims["tcb_status"] = "SWHardeningNeeded"; },
            "policy.tdx.tcb_status", kNot, "TCB_STATUS_TOLERATED", "hardware", kWarn},
        Row{"tcb_outofdate", "id: p\n", TdxDevice,
            [](auto& d) { d.claims["tcb_status"] = "OutOfDate"; }, "policy.tdx.tcb_status", kFail,
            "TCB_STATUS_NOT_ACCEPTED", "hardware", kBad},
        Row{"tcb_revoked_never", "id: p\ntdx: {accepted_tcb_statuses: [UpToDate, OutOfDate]}\n",
            TdxDevice, [](auto& d) { d.claims["tcb_status"] = "Revoked"; },
            "policy.tdx.tcb_status", kFail, "TCB_STATUS_NOT_ACCEPTED", "hardware", kBad},
        Row{"tcb_strict_rejects_swhardening", "id: p\ntdx: {accepted_tcb_statuses: [UpToDate]}\n",
            TdxDevice, [](auto& d) { d.claims["tcb_status"] = "SWHardeningNeeded"; },
            "policy.tdx.tcb_status", kFail, "TCB_STATUS_NOT_ACCEPTED", "hardware", kBad},
        Row{"advisory_listed",
            "id: p\ntdx: {accepted_advisory_ids: [INTEL-SA-00837]}\n", TdxDevice,
            [](auto& d) { d.claims["advisory_ids"] = {"INTEL-SA-00837"}; },
            "policy.tdx.advisory_ids", kPass, "OK", "hardware", kOk},
        Row{"advisory_unlisted", "id: p\ntdx: {accepted_advisory_ids: [INTEL-SA-00837]}\n",
            TdxDevice, [](auto& d) { d.claims["advisory_ids"] = {"INTEL-SA-00960"}; },
            "policy.tdx.advisory_ids", kFail, "ADVISORY_NOT_ACCEPTED", "hardware", kBad},
        Row{"mrtd_allowed", "id: p\ntdx: {mrtd: [" + kHex48a + "]}\n", TdxDevice, nullptr,
            "policy.tdx.mrtd", kPass, "OK", "executables", kOk},
        Row{"mrtd_not_allowed", "id: p\ntdx: {mrtd: [" + kHex48b + "]}\n", TdxDevice, nullptr,
            "policy.tdx.mrtd", kFail, "MEASUREMENT_NOT_ALLOWED", "executables", kBad},
        Row{"mrseam_not_allowed", "id: p\ntdx: {mrseam: [" + kHex48b + "]}\n", TdxDevice,
            nullptr, "policy.tdx.mrseam", kFail, "MRSEAM_NOT_ALLOWED", "executables", kBad},
        Row{"mrconfigid_not_allowed", "id: p\ntdx: {mrconfigid: [" + kHex48b + "]}\n", TdxDevice,
            nullptr, "policy.tdx.mrconfigid", kFail, "MRCONFIGID_NOT_ALLOWED", "configuration",
            kBad},
        Row{"rtmr2_allowed", "id: p\ntdx: {rtmr2: [" + kHex48a + "]}\n", TdxDevice, nullptr,
            "policy.tdx.rtmr2", kPass, "OK", "executables", kOk},
        Row{"rtmr2_not_allowed", "id: p\ntdx: {rtmr2: [" + kHex48a + "]}\n", TdxDevice,
            [](auto& d) { d.claims["rtmr"][2] = kHex48b; }, "policy.tdx.rtmr2", kFail,
            "RTMR_NOT_ALLOWED", "executables", kBad},
        Row{"eval_number_ok", "id: p\ntdx: {min_tcb_evaluation_data_number: 17}\n", TdxDevice,
            nullptr, "policy.tdx.tcb_evaluation_data_number", kPass, "OK", "sourced-data", kOk},
        Row{"eval_number_old", "id: p\ntdx: {min_tcb_evaluation_data_number: 18}\n", TdxDevice,
            nullptr, "policy.tdx.tcb_evaluation_data_number", kFail, "COLLATERAL_TOO_OLD",
            "sourced-data", kBad},
        Row{"tcb_date_ok",
            "id: p\ntdx: {min_tcb_date_by_fmspc: {B0C06F000000: '2024-01-01T00:00:00Z'}}\n",
            TdxDevice, nullptr, "policy.tdx.min_tcb_date", kPass, "OK", "hardware", kOk},
        Row{"tcb_date_old",
            "id: p\ntdx: {min_tcb_date_by_fmspc: {B0C06F000000: '2025-01-01T00:00:00Z'}}\n",
            TdxDevice, nullptr, "policy.tdx.min_tcb_date", kFail, "TCB_TOO_OLD", "hardware",
            kBad}),
    [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Gpu, PolicyCheckTable,
    ::testing::Values(
        Row{"cc_mode", "id: p\n", GpuDevice, nullptr, "policy.nvidia.mode", kPass, "OK",
            "configuration", kOk},
        Row{"cc_off_never", "id: p\nnvidia: {mode: any}\n", GpuDevice,
            [](auto& d) { d.claims["cc_mode"] = "off"; }, "policy.nvidia.mode", kFail,
            "GPU_NOT_IN_CC_MODE", "configuration", kBad},
        Row{"devtools_never", "id: p\nnvidia: {mode: any}\n", GpuDevice,
            [](auto& d) { d.claims["cc_mode"] = "devtools"; }, "policy.nvidia.mode", kFail,
            "GPU_NOT_IN_CC_MODE", "configuration", kBad},
        Row{"cc_mode_null_never", "id: p\nnvidia: {mode: any}\n", GpuDevice,
            [](auto& d) { d.claims["cc_mode"] = nullptr; }, "policy.nvidia.mode", kFail,
            "GPU_NOT_IN_CC_MODE", "configuration", kBad},
        Row{"driver_version_null", "id: p\nnvidia: {min_driver_version: '550.54.14'}\n",
            GpuDevice, [](auto& d) { d.claims["driver_version"] = nullptr; },
            "policy.nvidia.min_driver_version", kFail, "DRIVER_VERSION_TOO_OLD", "executables",
            kBad},
        Row{"ppcie_when_cc_required", "id: p\n", GpuDevice,
            [](auto& d) { d.claims["cc_mode"] = "ppcie"; }, "policy.nvidia.mode", kFail,
            "GPU_MODE_NOT_ALLOWED", "configuration", kBad},
        Row{"ppcie_required", "id: p\nnvidia: {mode: ppcie}\n", GpuDevice,
            [](auto& d) { d.claims["cc_mode"] = "ppcie"; }, "policy.nvidia.mode", kPass, "OK",
            "configuration", kOk},
        Row{"hwmodel_allowed", "id: p\nnvidia: {hwmodel: ['GH100 A01 GSP BROM']}\n", GpuDevice,
            nullptr, "policy.nvidia.hwmodel", kPass, "OK", "hardware", kOk},
        Row{"hwmodel_not_allowed", "id: p\nnvidia: {hwmodel: ['GB100 A01 GSP BROM']}\n",
            GpuDevice, nullptr, "policy.nvidia.hwmodel", kFail, "HWMODEL_NOT_ALLOWED", "hardware",
            kBad},
        Row{"driver_new_enough", "id: p\nnvidia: {min_driver_version: '550.54.14'}\n", GpuDevice,
            nullptr, "policy.nvidia.min_driver_version", kPass, "OK", "executables", kOk},
        Row{"driver_too_old", "id: p\nnvidia: {min_driver_version: '550.144.03'}\n", GpuDevice,
            nullptr, "policy.nvidia.min_driver_version", kFail, "DRIVER_VERSION_TOO_OLD",
            "executables", kBad},
        Row{"vbios_new_enough", "id: p\nnvidia: {min_vbios_version: '96.00.5E.00.01'}\n",
            GpuDevice, nullptr, "policy.nvidia.min_vbios_version", kPass, "OK", "executables",
            kOk},
        Row{"vbios_too_old", "id: p\nnvidia: {min_vbios_version: '96.00.A0.00.01'}\n", GpuDevice,
            nullptr, "policy.nvidia.min_vbios_version", kFail, "VBIOS_VERSION_TOO_OLD",
            "executables", kBad},
        Row{"rim_match", "id: p\n", GpuDevice, nullptr, "policy.nvidia.rim_match", kPass, "OK",
            "executables", kOk},
        Row{"rim_mismatch", "id: p\n", GpuDevice,
            [](auto& d) { d.claims["measurements_match"] = false; }, "policy.nvidia.rim_match",
            kFail, "RIM_MATCH_REQUIRED", "executables", kBad},
        Row{"rim_mismatch_allowed", "id: p\nnvidia: {allow_rim_mismatch: true}\n", GpuDevice,
            [](auto& d) { d.claims["measurements_match"] = false; }, "policy.nvidia.rim_match",
            kNot, "RIM_MISMATCH_ALLOWED", "executables", kWarn},
        Row{"ocsp_hold_forbidden", "id: p\n", GpuDevice,
            [](auto& d) {
              d.Fail("nvidia.cert_chain.ocsp", Component::kHardware, "CERT_ON_HOLD", "hold");
            },
            "nvidia.cert_chain.ocsp", kFail, "CERT_ON_HOLD", "hardware", kBad},
        Row{"ocsp_hold_allowed", "id: p\nnvidia: {ocsp: {allow_hold: true}}\n", GpuDevice,
            [](auto& d) {
              d.Fail("nvidia.cert_chain.ocsp", Component::kHardware, "CERT_ON_HOLD", "hold");
            },
            "nvidia.cert_chain.ocsp", kNot, "CERT_ON_HOLD_ALLOWED", "hardware", kWarn},
        Row{"ocsp_down_soft_fail", "id: p\nnvidia: {ocsp: {soft_fail: true}}\n", GpuDevice,
            [](auto& d) {
              d.Fail("nvidia.cert_chain.ocsp", Component::kHardware, "OCSP_UNAVAILABLE", "down");
            },
            "nvidia.cert_chain.ocsp", kNot, "OCSP_UNAVAILABLE_ALLOWED", "hardware", kWarn},
        Row{"ocsp_revoked_never_relaxed",
            "id: p\nnvidia: {ocsp: {allow_hold: true, allow_unknown: true, soft_fail: true}}\n",
            GpuDevice,
            [](auto& d) {
              d.Fail("nvidia.cert_chain.ocsp", Component::kHardware, "CERT_REVOKED", "revoked");
            },
            "nvidia.cert_chain.ocsp", kFail, "CERT_REVOKED", "hardware", kBad}),
    [](const auto& info) { return info.param.name; });

TEST(GpuNode, CountsAgainstPolicy) {
  absl::StatusOr<LoadedPolicy> p =
      ParsePolicy("id: p\nnvidia: {expected_gpus: 2, expected_switches: 0}\n", "t");
  ASSERT_TRUE(p.ok()) << p.status();
  core::Check binding{"binding", CheckStatus::kPass, "OK", "", Component::kInstanceIdentity};
  Appraisal two = AppraiseAll(*p, "attest-v1", {GpuDevice(), GpuDevice()}, {binding});
  EXPECT_EQ(two.verdict, Verdict::kAffirming);
  Appraisal one = AppraiseAll(*p, "attest-v1", {GpuDevice()}, {binding});
  EXPECT_EQ(one.verdict, Verdict::kContraindicated);
  ASSERT_FALSE(one.reasons.empty());
  EXPECT_EQ(one.reasons[0], "GPU_COUNT_MISMATCH");
}

TEST(PolicyValidation, TdxAndGpuErrorsNameThePath) {
  struct Bad {
    std::string yaml;
    std::string path;
  };
  const Bad bad[] = {
      {"id: p\ntdx: {accepted_tcb_statuses: [Fine]}\n", "tdx.accepted_tcb_statuses[0]"},
      {"id: p\ntdx: {accepted_tcb_statuses: [Revoked]}\n", "tdx.accepted_tcb_statuses"},
      {"id: p\ntdx: {accepted_advisory_ids: [SA-1]}\n", "tdx.accepted_advisory_ids[0]"},
      {"id: p\ntdx: {mrtd: [abcd]}\n", "tdx.mrtd[0]"},
      {"id: p\ntdx: {min_tcb_date_by_fmspc: {XYZ: '2024-01-01T00:00:00Z'}}\n",
       "tdx.min_tcb_date_by_fmspc.XYZ"},
      {"id: p\nnvidia: {mode: on}\n", "nvidia.mode"},
      {"id: p\nnvidia: {min_driver_version: 'new'}\n", "nvidia.min_driver_version"},
      {"id: p\nnvidia: {expected_gpus: 9}\n", "nvidia.expected_gpus"},
  };
  for (const Bad& b : bad) {
    absl::StatusOr<LoadedPolicy> p = ParsePolicy(b.yaml, "f.yaml");
    ASSERT_FALSE(p.ok()) << b.yaml;
    EXPECT_NE(std::string(p.status().message()).find("f.yaml: " + b.path), std::string::npos)
        << p.status();
  }
}

TEST(Versions, DottedComparison) {
  EXPECT_EQ(CompareDottedVersions("550.90.07", "550.144.03", false), -1);
  EXPECT_EQ(CompareDottedVersions("570.124.03", "570.124.03", false), 0);
  EXPECT_EQ(CompareDottedVersions("96.00.9F.00.01", "96.00.5E.00.01", true), 1);
  EXPECT_EQ(CompareDottedVersions("96.00.9F.00.01", "96.00.A0.00.01", true), -1);
  EXPECT_EQ(CompareDottedVersions("", "1.0", false), -1);
}

}  // namespace
}  // namespace rp::policy
