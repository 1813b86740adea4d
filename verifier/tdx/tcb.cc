#include "verifier/tdx/tcb.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "verifier/common/encoding.h"
#include "verifier/tdx/checks.h"

namespace rp::tdx {

Outcome Outcome::Pass(std::string detail) {
  return Outcome{core::CheckStatus::kPass, reason::kOk, std::move(detail)};
}
Outcome Outcome::Fail(std::string r, std::string detail) {
  return Outcome{core::CheckStatus::kFail, std::move(r), std::move(detail)};
}
Outcome Outcome::NotChecked(std::string r, std::string detail) {
  return Outcome{core::CheckStatus::kNotChecked, std::move(r), std::move(detail)};
}

namespace {

template <size_t N>
std::array<uint8_t, N> And(const std::array<uint8_t, N>& a, const std::array<uint8_t, N>& m) {
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N; ++i) out[i] = static_cast<uint8_t>(a[i] & m[i]);
  return out;
}

}  // namespace

Outcome CheckQeIdentityMatch(const QeIdentity& id, const EnclaveReport& qe) {
  std::vector<std::string> bad;
  if ((qe.miscselect & id.miscselect_mask) != (id.miscselect & id.miscselect_mask)) {
    bad.push_back(absl::StrFormat("MISCSELECT 0x%08x & mask 0x%08x != 0x%08x", qe.miscselect,
                                  id.miscselect_mask, id.miscselect & id.miscselect_mask));
  }
  if (And(qe.attributes, id.attributes_mask) != And(id.attributes, id.attributes_mask)) {
    bad.push_back(absl::StrFormat("ATTRIBUTES %s & mask %s != %s", HexEncode(qe.attributes),
                                  HexEncode(id.attributes_mask),
                                  HexEncode(And(id.attributes, id.attributes_mask))));
  }
  if (qe.mrsigner != id.mrsigner) {
    bad.push_back(absl::StrFormat("MRSIGNER %s != %s", HexEncode(qe.mrsigner),
                                  HexEncode(id.mrsigner)));
  }
  if (qe.isvprodid != id.isvprodid) {
    bad.push_back(absl::StrFormat("ISVPRODID %d != %d", qe.isvprodid, id.isvprodid));
  }
  if (!bad.empty()) {
    return Outcome::Fail(reason::kQeIdentityMismatch,
                         absl::StrFormat("QE report does not match the QE identity: %s",
                                         absl::StrJoin(bad, "; ")));
  }
  return Outcome::Pass("");
}

std::optional<IsvTcbLevel> SelectQeTcbLevel(const QeIdentity& id, const EnclaveReport& qe) {
  for (const IsvTcbLevel& l : id.tcb_levels) {
    if (l.isvsvn <= qe.isvsvn) return l;
  }
  return std::nullopt;
}

Outcome CheckTcbInfoMatch(const TcbInfo& info, const PckExtensions& pck) {
  if (info.fmspc != pck.fmspc) {
    return Outcome::Fail(reason::kFmspcMismatch,
                         absl::StrFormat("TCB info FMSPC %s != PCK certificate FMSPC %s",
                                         HexEncode(info.fmspc), HexEncode(pck.fmspc)));
  }
  if (info.pce_id != pck.pce_id) {
    return Outcome::Fail(reason::kPceIdMismatch,
                         absl::StrFormat("TCB info PCE-ID %s != PCK certificate PCE-ID %s",
                                         HexEncode(info.pce_id), HexEncode(pck.pce_id)));
  }
  return Outcome::Pass(absl::StrFormat("FMSPC %s, PCE-ID %s", HexEncode(info.fmspc),
                                       HexEncode(info.pce_id)));
}

ModuleResult CheckTdxModule(const TcbInfo& info, const TdReportBody& body) {
  ModuleResult r;
  const uint8_t major = body.tee_tcb_svn[1];
  const uint8_t minor_svn = body.tee_tcb_svn[0];
  const TdxModuleIdentity* m = nullptr;
  if (major > 0 && !info.tdx_module_identities.empty()) {
    const std::string want = absl::StrFormat("TDX_%02X", major);
    for (const TdxModuleIdentity& id : info.tdx_module_identities) {
      if (id.id == want) m = &id;
    }
    if (m == nullptr) {
      r.outcome = Outcome::Fail(
          reason::kTdxModuleIdentityNotFound,
          absl::StrFormat("TEE_TCB_SVN[1] = %d: no tdxModuleIdentities entry %s", major, want));
      return r;
    }
    r.identity_id = want;
  } else if (info.tdx_module) {
    m = &*info.tdx_module;
    r.identity_id = "tdxModule";
  } else {
    r.outcome = Outcome::Fail(reason::kTdxModuleIdentityNotFound,
                              "the TCB info has no tdxModule to match MRSIGNERSEAM against");
    return r;
  }
  if (body.mrsignerseam != m->mrsigner) {
    r.outcome = Outcome::Fail(
        reason::kTdxModuleIdentityMismatch,
        absl::StrFormat("MRSIGNERSEAM %s != %s mrsigner %s", HexEncode(body.mrsignerseam),
                        r.identity_id, HexEncode(m->mrsigner)));
    return r;
  }
  if (And(body.seam_attributes_raw, m->attributes_mask) != And(m->attributes, m->attributes_mask)) {
    r.outcome = Outcome::Fail(
        reason::kTdxModuleIdentityMismatch,
        absl::StrFormat("SEAMATTRIBUTES %s & mask %s != %s attributes %s",
                        HexEncode(body.seam_attributes_raw), HexEncode(m->attributes_mask),
                        r.identity_id, HexEncode(m->attributes)));
    return r;
  }
  if (m->tcb_levels.empty()) {
    r.outcome = Outcome::Pass(absl::StrFormat("matches %s (MRSIGNERSEAM %s)", r.identity_id,
                                              HexEncode(m->mrsigner)));
    return r;
  }
  for (const IsvTcbLevel& l : m->tcb_levels) {
    if (l.isvsvn <= minor_svn) {
      r.level = l;
      break;
    }
  }
  if (!r.level) {
    r.outcome = Outcome::Fail(
        reason::kTdxModuleTcbLevelNotFound,
        absl::StrFormat("TDX module SVN TEE_TCB_SVN[0] = %d is below every %s tcbLevel",
                        minor_svn, r.identity_id));
    return r;
  }
  r.outcome = Outcome::Pass(absl::StrFormat(
      "matches %s; module SVN %d -> level isvsvn %d: %s", r.identity_id, minor_svn,
      r.level->isvsvn, TcbStatusName(r.level->status)));
  return r;
}

size_t TdxComponentStart(const TcbInfo& info, const std::array<uint8_t, 16>& tee_tcb_svn) {
  return (info.version > 2 && tee_tcb_svn[1] > 0 && !info.tdx_module_identities.empty()) ? 2 : 0;
}

std::optional<size_t> SelectTcbLevel(const TcbInfo& info, const PckExtensions& pck,
                                     const std::array<uint8_t, 16>& tee_tcb_svn) {
  const size_t start = TdxComponentStart(info, tee_tcb_svn);
  for (size_t i = 0; i < info.tcb_levels.size(); ++i) {
    const TcbLevel& l = info.tcb_levels[i];
    bool ok = pck.pcesvn >= l.pcesvn;
    for (size_t c = 0; ok && c < 16; ++c) ok = pck.cpusvn_components[c] >= l.sgx_components[c];
    for (size_t c = start; ok && c < 16; ++c) ok = tee_tcb_svn[c] >= l.tdx_components[c];
    if (ok) return i;
  }
  return std::nullopt;
}

TcbStatus ConvergeTcbStatus(TcbStatus platform, TcbStatus other) {
  if (other == TcbStatus::kRevoked) return TcbStatus::kRevoked;
  if (other == TcbStatus::kOutOfDate) {
    switch (platform) {
      case TcbStatus::kUpToDate:
      case TcbStatus::kSwHardeningNeeded:
        return TcbStatus::kOutOfDate;
      case TcbStatus::kConfigurationNeeded:
      case TcbStatus::kConfigurationAndSwHardeningNeeded:
        return TcbStatus::kOutOfDateConfigurationNeeded;
      default:
        return platform;
    }
  }
  return platform;
}

}  // namespace rp::tdx
