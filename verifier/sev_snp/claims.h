// Normalized SEV-SNP claims (docs/claims/sev-snp.md). The names are stable
// API: the policy layer and token consumers read them.
#ifndef RP_VERIFIER_SEV_SNP_CLAIMS_H_
#define RP_VERIFIER_SEV_SNP_CLAIMS_H_

#include <optional>
#include <string>

#include "nlohmann/json.hpp"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/sev_snp/report.h"
#include "verifier/sev_snp/vcek.h"

namespace rp::sev_snp {

// The endorsement certificate as claimed ("cert" object).
struct CertClaims {
  std::string subject_cn;
  std::string issuer_cn;
  std::string not_before;  // RFC 3339 UTC
  std::string not_after;
  std::optional<std::string> product_name;
  std::optional<std::string> csp_id;
};
CertClaims DescribeCertificate(const X509* cert, const KdsExtensions* ext);

// One TCB as {bootloader, tee, snp, microcode, fmc (Turin only), raw}; only
// {raw} when the product line (hence the layout) is unknown.
nlohmann::json TcbClaims(const TcbVersion& tcb, Product product);

// Every claim of a parsed report. `cert` is null when there is no
// endorsement certificate. Contains no verdict: which checks passed is in
// the DeviceResult's checks.
nlohmann::json BuildClaims(const SnpReport& report, Product product,
                           const CertClaims* cert);

}  // namespace rp::sev_snp

#endif  // RP_VERIFIER_SEV_SNP_CLAIMS_H_
