#include "verifier/nvidia/verifier.h"

#include <openssl/x509.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/crypto/x509.h"

namespace rp::nvidia {
namespace {

using attestation::v1::NvidiaDeviceEvidence;
using core::CheckStatus;
using core::Component;
using core::DeviceResult;
using crypto::OpensslPtr;
using nlohmann::json;

// A bundle beyond this is a malformed request, not a node (STYLE §11).
constexpr size_t kMaxEntries = 64;
constexpr size_t kMaxSimulationRoots = 8;

struct DeviceRun {
  DeviceResult d;
  bool listed_switch = false;  // placed in switch_evidence_list
  // Device class from the verified chain (nullopt: chain not verified or
  // unknown chip).
  std::optional<DeviceClass> cls;
  // Checks applied: the NVSwitch ones (true) or the GPU ones. The verified
  // class when there is one, the GPU checks for an unknown chip, the list
  // placement only when the chain did not verify.
  bool is_switch = false;
  std::optional<GpuReport> report;
  std::vector<OpensslPtr<X509>> certs;
  std::vector<const X509*> path;  // verified path (borrowed from certs/anchors)
  bool chain_ok = false;
  bool signature_ok = false;
  std::string ueid;
  std::string hwmodel;
  std::string cc_mode;   // "cc" | "ppcie" | "" (unknown)
  std::string gpu_mode;  // "spt" | "mpt" | "ppcie" | ""
};

void Skip(DeviceResult& d, const char* check, Component c, std::string why) {
  d.NotChecked(check, c, reason::kPrerequisiteFailed, std::move(why));
}

std::string ChainReason(crypto::ChainError e) {
  switch (e) {
    case crypto::ChainError::kNone: return reason::kOk;
    case crypto::ChainError::kUntrustedRoot: return reason::kCertChainUntrustedRoot;
    case crypto::ChainError::kExpired: return reason::kCertExpired;
    case crypto::ChainError::kNotYetValid: return reason::kCertNotYetValid;
    case crypto::ChainError::kWrongShape: return reason::kCertChainLength;
    case crypto::ChainError::kBadSignature:
    case crypto::ChainError::kOther: return reason::kCertChainInvalid;
  }
  return reason::kCertChainInvalid;
}

// hwmodel "GH100 A01 GSP BROM" -> Hopper, "GB100 …"/"GB20X …" -> Blackwell.
std::optional<GpuArch> ArchFromHwmodel(std::string_view hwmodel) {
  if (hwmodel.starts_with("GH1")) return GpuArch::kHopper;
  if (hwmodel.starts_with("GB")) return GpuArch::kBlackwell;
  return std::nullopt;
}

const char* ClassName(DeviceClass c) { return c == DeviceClass::kNvSwitch ? "NVSwitch" : "GPU"; }

json OptString(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

// --- Per-device checks ---------------------------------------------------------

void RunReportFormat(const NvidiaDeviceEvidence& ev, DeviceRun& run) {
  if (ev.evidence().empty()) {
    run.d.Fail(kCheckReportFormat, Component::kHardware, reason::kEvidenceEmpty,
               "the evidence entry has no report");
    return;
  }
  absl::StatusOr<GpuReport> parsed = ParseGpuReportUnverified(AsBytes(ev.evidence()));
  if (!parsed.ok()) {
    run.d.Fail(kCheckReportFormat, Component::kHardware, ReportErrorReason(parsed.status()),
               std::string(parsed.status().message()));
    return;
  }
  run.report = *std::move(parsed);
  run.d.Pass(kCheckReportFormat, Component::kHardware,
             absl::StrFormat("SPDM 1.1 MEASUREMENTS, %d bytes, %d blocks, %d opaque fields",
                             run.report->raw.size(), run.report->blocks.size(),
                             run.report->opaque.fields.size()));
}

}  // namespace

std::optional<DeviceClass> DeviceClassFromHwmodel(std::string_view hwmodel) {
  if (ArchFromHwmodel(hwmodel)) return DeviceClass::kGpu;
  // LS10 (Hopper-generation NVSwitch): NVIDIA's certificates say "LS_10 A01
  // FSP BROM"; "LS10 " is accepted as the same chip.
  if (hwmodel.starts_with("LS_10 ") || hwmodel.starts_with("LS10 ")) {
    return DeviceClass::kNvSwitch;
  }
  return std::nullopt;
}

NvidiaTrustConfig NvidiaTrustConfig::Default() {
  NvidiaTrustConfig c;
  c.device_roots_pem.emplace_back(PinnedDeviceRootPem());
  c.ocsp_url = "https://ocsp.ndis.nvidia.com/";
  return c;
}

NvidiaTrustConfig NvidiaTrustConfig::ForTest(std::string root_pem) {
  NvidiaTrustConfig c;
  c.device_roots_pem.push_back(std::move(root_pem));
  c.allow_unpinned_roots_for_test = true;
  return c;
}

absl::StatusOr<std::unique_ptr<NvidiaVerifier>> NvidiaVerifier::Create(NvidiaTrustConfig config) {
  std::vector<Anchor> anchors;
  const std::array<uint8_t, 32> pin = PinnedDeviceRootSpkiSha256();
  for (const std::string& pem : config.device_roots_pem) {
    absl::StatusOr<std::vector<OpensslPtr<X509>>> certs = crypto::ParsePemCertificates(pem, 1);
    if (!certs.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "nvidia: trust config: device root: %s", std::string(certs.status().message())));
    }
    const Bytes spki = crypto::SpkiSha256(certs->front().get());
    if (!config.allow_unpinned_roots_for_test &&
        !std::equal(spki.begin(), spki.end(), pin.begin(), pin.end())) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "nvidia: trust config: device root SPKI SHA-256 %s does not match the compiled NVIDIA "
          "Device Identity CA pin %s",
          HexEncode(spki), HexEncode(pin)));
    }
    anchors.push_back(Anchor{std::move(certs->front()), false});
  }
  for (const std::string& pem : config.simulation_roots_pem) {
    absl::StatusOr<std::vector<OpensslPtr<X509>>> certs =
        crypto::ParsePemCertificates(pem, kMaxSimulationRoots);
    if (!certs.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "nvidia: trust config: simulation root: %s", std::string(certs.status().message())));
    }
    for (OpensslPtr<X509>& c : *certs) anchors.push_back(Anchor{std::move(c), true});
  }
  if (config.max_gpus == 0 || config.max_gpus > kMaxEntries ||
      config.max_switches > kMaxEntries) {
    return absl::InvalidArgumentError("nvidia: trust config: max_gpus/max_switches out of range");
  }
  return std::unique_ptr<NvidiaVerifier>(new NvidiaVerifier(std::move(config), std::move(anchors)));
}

VerifiedGpu DescribeVerifiedGpu(const GpuReport& report, GpuArch arch, bool is_switch,
                                std::string ueid, std::string hwmodel) {
  VerifiedGpu g;
  g.arch = arch;
  g.is_switch = is_switch;
  g.report = &report;
  g.ueid = std::move(ueid);
  g.hwmodel = std::move(hwmodel);
  const OpaqueData& o = report.opaque;
  g.driver_version = o.driver_version.value_or("");
  g.vbios_version = o.vbios_version.value_or("");
  g.project = o.project.value_or("");
  g.project_sku = o.project_sku.value_or("");
  g.chip_sku = o.chip_sku.value_or("");
  g.chip_info = o.chip_info.value_or("");
  if (o.nvdec0_status) g.nvdec0_enabled = *o.nvdec0_status == kStatusEnabled;
  for (const MeasurementBlock& b : report.blocks) g.measurements[b.index] = b.value;
  return g;
}

absl::StatusOr<std::vector<DeviceResult>> NvidiaVerifier::Verify(
    const attestation::v1::EvidenceBundle& bundle, const core::VerifyContext& ctx) const {
  if (!bundle.has_nvidia()) return std::vector<DeviceResult>();
  return VerifyNvidia(bundle.nvidia(), ctx);
}

absl::StatusOr<std::vector<DeviceResult>> NvidiaVerifier::VerifyNvidia(
    const attestation::v1::NvidiaEvidence& ev, const core::VerifyContext& ctx) const {
  const size_t n_gpus = static_cast<size_t>(ev.evidence_list_size());
  const size_t n_switches = static_cast<size_t>(ev.switch_evidence_list_size());
  if (n_gpus + n_switches > kMaxEntries) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "nvidia: %d GPU and %d switch evidence entries (at most %d in a bundle)", n_gpus,
        n_switches, kMaxEntries));
  }
  std::vector<DeviceResult> out;
  // Too many devices: record the verdict without doing any crypto.
  if (n_gpus > config_.max_gpus || n_switches > config_.max_switches) {
    const std::string detail = absl::StrFormat(
        "%d GPUs and %d switches; one node has at most %d GPUs and %d switches", n_gpus,
        n_switches, config_.max_gpus, config_.max_switches);
    for (size_t i = 0; i < n_gpus + n_switches; ++i) {
      DeviceResult d;
      d.tee = i < n_gpus ? "nvidia-gpu" : "nvidia-switch";
      d.Fail(kCheckDeviceCount, Component::kHardware, reason::kTooManyDevices, detail);
      out.push_back(std::move(d));
    }
    return out;
  }
  if (n_gpus + n_switches == 0) return out;

  const std::optional<GpuArch> arch = ParseArch(ev.arch());
  std::vector<DeviceRun> runs;
  runs.reserve(n_gpus + n_switches);
  GpuOcspSettings ocsp{config_.ocsp_url, config_.ocsp_policy};

  for (size_t i = 0; i < n_gpus + n_switches; ++i) {
    const bool listed_switch = i >= n_gpus;
    const size_t list_index = listed_switch ? i - n_gpus : i;
    const NvidiaDeviceEvidence& e = listed_switch
                                        ? ev.switch_evidence_list(static_cast<int>(list_index))
                                        : ev.evidence_list(static_cast<int>(list_index));
    DeviceRun& run = runs.emplace_back();
    run.listed_switch = listed_switch;
    run.is_switch = listed_switch;  // until the verified chain says what the device is
    DeviceResult& d = run.d;
    d.tee = listed_switch ? "nvidia-switch" : "nvidia-gpu";

    // Report structure (no crypto).
    RunReportFormat(e, run);

    // Certificate chain to the pinned root at ctx.at.
    const X509* leaf = nullptr;
    {
      absl::StatusOr<std::vector<OpensslPtr<X509>>> certs = ParseGpuCertChain(e.certificate());
      if (!certs.ok()) {
        d.Fail(kCheckCertChain, Component::kHardware,
               e.certificate().empty() ? reason::kCertChainLength : reason::kCertChainMalformed,
               e.certificate().empty() ? "no certificate chain"
                                       : std::string(certs.status().message()));
      } else {
        run.certs = *std::move(certs);
        leaf = run.certs.front().get();
        run.ueid = DecimalSerial(leaf);
        if (run.certs.size() >= 2) run.hwmodel = crypto::SubjectCommonName(run.certs[1].get());
        if (run.certs.size() != kGpuChainLength) {
          d.Fail(kCheckCertChain, Component::kHardware, reason::kCertChainLength,
                 absl::StrFormat("%d certificates (exactly %d expected: FMC leaf, BROM, "
                                 "Provisioner ICA, Identity, Device Identity CA)",
                                 run.certs.size(), kGpuChainLength));
        } else {
          std::vector<const X509*> intermediates;
          for (size_t k = 1; k < run.certs.size(); ++k) intermediates.push_back(run.certs[k].get());
          std::vector<const X509*> roots;
          for (const Anchor& a : anchors_) roots.push_back(a.cert.get());
          crypto::ChainOptions options;
          options.at = ctx.at;
          options.expected_length = kGpuChainLength;
          absl::StatusOr<crypto::ChainResult> result =
              crypto::VerifyChain(leaf, intermediates, roots, options);
          if (!result.ok()) {
            d.Fail(kCheckCertChain, Component::kHardware, reason::kCertChainInvalid,
                   std::string(result.status().message()));
          } else if (!result->ok()) {
            d.Fail(kCheckCertChain, Component::kHardware, ChainReason(result->error),
                   absl::StrFormat("at %s: %s", FormatRfc3339(ctx.at), result->detail));
          } else {
            // The path must be the bundle's order (certs[0..3]) so that the
            // claims taken by position (hwmodel = certs[1]) are the verified
            // ones; certs[4] may be any copy of the anchor.
            bool in_order = result->path.size() == kGpuChainLength;
            for (size_t k = 0; in_order && k + 1 < kGpuChainLength; ++k) {
              in_order = X509_cmp(result->path[k], run.certs[k].get()) == 0;
            }
            const X509* root = result->path.back();
            bool simulated = false;
            for (const Anchor& a : anchors_) {
              if (X509_cmp(a.cert.get(), root) == 0) simulated = a.simulated;
            }
            if (!in_order) {
              d.Fail(kCheckCertChain, Component::kHardware, reason::kCertChainInvalid,
                     "the chain verifies only in another order than the bundle's (leaf first "
                     "expected)");
            } else {
              run.chain_ok = true;
              run.path = result->path;
              d.simulated = simulated;
              std::vector<std::string> names;
              for (const X509* c : run.path) {
                names.push_back(absl::StrFormat("\"%s\"", crypto::SubjectCommonName(c)));
              }
              std::string note;
              if (X509_cmp(run.certs.back().get(), root) != 0) {
                note = "; the bundle's last certificate is not the anchor and was ignored";
              }
              d.Pass(kCheckCertChain, Component::kHardware,
                     absl::StrFormat("%s at %s, root %s%s", absl::StrJoin(names, " -> "),
                                     FormatRfc3339(ctx.at),
                                     simulated ? "is a SIMULATION root (not NVIDIA)"
                                               : "is the pinned NVIDIA Device Identity CA",
                                     note));
            }
          }
        }
      }
    }

    // Device class from the verified chain, never from the list the entry
    // is in: otherwise a GPU report moved into switch_evidence_list would
    // escape the GPU checks (arch, mode, RIMs).
    const std::string placed = absl::StrFormat(
        "%s[%d]", listed_switch ? "switch_evidence_list" : "evidence_list", list_index);
    if (!run.chain_ok) {
      Skip(d, kCheckDeviceClass, Component::kHardware,
           absl::StrFormat("the certificate chain did not verify: the device class is not "
                           "established (%s is verified with the %s checks)",
                           placed, listed_switch ? "NVSwitch" : "GPU"));
    } else {
      run.cls = DeviceClassFromHwmodel(run.hwmodel);
      if (!run.cls) {
        run.is_switch = false;
        d.Fail(kCheckDeviceClass, Component::kHardware, reason::kDeviceClassUnknown,
               absl::StrFormat("%s: the verified device certificate \"%s\" is neither a known "
                               "GPU (GH1xx, GBxxx) nor an NVSwitch (LS_10); verified with the "
                               "GPU checks",
                               placed, run.hwmodel));
      } else {
        run.is_switch = *run.cls == DeviceClass::kNvSwitch;
        if (run.is_switch != listed_switch) {
          d.Fail(kCheckDeviceClass, Component::kHardware, reason::kDeviceClassMismatch,
                 absl::StrFormat("%s holds %s evidence but the verified device certificate "
                                 "\"%s\" is an %s; verified with the %s checks",
                                 placed, listed_switch ? "NVSwitch" : "GPU", run.hwmodel,
                                 ClassName(*run.cls), ClassName(*run.cls)));
        } else {
          d.Pass(kCheckDeviceClass, Component::kHardware,
                 absl::StrFormat("%s \"%s\" in %s", ClassName(*run.cls), run.hwmodel, placed));
        }
      }
    }
    const bool is_switch = run.is_switch;

    // Report signature with the leaf key (ECDSA P-384 / SHA-384, r||s).
    if (!run.report || leaf == nullptr) {
      Skip(d, kCheckReportSignature, Component::kHardware,
           !run.report ? "the report did not parse" : "no leaf certificate");
    } else if (std::string_view(crypto::EcCurveName(crypto::PublicKey(leaf))) != "P-384") {
      d.Fail(kCheckReportSignature, Component::kHardware, reason::kLeafKeyInvalid,
             "the leaf key is not EC P-384");
    } else {
      const std::span<const uint8_t> sig(run.report->signature);
      // The report is fresh per request (its nonce): never memoised
      // (verified_memo.h), so every call pays for its check.
      const crypto::ScopedMemoBypass fresh_evidence;
      absl::Status s = crypto::VerifyEcdsaRaw(crypto::PublicKey(leaf), run.report->SignedBytes(),
                                              sig.first(48), sig.subspan(48), crypto::Endian::kBig,
                                              crypto::HashAlg::kSha384);
      if (s.ok()) {
        run.signature_ok = true;
        d.Pass(kCheckReportSignature, Component::kHardware,
               absl::StrFormat("ECDSA P-384/SHA-384 over bytes [0,%d) with the key of \"%s\"",
                               run.report->SignedBytes().size(),
                               crypto::SubjectCommonName(leaf)));
      } else {
        d.Fail(kCheckReportSignature, Component::kHardware, reason::kSignatureInvalid,
               absl::StrFormat("with the key of \"%s\": %s", crypto::SubjectCommonName(leaf),
                               std::string(s.message())));
      }
    }

    // Architecture vs the certificates (GPUs).
    std::optional<LeafFwid> leaf_fwid;
    absl::Status fwid_status = absl::OkStatus();
    if (leaf != nullptr) {
      absl::StatusOr<std::optional<LeafFwid>> f = ExtractLeafFwid(leaf);
      if (f.ok()) {
        leaf_fwid = *f;
      } else {
        fwid_status = f.status();
      }
    }
    if (!is_switch && !arch) {
      d.Fail(kCheckArch, Component::kHardware, reason::kArchUnsupported,
             absl::StrFormat("bundle arch \"%s\" (HOPPER or BLACKWELL expected)", ev.arch()));
    } else if (!is_switch) {
      if (leaf == nullptr) {
        Skip(d, kCheckArch, Component::kHardware, "no certificate chain");
      } else {
        const std::optional<GpuArch> from_cert = ArchFromHwmodel(run.hwmodel);
        if (from_cert != arch) {
          d.Fail(kCheckArch, Component::kHardware, reason::kArchMismatch,
                 absl::StrFormat("bundle arch %s but the device certificate is \"%s\"",
                                 ArchName(*arch), run.hwmodel));
        } else if (leaf_fwid && leaf_fwid->format != *arch) {
          d.Fail(kCheckArch, Component::kHardware, reason::kArchMismatch,
                 absl::StrFormat("bundle arch %s but the leaf's FWID extension is the %s one",
                                 ArchName(*arch), ArchName(leaf_fwid->format)));
        } else {
          d.Pass(kCheckArch, Component::kHardware,
                 absl::StrFormat("%s, device \"%s\"", ArchName(*arch), run.hwmodel));
        }
      }
    }

    // FWID: the report's opaque FWID must equal the one the leaf certifies.
    if (!run.report || leaf == nullptr) {
      Skip(d, kCheckFwid, Component::kExecutables, "no parsed report or no leaf certificate");
    } else if (!run.report->opaque.fwid) {
      core::Check& c = d.NotChecked(
          kCheckFwid, Component::kExecutables, reason::kFwidNotReported,
          "the report has no FWID field (older firmware); the report is still bound to the "
          "firmware through the per-FMC leaf key that signed it");
      c.affects_status = false;
    } else if (!fwid_status.ok()) {
      d.Fail(kCheckFwid, Component::kExecutables, reason::kFwidCertMalformed,
             std::string(fwid_status.message()));
    } else if (!leaf_fwid) {
      d.Fail(kCheckFwid, Component::kExecutables, reason::kFwidCertMissing,
             "the report carries an FWID but the leaf has no FWID extension");
    } else if (leaf_fwid->fwid != *run.report->opaque.fwid) {
      d.Fail(kCheckFwid, Component::kExecutables, reason::kFwidMismatch,
             absl::StrFormat("report FWID %s, leaf certificate FWID %s",
                             HexEncode(*run.report->opaque.fwid), HexEncode(leaf_fwid->fwid)));
    } else {
      d.Pass(kCheckFwid, Component::kExecutables,
             absl::StrFormat("%s (%s extension)", HexEncode(leaf_fwid->fwid),
                             leaf_fwid->format == GpuArch::kHopper ? kHopperFwidOid
                                                                   : kBlackwellFwidOid));
    }

    // Nonce: the signed requester nonce must be the verifier's challenge.
    if (!run.report) {
      Skip(d, kCheckNonce, Component::kInstanceIdentity, "the report did not parse");
    } else if (!ctx.expected_nonce) {
      d.NotChecked(kCheckNonce, Component::kInstanceIdentity, reason::kNonceNotProvided,
                   absl::StrFormat("no expected nonce; the report carries %s",
                                   HexEncode(run.report->requester_nonce)));
    } else if (!std::equal(ctx.expected_nonce->begin(), ctx.expected_nonce->end(),
                           run.report->requester_nonce.begin(),
                           run.report->requester_nonce.end())) {
      d.Fail(kCheckNonce, Component::kInstanceIdentity, reason::kNonceMismatch,
             absl::StrFormat("report requester nonce %s, expected %s",
                             HexEncode(run.report->requester_nonce),
                             HexEncode(*ctx.expected_nonce)));
    } else {
      d.Pass(kCheckNonce, Component::kInstanceIdentity, HexEncode(run.report->requester_nonce));
    }

    // Opaque fields and mode (GPU or NVSwitch rules by the device class).
    if (!is_switch) {
      if (!run.report) {
        Skip(d, kCheckOpaqueFields, Component::kConfiguration, "the report did not parse");
        Skip(d, kCheckCcMode, Component::kConfiguration, "the report did not parse");
      } else {
        const OpaqueData& o = run.report->opaque;
        std::vector<std::string> missing;
        if (!o.driver_version) missing.push_back("DRIVER_VERSION");
        if (!o.vbios_version) missing.push_back("VBIOS_VERSION");
        if (!o.project) missing.push_back("PROJECT");
        if (!o.project_sku) missing.push_back("PROJECT_SKU");
        if (!o.chip_sku) missing.push_back("CHIP_SKU");
        if (!o.nvdec0_status) missing.push_back("NVDEC0_STATUS");
        if (!missing.empty()) {
          d.Fail(kCheckOpaqueFields, Component::kConfiguration, reason::kOpaqueFieldMissing,
                 absl::StrFormat("missing %s", absl::StrJoin(missing, ", ")));
        } else {
          d.Pass(kCheckOpaqueFields, Component::kConfiguration,
                 absl::StrFormat("driver %s, VBIOS %s", *o.driver_version, *o.vbios_version));
        }
        // Mode (spec §1.4): a report exists only in CC or PPCIe mode; the
        // report says which through PROTECTED_PCIE_STATUS and, from
        // OPAQUE_DATA_VERSION 1, FEATURE_FLAG (0 SPT, 1 MPT, 2 PPCIe).
        const bool ppcie_status = o.protected_pcie_status == kStatusEnabled;
        std::optional<uint64_t> flag;
        if (o.opaque_data_version.value_or(0) >= 1) flag = o.feature_flag;
        if (flag && *flag > kFeaturePpcie) {
          d.Fail(kCheckCcMode, Component::kConfiguration, reason::kCcModeUnknown,
                 absl::StrFormat("FEATURE_FLAG %d is not SPT (0), MPT (1) or PPCIe (2)", *flag));
        } else if (flag && (*flag == kFeaturePpcie) != ppcie_status) {
          d.Fail(kCheckCcMode, Component::kConfiguration, reason::kCcModeInconsistent,
                 absl::StrFormat("FEATURE_FLAG %d but PROTECTED_PCIE_STATUS %s", *flag,
                                 ppcie_status ? "0xAA (on)" : "0x55/absent (off)"));
        } else {
          run.cc_mode = ppcie_status ? "ppcie" : "cc";
          if (flag) {
            run.gpu_mode = *flag == kFeatureSpt ? "spt" : *flag == kFeatureMpt ? "mpt" : "ppcie";
          }
          d.Pass(kCheckCcMode, Component::kConfiguration,
                 absl::StrFormat("%s (PROTECTED_PCIE_STATUS %s%s)", run.cc_mode,
                                 o.protected_pcie_status
                                     ? absl::StrFormat("0x%02X", *o.protected_pcie_status)
                                     : std::string("absent"),
                                 flag ? absl::StrFormat(", FEATURE_FLAG %d", *flag) : ""));
        }
      }
    } else if (!run.report) {
      Skip(d, kCheckOpaqueFields, Component::kConfiguration, "the report did not parse");
      Skip(d, kCheckCcMode, Component::kConfiguration, "the report did not parse");
    } else {
      // NVSwitch: its BIOS version is what NVIDIA's switch verifier reads
      // (and what a switch RIM id is made of).
      const OpaqueData& o = run.report->opaque;
      if (!o.vbios_version) {
        d.Fail(kCheckOpaqueFields, Component::kConfiguration, reason::kOpaqueFieldMissing,
               "missing VBIOS_VERSION (the NVSwitch BIOS version)");
      } else {
        d.Pass(kCheckOpaqueFields, Component::kConfiguration,
               absl::StrFormat("NVSwitch BIOS %s", *o.vbios_version));
      }
      // An NVSwitch is attested for PPCIe only; its signed report states the
      // mode through PROTECTED_PCIE_STATUS (and FEATURE_FLAG from
      // OPAQUE_DATA_VERSION 1). "cc" does not exist for a switch.
      std::optional<uint64_t> flag;
      if (o.opaque_data_version.value_or(0) >= 1) flag = o.feature_flag;
      if (flag && *flag > kFeaturePpcie) {
        d.Fail(kCheckCcMode, Component::kConfiguration, reason::kCcModeUnknown,
               absl::StrFormat("FEATURE_FLAG %d is not SPT (0), MPT (1) or PPCIe (2)", *flag));
      } else if (!o.protected_pcie_status) {
        d.NotChecked(kCheckCcMode, Component::kConfiguration, reason::kSwitchModeNotReported,
                     "the NVSwitch report has no PROTECTED_PCIE_STATUS field: its PPCIe mode is "
                     "not stated by signed evidence (cc_mode claim null)");
      } else if (*o.protected_pcie_status != kStatusEnabled) {
        d.Fail(kCheckCcMode, Component::kConfiguration, reason::kCcModeOff,
               absl::StrFormat("PROTECTED_PCIE_STATUS 0x%02X: the NVSwitch is not in PPCIe mode",
                               *o.protected_pcie_status));
      } else if (flag && *flag != kFeaturePpcie) {
        d.Fail(kCheckCcMode, Component::kConfiguration, reason::kCcModeInconsistent,
               absl::StrFormat("FEATURE_FLAG %d but PROTECTED_PCIE_STATUS 0xAA (on)", *flag));
      } else {
        run.cc_mode = "ppcie";
        d.Pass(kCheckCcMode, Component::kConfiguration,
               absl::StrFormat("ppcie (NVSwitch, PROTECTED_PCIE_STATUS 0xAA%s)",
                               flag ? absl::StrFormat(", FEATURE_FLAG %d", *flag) : ""));
      }
    }

    // OCSP for the intermediates of the verified path.
    json ocsp_claim = json::array();
    if (!run.chain_ok) {
      Skip(d, kCheckCertOcsp, Component::kHardware, "the certificate chain did not verify");
    } else {
      std::vector<CertOcspOutcome> outcomes = CheckChainOcsp(run.path, ocsp, ctx);
      CheckStatus worst = CheckStatus::kPass;
      std::string worst_reason = reason::kOk;
      std::vector<std::string> details;
      for (const CertOcspOutcome& o : outcomes) {
        const int rank_o = o.check == CheckStatus::kFail ? 2 : o.check == CheckStatus::kNotChecked;
        const int rank_w = worst == CheckStatus::kFail ? 2 : worst == CheckStatus::kNotChecked;
        if (rank_o > rank_w) {
          worst = o.check;
          worst_reason = o.reason;
        }
        details.push_back(absl::StrFormat("[%d] \"%s\": %s %s: %s", o.index, o.subject, o.status,
                                          o.reason, o.detail));
        json entry = {{"index", o.index},     {"subject", o.subject}, {"serial", o.serial_hex},
                      {"status", o.status},   {"reason", o.reason},   {"source", o.source}};
        if (o.revocation_reason >= 0) entry["revocation_reason"] = o.revocation_reason;
        if (!o.response_sha256.empty()) {
          d.collateral.push_back(core::CollateralRef{
              "ocsp", o.key, o.response_sha256,
              o.next_update ? FormatRfc3339(*o.next_update) : std::string(), o.source});
        }
        if (o.this_update) entry["this_update"] = FormatRfc3339(*o.this_update);
        if (o.next_update) entry["next_update"] = FormatRfc3339(*o.next_update);
        ocsp_claim.push_back(std::move(entry));
      }
      if (outcomes.empty()) {
        // Nothing was asked: never a pass.
        worst = CheckStatus::kNotChecked;
        worst_reason = reason::kPrerequisiteFailed;
        details.push_back("no certificate of the path needs an OCSP answer");
      }
      d.Add(kCheckCertOcsp, worst, worst_reason, absl::StrJoin(details, "; "),
            Component::kHardware);
    }

    // Claims (as parsed; the checks say how far to trust them).
    json& c = d.claims;
    if (!is_switch) c["arch"] = ev.arch();
    c["device_class"] = !run.cls                              ? json(nullptr)
                        : *run.cls == DeviceClass::kNvSwitch ? json("nvswitch")
                                                             : json("gpu");
    c["hwmodel"] = run.hwmodel.empty() ? json(nullptr) : json(run.hwmodel);
    c["ueid"] = run.ueid.empty() ? json(nullptr) : json(run.ueid);
    json chain_claim = json::object();
    chain_claim["status"] = run.chain_ok ? "valid" : "invalid";
    if (!run.certs.empty()) {
      absl::Time earliest = absl::InfiniteFuture();
      for (const auto& cert : run.certs) earliest = std::min(earliest, crypto::NotAfter(cert.get()));
      chain_claim["expiration"] = FormatRfc3339(earliest);
      if (earliest < ctx.at) chain_claim["status"] = "expired";
    }
    chain_claim["ocsp"] = std::move(ocsp_claim);
    c["cert_chain"] = std::move(chain_claim);
    c["ocsp"] = c["cert_chain"]["ocsp"];
    if (run.report) {
      const GpuReport& r = *run.report;
      const OpaqueData& o = r.opaque;
      c["nonce"] = HexEncode(r.requester_nonce);
      c["responder_nonce"] = HexEncode(r.responder_nonce);
      c["driver_version"] = OptString(o.driver_version);
      c["vbios_version"] = OptString(o.vbios_version);
      c["project"] = OptString(o.project);
      c["project_sku"] = OptString(o.project_sku);
      c["project_sku_mod"] = OptString(o.project_sku_mod);
      c["chip_sku"] = OptString(o.chip_sku);
      c["chip_sku_mod"] = OptString(o.chip_sku_mod);
      if (o.chip_info) c["chip_info"] = *o.chip_info;
      if (o.board_id) c["board_id"] = *o.board_id;
      if (o.gpu_info) c["gpu_info"] = HexEncode(*o.gpu_info);
      if (o.cpr_info) c["cpr_info"] = HexEncode(*o.cpr_info);
      if (o.sys_enable_status) c["sys_enable_status"] = HexEncode(*o.sys_enable_status);
      if (o.nvdec0_status) {
        c["nvdec0_status"] = *o.nvdec0_status == kStatusEnabled ? "enabled" : "disabled";
      }
      if (o.protected_pcie_status) {
        c["protected_pcie"] = *o.protected_pcie_status == kStatusEnabled;
      }
      if (o.opaque_data_version) c["opaque_data_version"] = *o.opaque_data_version;
      if (o.feature_flag) c["feature_flag"] = *o.feature_flag;
      c["cc_mode"] = run.cc_mode.empty() ? json(nullptr) : json(run.cc_mode);
      if (!run.gpu_mode.empty()) c["gpu_mode"] = run.gpu_mode;
      c["fwid"] = o.fwid ? json(HexEncode(*o.fwid)) : json(nullptr);
      json m = json::object();
      for (const MeasurementBlock& b : r.blocks) m[std::to_string(b.index)] = HexEncode(b.value);
      c["measurements"] = std::move(m);
      if (o.msrscnt) c["measurement_counts"] = *o.msrscnt;
      if (o.switch_pdis) c["switch_pdis"] = NormalizedSwitchPdis(*o.switch_pdis);
      if (!o.other.empty()) {
        json other = json::object();
        for (const auto& [type, value] : o.other) other[OpaqueFieldName(type)] = HexEncode(value);
        c["opaque_other"] = std::move(other);
      }
    }

    // Authentic: signed by the leaf of a chain that verified to a configured
    // root, and the leaf certifies the firmware the report names (.fwid did
    // not fail; absent on older firmware, as before).
    bool fwid_failed = false;
    for (const core::Check& ch : d.checks) {
      if (ch.name == kCheckFwid && ch.status == CheckStatus::kFail) fwid_failed = true;
    }
    d.evidence_authentic = run.chain_ok && run.signature_ok && !fwid_failed;
  }

  // --- Node-level checks ---------------------------------------------------------

  // No device twice: a replayed or duplicated GPU would inflate the node.
  std::map<std::string, std::vector<size_t>> by_ueid;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (!runs[i].ueid.empty()) by_ueid[runs[i].ueid].push_back(i);
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    DeviceRun& run = runs[i];
    if (run.ueid.empty()) {
      Skip(run.d, kCheckUniqueDevice, Component::kInstanceIdentity, "no device certificate");
      continue;
    }
    const std::vector<size_t>& same = by_ueid[run.ueid];
    if (same.size() > 1) {
      std::vector<std::string> where;
      for (size_t k : same) where.push_back(absl::StrFormat("entry %d", k));
      run.d.Fail(kCheckUniqueDevice, Component::kInstanceIdentity, reason::kDuplicateDevice,
                 absl::StrFormat("ueid %s appears %d times (%s)", run.ueid, same.size(),
                                 absl::StrJoin(where, ", ")));
    } else {
      run.d.Pass(kCheckUniqueDevice, Component::kInstanceIdentity,
                 absl::StrFormat("ueid %s unique among %d devices", run.ueid, runs.size()));
    }
  }

  // Without an expected nonce, all devices must at least share one nonce.
  if (!ctx.expected_nonce) {
    std::optional<std::array<uint8_t, kSpdmNonceSize>> first;
    for (DeviceRun& run : runs) {
      if (!run.report) continue;
      if (!first) {
        first = run.report->requester_nonce;
      } else if (*first != run.report->requester_nonce) {
        run.d.Fail(kCheckNonce, Component::kInstanceIdentity, reason::kNonceInconsistent,
                   absl::StrFormat("nonce %s differs from the first device's %s",
                                   HexEncode(run.report->requester_nonce), HexEncode(*first)));
      }
    }
  }

  // All GPUs in one mode: CC (all SPT or all MPT) or all PPCIe (spec §5 16).
  // "GPUs" = devices verified with the GPU checks (by their verified class).
  std::vector<DeviceRun*> gpus;
  size_t n_switch_evidence = 0;  // entries whose verified chain is an NVSwitch's
  for (DeviceRun& run : runs) {
    if (!run.is_switch) gpus.push_back(&run);
    if (run.cls == DeviceClass::kNvSwitch) ++n_switch_evidence;
  }
  if (gpus.size() > 1) {
    std::set<std::string> modes;
    for (DeviceRun* g : gpus) {
      if (!g->cc_mode.empty()) {
        modes.insert(g->gpu_mode.empty() ? g->cc_mode : g->cc_mode + "/" + g->gpu_mode);
      }
    }
    std::set<std::string> base;
    for (const std::string& m : modes) base.insert(m.substr(0, m.find('/')));
    std::set<std::string> sub;
    for (const std::string& m : modes) {
      if (m.find('/') != std::string::npos) sub.insert(m.substr(m.find('/') + 1));
    }
    const bool mixed = base.size() > 1 || sub.size() > 1;
    for (DeviceRun* g : gpus) {
      if (mixed) {
        g->d.Fail(kCheckGpuModes, Component::kConfiguration, reason::kMixedGpuModes,
                  absl::StrFormat("GPUs of one node are in different modes: %s",
                                  absl::StrJoin(modes, ", ")));
      } else {
        g->d.Pass(kCheckGpuModes, Component::kConfiguration,
                  absl::StrFormat("%d GPUs: %s", gpus.size(), absl::StrJoin(modes, ", ")));
      }
    }
  }

  // PPCIe: NVLink traffic is trusted, so the NVSwitches must be attested too.
  std::optional<std::vector<std::string>> reference_pdis;
  bool pdis_agree = true;
  for (DeviceRun* g : gpus) {
    if (g->cc_mode != "ppcie") continue;
    const auto& pdis = g->report->opaque.switch_pdis;
    std::vector<std::string> norm = pdis ? NormalizedSwitchPdis(*pdis) : std::vector<std::string>();
    if (!reference_pdis) {
      reference_pdis = norm;
    } else if (*reference_pdis != norm) {
      pdis_agree = false;
    }
  }
  for (DeviceRun* g : gpus) {
    if (g->cc_mode != "ppcie") continue;
    if (n_switch_evidence == 0) {
      const std::string detail = absl::StrFormat(
          "the GPU is in PPCIe mode (NVLink traffic in plain text) but the bundle has no "
          "NVSwitch evidence whose certificate chain verified as an NVSwitch (%d entries in "
          "switch_evidence_list)",
          n_switches);
      if (config_.require_switch_evidence_for_ppcie) {
        g->d.Fail(kCheckPpcieSwitches, Component::kHardware, reason::kPpcieSwitchEvidenceMissing,
                  detail);
      } else {
        g->d.NotChecked(kCheckPpcieSwitches, Component::kHardware,
                        reason::kPpcieSwitchEvidenceMissing,
                        detail + " (accepted as a warning by configuration)");
      }
    } else {
      g->d.Pass(kCheckPpcieSwitches, Component::kHardware,
                absl::StrFormat("%d NVSwitch evidence entries authenticated as NVSwitches "
                                "(each verified as switchN)",
                                n_switch_evidence));
    }
    const auto& pdis = g->report->opaque.switch_pdis;
    if (!pdis || !pdis_agree) {
      g->d.Fail(kCheckPpcieTopology, Component::kHardware, reason::kPpcieTopologyMismatch,
                !pdis ? std::string("PPCIe GPU without SWITCH_PDI field")
                      : std::string("the GPUs of the node report different NVSwitch PDI sets"));
    } else {
      g->d.NotChecked(
          kCheckPpcieTopology, Component::kHardware, reason::kPpcieTopologyNotChecked,
          absl::StrFormat("all PPCIe GPUs report the same %d NVSwitch PDIs (%s); matching them "
                          "against the switches' own reports is not implemented",
                          reference_pdis->size(), absl::StrJoin(*reference_pdis, ",")));
    }
  }

  // Reference measurements (RIMs): the integration's appraiser, if any.
  for (DeviceRun* g : gpus) {
    if (config_.rim_appraiser == nullptr) {
      g->d.NotChecked(kCheckDriverRim, Component::kExecutables, reason::kRimNotIntegrated,
                      "no RIM appraiser configured: measurements not compared");
      g->d.NotChecked(kCheckVbiosRim, Component::kExecutables, reason::kRimNotIntegrated,
                      "no RIM appraiser configured: measurements not compared");
      continue;
    }
    if (!g->report || !g->signature_ok || !g->chain_ok || !arch) {
      const char* why = !arch ? "the bundle architecture is not supported"
                              : "the report signature or chain did not verify";
      Skip(g->d, kCheckDriverRim, Component::kExecutables, why);
      Skip(g->d, kCheckVbiosRim, Component::kExecutables, why);
      continue;
    }
    const VerifiedGpu view = DescribeVerifiedGpu(*g->report, *arch, false, g->ueid, g->hwmodel);
    absl::Status s = config_.rim_appraiser->Appraise(view, ctx, g->d);
    if (!s.ok()) return s;
  }

  // NVSwitches: no reference-value appraisal here. Recorded, never absent.
  for (DeviceRun& run : runs) {
    if (!run.is_switch) continue;
    run.d.NotChecked(
        kCheckVbiosRim, Component::kExecutables, reason::kSwitchRimNotSupported,
        "NVSwitch BIOS RIMs (NV_SWITCH_BIOS_<project>_<sku>_<chip sku>_<version>) are not "
        "appraised: the switch's measurements are not compared with reference values (an "
        "NVSwitch has no driver RIM)");
    run.d.claims["measurements_match"] = nullptr;
  }

  for (DeviceRun& run : runs) out.push_back(std::move(run.d));
  return out;
}

}  // namespace rp::nvidia
