// Normalized TDX claims (docs/claims/tdx.md). Names are stable API.
#ifndef RP_VERIFIER_TDX_CLAIMS_H_
#define RP_VERIFIER_TDX_CLAIMS_H_

#include "nlohmann/json.hpp"
#include "verifier/tdx/pck_extensions.h"
#include "verifier/tdx/quote.h"

namespace rp::tdx {

// {debug, sept_ve_disable, pks, kl, perfmon, raw}.
nlohmann::json TdAttributesClaims(const TdReportBody& body);
// Claims decoded from the quote (no verdict; the checks say how far they
// can be trusted). `pck` adds fmspc / pce_id when known.
nlohmann::json BuildQuoteClaims(const TdxQuote& quote, const PckExtensions* pck);

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_CLAIMS_H_
