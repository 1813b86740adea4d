// TCB evaluation rules for TDX (spec steps 6-8), one named function each.
// They take parsed, already authenticated values and return an outcome.
#ifndef RP_VERIFIER_TDX_TCB_H_
#define RP_VERIFIER_TDX_TCB_H_

#include <optional>
#include <string>
#include <vector>

#include "verifier/core/result.h"
#include "verifier/tdx/collateral.h"
#include "verifier/tdx/pck_extensions.h"
#include "verifier/tdx/quote.h"

namespace rp::tdx {

struct Outcome {
  core::CheckStatus status = core::CheckStatus::kNotChecked;
  std::string reason;
  std::string detail;
  static Outcome Pass(std::string detail);
  static Outcome Fail(std::string reason, std::string detail);
  static Outcome NotChecked(std::string reason, std::string detail);
  bool passed() const { return status == core::CheckStatus::kPass; }
};

// QE identity content (id/version/dates/signature are checked by the
// verifier): MISCSELECT and ATTRIBUTES under their masks, MRSIGNER and
// ISVPRODID equal. Then the QE TCB level: the first level with
// isvsvn <= the QE report's ISVSVN.
Outcome CheckQeIdentityMatch(const QeIdentity& id, const EnclaveReport& qe);
std::optional<IsvTcbLevel> SelectQeTcbLevel(const QeIdentity& id, const EnclaveReport& qe);

// FMSPC and PCE-ID of the TCB info equal the PCK certificate's.
Outcome CheckTcbInfoMatch(const TcbInfo& info, const PckExtensions& pck);

// TDX module identity. TEE_TCB_SVN[1] (the module's major version) > 0 and
// tdxModuleIdentities present: the entry "TDX_<TEE_TCB_SVN[1] as %02X>"
// must exist, MRSIGNERSEAM and SEAMATTRIBUTES (masked) must match it, and
// its first tcbLevel with isvsvn <= TEE_TCB_SVN[0] gives the module TCB
// status. Otherwise MRSIGNERSEAM / SEAMATTRIBUTES are matched against the
// base `tdxModule` (no module TCB status).
struct ModuleResult {
  Outcome outcome;
  std::optional<IsvTcbLevel> level;  // when a module identity level applied
  std::string identity_id;
};
ModuleResult CheckTdxModule(const TcbInfo& info, const TdReportBody& body);

// Platform TCB level (Intel QVL rule): the first tcbLevel with every
// sgxtcbcomponent <= the PCK cert's, pcesvn <= the cert's PCESVN, and every
// tdxtcbcomponent <= TEE_TCB_SVN — from index 2 when TEE_TCB_SVN[1] > 0
// and the TCB info has tdxModuleIdentities (indices 0-1 are the module's
// SVN and version, judged by the module identity instead).
std::optional<size_t> SelectTcbLevel(const TcbInfo& info, const PckExtensions& pck,
                                     const std::array<uint8_t, 16>& tee_tcb_svn);
// First tdxtcbcomponent index SelectTcbLevel compares.
size_t TdxComponentStart(const TcbInfo& info, const std::array<uint8_t, 16>& tee_tcb_svn);

// QVL's convergence of the platform status with a QE or module status:
// Revoked wins; OutOfDate turns UpToDate/SWHardeningNeeded into OutOfDate
// and ConfigurationNeeded/ConfigurationAndSWHardeningNeeded into
// OutOfDateConfigurationNeeded; anything else leaves the platform status.
TcbStatus ConvergeTcbStatus(TcbStatus platform, TcbStatus other);

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_TCB_H_
