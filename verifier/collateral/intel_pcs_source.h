// Intel PCS v4 (or a PCCS, which serves the same paths) as a collateral
// source for TDX (specs/tdx.md "Collateral sources"). Keys use the offline
// layout (ARCHITECTURE §4):
//   intel/tcb_info/<fmspc>.json              → GET /tdx/certification/v4/tcb?fmspc=<FMSPC>
//                                              (body {"tcbInfo":…,"signature":…})
//   intel/tcb_info/<fmspc>.issuer_chain.pem  → same URL, header TCB-Info-Issuer-Chain
//   intel/qe_identity.json                   → GET /tdx/certification/v4/qe/identity
//   intel/qe_identity.issuer_chain.pem       → same URL, header SGX-Enclave-Identity-Issuer-Chain
//   intel/pck_crl_<platform|processor>.der   → GET /sgx/certification/v4/pckcrl?ca=<ca>&encoding=der
//   intel/pck_crl_<ca>.issuer_chain.pem      → same URL, header SGX-PCK-CRL-Issuer-Chain
//   intel/root_ca.crl                        → the configured root CA CRL URL (Intel's
//                                              CRL distribution point by default)
// <fmspc> is 12 hex characters (6 bytes). Issuer chains arrive URL-encoded
// (PEM); they are decoded and must parse as certificates. A PCCS that
// returns CRLs as hex text is accepted (decoded to DER). Each key is one
// request, so an issuer chain costs a second request to the same URL; the
// cache in front keeps both until the item's own nextUpdate.
#ifndef RP_VERIFIER_COLLATERAL_INTEL_PCS_SOURCE_H_
#define RP_VERIFIER_COLLATERAL_INTEL_PCS_SOURCE_H_

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/http_source.h"
#include "verifier/collateral/observer.h"
#include "verifier/common/clock.h"

namespace rp::collateral {

inline constexpr char kIntelPcsDefaultBaseUrl[] = "https://api.trustedservices.intel.com";
inline constexpr char kIntelRootCaCrlDefaultUrl[] =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

struct IntelPcsOptions {
  std::string name = "intel-pcs";               // "pccs" when pointing at a PCCS
  std::string base_url = kIntelPcsDefaultBaseUrl;
  std::string root_ca_crl_url = kIntelRootCaCrlDefaultUrl;
  // Intel's service is built for fleets: generous defaults.
  UpstreamLimitsOptions limits = {.max_concurrency = 4,
                                  .concurrency_wait = absl::Seconds(10),
                                  .rate_per_second = 5,
                                  .burst = 20};
};

// URL for `key`: nullopt when the key is not an Intel item; INVALID_ARGUMENT
// when it looks like one but is malformed (FMSPC not 12 hex, unknown CA).
absl::StatusOr<std::optional<std::string>> IntelPcsUrlForKey(const IntelPcsOptions& options,
                                                             std::string_view key);

// The issuer-chain header a key's item comes from ("" when the body is it).
std::string_view IntelPcsHeaderForKey(std::string_view key);

// Percent-decoding as used by PCS headers (RFC 3986; '+' is not a space).
absl::StatusOr<std::string> PercentDecode(std::string_view in);

absl::StatusOr<std::unique_ptr<HttpCollateralSource>> CreateIntelPcsSource(
    const IntelPcsOptions& options, const HttpFetcher& fetcher, const Clock& clock,
    CollateralObserver& observer = CollateralObserver::Noop());

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_INTEL_PCS_SOURCE_H_
