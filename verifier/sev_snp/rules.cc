#include "verifier/sev_snp/rules.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/sev_snp/layout.h"

namespace rp::sev_snp {
namespace {

constexpr char kVcekCn[] = "SEV-VCEK";
constexpr char kVlekCn[] = "SEV-VLEK";

std::string AskCn(Product p) {
  return absl::StrFormat("SEV-%s", ProductName(p));
}
std::string AsvkCn(Product p) {
  return absl::StrFormat("SEV-VLEK-%s", ProductName(p));
}

std::string_view SourceName(LeafSource s) {
  switch (s) {
    case LeafSource::kBundleVcek:
      return "the bundle's vcek field";
    case LeafSource::kBundleVlek:
      return "the bundle's vlek field";
    case LeafSource::kCollateral:
      return "collateral (VCEK lookup)";
  }
  return "?";
}

std::string Window(absl::Time from, absl::Time to) {
  return absl::StrFormat("[%s, %s)", rp::FormatRfc3339(from),
                         rp::FormatRfc3339(to));
}

}  // namespace

RuleOutcome RuleOutcome::Pass(std::string detail) {
  return RuleOutcome{core::CheckStatus::kPass, reason::kOk, std::move(detail)};
}
RuleOutcome RuleOutcome::Fail(std::string reason_code, std::string detail) {
  return RuleOutcome{core::CheckStatus::kFail, std::move(reason_code),
                     std::move(detail)};
}
RuleOutcome RuleOutcome::NotChecked(std::string reason_code,
                                    std::string detail) {
  return RuleOutcome{core::CheckStatus::kNotChecked, std::move(reason_code),
                     std::move(detail)};
}

RuleOutcome DetermineProduct(const SnpReport& report,
                             const KdsExtensions* cert_ext, Product* out) {
  *out = Product::kUnknown;
  if (report.has_cpuid()) {
    Product p = ProductFromCpuid(report.cpuid_fam_id, report.cpuid_mod_id);
    std::string cpuid = absl::StrFormat(
        "CPUID family 0x%02X model 0x%02X stepping %d", report.cpuid_fam_id,
        report.cpuid_mod_id, report.cpuid_step);
    if (p == Product::kUnknown) {
      return RuleOutcome::Fail(
          reason::kProductUnknown,
          absl::StrFormat("%s (0x188) is not a known product line (Milan "
                          "19h/00h-0Fh, Genoa "
                          "19h/10h-1Fh and A0h-AFh, Turin 1Ah/00h-11h)",
                          cpuid));
    }
    *out = p;
    return RuleOutcome::Pass(
        absl::StrFormat("%s from %s", ProductName(p), cpuid));
  }
  // v2 has no CPUID bytes; only the endorsement certificate can say.
  if (cert_ext == nullptr) {
    return RuleOutcome::Fail(
        reason::kProductUnknown,
        "report v2 carries no CPUID; the product line must come from the "
        "endorsement certificate, which is not available");
  }
  if (!cert_ext->product_name) {
    return RuleOutcome::Fail(
        reason::kProductUnknown,
        "report v2 carries no CPUID and the certificate has no productName");
  }
  Product p = ProductFromCertName(*cert_ext->product_name);
  if (p == Product::kUnknown) {
    return RuleOutcome::Fail(
        reason::kProductUnknown,
        absl::StrFormat("report v2: certificate productName \"%s\" is not a "
                        "known product line",
                        *cert_ext->product_name));
  }
  *out = p;
  return RuleOutcome::Pass(
      absl::StrFormat("%s from certificate productName \"%s\" (report v2)",
                      ProductName(p), *cert_ext->product_name));
}

LeafFacts DescribeLeaf(const X509* leaf, LeafSource source) {
  LeafFacts f;
  f.source = source;
  f.subject_cn = crypto::SubjectCommonName(leaf);
  f.issuer_cn = crypto::IssuerCommonName(leaf);
  f.curve = crypto::EcCurveName(crypto::PublicKey(leaf));
  return f;
}

RuleOutcome CheckSigningKeyType(const SnpReport& report, Product product,
                                const LeafFacts& leaf) {
  const bool vcek = report.signing_key() == kSigningKeyVcek;
  const std::string want_cn = vcek ? kVcekCn : kVlekCn;
  const std::string want_issuer = vcek ? AskCn(product) : AsvkCn(product);
  const char* kind = vcek ? "SIGNING_KEY=0 (VCEK)" : "SIGNING_KEY=1 (VLEK)";
  std::vector<std::string> problems;
  if (vcek && leaf.source == LeafSource::kBundleVlek) {
    problems.push_back(
        absl::StrFormat("the certificate came in %s", SourceName(leaf.source)));
  }
  if (!vcek && leaf.source != LeafSource::kBundleVlek) {
    problems.push_back(absl::StrFormat(
        "the certificate came from %s, a VLEK must be given as vlek",
        SourceName(leaf.source)));
  }
  if (leaf.subject_cn != want_cn) {
    problems.push_back(absl::StrFormat("subject CN \"%s\", expected \"%s\"",
                                       leaf.subject_cn, want_cn));
  }
  if (product != Product::kUnknown && leaf.issuer_cn != want_issuer) {
    problems.push_back(absl::StrFormat("issuer CN \"%s\", expected \"%s\"",
                                       leaf.issuer_cn, want_issuer));
  }
  if (!problems.empty()) {
    return RuleOutcome::Fail(
        reason::kSigningKeyMismatch,
        absl::StrFormat("report %s: %s", kind, absl::StrJoin(problems, "; ")));
  }
  if (leaf.curve != "P-384") {
    return RuleOutcome::Fail(
        reason::kCertKeyInvalid,
        absl::StrFormat(
            "endorsement key must be EC P-384, got %s",
            leaf.curve.empty() ? std::string("a non-EC key") : leaf.curve));
  }
  std::string detail =
      absl::StrFormat("%s: subject \"%s\", issuer \"%s\", EC P-384", kind,
                      leaf.subject_cn, leaf.issuer_cn);
  if (product == Product::kUnknown)
    detail += " (issuer not checked: product line unknown)";
  return RuleOutcome::Pass(detail);
}

RuleOutcome ChainOutcome(const crypto::ChainResult& result) {
  switch (result.error) {
    case crypto::ChainError::kNone:
      return RuleOutcome::Pass(result.detail);
    case crypto::ChainError::kUntrustedRoot:
      return RuleOutcome::Fail(reason::kChainUntrustedRoot, result.detail);
    case crypto::ChainError::kBadSignature:
      return RuleOutcome::Fail(reason::kChainSignatureInvalid, result.detail);
    case crypto::ChainError::kExpired:
      return RuleOutcome::Fail(reason::kCertExpired, result.detail);
    case crypto::ChainError::kNotYetValid:
      return RuleOutcome::Fail(reason::kCertNotYetValid, result.detail);
    case crypto::ChainError::kWrongShape:
      return RuleOutcome::Fail(reason::kChainShapeInvalid, result.detail);
    case crypto::ChainError::kOther:
      break;
  }
  return RuleOutcome::Fail(reason::kChainInvalid, result.detail);
}

std::string NonPssSignatureInPath(std::span<const X509* const> path) {
  std::vector<std::string> bad;
  for (const X509* cert : path) {
    const int nid = X509_get_signature_nid(cert);
    if (nid != NID_rsassaPss) {
      const char* name = OBJ_nid2sn(nid);
      bad.push_back(
          absl::StrFormat("\"%s\" is signed with %s, not RSASSA-PSS",
                          crypto::SubjectCommonName(cert),
                          name != nullptr ? name : "an unknown algorithm"));
    }
  }
  return absl::StrJoin(bad, "; ");
}

RuleOutcome CheckRevocation(const X509_CRL* crl, const X509* issuer,
                            const X509* subject, absl::Time at) {
  if (crl == nullptr) {
    return RuleOutcome::NotChecked(reason::kCrlUnavailable, "no CRL available");
  }
  const crypto::CrlCheck c = crypto::CheckCrl(crl, issuer, subject, at);
  const std::string who =
      absl::StrFormat("\"%s\" serial 0x%s", crypto::SubjectCommonName(subject),
                      crypto::SerialHex(subject));
  switch (c.outcome) {
    case crypto::CrlOutcome::kNotRevoked:
      return RuleOutcome::Pass(
          absl::StrFormat("%s not listed in the CRL of \"%s\", valid %s", who,
                          crypto::SubjectCommonName(issuer),
                          Window(c.this_update, c.next_update)));
    case crypto::CrlOutcome::kRevoked:
      return RuleOutcome::Fail(
          reason::kCertRevoked,
          absl::StrFormat(
              "%s revoked on %s%s by the CRL of \"%s\"%s", who,
              rp::FormatRfc3339(c.revocation_time),
              c.revocation_reason >= 0
                  ? absl::StrFormat(" (CRLReason %d)", c.revocation_reason)
                  : std::string(),
              crypto::SubjectCommonName(issuer),
              c.detail.empty() ? "" : absl::StrFormat(": %s", c.detail)));
    case crypto::CrlOutcome::kBadSignature:
      return RuleOutcome::Fail(
          reason::kCrlSignatureInvalid,
          absl::StrFormat("CRL not signed by \"%s\": %s",
                          crypto::SubjectCommonName(issuer), c.detail));
    case crypto::CrlOutcome::kWrongIssuer:
      return RuleOutcome::Fail(
          reason::kCrlIssuerMismatch,
          absl::StrFormat("CRL issuer is not \"%s\": %s",
                          crypto::SubjectCommonName(issuer), c.detail));
    case crypto::CrlOutcome::kNotYetValid:
    case crypto::CrlOutcome::kExpired:
      break;
  }
  return RuleOutcome::NotChecked(
      reason::kCrlNotCurrent,
      absl::StrFormat(
          "CRL validity %s does not contain the verification time %s%s",
          Window(c.this_update, c.next_update), rp::FormatRfc3339(at),
          c.detail.empty() ? "" : absl::StrFormat(" (%s)", c.detail)));
}

RuleOutcome CheckTcbMatch(const SnpReport& report, Product product,
                          const KdsExtensions& ext) {
  std::optional<TcbParts> reported = DecodeTcb(report.reported_tcb, product);
  if (!reported) {
    return RuleOutcome::NotChecked(reason::kPrerequisiteFailed,
                                   "product line unknown: TCB layout unknown");
  }
  std::vector<std::string> missing;
  if (!ext.bl_spl) missing.push_back("blSPL");
  if (!ext.tee_spl) missing.push_back("teeSPL");
  if (!ext.snp_spl) missing.push_back("snpSPL");
  if (!ext.ucode_spl) missing.push_back("ucodeSPL");
  if (product == Product::kTurin && !ext.fmc_spl) missing.push_back("fmcSPL");
  if (!missing.empty()) {
    return RuleOutcome::Fail(
        reason::kCertExtensionsInvalid,
        absl::StrFormat("certificate lacks SPL extension(s) %s",
                        absl::StrJoin(missing, ", ")));
  }
  std::vector<std::string> diffs;
  auto compare = [&](const char* name, uint8_t cert, uint8_t rep) {
    if (cert != rep) {
      diffs.push_back(absl::StrFormat("%s: certificate %d, REPORTED_TCB %d",
                                      name, cert, rep));
    }
  };
  if (product == Product::kTurin)
    compare("fmc", *ext.fmc_spl, reported->fmc.value_or(0));
  compare("bootloader", *ext.bl_spl, reported->bootloader);
  compare("tee", *ext.tee_spl, reported->tee);
  compare("snp", *ext.snp_spl, reported->snp);
  compare("microcode", *ext.ucode_spl, reported->microcode);
  if (!diffs.empty()) {
    return RuleOutcome::Fail(
        reason::kTcbMismatch,
        absl::StrFormat("REPORTED_TCB (0x180) %s is not the TCB the "
                        "certificate endorses: %s",
                        report.reported_tcb.Hex(), absl::StrJoin(diffs, "; ")));
  }
  return RuleOutcome::Pass(absl::StrFormat("REPORTED_TCB %s = certificate SPLs",
                                           report.reported_tcb.Hex()));
}

RuleOutcome CheckChipId(const SnpReport& report, Product product,
                        const KdsExtensions& ext) {
  if (report.signing_key() == kSigningKeyVlek) {
    // A VLEK is per cloud provider, not per chip: it must say whose it is
    // and must not claim a chip (spec §3.3, go-sev-guest enforces both).
    if (ext.hw_id) {
      return RuleOutcome::Fail(
          reason::kCertExtensionsInvalid,
          "VLEK carries a hwID extension; a VLEK must not name a chip");
    }
    if (!ext.csp_id) {
      return RuleOutcome::Fail(reason::kCertExtensionsInvalid,
                               "VLEK has no cspID extension");
    }
    return RuleOutcome::Pass(absl::StrFormat(
        "VLEK for cloud provider \"%s\"; no chip binding", *ext.csp_id));
  }
  if (ext.csp_id) {
    return RuleOutcome::Fail(
        reason::kCertExtensionsInvalid,
        absl::StrFormat(
            "VCEK carries a cspID extension (\"%s\"), which only VLEKs have",
            *ext.csp_id));
  }
  if (!ext.hw_id) {
    return RuleOutcome::Fail(reason::kCertExtensionsInvalid,
                             "VCEK has no hwID extension");
  }
  if (product == Product::kUnknown) {
    return RuleOutcome::NotChecked(reason::kPrerequisiteFailed,
                                   "product line unknown: hwID size unknown");
  }
  const size_t id_size =
      product == Product::kTurin ? kTurinChipIdSize : kChipIdSize;
  if (ext.hw_id->size() != id_size) {
    return RuleOutcome::Fail(
        reason::kCertExtensionsInvalid,
        absl::StrFormat("VCEK hwID has %d bytes, %s expects %d",
                        ext.hw_id->size(), ProductName(product), id_size));
  }
  if (report.ChipIdIsZero()) {
    return RuleOutcome::NotChecked(reason::kChipIdMasked,
                                   "CHIP_ID (0x1A0) is all zero (masked by the "
                                   "host); the VCEK's hwID cannot be compared");
  }
  const std::span<const uint8_t> chip(report.chip_id);
  const bool prefix_equal =
      std::equal(ext.hw_id->begin(), ext.hw_id->end(), chip.begin());
  const bool tail_zero =
      std::all_of(chip.begin() + static_cast<std::ptrdiff_t>(id_size),
                  chip.end(), [](uint8_t b) { return b == 0; });
  if (!prefix_equal || !tail_zero) {
    return RuleOutcome::Fail(
        reason::kChipIdMismatch,
        absl::StrFormat(
            "CHIP_ID (0x1A0) %s != VCEK hwID %s%s", HexEncode(chip),
            HexEncode(*ext.hw_id),
            tail_zero ? "" : " (bytes after the hwID must be zero)"));
  }
  return RuleOutcome::Pass(
      absl::StrFormat("CHIP_ID = VCEK hwID %s", HexEncode(*ext.hw_id)));
}

RuleOutcome CheckCertProduct(Product product, const KdsExtensions& ext) {
  if (!ext.struct_version || !ext.product_name) {
    return RuleOutcome::Fail(reason::kCertExtensionsInvalid,
                             "certificate lacks structVersion or productName");
  }
  const int want_struct =
      product == Product::kTurin ? kStructVersionTurin : kStructVersionLegacy;
  std::vector<std::string> problems;
  if (*ext.struct_version != want_struct) {
    problems.push_back(absl::StrFormat("structVersion %d, %s expects %d",
                                       *ext.struct_version,
                                       ProductName(product), want_struct));
  }
  const Product named = ProductFromCertName(*ext.product_name);
  if (named != product) {
    problems.push_back(absl::StrFormat("productName \"%s\" is not %s",
                                       *ext.product_name,
                                       ProductName(product)));
  }
  if (!problems.empty()) {
    return RuleOutcome::Fail(reason::kCertProductMismatch,
                             absl::StrJoin(problems, "; "));
  }
  return RuleOutcome::Pass(
      absl::StrFormat("productName \"%s\", structVersion %d", *ext.product_name,
                      *ext.struct_version));
}

RuleOutcome CheckReportSignature(std::span<const uint8_t> report_bytes,
                                 const EVP_PKEY* key) {
  if (report_bytes.size() != kReportSize) {
    return RuleOutcome::Fail(reason::kSignatureInvalid,
                             "report has the wrong size");
  }
  // The report is fresh per request (its nonce): never memoised
  // (verifier/crypto/verified_memo.h), so every call pays for its check.
  const crypto::ScopedMemoBypass fresh_evidence;
  absl::Status s = crypto::VerifyEcdsaRaw(
      key, report_bytes.subspan(kSignedOffset, kSignedSize),
      report_bytes.subspan(kSignatureROffset, kSignatureComponentSize),
      report_bytes.subspan(kSignatureSOffset, kSignatureComponentSize),
      crypto::Endian::kLittle, crypto::HashAlg::kSha384);
  if (!s.ok()) {
    return RuleOutcome::Fail(
        reason::kSignatureInvalid,
        absl::StrFormat(
            "ECDSA P-384/SHA-384 over 0x000..0x29F does not verify with the "
            "endorsement key: %s",
            std::string(s.message())));
  }
  return RuleOutcome::Pass("ECDSA P-384/SHA-384 over 0x000..0x29F verifies");
}

bool PolicyDebug(const SnpReport& report) {
  return (report.policy & kPolicyDebug) != 0;
}
bool PolicyMigrateMa(const SnpReport& report) {
  return (report.policy & kPolicyMigrateMa) != 0;
}
bool PolicySmt(const SnpReport& report) {
  return (report.policy & kPolicySmt) != 0;
}
bool PolicySingleSocket(const SnpReport& report) {
  return (report.policy & kPolicySingleSocket) != 0;
}
bool VmplAtMost(const SnpReport& report, uint32_t max_vmpl) {
  return report.vmpl <= max_vmpl;
}
bool ReportedTcbAtLeast(const SnpReport& report, Product product,
                        const TcbVersion& minimum) {
  return TcbAtLeast(report.reported_tcb, minimum, product);
}
bool LaunchTcbAtLeast(const SnpReport& report, Product product,
                      const TcbVersion& minimum) {
  return TcbAtLeast(report.launch_tcb, minimum, product);
}
bool CommittedMatchesCurrent(const SnpReport& report) {
  return report.committed_tcb == report.current_tcb &&
         report.committed_version == report.current_version;
}
bool CurrentMitVectorHas(const SnpReport& report, uint64_t required) {
  return report.has_mit_vectors() &&
         (report.current_mit_vector & required) == required;
}

}  // namespace rp::sev_snp
