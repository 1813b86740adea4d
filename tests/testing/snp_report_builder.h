// Builds byte-exact SEV-SNP ATTESTATION_REPORTs field by field and signs
// them (ECDSA P-384, r/s little-endian as the firmware does), plus an
// AMD-like ARK → ASK/ASVK → VCEK/VLEK chain and CRL made with the cert
// factory. Used by negative tests (start valid, change one thing, re-sign)
// and by the simulator. Not used by any verifier.
//
// The encoder here is written independently of the parser in
// verifier/sev_snp/report.cc: it shares only the layout constants and the
// SnpReport value type (header-only), so a parser bug does not hide itself
// in its own tests. snp_report_builder_test.cc checks both directions.
#ifndef RP_TESTS_TESTING_SNP_REPORT_BUILDER_H_
#define RP_TESTS_TESTING_SNP_REPORT_BUILDER_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/cert_factory.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/sev_snp/layout.h"
#include "verifier/sev_snp/report.h"

namespace rp::testing {

// Exactly kReportSize bytes holding `report` at the ABI offsets (reserved
// bytes zero). The inverse of sev_snp::ParseReportUnverified.
Bytes EncodeSnpReport(const sev_snp::SnpReport& report);

// Writes ECDSA P-384 / SHA-384 over bytes 0x000..0x29F of `report` (which
// must be kReportSize bytes) into 0x2A0 (r) and 0x2E8 (s), little-endian,
// zero-padded to 72 bytes. The key must be an EC P-384 private key.
absl::Status SignSnpReport(const EVP_PKEY* key, Bytes& report);

// TCB in a product's byte layout (spec §2), written independently of
// sev_snp::EncodeTcb.
sev_snp::TcbVersion MakeTcb(sev_snp::Product product, uint8_t bootloader,
                            uint8_t tee, uint8_t snp, uint8_t microcode,
                            uint8_t fmc = 0);

class SnpReportBuilder {
 public:
  // A valid v3 Milan report: CPUID 19h/01h/01h, POLICY 0x30000 (SMT and
  // the must-be-one bit), SIGNATURE_ALGO 1, SIGNING_KEY 0 (VCEK), VMPL 0,
  // every TCB bl 4 / tee 0 / snp 24 / ucode 219, firmware 1.55.29,
  // REPORT_ID_MA all FF, CHIP_ID 0x01,0x02,..., measurement 0xAA...
  SnpReportBuilder();
  // Starts from an existing report (e.g. a parsed real one) whose TCBs are
  // in `product`'s layout.
  SnpReportBuilder(const sev_snp::SnpReport& report, sev_snp::Product product);

  // Product line: sets CPUID (Milan 19h/01h, Genoa 19h/11h, Turin 1Ah/02h;
  // stepping 1), re-lays out the four TCBs with the same SPLs, and for
  // Turin zeroes CHIP_ID[8..64]. For v2 reports the CPUID stays zero.
  SnpReportBuilder& ForProduct(sev_snp::Product product);
  sev_snp::Product product() const { return product_; }

  // One setter per field, in ABI order.
  SnpReportBuilder& Version(uint32_t v);
  SnpReportBuilder& GuestSvn(uint32_t v);
  SnpReportBuilder& Policy(uint64_t v);
  SnpReportBuilder& FamilyId(std::span<const uint8_t> v);
  SnpReportBuilder& ImageId(std::span<const uint8_t> v);
  SnpReportBuilder& Vmpl(uint32_t v);
  SnpReportBuilder& SignatureAlgo(uint32_t v);
  SnpReportBuilder& CurrentTcb(const sev_snp::TcbVersion& v);
  SnpReportBuilder& PlatformInfo(uint64_t v);
  SnpReportBuilder& SignerInfo(uint32_t v);
  SnpReportBuilder& SigningKey(uint32_t key);  // bits 4:2 of signer info
  SnpReportBuilder& AuthorKeyEn(bool v);
  SnpReportBuilder& MaskChipKey(bool v);
  SnpReportBuilder& ReportData(std::span<const uint8_t> v);
  SnpReportBuilder& Measurement(std::span<const uint8_t> v);
  SnpReportBuilder& HostData(std::span<const uint8_t> v);
  SnpReportBuilder& IdKeyDigest(std::span<const uint8_t> v);
  SnpReportBuilder& AuthorKeyDigest(std::span<const uint8_t> v);
  SnpReportBuilder& ReportId(std::span<const uint8_t> v);
  SnpReportBuilder& ReportIdMa(std::span<const uint8_t> v);
  SnpReportBuilder& ReportedTcb(const sev_snp::TcbVersion& v);
  SnpReportBuilder& Cpuid(uint8_t family, uint8_t model, uint8_t stepping);
  SnpReportBuilder& ChipId(std::span<const uint8_t> v);
  SnpReportBuilder& CommittedTcb(const sev_snp::TcbVersion& v);
  SnpReportBuilder& CurrentVersion(uint8_t major, uint8_t minor, uint8_t build);
  SnpReportBuilder& CommittedVersion(uint8_t major, uint8_t minor,
                                     uint8_t build);
  SnpReportBuilder& LaunchTcb(const sev_snp::TcbVersion& v);
  SnpReportBuilder& LaunchMitVector(uint64_t v);
  SnpReportBuilder& CurrentMitVector(uint64_t v);
  SnpReportBuilder& SignatureR(std::span<const uint8_t> v);  // 72 bytes LE
  SnpReportBuilder& SignatureS(std::span<const uint8_t> v);
  // All four TCBs at once, in the current product's layout.
  SnpReportBuilder& AllTcbs(uint8_t bootloader, uint8_t tee, uint8_t snp,
                            uint8_t microcode, uint8_t fmc = 0);

  // Overwrites one byte of the encoding (e.g. a reserved byte) after the
  // fields are written. Patches below 0x2A0 are signed over by
  // BuildSigned; patches at 0x2A0 and above are applied after signing.
  SnpReportBuilder& PatchByte(size_t offset, uint8_t value);
  // Appends bytes / drops bytes from the end of the encoding (framing tests).
  SnpReportBuilder& Append(std::span<const uint8_t> extra);
  SnpReportBuilder& Truncate(size_t size);

  const sev_snp::SnpReport& fields() const { return r_; }
  // The encoding with the signature fields as set (unsigned).
  Bytes Build() const;
  // The encoding signed with `key` (EC P-384 private key).
  absl::StatusOr<Bytes> BuildSigned(const EVP_PKEY* key) const;

 private:
  void Relayout(sev_snp::Product from, sev_snp::Product to);

  sev_snp::SnpReport r_;
  sev_snp::Product product_ = sev_snp::Product::kMilan;
  std::vector<std::pair<size_t, uint8_t>> patches_;
  Bytes append_;
  std::optional<size_t> truncate_;
};

// --- KDS extensions and an AMD-like chain --------------------------------

enum class HwIdForm { kRaw, kOctetString };

// The AMD KDS extensions of a leaf (spec §3.2). Unset optionals are left
// out of the certificate.
struct KdsExtensionSpec {
  std::optional<int> struct_version;
  std::optional<std::string> product_name;
  std::optional<int> bl_spl, tee_spl, snp_spl, spl4, spl5, spl6, spl7,
      ucode_spl, fmc_spl;
  std::optional<Bytes> hw_id;
  HwIdForm hw_id_form = HwIdForm::kRaw;
  std::optional<std::string> csp_id;
};

// The extensions a genuine KDS certificate for `report` would carry:
// VCEK: structVersion/productName per product, SPLs = REPORTED_TCB, hwID =
// CHIP_ID (Turin: 8 bytes). VLEK: no hwID, cspID "CN=cc-test.example.com".
KdsExtensionSpec KdsSpecForReport(const sev_snp::SnpReport& report,
                                  sev_snp::Product product, bool vlek);
std::vector<CustomExtension> KdsExtensions(const KdsExtensionSpec& spec);

// The AMD distinguished name attributes before CN (spec §3.1).
std::vector<std::pair<std::string, std::string>> AmdSubjectAttributes();

struct SnpChainOptions {
  sev_snp::Product product = sev_snp::Product::kMilan;
  // RSA size for ARK and ASK/ASVK. AMD uses 4096; 2048 keeps tests fast.
  KeyType ca_key_type = KeyType::kRsa2048;
  Bytes ark_serial = {0x01, 0x00, 0x00};
  Bytes ask_serial = {0x01, 0x00, 0x01};
  Bytes asvk_serial = {0x01, 0x01, 0x01};
  absl::Time ca_not_before = absl::FromUnixSeconds(1600000000);  // 2020-09
  absl::Time ca_not_after = absl::FromUnixSeconds(2400000000);   // 2046-01
  // CRL issued by the ARK (RSASSA-PSS), revoking these serials.
  std::vector<Bytes> revoked_serials;
  absl::Time crl_this_update = absl::FromUnixSeconds(1700000000);  // 2023-11
  absl::Time crl_next_update = absl::FromUnixSeconds(2000000000);  // 2033-05
};

// ARK (self-signed, RSASSA-PSS, CN "ARK-<P>"), ASK ("SEV-<P>"), ASVK
// ("SEV-VLEK-<P>") and the ARK's CRL, with the AMD DN.
struct SnpTestChain {
  sev_snp::Product product = sev_snp::Product::kMilan;
  Issued ark;
  Issued ask;
  Issued asvk;
  crypto::OpensslPtr<X509_CRL> crl;
  std::string ark_pem;
  std::string ask_pem;
  std::string asvk_pem;
  Bytes crl_der;
  // KDS-style bundles: "ASK then ARK" and "ASVK then ARK".
  std::string vcek_chain_pem() const { return ask_pem + ark_pem; }
  std::string vlek_chain_pem() const { return asvk_pem + ark_pem; }
};
absl::StatusOr<SnpTestChain> MakeSnpTestChain(const SnpChainOptions& options);

struct SnpLeafOptions {
  bool vlek = false;            // VLEK: CN "SEV-VLEK", issued by the ASVK
  KdsExtensionSpec extensions;  // usually KdsSpecForReport(...)
  KeyType key_type = KeyType::kEcP384;
  std::optional<std::string> common_name;                     // override the CN
  absl::Time not_before = absl::FromUnixSeconds(1700000000);  // 2023-11
  absl::Time not_after = absl::FromUnixSeconds(1900000000);   // 2030-03
  SigScheme scheme = SigScheme::kRsaPssSha384;
};
// A VCEK/VLEK like KDS issues (serial 0, no AKI/SKI/keyUsage/basic
// constraints, only the AMD extensions), signed by the chain's ASK/ASVK.
absl::StatusOr<Issued> MakeSnpLeaf(const SnpTestChain& chain,
                                   const SnpLeafOptions& options);

}  // namespace rp::testing

#endif  // RP_TESTS_TESTING_SNP_REPORT_BUILDER_H_
