// AMD Key Distribution Service (KDS) as a collateral source
// (specs/sev-snp.md §3.4). Keys use the offline layout (ARCHITECTURE §4):
//   amd/vcek/<P>/<hwid>-<tcb>.der  → GET /vcek/v1/<P>/<hwid>?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
//                                      (Turin: 16-hex hwid and &fmcSPL=..)
//   amd/<P>/cert_chain.pem         → GET /vcek/v1/<P>/cert_chain
//   amd/<P>/crl.der                → GET /vcek/v1/<P>/crl
//   amd/<P>/vlek_cert_chain.pem    → GET /vlek/v1/<P>/cert_chain
//   amd/<P>/vlek_crl.der           → GET /vlek/v1/<P>/crl
// with P ∈ {Milan, Genoa, Turin}. <tcb> is the REPORTED_TCB as 16 hex
// characters in report byte order. VLEK certificates are not downloadable
// (they are provisioned to the host), so no key maps to them.
#ifndef RP_VERIFIER_COLLATERAL_AMD_KDS_SOURCE_H_
#define RP_VERIFIER_COLLATERAL_AMD_KDS_SOURCE_H_

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

inline constexpr char kAmdKdsDefaultBaseUrl[] = "https://kdsintf.amd.com";

struct AmdKdsOptions {
  std::string base_url = kAmdKdsDefaultBaseUrl;  // no trailing slash needed
  // Defaults follow AMD's published limit (≈1 request / 10 s, burst 1).
  UpstreamLimitsOptions limits;
};

// The KDS URL for `key`: nullopt when the key is not a KDS item (not under
// amd/, a VLEK certificate, an unknown file name); INVALID_ARGUMENT when it
// looks like a KDS key but is malformed (unknown product, hwid of the wrong
// length or not hex, TCB not 16 hex characters). Validation happens before
// any text reaches the URL.
absl::StatusOr<std::optional<std::string>> AmdKdsUrlForKey(std::string_view base_url,
                                                           std::string_view key);

// OK when `body` parses as the key's kind (DER certificate, PEM chain, CRL).
absl::Status CheckAmdKdsBody(std::string_view key, std::span<const uint8_t> body);

// An HttpCollateralSource named "amd-kds" with the mapping and check above.
absl::StatusOr<std::unique_ptr<HttpCollateralSource>> CreateAmdKdsSource(
    const AmdKdsOptions& options, const HttpFetcher& fetcher, const Clock& clock,
    CollateralObserver& observer = CollateralObserver::Noop());

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_AMD_KDS_SOURCE_H_
