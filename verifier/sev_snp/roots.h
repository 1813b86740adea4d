// AMD trust anchors for SEV-SNP, compiled in, and the configuration of which
// roots a SnpVerifier trusts.
//
// Each AMD Root Key (ARK) is pinned twice: its PEM is compiled in, and the
// SHA-256 of its SubjectPublicKeyInfo is compiled in separately; a config
// whose ARK does not match the SPKI pin is refused (unless built with
// TrustConfig::ForTest). The ASK/ASVK intermediates are compiled in too, so
// evidence without a cert_chain still verifies offline. Source of every
// certificate: vectors/snp/collateral (see tests/data/snp/PROVENANCE.md).
#ifndef RP_VERIFIER_SEV_SNP_ROOTS_H_
#define RP_VERIFIER_SEV_SNP_ROOTS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/sev_snp/report.h"

namespace rp::sev_snp {

// Compiled-in certificates (PEM text); "" for kUnknown.
std::string_view AmdArkPem(
    Product product);  // ARK-<P>, self-signed, RSA-4096, PSS
std::string_view AmdAskPem(Product product);   // SEV-<P>, VCEK issuer
std::string_view AmdAsvkPem(Product product);  // SEV-VLEK-<P>, VLEK issuer

// SHA-256 of the DER SubjectPublicKeyInfo of ARK-<P>; all zero for kUnknown.
std::array<uint8_t, 32> AmdArkSpkiSha256(Product product);

// PEM text of the anchors for one product line. ask/asvk may be empty (then
// the intermediate must come with the evidence or from collateral).
struct ProductAnchors {
  std::string ark_pem;
  std::string ask_pem;
  std::string asvk_pem;
};

// Which roots a SnpVerifier trusts. Copyable plain data; SnpVerifier::Create
// parses and validates it.
struct TrustConfig {
  // AMD anchors per product line. Evidence chained to these is real
  // hardware evidence. Default() fills Milan, Genoa and Turin.
  std::map<Product, ProductAnchors> amd;
  // Extra roots per product line for the development simulator
  // (ARCHITECTURE §9). A chain that ends in one of these verifies, but the
  // DeviceResult says simulated = true, and AMD-specific algorithm checks
  // (RSASSA-PSS) are not applied. Production configs leave this empty.
  std::map<Product, std::vector<std::string>> simulation_roots_pem;
  // When false (the default) every `amd` ARK must match the compiled SPKI
  // pin. Only ForTest sets it.
  bool allow_unpinned_arks_for_test = false;

  // The compiled AMD anchors, nothing else.
  static TrustConfig Default();
  // Default() with `product`'s ARK (and ASK/ASVK fallbacks) replaced by the
  // given test anchors, treated exactly like AMD's (pinned path, PSS
  // required, simulated = false). This lets negative tests exercise the
  // production path with certificates made by tests/testing/cert_factory.
  static TrustConfig ForTest(Product product, std::string ark_pem,
                             std::string ask_pem = "",
                             std::string asvk_pem = "");
};

}  // namespace rp::sev_snp

#endif  // RP_VERIFIER_SEV_SNP_ROOTS_H_
