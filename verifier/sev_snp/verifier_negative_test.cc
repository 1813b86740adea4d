// One-change negative tests (STYLE §15): start from valid evidence made with
// the report builder and an AMD-like chain from the cert factory, change one
// thing, and expect ONE stable reason code on ONE named check.
//
// The chains are registered through TrustConfig::ForTest, which puts them
// where the pinned AMD roots sit, so these tests run the production path
// (RSASSA-PSS required, simulated = false). Simulation roots are tested at
// the end.
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/testing/cert_factory.h"
#include "tests/testing/snp_report_builder.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/report.h"
#include "verifier/sev_snp/roots.h"
#include "verifier/sev_snp/rules.h"
#include "verifier/sev_snp/test_util.h"
#include "verifier/sev_snp/verifier.h"

namespace rp::sev_snp {
namespace {

using core::CheckStatus;
using core::DeviceResult;
using crypto::OpensslPtr;
using testing::Issued;
using testing::KdsExtensionSpec;
using testing::SnpReportBuilder;
using testing::SnpTestChain;

// --- Shared chains, made lazily and once each: RSA key generation is slow and
// ctest runs every test in its own process.
// ------------------------------------

std::string Pem(const X509* cert) { return crypto::CertificatePem(cert); }

template <typename T>
T& OrDie(absl::StatusOr<T>& v, const char* what) {
  if (!v.ok()) {
    std::cerr << what << ": " << v.status() << "\n";
    std::abort();
  }
  return *v;
}

const SnpTestChain& Configured(Product p) {
  static auto* chains = new std::map<Product, absl::StatusOr<SnpTestChain>>();
  auto it = chains->find(p);
  if (it == chains->end()) {
    testing::SnpChainOptions o;
    o.product = p;
    if (p == Product::kGenoa) {
      // Like the real Genoa CRL: today's ASK 0x020002, 0x020001 revoked.
      o.ark_serial = {0x02, 0x00, 0x00};
      o.ask_serial = {0x02, 0x00, 0x02};
      o.asvk_serial = {0x02, 0x01, 0x01};
      o.revoked_serials = {{0x02, 0x00, 0x01}};
    }
    it = chains->emplace(p, testing::MakeSnpTestChain(o)).first;
  }
  return OrDie(it->second, "MakeSnpTestChain");
}

// Same names as the configured Milan chain, different keys.
const SnpTestChain& OtherMilan() {
  static auto* chain =
      new absl::StatusOr<SnpTestChain>(testing::MakeSnpTestChain({}));
  return OrDie(*chain, "MakeSnpTestChain(other)");
}

// SEV-Genoa serial 0x020001 under the configured Genoa ARK (revoked there).
const Issued& OldGenoaAsk() {
  static auto* ask = new absl::StatusOr<Issued>([] {
    const SnpTestChain& genoa = Configured(Product::kGenoa);
    testing::CertSpec old_ask;
    old_ask.common_name = "SEV-Genoa";
    old_ask.subject_extra = testing::AmdSubjectAttributes();
    old_ask.serial = {0x02, 0x00, 0x01};
    old_ask.is_ca = true;
    old_ask.path_len = 0;
    old_ask.scheme = testing::SigScheme::kRsaPssSha384;
    return testing::MakeCert(old_ask, testing::KeyType::kRsa2048,
                             genoa.ark.cert.get(), genoa.ark.key.get());
  }());
  return OrDie(*ask, "old Genoa ASK");
}

// A verifier whose `p` anchors are the configured test chain (ForTest).
const SnpVerifier& VerifierFor(Product p) {
  static auto* verifiers =
      new std::map<Product, std::unique_ptr<SnpVerifier>>();
  auto it = verifiers->find(p);
  if (it == verifiers->end()) {
    const SnpTestChain& c = Configured(p);
    absl::StatusOr<std::unique_ptr<SnpVerifier>> v = SnpVerifier::Create(
        TrustConfig::ForTest(p, c.ark_pem, c.ask_pem, c.asvk_pem));
    it =
        verifiers->emplace(p, std::move(OrDie(v, "SnpVerifier::Create"))).first;
  }
  return *it->second;
}

// --- One scenario: valid evidence unless a case changes something
// -------------

struct Scenario {
  Product product = Product::kMilan;
  bool vlek = false;  // the leaf is a VLEK (given in the vlek field)
  SnpReportBuilder report;
  testing::SnpLeafOptions leaf;
  std::function<void(KdsExtensionSpec&)> edit_extensions;
  // Issuing chain for the leaf and the bundle's cert_chain (default: the
  // configured chain of `product`).
  const SnpTestChain* chain = nullptr;
  std::optional<std::string> cert_chain_pem;
  // Custom leaf maker (for chain-shape cases); gets the final extensions.
  std::function<absl::StatusOr<Issued>(const KdsExtensionSpec&)> make_leaf;
  std::optional<Bytes> crl;  // default: chain's CRL
  bool no_crl = false;
  absl::Time at = test::GoldenTime();
  crypto::OpensslPtr<EVP_PKEY> sign_key;  // default: the leaf's key
  std::function<void(Bytes&)> after_signing;
  std::optional<std::string> vcek_field;
  std::optional<std::string> vlek_field;
  // Keeps case-made certificates alive for the run.
  std::vector<Issued> keep;
};

struct Evidence {
  attestation::v1::EvidenceBundle bundle;
  test::MapSource collateral;
  absl::Time at;
};

absl::StatusOr<Evidence> Build(Scenario& s) {
  const SnpTestChain& chain = s.chain ? *s.chain : Configured(s.product);
  KdsExtensionSpec ext =
      testing::KdsSpecForReport(s.report.fields(), s.product, s.vlek);
  if (s.edit_extensions) s.edit_extensions(ext);
  s.leaf.vlek = s.vlek;
  s.leaf.extensions = ext;
  absl::StatusOr<Issued> leaf =
      s.make_leaf ? s.make_leaf(ext) : testing::MakeSnpLeaf(chain, s.leaf);
  if (!leaf.ok()) return leaf.status();

  const EVP_PKEY* key = s.sign_key ? s.sign_key.get() : leaf->key.get();
  crypto::OpensslPtr<EVP_PKEY> ec_key;
  if (crypto::EcCurveName(key) != std::string_view("P-384")) {
    absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> k =
        crypto::GenerateEcKey("P-384");
    if (!k.ok()) return k.status();
    ec_key = *std::move(k);
    key = ec_key.get();
  }
  absl::StatusOr<Bytes> report = s.report.BuildSigned(key);
  if (!report.ok()) return report.status();
  if (s.after_signing) s.after_signing(*report);

  Evidence e;
  e.at = s.at;
  auto* snp = e.bundle.mutable_sev_snp();
  snp->set_report(ToString(*report));
  const std::string leaf_pem = Pem(leaf->cert.get());
  if (s.vcek_field || s.vlek_field) {
    snp->set_vcek(s.vcek_field.value_or(""));
    snp->set_vlek(s.vlek_field.value_or(""));
  } else if (s.vlek) {
    snp->set_vlek(leaf_pem);
  } else {
    snp->set_vcek(leaf_pem);
  }
  snp->set_cert_chain(s.cert_chain_pem.value_or(
      s.vlek ? chain.vlek_chain_pem() : chain.vcek_chain_pem()));
  if (!s.no_crl) {
    const Bytes crl = s.crl.value_or(chain.crl_der);
    const std::string p(ProductName(s.product));
    e.collateral.Put("amd/" + p + "/crl.der", crl);
    e.collateral.Put("amd/" + p + "/vlek_crl.der", crl);
  }
  s.keep.push_back(*std::move(leaf));
  return e;
}

absl::StatusOr<DeviceResult> RunScenario(Scenario& s) {
  absl::StatusOr<Evidence> e = Build(s);
  if (!e.ok()) return e.status();
  core::VerifyContext ctx{e->at, &e->collateral, std::nullopt};
  absl::StatusOr<std::vector<DeviceResult>> r =
      VerifierFor(s.product).Verify(e->bundle, ctx);
  if (!r.ok()) return r.status();
  if (r->size() != 1) return absl::InternalError("expected one device");
  return std::move(r->front());
}

std::string Describe(const DeviceResult& d) {
  std::string out;
  for (const auto& c : d.checks) {
    out += "  " + c.name + " " + std::string(core::CheckStatusName(c.status)) +
           " " + c.reason + ": " + c.detail + "\n";
  }
  return out;
}

const core::Check* FindCheck(const DeviceResult& d, std::string_view name) {
  for (const auto& c : d.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// --- Baseline: the unchanged scenario passes every check
// ----------------------

struct BaselineCase {
  Product product;
  bool vlek;
};
void PrintTo(const BaselineCase& c, std::ostream* os) {
  *os << ProductName(c.product) << (c.vlek ? "/vlek" : "/vcek");
}

class SnpBaselineTest : public ::testing::TestWithParam<BaselineCase> {};

TEST_P(SnpBaselineTest, ValidEvidencePassesEveryCheck) {
  Scenario s;
  s.product = GetParam().product;
  s.vlek = GetParam().vlek;
  s.report.ForProduct(s.product);
  if (s.vlek) s.report.SigningKey(kSigningKeyVlek).ChipId(Bytes(64, 0));
  absl::StatusOr<DeviceResult> d = RunScenario(s);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->checks.size(), 10u) << Describe(*d);
  for (const auto& c : d->checks) {
    EXPECT_EQ(c.status, CheckStatus::kPass) << Describe(*d);
  }
  EXPECT_FALSE(d->simulated);
  ASSERT_TRUE(d->report_data.has_value());
  EXPECT_EQ(d->claims["product"], std::string(ProductName(s.product)));
  EXPECT_EQ(d->claims["signing_key"], s.vlek ? "vlek" : "vcek");
}

INSTANTIATE_TEST_SUITE_P(Products, SnpBaselineTest,
                         ::testing::Values(BaselineCase{Product::kMilan, false},
                                           BaselineCase{Product::kMilan, true},
                                           BaselineCase{Product::kGenoa, false},
                                           BaselineCase{Product::kGenoa, true},
                                           BaselineCase{Product::kTurin, false},
                                           BaselineCase{Product::kTurin, true}),
                         [](const auto& p) {
                           return std::string(ProductName(p.param.product)) +
                                  (p.param.vlek ? "_vlek" : "_vcek");
                         });

// --- The one-change table
// ---------------------------------------------------------

struct NegativeCase {
  std::string name;
  std::function<void(Scenario&)> change;
  std::string check;
  std::string reason;
  CheckStatus status = CheckStatus::kFail;
};

crypto::OpensslPtr<EVP_PKEY> NewEcKey() {
  absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> k =
      crypto::GenerateEcKey("P-384");
  return k.ok() ? *std::move(k) : nullptr;
}

// A leaf like KDS issues, from a given issuer (for custom chains).
absl::StatusOr<Issued> LeafFrom(
    const Issued& issuer, const KdsExtensionSpec& ext,
    testing::SigScheme scheme = testing::SigScheme::kRsaPssSha384) {
  testing::CertSpec s;
  s.common_name = "SEV-VCEK";
  s.subject_extra = testing::AmdSubjectAttributes();
  s.serial = {};
  s.not_before = absl::FromUnixSeconds(1700000000);
  s.not_after = absl::FromUnixSeconds(1900000000);
  s.key_usage = false;
  s.subject_key_id = false;
  s.authority_key_id = false;
  s.extensions = testing::KdsExtensions(ext);
  s.scheme = scheme;
  return testing::MakeCert(s, testing::KeyType::kEcP384, issuer.cert.get(),
                           issuer.key.get());
}

absl::StatusOr<Issued> Intermediate(const std::string& cn, const Issued& issuer,
                                    std::optional<int> path_len,
                                    testing::SigScheme scheme) {
  testing::CertSpec s;
  s.common_name = cn;
  s.subject_extra = testing::AmdSubjectAttributes();
  s.serial = {0x01, 0x00, 0x42};
  s.is_ca = true;
  s.path_len = path_len;
  s.scheme = scheme;
  return testing::MakeCert(s, testing::KeyType::kRsa2048, issuer.cert.get(),
                           issuer.key.get());
}

std::vector<NegativeCase> NegativeCases() {
  using R = CheckStatus;
  return {
      // --- report_format (parse) ---
      {"truncated", [](Scenario& s) { s.report.Truncate(kReportSize - 1); },
       kCheckReportFormat, "REPORT_TRUNCATED"},
      {"trailing_bytes", [](Scenario& s) { s.report.Append(Bytes(16, 0)); },
       kCheckReportFormat, "REPORT_TRAILING_BYTES"},
      {"version_1", [](Scenario& s) { s.report.Version(1); },
       kCheckReportFormat, "REPORT_VERSION_UNSUPPORTED"},
      {"version_6", [](Scenario& s) { s.report.Version(6); },
       kCheckReportFormat, "REPORT_VERSION_UNSUPPORTED"},
      {"signature_algo_2", [](Scenario& s) { s.report.SignatureAlgo(2); },
       kCheckReportFormat, "REPORT_SIGNATURE_ALGO_UNSUPPORTED"},
      {"policy_bit17_zero", [](Scenario& s) { s.report.Policy(0x10000); },
       kCheckReportFormat, "REPORT_POLICY_INVALID"},
      {"policy_reserved_bit40",
       [](Scenario& s) { s.report.Policy(0x30000 | (1ull << 40)); },
       kCheckReportFormat, "REPORT_POLICY_INVALID"},
      {"mbz_byte_0x1EB",
       [](Scenario& s) { s.report.PatchByte(kReserved1EBOffset, 0x01); },
       kCheckReportFormat, "REPORT_RESERVED_NONZERO"},
      {"mbz_signature_tail",
       [](Scenario& s) { s.report.PatchByte(0x400, 0x01); }, kCheckReportFormat,
       "REPORT_RESERVED_NONZERO"},
      {"signing_key_7_unsigned", [](Scenario& s) { s.report.SigningKey(7); },
       kCheckReportFormat, "REPORT_UNSIGNED"},
      {"signing_key_3_reserved", [](Scenario& s) { s.report.SigningKey(3); },
       kCheckReportFormat, "REPORT_SIGNING_KEY_INVALID"},
      // --- product ---
      {"unknown_product_cpuid",
       [](Scenario& s) { s.report.Cpuid(0x17, 0x31, 0x00); }, kCheckProduct,
       reason::kProductUnknown},
      {"venice_cpuid", [](Scenario& s) { s.report.Cpuid(0x1A, 0x50, 0x00); },
       kCheckProduct, reason::kProductUnknown},
      // --- endorsement_key ---
      {"vlek_not_in_bundle",
       [](Scenario& s) {
         s.vlek = true;
         s.report.SigningKey(kSigningKeyVlek);
         s.vlek_field = "";
       },
       kCheckEndorsementKey, reason::kEndorsementCertMissing},
      {"vcek_and_vlek_both",
       [](Scenario& s) {
         s.vcek_field = Configured(Product::kMilan).ask_pem;
         s.vlek_field = Configured(Product::kMilan).asvk_pem;
       },
       kCheckEndorsementKey, reason::kEndorsementCertAmbiguous},
      {"vcek_malformed",
       [](Scenario& s) { s.vcek_field = "not a certificate"; },
       kCheckEndorsementKey, reason::kCertMalformed},
      {"kds_extension_malformed",
       [](Scenario& s) {
         s.make_leaf = [](const KdsExtensionSpec& ext) {
           KdsExtensionSpec broken = ext;
           broken.bl_spl = std::nullopt;
           testing::CertSpec spec;
           spec.common_name = "SEV-VCEK";
           spec.subject_extra = testing::AmdSubjectAttributes();
           spec.serial = {};
           spec.not_before = absl::FromUnixSeconds(1700000000);
           spec.not_after = absl::FromUnixSeconds(1900000000);
           spec.key_usage = spec.subject_key_id = spec.authority_key_id = false;
           spec.extensions = testing::KdsExtensions(broken);
           // blSPL as a three-byte INTEGER (256): not an SPL.
           spec.extensions.push_back(
               {std::string(kOidBlSpl), {0x02, 0x02, 0x01, 0x00}, false});
           spec.scheme = testing::SigScheme::kRsaPssSha384;
           const Issued& ask = Configured(Product::kMilan).ask;
           return testing::MakeCert(spec, testing::KeyType::kEcP384,
                                    ask.cert.get(), ask.key.get());
         };
       },
       kCheckEndorsementKey, reason::kCertMalformed},
      // --- signing_key_type (key confusion, spec §1.3) ---
      {"vlek_report_with_vcek",
       [](Scenario& s) { s.report.SigningKey(kSigningKeyVlek); },
       kCheckSigningKeyType, reason::kSigningKeyMismatch},
      {"vcek_report_with_vlek_chain",
       [](Scenario& s) {
         // ARK -> ASVK -> VLEK offered, in the vcek field, for a VCEK report.
         s.vlek = true;
         s.make_leaf = [&s](const KdsExtensionSpec& ext) {
           testing::SnpLeafOptions o;
           o.vlek = true;
           o.extensions = ext;
           absl::StatusOr<Issued> l =
               testing::MakeSnpLeaf(Configured(Product::kMilan), o);
           if (l.ok()) s.vcek_field = Pem(l->cert.get());
           return l;
         };
       },
       kCheckSigningKeyType, reason::kSigningKeyMismatch},
      {"leaf_rsa_key",
       [](Scenario& s) { s.leaf.key_type = testing::KeyType::kRsa2048; },
       kCheckSigningKeyType, reason::kCertKeyInvalid},
      {"leaf_p256_key",
       [](Scenario& s) { s.leaf.key_type = testing::KeyType::kEcP256; },
       kCheckSigningKeyType, reason::kCertKeyInvalid},
      {"leaf_wrong_cn", [](Scenario& s) { s.leaf.common_name = "SEV-VCEK-X"; },
       kCheckSigningKeyType, reason::kSigningKeyMismatch},
      // --- cert_chain ---
      {"unknown_ark", [](Scenario& s) { s.chain = &OtherMilan(); },
       kCheckCertChain, reason::kChainUntrustedRoot},
      {"unknown_ark_only_in_bundle",
       [](Scenario& s) {
         // Right ASK, but the bundle's ARK is a look-alike: it is ignored,
         // and the chain still ends at the configured root.
         s.cert_chain_pem =
             Configured(Product::kMilan).ask_pem + OtherMilan().ark_pem;
       },
       kCheckCertChain, "OK", R::kPass},
      {"expired_vcek",
       [](Scenario& s) {
         s.leaf.not_before = test::GoldenTime() - absl::Hours(24 * 400);
         s.leaf.not_after = test::GoldenTime() - absl::Hours(24);
       },
       kCheckCertChain, reason::kCertExpired},
      {"vcek_not_yet_valid",
       [](Scenario& s) {
         s.leaf.not_before = test::GoldenTime() + absl::Hours(24);
       },
       kCheckCertChain, reason::kCertNotYetValid},
      {"chain_extra_intermediate",
       [](Scenario& s) {
         // ARK -> extra CA -> "SEV-Milan" -> VCEK: four certificates.
         s.keep.reserve(8);
         const SnpTestChain& c = Configured(Product::kMilan);
         absl::StatusOr<Issued> extra =
             Intermediate("SEV-Milan-Extra", c.ark, std::nullopt,
                          testing::SigScheme::kRsaPssSha384);
         if (!extra.ok()) return;
         absl::StatusOr<Issued> ask = Intermediate(
             "SEV-Milan", *extra, 0, testing::SigScheme::kRsaPssSha384);
         if (!ask.ok()) return;
         s.cert_chain_pem =
             Pem(ask->cert.get()) + Pem(extra->cert.get()) + c.ark_pem;
         s.keep.push_back(*std::move(extra));
         s.keep.push_back(*std::move(ask));
         const Issued* issuer = &s.keep.back();
         s.make_leaf = [issuer](const KdsExtensionSpec& ext) {
           return LeafFrom(*issuer, ext);
         };
       },
       kCheckCertChain, reason::kChainShapeInvalid},
      {"intermediate_not_pss",
       [](Scenario& s) {
         s.keep.reserve(8);
         const SnpTestChain& c = Configured(Product::kMilan);
         absl::StatusOr<Issued> ask =
             Intermediate("SEV-Milan", c.ark, 0, testing::SigScheme::kDefault);
         if (!ask.ok()) return;
         s.cert_chain_pem = Pem(ask->cert.get()) + c.ark_pem;
         s.keep.push_back(*std::move(ask));
         const Issued* issuer = &s.keep.back();
         s.make_leaf = [issuer](const KdsExtensionSpec& ext) {
           return LeafFrom(*issuer, ext);
         };
       },
       kCheckCertChain, reason::kChainShapeInvalid},
      {"leaf_not_pss",
       [](Scenario& s) { s.leaf.scheme = testing::SigScheme::kDefault; },
       kCheckCertChain, reason::kChainShapeInvalid},
      {"leaf_signed_by_other_ask",
       [](Scenario& s) {
         // The leaf is issued by a look-alike "SEV-Milan" that the bundle
         // does not carry; the real ASK's signature does not verify.
         s.chain = &OtherMilan();
         s.cert_chain_pem = Configured(Product::kMilan).vcek_chain_pem();
       },
       kCheckCertChain, reason::kChainSignatureInvalid},
      // --- revocation ---
      {"revoked_ask",
       [](Scenario& s) {
         const SnpTestChain& c = Configured(Product::kMilan);
         testing::CrlSpec spec;
         spec.scheme = testing::SigScheme::kRsaPssSha384;
         spec.revoked.push_back(
             {{0x01, 0x00, 0x01}, absl::FromUnixSeconds(1650000000), 1});
         auto crl = testing::MakeCrl(spec, c.ark.cert.get(), c.ark.key.get());
         if (crl.ok()) s.crl = testing::CrlDer(crl->get());
       },
       kCheckRevocation, reason::kCertRevoked},
      {"genoa_bundle_ask_0x020001_revoked",
       [](Scenario& s) {
         // A stale bundled Genoa ASK (serial 0x020001, revoked 2022-10-31 in
         // the real CRL #4) still chains to the ARK; only the CRL catches it.
         s.product = Product::kGenoa;
         s.report.ForProduct(Product::kGenoa);
         s.cert_chain_pem = Pem(OldGenoaAsk().cert.get()) +
                            Configured(Product::kGenoa).ark_pem;
         s.make_leaf = [](const KdsExtensionSpec& ext) {
           return LeafFrom(OldGenoaAsk(), ext);
         };
       },
       kCheckRevocation, reason::kCertRevoked},
      {"crl_signed_by_wrong_key",
       [](Scenario& s) { s.crl = OtherMilan().crl_der; }, kCheckRevocation,
       reason::kCrlSignatureInvalid},
      {"crl_expired",
       [](Scenario& s) {
         const SnpTestChain& c = Configured(Product::kMilan);
         testing::CrlSpec spec;
         spec.scheme = testing::SigScheme::kRsaPssSha384;
         spec.this_update = test::GoldenTime() - absl::Hours(24 * 60);
         spec.next_update = test::GoldenTime() - absl::Hours(24);
         auto crl = testing::MakeCrl(spec, c.ark.cert.get(), c.ark.key.get());
         if (crl.ok()) s.crl = testing::CrlDer(crl->get());
       },
       // Past nextUpdate with no grace: fail closed (was not-checked).
       kCheckRevocation, "COLLATERAL_STALE_BEYOND_GRACE", R::kFail},
      {"crl_missing", [](Scenario& s) { s.no_crl = true; }, kCheckRevocation,
       reason::kCrlUnavailable, R::kNotChecked},
      {"crl_malformed",
       [](Scenario& s) {
         s.crl = Bytes{0x30, 0x03, 0x02, 0x01, 0x00};
       },
       kCheckRevocation, reason::kCrlMalformed},
      // --- tcb_match ---
      {"tcb_bootloader",
       [](Scenario& s) {
         s.edit_extensions = [](KdsExtensionSpec& e) { *e.bl_spl += 1; };
       },
       kCheckTcbMatch, reason::kTcbMismatch},
      {"tcb_tee",
       [](Scenario& s) {
         s.edit_extensions = [](KdsExtensionSpec& e) { *e.tee_spl += 1; };
       },
       kCheckTcbMatch, reason::kTcbMismatch},
      {"tcb_snp",
       [](Scenario& s) {
         s.edit_extensions = [](KdsExtensionSpec& e) { *e.snp_spl -= 1; };
       },
       kCheckTcbMatch, reason::kTcbMismatch},
      {"tcb_microcode",
       [](Scenario& s) {
         s.edit_extensions = [](KdsExtensionSpec& e) { e.ucode_spl = 218; };
       },
       kCheckTcbMatch, reason::kTcbMismatch},
      {"tcb_turin_fmc",
       [](Scenario& s) {
         s.product = Product::kTurin;
         s.report.ForProduct(Product::kTurin);
         s.edit_extensions = [](KdsExtensionSpec& e) { e.fmc_spl = 1; };
       },
       kCheckTcbMatch, reason::kTcbMismatch},
      {"tcb_reported_not_current",
       [](Scenario& s) {
         // The VCEK matches CURRENT_TCB but REPORTED_TCB is older.
         s.report.ReportedTcb(testing::MakeTcb(Product::kMilan, 4, 0, 24, 200));
         s.edit_extensions = [](KdsExtensionSpec& e) { e.ucode_spl = 219; };
       },
       kCheckTcbMatch, reason::kTcbMismatch},
      {"tcb_extension_missing",
       [](Scenario& s) {
         s.edit_extensions = [](KdsExtensionSpec& e) {
           e.ucode_spl = std::nullopt;
         };
       },
       kCheckTcbMatch, reason::kCertExtensionsInvalid},
      // --- chip_id ---
      {"chip_id_mismatch",
       [](Scenario& s) {
         s.edit_extensions = [](KdsExtensionSpec& e) { (*e.hw_id)[5] ^= 1; };
       },
       kCheckChipId, reason::kChipIdMismatch},
      {"chip_id_turin_tail_nonzero",
       [](Scenario& s) {
         s.product = Product::kTurin;
         s.report.ForProduct(Product::kTurin)
             .PatchByte(kChipIdOffset + 8, 0x01);
       },
       kCheckChipId, reason::kChipIdMismatch},
      {"chip_id_masked", [](Scenario& s) { s.report.ChipId(Bytes(64, 0)); },
       kCheckChipId, reason::kChipIdMasked, R::kNotChecked},
      {"vlek_with_hwid",
       [](Scenario& s) {
         s.vlek = true;
         s.report.SigningKey(kSigningKeyVlek);
         s.edit_extensions = [](KdsExtensionSpec& e) {
           e.hw_id = Bytes(64, 0x01);
         };
       },
       kCheckChipId, reason::kCertExtensionsInvalid},
      {"vlek_without_cspid",
       [](Scenario& s) {
         s.vlek = true;
         s.report.SigningKey(kSigningKeyVlek);
         s.edit_extensions = [](KdsExtensionSpec& e) {
           e.csp_id = std::nullopt;
         };
       },
       kCheckChipId, reason::kCertExtensionsInvalid},
      {"vcek_with_cspid",
       [](Scenario& s) {
         s.edit_extensions = [](KdsExtensionSpec& e) {
           e.csp_id = "CN=cc-test.example.com";
         };
       },
       kCheckChipId, reason::kCertExtensionsInvalid},
      // --- cert_product ---
      {"vcek_product_genoa_for_milan",
       [](Scenario& s) {
         s.edit_extensions = [](KdsExtensionSpec& e) {
           e.product_name = "Genoa";
         };
       },
       kCheckCertProduct, reason::kCertProductMismatch},
      {"turin_struct_version_0",
       [](Scenario& s) {
         s.product = Product::kTurin;
         s.report.ForProduct(Product::kTurin);
         s.edit_extensions = [](KdsExtensionSpec& e) { e.struct_version = 0; };
       },
       kCheckCertProduct, reason::kCertProductMismatch},
      // --- report_signature ---
      {"signed_byte_flipped",
       [](Scenario& s) {
         s.after_signing = [](Bytes& b) { b[kMeasurementOffset] ^= 0x01; };
       },
       kCheckReportSignature, reason::kSignatureInvalid},
      {"report_data_flipped",
       [](Scenario& s) {
         s.after_signing = [](Bytes& b) { b[kReportDataOffset + 63] ^= 0x80; };
       },
       kCheckReportSignature, reason::kSignatureInvalid},
      {"signature_by_other_key", [](Scenario& s) { s.sign_key = NewEcKey(); },
       kCheckReportSignature, reason::kSignatureInvalid},
      {"signature_r_zero",
       [](Scenario& s) {
         s.after_signing = [](Bytes& b) {
           std::fill(b.begin() + kSignatureROffset,
                     b.begin() + kSignatureSOffset, 0);
         };
       },
       kCheckReportSignature, reason::kSignatureInvalid},
      {"signature_s_zero",
       [](Scenario& s) {
         s.after_signing = [](Bytes& b) {
           std::fill(b.begin() + kSignatureSOffset,
                     b.begin() + kSignatureTailOffset, 0);
         };
       },
       kCheckReportSignature, reason::kSignatureInvalid},
      {"signature_r_swapped_with_s",
       [](Scenario& s) {
         s.after_signing = [](Bytes& b) {
           std::swap_ranges(b.begin() + kSignatureROffset,
                            b.begin() + kSignatureSOffset,
                            b.begin() + kSignatureSOffset);
         };
       },
       kCheckReportSignature, reason::kSignatureInvalid},
  };
}

class SnpNegativeTest : public ::testing::TestWithParam<NegativeCase> {};

TEST_P(SnpNegativeTest, FailsWithItsOwnReason) {
  const NegativeCase& c = GetParam();
  Scenario s;
  c.change(s);
  absl::StatusOr<DeviceResult> d = RunScenario(s);
  ASSERT_TRUE(d.ok()) << d.status();
  if (std::getenv("SNP_TEST_VERBOSE") != nullptr) std::cout << Describe(*d);
  const core::Check* check = FindCheck(*d, c.check);
  ASSERT_NE(check, nullptr) << c.check << "\n" << Describe(*d);
  EXPECT_EQ(check->status, c.status) << Describe(*d);
  EXPECT_EQ(check->reason, c.reason) << Describe(*d);
  if (c.check == kCheckReportFormat) {
    EXPECT_EQ(d->checks.size(), 1u) << "nothing may run after a failed parse\n"
                                    << Describe(*d);
    EXPECT_TRUE(d->claims.empty());
  } else {
    EXPECT_EQ(d->checks.size(), 10u) << Describe(*d);
  }
  if (c.status == CheckStatus::kFail) {
    EXPECT_TRUE(d->HasFailure());
  }
  // The verified REPORT_DATA is only handed out (and the evidence only
  // authentic) when the chain and the signature verified and revocation did
  // not fail (a revoked ASK, a bad or stale-beyond-grace CRL vouch for
  // nothing).
  const bool trusted_key =
      FindCheck(*d, kCheckCertChain) != nullptr &&
      FindCheck(*d, kCheckCertChain)->status == CheckStatus::kPass &&
      FindCheck(*d, kCheckReportSignature)->status == CheckStatus::kPass &&
      FindCheck(*d, kCheckRevocation)->status != CheckStatus::kFail;
  EXPECT_EQ(d->report_data.has_value(), trusted_key) << Describe(*d);
  EXPECT_EQ(d->evidence_authentic, trusted_key) << Describe(*d);
}

INSTANTIATE_TEST_SUITE_P(OneChange, SnpNegativeTest,
                         ::testing::ValuesIn(NegativeCases()),
                         [](const auto& p) { return p.param.name; });

TEST(SnpNegativeTableTest, HasAtLeastTwentyFiveDistinctFailures) {
  std::vector<NegativeCase> cases = NegativeCases();
  size_t failing = 0;
  for (const auto& c : cases) failing += c.status == CheckStatus::kFail ? 1 : 0;
  EXPECT_GE(failing, 25u);
}

// An early failure does not hide later ones.
TEST(SnpNegativeCombinedTest, LaterChecksStillRun) {
  Scenario s;
  s.edit_extensions = [](KdsExtensionSpec& e) {
    *e.bl_spl += 1;
    (*e.hw_id)[0] ^= 1;
  };
  s.after_signing = [](Bytes& b) { b[kHostDataOffset] ^= 1; };
  s.no_crl = true;
  absl::StatusOr<DeviceResult> d = RunScenario(s);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(FindCheck(*d, kCheckTcbMatch)->reason, reason::kTcbMismatch);
  EXPECT_EQ(FindCheck(*d, kCheckChipId)->reason, reason::kChipIdMismatch);
  EXPECT_EQ(FindCheck(*d, kCheckReportSignature)->reason,
            reason::kSignatureInvalid);
  EXPECT_EQ(FindCheck(*d, kCheckCertChain)->status, CheckStatus::kPass);
  EXPECT_FALSE(d->report_data.has_value());
  EXPECT_TRUE(d->claims.contains("measurement"));
}

// --- Stale collateral (policy grace) -----------------------------------------

// Serves a MapSource's items through GetItem the way the caching source
// does: keys in `stale` come back stale=true (within the grace), keys in
// `beyond_grace` fail with FAILED_PRECONDITION; it records the grace asked.
class StaleFakeSource : public collateral::CollateralSource {
 public:
  explicit StaleFakeSource(const test::MapSource& inner) : inner_(inner) {}
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override {
    return inner_.Get(key);
  }
  absl::StatusOr<std::optional<collateral::CollateralItem>> GetItem(
      std::string_view key, const collateral::GetOptions& options) const override {
    graces.push_back(options.stale_grace);
    if (beyond_grace.count(std::string(key)) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cache: ", std::string(key), " is stale beyond the grace"));
    }
    absl::StatusOr<std::optional<Bytes>> b = inner_.Get(key);
    if (!b.ok()) return b.status();
    if (!b->has_value()) return std::optional<collateral::CollateralItem>();
    collateral::CollateralItem item;
    item.data = **b;
    item.source = "fake";
    if (stale.count(std::string(key)) > 0) {
      item.stale = true;
      item.fresh_until = test::GoldenTime() - absl::Hours(2);
    }
    return std::optional<collateral::CollateralItem>(std::move(item));
  }
  std::string Describe() const override { return "fake"; }

  std::set<std::string> stale;
  std::set<std::string> beyond_grace;
  mutable std::vector<absl::Duration> graces;

 private:
  const test::MapSource& inner_;
};

absl::StatusOr<DeviceResult> RunWithSource(
    Scenario& s, const std::function<void(StaleFakeSource&)>& configure,
    absl::Duration grace) {
  absl::StatusOr<Evidence> e = Build(s);
  if (!e.ok()) return e.status();
  StaleFakeSource source(e->collateral);
  configure(source);
  core::VerifyContext ctx{e->at, &source, std::nullopt, grace};
  absl::StatusOr<std::vector<DeviceResult>> r =
      VerifierFor(s.product).Verify(e->bundle, ctx);
  if (!r.ok()) return r.status();
  for (absl::Duration g : source.graces) {
    if (g != grace) return absl::InternalError("the grace did not reach GetItem");
  }
  if (source.graces.empty()) return absl::InternalError("GetItem was not called");
  if (r->size() != 1) return absl::InternalError("expected one device");
  return std::move(r->front());
}

TEST(SnpStaleCollateralTest, StaleCrlWithinGraceIsUsedAndWarns) {
  Scenario s;
  absl::StatusOr<DeviceResult> d = RunWithSource(
      s, [](StaleFakeSource& f) { f.stale.insert("amd/Milan/crl.der"); },
      absl::Hours(24));
  ASSERT_TRUE(d.ok()) << d.status();
  // The CRL was still checked...
  EXPECT_EQ(FindCheck(*d, kCheckRevocation)->status, CheckStatus::kPass)
      << Describe(*d);
  EXPECT_FALSE(d->HasFailure()) << Describe(*d);
  // ...and the device carries the stale-collateral warning naming the key.
  const core::Check* f = FindCheck(*d, "sev_snp.collateral_freshness");
  ASSERT_NE(f, nullptr) << Describe(*d);
  EXPECT_EQ(f->status, CheckStatus::kNotChecked);
  EXPECT_EQ(f->reason, "STALE_COLLATERAL");
  EXPECT_TRUE(f->affects_status);
  EXPECT_NE(f->detail.find("amd/Milan/crl.der"), std::string::npos) << f->detail;
  EXPECT_NE(f->detail.find("24h"), std::string::npos) << f->detail;
  EXPECT_EQ(d->checks.size(), 11u) << Describe(*d);
}

TEST(SnpStaleCollateralTest, FreshCollateralAddsNoFreshnessCheck) {
  Scenario s;
  absl::StatusOr<DeviceResult> d =
      RunWithSource(s, [](StaleFakeSource&) {}, absl::ZeroDuration());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(FindCheck(*d, "sev_snp.collateral_freshness"), nullptr)
      << Describe(*d);
  EXPECT_EQ(d->checks.size(), 10u) << Describe(*d);
}

TEST(SnpStaleCollateralTest, CrlStaleBeyondGraceFailsClosed) {
  Scenario s;
  absl::StatusOr<DeviceResult> d = RunWithSource(
      s, [](StaleFakeSource& f) { f.beyond_grace.insert("amd/Milan/crl.der"); },
      absl::Hours(1));
  ASSERT_TRUE(d.ok()) << d.status();
  const core::Check* c = FindCheck(*d, kCheckRevocation);
  EXPECT_EQ(c->status, CheckStatus::kFail) << Describe(*d);
  EXPECT_EQ(c->reason, "COLLATERAL_STALE_BEYOND_GRACE");
  EXPECT_NE(c->detail.find("amd/Milan/crl.der"), std::string::npos) << c->detail;
  EXPECT_NE(c->detail.find("fail closed"), std::string::npos) << c->detail;
  EXPECT_EQ(FindCheck(*d, "sev_snp.collateral_freshness"), nullptr);
}

TEST(SnpStaleCollateralTest, VcekFromCollateral) {
  // No vcek in the bundle: it comes from collateral.
  Scenario s;
  absl::StatusOr<Evidence> e = Build(s);
  ASSERT_TRUE(e.ok()) << e.status();
  const SnpReport report =
      *ParseReportUnverified(AsBytes(e->bundle.sev_snp().report()));
  const std::string key = absl::StrFormat(
      "amd/vcek/Milan/%s-%s.der", HexEncode(report.chip_id),
      report.reported_tcb.Hex());
  absl::StatusOr<OpensslPtr<X509>> vcek = crypto::ParseCertificateAnyEncoding(
      AsBytes(e->bundle.sev_snp().vcek()));
  ASSERT_TRUE(vcek.ok());
  e->collateral.Put(key, crypto::CertificateDer(vcek->get()));
  e->bundle.mutable_sev_snp()->clear_vcek();

  {  // Stale within the grace: used, warning.
    StaleFakeSource source(e->collateral);
    source.stale.insert(key);
    core::VerifyContext ctx{e->at, &source, std::nullopt, absl::Hours(6)};
    auto r = VerifierFor(Product::kMilan).Verify(e->bundle, ctx);
    ASSERT_TRUE(r.ok()) << r.status();
    const DeviceResult& d = r->front();
    EXPECT_EQ(FindCheck(d, kCheckEndorsementKey)->status, CheckStatus::kPass)
        << Describe(d);
    EXPECT_FALSE(d.HasFailure()) << Describe(d);
    const core::Check* f = FindCheck(d, "sev_snp.collateral_freshness");
    ASSERT_NE(f, nullptr) << Describe(d);
    EXPECT_EQ(f->reason, "STALE_COLLATERAL");
    EXPECT_NE(f->detail.find(key), std::string::npos) << f->detail;
  }
  {  // Beyond the grace: the endorsement key check fails closed.
    StaleFakeSource source(e->collateral);
    source.beyond_grace.insert(key);
    core::VerifyContext ctx{e->at, &source, std::nullopt};
    auto r = VerifierFor(Product::kMilan).Verify(e->bundle, ctx);
    ASSERT_TRUE(r.ok()) << r.status();
    const core::Check* c = FindCheck(r->front(), kCheckEndorsementKey);
    EXPECT_EQ(c->status, CheckStatus::kFail);
    EXPECT_EQ(c->reason, "COLLATERAL_STALE_BEYOND_GRACE");
    EXPECT_NE(c->detail.find(key), std::string::npos) << c->detail;
  }
}

// A stale cached chain is not used; the compiled-in intermediate is, and it
// still has to verify against the pinned ARK.
TEST(SnpStaleCollateralTest, CertChainStaleBeyondGraceUsesCompiledIntermediate) {
  Scenario s;
  s.cert_chain_pem = "";  // intermediates from collateral
  absl::StatusOr<DeviceResult> d = RunWithSource(
      s,
      [](StaleFakeSource& f) { f.beyond_grace.insert("amd/Milan/cert_chain.pem"); },
      absl::ZeroDuration());
  ASSERT_TRUE(d.ok()) << d.status();
  const core::Check* c = FindCheck(*d, kCheckCertChain);
  EXPECT_EQ(c->status, CheckStatus::kPass) << Describe(*d);
  EXPECT_NE(c->detail.find("compiled-in"), std::string::npos) << c->detail;
  EXPECT_EQ(FindCheck(*d, "sev_snp.collateral_freshness"), nullptr) << Describe(*d);
}

TEST(SnpStaleCollateralTest, UnavailableVcekStaysARetryableError) {
  Scenario s;
  absl::StatusOr<Evidence> e = Build(s);
  ASSERT_TRUE(e.ok()) << e.status();
  e->bundle.mutable_sev_snp()->clear_vcek();
  class Down : public collateral::CollateralSource {
   public:
    absl::StatusOr<std::optional<Bytes>> Get(std::string_view) const override {
      return absl::UnavailableError("kds: connect timeout");
    }
    std::string Describe() const override { return "down"; }
  } down;
  core::VerifyContext ctx{e->at, &down, std::nullopt, absl::Hours(1)};
  auto r = VerifierFor(Product::kMilan).Verify(e->bundle, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

// --- Simulation roots (dev simulator)
// -------------------------------------------

TEST(SnpSimulationTest, SimulationRootVerifiesAndIsMarked) {
  testing::SnpChainOptions o;
  o.product = Product::kMilan;
  absl::StatusOr<SnpTestChain> sim = testing::MakeSnpTestChain(o);
  ASSERT_TRUE(sim.ok()) << sim.status();
  TrustConfig config = TrustConfig::Default();
  config.simulation_roots_pem[Product::kMilan].push_back(sim->ark_pem);
  absl::StatusOr<std::unique_ptr<SnpVerifier>> v = SnpVerifier::Create(config);
  ASSERT_TRUE(v.ok()) << v.status();

  SnpReportBuilder report;
  testing::SnpLeafOptions leaf;
  leaf.extensions =
      testing::KdsSpecForReport(report.fields(), Product::kMilan, false);
  leaf.scheme =
      testing::SigScheme::kDefault;  // simulation roots need not use PSS
  absl::StatusOr<Issued> vcek = testing::MakeSnpLeaf(*sim, leaf);
  ASSERT_TRUE(vcek.ok()) << vcek.status();
  absl::StatusOr<Bytes> bytes = report.BuildSigned(vcek->key.get());
  ASSERT_TRUE(bytes.ok());

  attestation::v1::EvidenceBundle b;
  b.mutable_sev_snp()->set_report(ToString(*bytes));
  b.mutable_sev_snp()->set_vcek(Pem(vcek->cert.get()));
  b.mutable_sev_snp()->set_cert_chain(sim->vcek_chain_pem());
  // The real AMD Milan CRL sits in collateral: it does not apply to the
  // simulation root and must not fail the simulated evidence.
  test::MapSource collateral;
  collateral.Put("amd/Milan/crl.der",
                 test::ReadSnpData("collateral/crl_milan.der"));
  core::VerifyContext ctx{test::GoldenTime(), &collateral, std::nullopt};
  absl::StatusOr<std::vector<DeviceResult>> r = (*v)->Verify(b, ctx);
  ASSERT_TRUE(r.ok()) << r.status();
  const DeviceResult& d = r->front();
  EXPECT_TRUE(d.simulated);
  EXPECT_EQ(FindCheck(d, kCheckCertChain)->status, CheckStatus::kPass)
      << Describe(d);
  EXPECT_NE(FindCheck(d, kCheckCertChain)->detail.find("SIMULATION"),
            std::string::npos);
  EXPECT_EQ(FindCheck(d, kCheckRevocation)->reason, reason::kCrlUnavailable)
      << Describe(d);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_TRUE(d.report_data.has_value());

  // The simulator's own CRL is honoured.
  collateral.Put("amd/Milan/crl.der", sim->crl_der);
  r = (*v)->Verify(b, ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FindCheck(r->front(), kCheckRevocation)->status, CheckStatus::kPass)
      << Describe(r->front());

  // Without the simulation root the same evidence is untrusted.
  absl::StatusOr<std::unique_ptr<SnpVerifier>> prod =
      SnpVerifier::Create(TrustConfig::Default());
  ASSERT_TRUE(prod.ok());
  r = (*prod)->Verify(b, ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->front().simulated);
  EXPECT_EQ(FindCheck(r->front(), kCheckCertChain)->reason,
            reason::kChainUntrustedRoot);
  EXPECT_FALSE(r->front().report_data.has_value());
}

}  // namespace
}  // namespace rp::sev_snp
