#include "verifier/sev_snp/claims.h"

#include "absl/strings/str_format.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/layout.h"

namespace rp::sev_snp {
namespace {

std::string Hex0x(uint64_t v) { return absl::StrFormat("0x%x", v); }

nlohmann::json PolicyClaims(uint64_t p) {
  return {
      {"abi_major",
       static_cast<int>((p & kPolicyAbiMajorMask) >> kPolicyAbiMajorShift)},
      {"abi_minor", static_cast<int>(p & kPolicyAbiMinorMask)},
      {"smt", (p & kPolicySmt) != 0},
      {"migrate_ma", (p & kPolicyMigrateMa) != 0},
      {"debug", (p & kPolicyDebug) != 0},
      {"single_socket", (p & kPolicySingleSocket) != 0},
      {"cxl_allow", (p & kPolicyCxlAllow) != 0},
      {"mem_aes_256_xts", (p & kPolicyMemAes256Xts) != 0},
      {"rapl_dis", (p & kPolicyRaplDis) != 0},
      {"ciphertext_hiding", (p & kPolicyCiphertextHiding) != 0},
      {"page_swap_disable", (p & kPolicyPageSwapDisable) != 0},
      {"raw", Hex0x(p)},
  };
}

nlohmann::json PlatformInfoClaims(uint64_t p) {
  return {
      {"smt_en", (p & kPlatformSmtEn) != 0},
      {"tsme_en", (p & kPlatformTsmeEn) != 0},
      {"ecc_en", (p & kPlatformEccEn) != 0},
      {"rapl_dis", (p & kPlatformRaplDis) != 0},
      {"ciphertext_hiding_en", (p & kPlatformCiphertextHidingEn) != 0},
      {"alias_check_complete", (p & kPlatformAliasCheckComplete) != 0},
      {"iommu_write_safe", (p & kPlatformIommuWriteSafe) != 0},
      {"tio_en", (p & kPlatformTioEn) != 0},
      {"raw", Hex0x(p)},
  };
}

}  // namespace

CertClaims DescribeCertificate(const X509* cert, const KdsExtensions* ext) {
  CertClaims c;
  c.subject_cn = crypto::SubjectCommonName(cert);
  c.issuer_cn = crypto::IssuerCommonName(cert);
  c.not_before = rp::FormatRfc3339(crypto::NotBefore(cert));
  c.not_after = rp::FormatRfc3339(crypto::NotAfter(cert));
  if (ext != nullptr) {
    c.product_name = ext->product_name;
    c.csp_id = ext->csp_id;
  }
  return c;
}

nlohmann::json TcbClaims(const TcbVersion& tcb, Product product) {
  nlohmann::json j = nlohmann::json::object();
  if (std::optional<TcbParts> parts = DecodeTcb(tcb, product)) {
    j["bootloader"] = parts->bootloader;
    j["tee"] = parts->tee;
    j["snp"] = parts->snp;
    j["microcode"] = parts->microcode;
    if (parts->fmc) j["fmc"] = *parts->fmc;
  }
  j["raw"] = tcb.Hex();
  return j;
}

nlohmann::json BuildClaims(const SnpReport& r, Product product,
                           const CertClaims* cert) {
  nlohmann::json c = nlohmann::json::object();
  c["product"] = std::string(ProductName(product));
  c["version"] = r.version;
  c["guest_svn"] = r.guest_svn;
  c["vmpl"] = r.vmpl;
  c["measurement"] = HexEncode(r.measurement);
  c["report_data"] = HexEncode(r.report_data);
  c["host_data"] = HexEncode(r.host_data);
  c["id_key_digest"] = HexEncode(r.id_key_digest);
  c["author_key_digest"] = HexEncode(r.author_key_digest);
  c["report_id"] = HexEncode(r.report_id);
  c["report_id_ma"] = HexEncode(r.report_id_ma);
  c["chip_id"] = HexEncode(r.chip_id);
  c["family_id"] = HexEncode(r.family_id);
  c["image_id"] = HexEncode(r.image_id);
  c["signing_key"] = r.signing_key() == kSigningKeyVlek ? "vlek" : "vcek";
  c["mask_chip_key"] = r.mask_chip_key();
  c["author_key_en"] = r.author_key_en();
  c["policy"] = PolicyClaims(r.policy);
  c["platform_info"] = PlatformInfoClaims(r.platform_info);
  c["current_tcb"] = TcbClaims(r.current_tcb, product);
  c["reported_tcb"] = TcbClaims(r.reported_tcb, product);
  c["committed_tcb"] = TcbClaims(r.committed_tcb, product);
  c["launch_tcb"] = TcbClaims(r.launch_tcb, product);
  c["current_version"] = r.current_version.ToString();
  c["committed_version"] = r.committed_version.ToString();
  if (r.has_mit_vectors()) {
    c["launch_mit_vector"] = Hex0x(r.launch_mit_vector);
    c["current_mit_vector"] = Hex0x(r.current_mit_vector);
  }
  if (r.has_cpuid()) {
    c["cpuid"] = {{"family", r.cpuid_fam_id},
                  {"model", r.cpuid_mod_id},
                  {"stepping", r.cpuid_step}};
  }
  if (cert != nullptr) {
    nlohmann::json j = {{"subject_cn", cert->subject_cn},
                        {"issuer_cn", cert->issuer_cn},
                        {"not_before", cert->not_before},
                        {"not_after", cert->not_after}};
    if (cert->product_name) j["product_name"] = *cert->product_name;
    if (cert->csp_id) j["csp_id"] = *cert->csp_id;
    c["cert"] = std::move(j);
  }
  return c;
}

}  // namespace rp::sev_snp
