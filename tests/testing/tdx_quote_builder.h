// Builds Intel TDX quotes and collateral with exact bytes, signed at test
// time under a test PCK hierarchy made with the cert factory (root, "Intel
// SGX PCK Platform CA", "Intel SGX TCB Signing", PCK leaves with SGX
// extensions). Used by the one-change negative tests: start from Build()'s
// valid output, change one field, expect one reason code. Not used by any
// verifier.
#ifndef RP_TESTS_TESTING_TDX_QUOTE_BUILDER_H_
#define RP_TESTS_TESTING_TDX_QUOTE_BUILDER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "nlohmann/json.hpp"
#include "tests/testing/cert_factory.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::testing {

// --- PCK certificate SGX extensions (OID 1.2.840.113741.1.13.1) -----------
struct PckExtensionSpec {
  std::array<uint8_t, 16> ppid{};
  std::array<uint8_t, 16> cpusvn_components = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
  uint16_t pcesvn = 13;
  std::array<uint8_t, 16> cpusvn{};
  std::array<uint8_t, 2> pce_id = {0x00, 0x00};
  std::array<uint8_t, 6> fmspc = {0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00};
  int sgx_type = 1;
  std::optional<std::array<uint8_t, 16>> platform_instance_id;
  // Negative-test knobs.
  bool duplicate_fmspc = false;  // FMSPC entry twice
  bool omit_fmspc = false;
};
// DER of the SGX extensions SEQUENCE (the extnValue contents).
Bytes EncodePckExtensions(const PckExtensionSpec& spec);

// --- The test PCK hierarchy ------------------------------------------------
struct TdxTestPki {
  Issued root;         // "Intel SGX Root CA" look-alike, EC P-256, self-signed
  Issued pck_ca;       // "Intel SGX PCK Platform CA"
  Issued tcb_signing;  // "Intel SGX TCB Signing"
  std::string root_pem;
  std::string tcb_signing_chain_pem;  // signing cert + root (PEM)
};
absl::StatusOr<TdxTestPki> MakeTdxTestPki();
// A PCK leaf under pki.pck_ca with `ext` (EC P-256 key). `spec` sets the
// rest (validity, serial); its extensions are replaced.
absl::StatusOr<Issued> MakePckLeaf(const TdxTestPki& pki, const PckExtensionSpec& ext,
                                   CertSpec spec = {});
// leaf + intermediate + root as PEM (the quote's type-5 data).
std::string PckChainPem(const X509* leaf, const X509* ca, const X509* root);

// Attestation key x || y (64 bytes) of an EC P-256 key.
absl::StatusOr<std::array<uint8_t, 64>> RawP256PublicKey(const EVP_PKEY* key);

// --- The quote ---------------------------------------------------------------
// Every field of a quote, with valid defaults. Build() lays them out, binds
// the QE report to the attestation key and signs both signatures.
struct TdxQuoteBuilder {
  uint16_t version = 4;
  uint16_t attestation_key_type = 2;
  uint32_t tee_type = 0x81;
  std::array<uint8_t, 16> qe_vendor_id = {0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9,
                                          0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07};
  std::array<uint8_t, 20> user_data{};
  uint16_t body_type = 2;  // v5 only: 2 (TD 1.0) or 3 (TD 1.5)
  std::optional<uint32_t> body_size_override;  // v5 descriptor size
  // TD report body (584 bytes; 648 for body type 3). Use the setters.
  Bytes body;
  // QE report (384 bytes).
  Bytes qe_report;
  Bytes qe_auth_data = Bytes(32, 0x5a);
  uint16_t certification_data_type = 6;
  uint16_t pck_cert_data_type = 5;
  std::string pck_chain_pem;
  Bytes trailing;  // appended after the signature data

  // Negative-test knobs.
  bool bind_qe_report_data = true;        // REPORTDATA = SHA-256(key || auth) || 0
  std::optional<Bytes> qe_report_data_override;

  TdxQuoteBuilder();
  void SetTeeTcbSvn(const std::array<uint8_t, 16>& svn);
  void SetMrSignerSeam(const std::array<uint8_t, 48>& v);
  void SetSeamAttributes(uint64_t v);
  void SetTdAttributes(uint64_t v);
  void SetMrTd(const std::array<uint8_t, 48>& v);
  void SetReportData(const std::array<uint8_t, 64>& v);
  void SetQeIsvSvn(uint16_t svn);
  void SetQeMrSigner(const std::array<uint8_t, 32>& v);
  void SetQeMiscSelect(uint32_t v);
  // Switches to v5 with a TD 1.5 body (648 bytes, zero tail) when td15.
  void UseV5(bool td15);

  // The signed quote. `attestation_key` signs header ‖ (descriptor ‖) body;
  // `pck_key` signs the QE report.
  absl::StatusOr<Bytes> Build(const EVP_PKEY* attestation_key, const EVP_PKEY* pck_key) const;
};

// Offsets for tests that patch built quotes (v4 layout).
inline constexpr size_t kV4SignatureOffset = 48 + 584 + 4;

// --- Collateral ----------------------------------------------------------------
// Default JSON matching TdxQuoteBuilder's defaults and PckExtensionSpec's:
// FMSPC 00906ed50000, PCE-ID 0000; issueDate = at - 5 days, nextUpdate =
// at + 25 days. Tests edit the JSON, then SignCollateral.
nlohmann::json DefaultTcbInfo(absl::Time at);
nlohmann::json DefaultQeIdentity(absl::Time at);

struct TdxCollateralSpec {
  nlohmann::json tcb_info;
  nlohmann::json qe_identity;
  std::vector<RevokedEntry> pck_revoked;   // in the PCK CRL
  std::vector<RevokedEntry> root_revoked;  // in the root CA CRL
  CrlSpec pck_crl;                         // dates / scheme of the PCK CRL
  CrlSpec root_crl;
};

// Signs the JSON texts with pki.tcb_signing and issues both CRLs; returns
// the QVL-shaped collateral for TdxEvidence.collateral.
absl::StatusOr<attestation::v1::TdxCollateral> MakeTdxCollateral(const TdxTestPki& pki,
                                                                TdxCollateralSpec spec);

// ECDSA P-256 / SHA-256 over `text` as r ‖ s hex (Intel's encoding).
absl::StatusOr<std::string> SignJsonHex(const EVP_PKEY* key, const std::string& text);

}  // namespace rp::testing

#endif  // RP_TESTS_TESTING_TDX_QUOTE_BUILDER_H_
