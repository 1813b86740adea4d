#include "verifier/nvidia/rim/appraise.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim_ocsp.h"

namespace rp::nvidia::rim {
namespace {

using core::CheckStatus;
using core::Component;

constexpr uint32_t kMaxBlockIndex = 255;

std::string StripNul(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\0') out.push_back(c);
  }
  return out;
}

bool Retryable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded ||
         s.code() == absl::StatusCode::kResourceExhausted;
}

// One RIM (driver or VBIOS) through fetch, authentication and version check.
struct Side {
  std::string label;   // "driver" | "vbios"
  std::string prefix;  // "nvidia.driver_rim"
  std::string id;
  std::shared_ptr<const RimVerification> v;  // set once the RIM parsed
  bool usable = false;  // golden values may be read
  nlohmann::json claim = nlohmann::json::object();
};

void AddPrereqFailed(core::DeviceResult& out, const std::string& name, Component c,
                     const std::string& why) {
  out.NotChecked(name, c, reason::kPrerequisiteFailed, why);
}

// The chip a RIM for this report must name in its signed identity
// (SoftwareIdentity@name, Meta@product, Meta@PlatformModel). Hopper: every
// NVIDIA Hopper RIM (driver and VBIOS, H100 and H200) says "GH100", as the
// driver RIM id does. Blackwell: the chip names vary (GB100, GB202...; no
// genuine Blackwell RIM was available to pin them), so only the family.
struct ChipRule {
  std::string chip;
  bool exact = true;
};
ChipRule ChipFor(GpuArch arch) {
  return arch == GpuArch::kHopper ? ChipRule{"GH100", true} : ChipRule{"GB", false};
}

// The signed RIM's own identity against the RIM id the report asks for (not
// only the id under which the store or the RIM service handed it out):
//  - tagId: a tagId in RIM-id form ("NV_...") must be the requested id;
//    NVIDIA's own RIMs carry an opaque hex digest there, which names no id
//    and is accepted as such; anything else is refused;
//  - the chip of name / product / PlatformModel (ChipFor).
// colloquialVersion is the .version_match check. Returns the problems
// (empty: the identity matches) and what was compared.
std::vector<std::string> IdentityProblems(const Rim& rim, const std::string& want_id,
                                          const ChipRule& chip, std::vector<std::string>& compared) {
  std::vector<std::string> problems;
  if (absl::StartsWith(rim.tag_id, "NV_")) {
    if (rim.tag_id != want_id) {
      problems.push_back(absl::StrCat("tagId '", rim.tag_id, "' is the id of another RIM"));
    } else {
      compared.push_back("tagId");
    }
  } else if (rim.tag_id.empty() || !IsHexString(rim.tag_id)) {
    problems.push_back(absl::StrCat("tagId '", rim.tag_id,
                                    "' is neither a RIM id nor NVIDIA's digest form"));
  } else {
    compared.push_back("tagId (NVIDIA digest form, names no id)");
  }
  const std::pair<const char*, const std::string*> chips[] = {
      {"name", &rim.name}, {"product", &rim.product}, {"PlatformModel", &rim.platform_model}};
  for (const auto& [attr, value] : chips) {
    if (value->empty() && std::string_view(attr) != "name") continue;  // optional in the schema
    const bool ok = chip.exact ? *value == chip.chip : absl::StartsWith(*value, chip.chip);
    if (!ok) {
      problems.push_back(absl::StrCat(attr, " '", *value, "' is not ",
                                      chip.exact ? chip.chip : absl::StrCat(chip.chip, "xxx")));
    } else {
      compared.push_back(absl::StrCat(attr, " ", *value));
    }
  }
  return problems;
}

// One RIM document as fetched and checked for this request: what VerifyRim
// and the OCSP check of its chain found. Everything in it depends on the
// document, the trust configuration, the time and the sources, never on the
// GPU that asked for it; the checks that do (version, identity, golden
// values) run per GPU on top of it.
struct CheckedRimDocument {
  std::string source;  // CollateralItem::source
  bool stale = false;
  absl::Time fresh_until = absl::InfiniteFuture();
  std::string xml_sha256_hex;
  absl::Status verify_error;                  // VerifyRim's error (v is null)
  std::shared_ptr<const RimVerification> v;
  std::optional<ChainOcspResult> ocsp;        // only over a verified signature and chain
};

// Every input of CheckedRimDocument besides the document itself, which the
// collateral key names: the request memo key (crypto::RequestMemoKey). An
// eight-GPU node asks for the same two RIMs eight times in one request; the
// first GPU fetches and checks each, the other seven reuse that result, as
// the request's one snapshot of the RIM store (a full run would differ only
// if the store changed between two GPUs of the same request). Empty outside
// a request scope or with the memo bypassed: then every GPU runs in full.
std::string CheckedDocumentKey(const std::string& collateral_key, const RimTrustConfig& trust,
                               const RimContext& ctx) {
  // Every field of RimTrustConfig, in order; a new field must be added here.
#if defined(__GLIBCXX__) && defined(__x86_64__)
  static_assert(sizeof(RimTrustConfig) == 80,
                "RimTrustConfig changed: add the new field to CheckedDocumentKey");
#endif
  std::string fields = absl::StrCat(
      collateral_key.size(), ":", collateral_key, "|root=", trust.trust_nvidia_root ? 1 : 0,
      "|len=", trust.expected_chain_length, "|ocsp=", trust.ocsp_url_override.size(), ":",
      trust.ocsp_url_override, "|nonce=", trust.ocsp_nonce ? 1 : 0, "|hold=",
      trust.allow_hold ? 1 : 0, "|unknown=", trust.allow_unknown ? 1 : 0, "|soft=",
      trust.soft_fail_unreachable ? 1 : 0, "|at=", absl::ToUnixNanos(ctx.at), "|grace=",
      absl::ToInt64Nanoseconds(ctx.grace), "|src=", reinterpret_cast<uintptr_t>(ctx.collateral),
      "|fetcher=", reinterpret_cast<uintptr_t>(ctx.ocsp), "|extra=", trust.extra_root_pems.size());
  for (const std::string& pem : trust.extra_root_pems) {
    absl::StrAppend(&fields, "|", pem.size(), ":", pem);
  }
  const std::span<const uint8_t> parts[] = {std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(fields.data()), fields.size())};  // NOLINT
  return crypto::RequestMemoKey("nvidia-rim-document-v1", parts);
}

// Runs one side; returns a retryable fetch error (else OK).
absl::Status RunSide(Side& side, absl::StatusOr<std::string> id, std::string_view report_version,
                     bool case_insensitive_version, const ChipRule& chip,
                     const RimTrustConfig& trust, const RimContext& ctx, core::DeviceResult& out,
                     std::vector<std::string>& stale) {
  const std::string sig = side.prefix + ".signature";
  const std::string chain = side.prefix + ".cert_chain";
  const std::string ocsp = side.prefix + ".ocsp";
  const std::string version = side.prefix + ".version_match";
  const std::string identity = side.prefix + ".identity";
  auto skip_rest = [&](const std::string& why) {
    AddPrereqFailed(out, chain, Component::kSourcedData, why);
    AddPrereqFailed(out, ocsp, Component::kSourcedData, why);
    AddPrereqFailed(out, version, Component::kExecutables, why);
    AddPrereqFailed(out, identity, Component::kSourcedData, why);
  };
  side.claim["fetched"] = false;
  if (!id.ok()) {
    out.Fail(sig, Component::kSourcedData, reason::kRimIdInvalid, std::string(id.status().message()));
    skip_rest("no RIM id");
    return absl::OkStatus();
  }
  side.id = *id;
  side.claim["id"] = side.id;
  const std::string key = RimCollateralKey(side.id);
  const std::string memo_key = CheckedDocumentKey(key, trust, ctx);
  std::shared_ptr<const CheckedRimDocument> doc;
  if (std::shared_ptr<const void> hit = crypto::FindInRequest(memo_key)) {
    doc = std::static_pointer_cast<const CheckedRimDocument>(hit);
  } else {
    collateral::GetOptions get;
    get.stale_grace = ctx.grace;
    absl::StatusOr<std::optional<collateral::CollateralItem>> item =
        ctx.collateral->GetItem(key, get);
    absl::Status retry = absl::OkStatus();
    if (!item.ok()) {
      const std::string msg(item.status().message());
      if (absl::StrContains(msg, reason::kRimIdMismatch)) {
        out.Fail(sig, Component::kSourcedData, reason::kRimIdMismatch, msg);
      } else if (item.status().code() == absl::StatusCode::kFailedPrecondition) {
        out.Fail(sig, Component::kSourcedData, reason::kCollateralStaleBeyondGrace,
                 absl::StrCat("RIM ", key, " is stale beyond the grace (fail closed): ", msg));
      } else {
        out.Fail(sig, Component::kSourcedData, reason::kRimUnavailable,
                 absl::StrCat("RIM ", key, ": ", msg));
        if (Retryable(item.status())) retry = item.status();
      }
      skip_rest("RIM not available");
      return retry;
    }
    if (!item->has_value()) {
      out.Fail(sig, Component::kSourcedData, reason::kRimNotFound,
               absl::StrCat("no RIM ", side.id, " in ", ctx.collateral->Describe()));
      skip_rest("RIM not found");
      return absl::OkStatus();
    }
    const collateral::CollateralItem& it = **item;
    auto checked = std::make_shared<CheckedRimDocument>();
    checked->source = it.source;
    checked->stale = it.stale;
    checked->fresh_until = it.fresh_until;
    absl::StatusOr<RimVerification> v = VerifyRim(
        std::string_view(reinterpret_cast<const char*>(it.data.data()), it.data.size()),  // NOLINT
        trust, ctx.at);
    checked->xml_sha256_hex = HexEncode(v.ok() ? v->xml_sha256 : crypto::Sha256(it.data));
    if (v.ok()) {
      checked->v = std::make_shared<const RimVerification>(*std::move(v));
      // OCSP only over a validated path (issuers must be trusted to judge answers).
      if (checked->v->chain.ok() && checked->v->signature.ok()) {
        RimOcspContext octx{ctx.at, ctx.ocsp, ctx.collateral, ctx.grace};
        checked->ocsp = CheckRimChainOcsp(checked->v->path, trust, octx);
      }
    } else {
      checked->verify_error = v.status();
    }
    if (!memo_key.empty()) crypto::RememberInRequest(memo_key, checked);
    doc = std::move(checked);
  }
  side.claim["fetched"] = true;
  side.claim["source"] = doc->source;
  if (doc->stale) stale.push_back(key);
  out.collateral.push_back(core::CollateralRef{
      "rim", key, doc->xml_sha256_hex,
      doc->fresh_until == absl::InfiniteFuture() ? "" : FormatRfc3339(doc->fresh_until),
      doc->source});
  if (doc->v == nullptr) {
    const std::string r = ReasonOf(doc->verify_error);
    out.Fail(sig, Component::kSourcedData, r.empty() ? reason::kRimMalformed : r,
             std::string(doc->verify_error.message()));
    skip_rest("RIM does not parse");
    return absl::OkStatus();
  }
  side.v = doc->v;
  const RimVerification& rv = *side.v;
  out.Add(sig, rv.signature.ok() ? CheckStatus::kPass : CheckStatus::kFail, rv.signature.reason,
          rv.signature.detail, Component::kSourcedData);
  out.Add(chain, rv.chain.ok() ? CheckStatus::kPass : CheckStatus::kFail, rv.chain.reason,
          rv.chain.detail, Component::kSourcedData);
  side.claim["version"] = rv.rim.colloquial_version;
  side.claim["signature_verified"] = rv.signature.ok();
  side.claim["signer"] = rv.signer;
  side.claim["signer_serial"] = rv.signer_serial;
  side.claim["cert_expiration"] = FormatRfc3339(rv.chain_not_after);
  side.claim["cert_status"] = rv.chain.ok()                              ? "valid"
                              : rv.chain.reason == reason::kRimSignerExpired ? "expired"
                                                                             : "invalid";
  side.claim["trusted_root"] = rv.chain.ok() ? (rv.nvidia_root ? "nvidia" : "extra") : "none";
  if (doc->ocsp.has_value()) {
    const ChainOcspResult& o = *doc->ocsp;
    out.Add(ocsp, o.status, o.reason, o.detail, Component::kSourcedData);
    nlohmann::json certs = nlohmann::json::array();
    std::string worst = "good";
    for (const CertOcspResult& c : o.certs) {
      certs.push_back({{"subject", c.subject}, {"status", c.ocsp_status}, {"reason", c.reason}});
      if (c.revocation_reason >= 0) certs.back()["revocation_reason"] = c.revocation_reason;
      if (c.stale) stale.push_back(c.key);
      if (!c.response_sha256.empty()) {
        out.collateral.push_back(core::CollateralRef{
            "ocsp", c.key, c.response_sha256,
            c.next_update == absl::InfinitePast() ? "" : FormatRfc3339(c.next_update), c.source});
      }
      if (worst == "good" && c.ocsp_status != "good") worst = c.ocsp_status;
    }
    side.claim["ocsp_status"] = worst;
    side.claim["ocsp"] = certs;
  } else {
    AddPrereqFailed(out, ocsp, Component::kSourcedData,
                    "RIM signature or chain did not verify");
    side.claim["ocsp_status"] = "not-checked";
  }
  side.claim["tag_id"] = rv.rim.tag_id;
  side.usable = rv.signature.ok() && (rv.chain.ok() || rv.expired_but_otherwise_valid);
  if (!side.usable) {
    AddPrereqFailed(out, version, Component::kExecutables, "RIM is not authentic");
    AddPrereqFailed(out, identity, Component::kSourcedData, "RIM is not authentic");
    side.claim["version_match"] = nullptr;
    side.claim["identity_match"] = nullptr;
    return absl::OkStatus();
  }
  const std::string want = StripNul(report_version);
  const bool match = case_insensitive_version
                         ? absl::EqualsIgnoreCase(rv.rim.colloquial_version, want)
                         : rv.rim.colloquial_version == want;
  side.claim["version_match"] = match;
  if (match) {
    out.Pass(version, Component::kExecutables, absl::StrCat("version ", want));
  } else {
    out.Fail(version, Component::kExecutables, reason::kRimVersionMismatch,
             absl::StrCat("RIM ", side.id, " colloquialVersion '", rv.rim.colloquial_version,
                          "' != report ", side.label, " version '", want, "'"));
  }
  // A validly signed RIM of another device must not stand in for this one:
  // its golden values are then never read.
  std::vector<std::string> compared;
  const std::vector<std::string> problems = IdentityProblems(rv.rim, side.id, chip, compared);
  side.claim["identity_match"] = problems.empty();
  if (problems.empty()) {
    out.Pass(identity, Component::kSourcedData,
             absl::StrCat("signed identity fits ", side.id, ": ", absl::StrJoin(compared, ", ")));
  } else {
    side.usable = false;
    out.Fail(identity, Component::kSourcedData, reason::kRimIdMismatch,
             absl::StrCat("the signed RIM is not ", side.id, ": ", absl::StrJoin(problems, "; ")));
  }
  return absl::OkStatus();
}

}  // namespace

MeasurementComparison CompareMeasurements(const Rim& driver, const Rim& vbios,
                                          const std::map<uint32_t, Bytes>& runtime_by_block,
                                          std::optional<bool> nvdec0_enabled) {
  MeasurementComparison c;
  const std::vector<uint32_t> d = driver.ActiveIndices();
  const std::vector<uint32_t> v = vbios.ActiveIndices();
  std::set_intersection(d.begin(), d.end(), v.begin(), v.end(), std::back_inserter(c.overlapping));
  c.indices_disjoint = c.overlapping.empty();
  auto compare = [&](const Rim& rim, const char* source) {
    for (const RimMeasurement& m : rim.measurements) {
      if (!m.active) continue;
      // NVDEC0 disabled (0x55): its measurement slot is not meaningful.
      if (m.index == kNvdec0RimIndex && nvdec0_enabled.has_value() && !*nvdec0_enabled) {
        c.nvdec0_skipped = true;
        continue;
      }
      c.compared.push_back(m.index);
      auto it = runtime_by_block.find(m.index + 1);
      bool ok = false;
      if (it != runtime_by_block.end()) {
        for (const Bytes& alt : m.alternatives) {
          if (alt.size() == it->second.size() && crypto::ConstantTimeEquals(alt, it->second)) {
            ok = true;
            break;
          }
        }
      }
      if (ok) continue;
      c.mismatched.push_back(m.index);
      nlohmann::json rec = {{"index", m.index},
                            {"block", m.index + 1},
                            {"source", source},
                            {"golden", HexEncode(m.alternatives.front())},
                            {"alternatives", m.alternatives.size()}};
      rec["runtime"] = it != runtime_by_block.end() ? nlohmann::json(HexEncode(it->second))
                                                    : nlohmann::json(nullptr);
      c.records.push_back(std::move(rec));
    }
  };
  compare(driver, "driver");
  compare(vbios, "vbios");
  std::sort(c.mismatched.begin(), c.mismatched.end());
  return c;
}

absl::Status AppraiseGpuMeasurements(const RimInputs& in, const RimTrustConfig& trust,
                                     const RimContext& ctx, core::DeviceResult& out) {
  if (ctx.collateral == nullptr) {
    return absl::InvalidArgumentError("nvidia rim: RimContext.collateral is null");
  }
  std::vector<std::string> stale;
  Side drv;
  drv.label = "driver";
  drv.prefix = "nvidia.driver_rim";
  Side vb;
  vb.label = "vbios";
  vb.prefix = "nvidia.vbios_rim";
  const ChipRule chip = ChipFor(in.arch);
  absl::Status retry = RunSide(drv, DriverRimId(in.arch, in.chip_info, in.driver_version),
                               in.driver_version, /*case_insensitive_version=*/false, chip, trust,
                               ctx, out, stale);
  absl::Status retry_vb = RunSide(
      vb, VbiosRimId(in.project, in.project_sku, in.chip_sku, in.vbios_version), in.vbios_version,
      /*case_insensitive_version=*/true, chip, trust, ctx, out, stale);
  if (retry.ok()) retry = retry_vb;

  out.claims["rim_ids"] = {{"driver", drv.id}, {"vbios", vb.id}};
  out.claims["driver_rim"] = drv.claim;
  out.claims["vbios_rim"] = vb.claim;
  out.claims["measurements_match"] = nullptr;
  out.claims["mismatched_indices"] = nlohmann::json::array();
  if (drv.usable) out.claims["oemid"] = drv.v->rim.firmware_manufacturer_id;

  if (!in.nvdec0_enabled.has_value()) {
    out.NotChecked("nvidia.rim.nvdec0", Component::kExecutables, reason::kNvdec0StatusMissing,
                   "no NVDEC0 status in the report: index 35 is compared")
        .affects_status = false;
  }
  if (!drv.usable || !vb.usable) {
    const std::string why =
        "driver and VBIOS RIMs are not both authentic RIMs of this report's ids";
    AddPrereqFailed(out, "nvidia.rim.indices_disjoint", Component::kExecutables, why);
    AddPrereqFailed(out, "nvidia.measurements", Component::kExecutables, why);
  } else {
    bool malformed = false;
    for (const auto& [block, digest] : in.measurements) {
      if (block == 0 || block > kMaxBlockIndex) {
        out.Fail("nvidia.measurements", Component::kExecutables, reason::kMeasurementsMalformed,
                 absl::StrCat("runtime measurement block index ", block, " outside 1..",
                              kMaxBlockIndex));
        malformed = true;
        break;
      }
    }
    const MeasurementComparison cmp =
        CompareMeasurements(drv.v->rim, vb.v->rim, in.measurements, in.nvdec0_enabled);
    if (!cmp.indices_disjoint) {
      out.Fail("nvidia.rim.indices_disjoint", Component::kExecutables, reason::kRimIndicesOverlap,
               absl::StrCat("indices active in both the driver and the VBIOS RIM: ",
                            absl::StrJoin(cmp.overlapping, ",")));
      if (!malformed) {
        AddPrereqFailed(out, "nvidia.measurements", Component::kExecutables,
                        "driver and VBIOS RIMs claim the same index");
      }
    } else {
      out.Pass("nvidia.rim.indices_disjoint", Component::kExecutables);
      if (!malformed) {
        const bool match = cmp.mismatched.empty();
        out.claims["measurements_match"] = match;
        out.claims["mismatched_indices"] = cmp.mismatched;
        out.claims["mismatch_records"] = cmp.records;
        const std::string expired_note =
            (drv.v->chain.ok() && vb.v->chain.ok()) ? "" : " (golden values from an expired RIM)";
        if (match) {
          out.Pass("nvidia.measurements", Component::kExecutables,
                   absl::StrCat(cmp.compared.size(), " active indices match",
                                cmp.nvdec0_skipped ? ", index 35 skipped (NVDEC0 disabled)" : "",
                                expired_note));
        } else {
          out.Fail("nvidia.measurements", Component::kExecutables, reason::kMeasurementMismatch,
                   absl::StrCat("mismatched RIM indices: ", absl::StrJoin(cmp.mismatched, ","),
                                " (of ", cmp.compared.size(), " compared)", expired_note));
        }
      }
    }
  }
  if (!stale.empty()) {
    out.NotChecked("nvidia.rim.collateral_freshness", Component::kSourcedData,
                   reason::kStaleCollateral,
                   absl::StrCat("stale collateral used within the grace: ",
                                absl::StrJoin(stale, ", ")));
  }
  return retry;
}

}  // namespace rp::nvidia::rim
