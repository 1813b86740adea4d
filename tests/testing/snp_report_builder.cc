#include "tests/testing/snp_report_builder.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/x509.h"

namespace rp::testing {
namespace {

using sev_snp::Product;
using sev_snp::SnpReport;
using sev_snp::TcbVersion;

// Little-endian writers into a fixed buffer. Offsets are compile-time ABI
// constants, so bounds are asserted rather than checked at run time.
void PutBytes(Bytes& out, size_t offset, std::span<const uint8_t> v) {
  std::copy(v.begin(), v.end(),
            out.begin() + static_cast<std::ptrdiff_t>(offset));
}
void PutLe(Bytes& out, size_t offset, uint64_t v, size_t width) {
  for (size_t i = 0; i < width; ++i) {
    out[offset + i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

template <size_t N>
void Assign(std::array<uint8_t, N>& dst, std::span<const uint8_t> src) {
  dst.fill(0);
  std::copy_n(src.begin(), std::min(N, src.size()), dst.begin());
}

// DER encoders for the KDS extension values.
Bytes DerInteger(int v) {
  const auto b = static_cast<uint8_t>(v);
  if (b & 0x80) return {0x02, 0x02, 0x00, b};
  return {0x02, 0x01, b};
}
Bytes DerIa5(const std::string& s) {
  Bytes out = {0x16, static_cast<uint8_t>(s.size())};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

struct SplParts {
  uint8_t fmc = 0, bl = 0, tee = 0, snp = 0, ucode = 0;
};
std::string Name(Product p) { return std::string(sev_snp::ProductName(p)); }

SplParts ReadTcb(const TcbVersion& t, Product p) {
  if (p == Product::kTurin)
    return {t.raw[0], t.raw[1], t.raw[2], t.raw[3], t.raw[7]};
  return {0, t.raw[0], t.raw[1], t.raw[6], t.raw[7]};
}

}  // namespace

TcbVersion MakeTcb(Product product, uint8_t bootloader, uint8_t tee,
                   uint8_t snp, uint8_t microcode, uint8_t fmc) {
  TcbVersion t;
  if (product == Product::kTurin) {
    // Turin (spec §2): fmc, bl, tee, snp, reserved x3, ucode.
    t.raw = {fmc, bootloader, tee, snp, 0, 0, 0, microcode};
  } else {
    // Milan/Genoa: bl, tee, reserved x4, snp, ucode.
    t.raw = {bootloader, tee, 0, 0, 0, 0, snp, microcode};
  }
  return t;
}

Bytes EncodeSnpReport(const SnpReport& r) {
  using namespace sev_snp;  // NOLINT: layout constants
  Bytes out(kReportSize, 0);
  PutLe(out, kVersionOffset, r.version, 4);
  PutLe(out, kGuestSvnOffset, r.guest_svn, 4);
  PutLe(out, kPolicyOffset, r.policy, 8);
  PutBytes(out, kFamilyIdOffset, r.family_id);
  PutBytes(out, kImageIdOffset, r.image_id);
  PutLe(out, kVmplOffset, r.vmpl, 4);
  PutLe(out, kSignatureAlgoOffset, r.signature_algo, 4);
  PutBytes(out, kCurrentTcbOffset, r.current_tcb.raw);
  PutLe(out, kPlatformInfoOffset, r.platform_info, 8);
  PutLe(out, kSignerInfoOffset, r.signer_info, 4);
  PutBytes(out, kReportDataOffset, r.report_data);
  PutBytes(out, kMeasurementOffset, r.measurement);
  PutBytes(out, kHostDataOffset, r.host_data);
  PutBytes(out, kIdKeyDigestOffset, r.id_key_digest);
  PutBytes(out, kAuthorKeyDigestOffset, r.author_key_digest);
  PutBytes(out, kReportIdOffset, r.report_id);
  PutBytes(out, kReportIdMaOffset, r.report_id_ma);
  PutBytes(out, kReportedTcbOffset, r.reported_tcb.raw);
  if (r.version >= kFirstVersionWithCpuid) {
    out[kCpuidFamIdOffset] = r.cpuid_fam_id;
    out[kCpuidModIdOffset] = r.cpuid_mod_id;
    out[kCpuidStepOffset] = r.cpuid_step;
  }
  PutBytes(out, kChipIdOffset, r.chip_id);
  PutBytes(out, kCommittedTcbOffset, r.committed_tcb.raw);
  out[kCurrentBuildOffset] = r.current_version.build;
  out[kCurrentMinorOffset] = r.current_version.minor;
  out[kCurrentMajorOffset] = r.current_version.major;
  out[kCommittedBuildOffset] = r.committed_version.build;
  out[kCommittedMinorOffset] = r.committed_version.minor;
  out[kCommittedMajorOffset] = r.committed_version.major;
  PutBytes(out, kLaunchTcbOffset, r.launch_tcb.raw);
  if (r.version >= kFirstVersionWithMitVectors) {
    PutLe(out, kLaunchMitVectorOffset, r.launch_mit_vector, 8);
    PutLe(out, kCurrentMitVectorOffset, r.current_mit_vector, 8);
  }
  PutBytes(out, kSignatureROffset, r.signature_r);
  PutBytes(out, kSignatureSOffset, r.signature_s);
  return out;
}

absl::Status SignSnpReport(const EVP_PKEY* key, Bytes& report) {
  using namespace sev_snp;  // NOLINT: layout constants
  if (report.size() != kReportSize) {
    return absl::InvalidArgumentError(
        "SignSnpReport: report must be 1184 bytes");
  }
  absl::StatusOr<Bytes> sig = crypto::SignEcdsaP1363(
      key, std::span<const uint8_t>(report).first(kSignedSize),
      /*sha384=*/true);
  if (!sig.ok()) return sig.status();
  if (sig->size() % 2 != 0 || sig->size() / 2 > kSignatureComponentSize) {
    return absl::InvalidArgumentError(
        "SignSnpReport: unexpected signature size");
  }
  const size_t half = sig->size() / 2;
  // P1363 is big-endian r||s; the report stores each little-endian in 72 bytes.
  std::fill(report.begin() + kSignatureROffset,
            report.begin() + kSignatureTailOffset, 0);
  for (size_t i = 0; i < half; ++i) {
    report[kSignatureROffset + i] = (*sig)[half - 1 - i];
    report[kSignatureSOffset + i] = (*sig)[2 * half - 1 - i];
  }
  return absl::OkStatus();
}

SnpReportBuilder::SnpReportBuilder() {
  r_.version = 3;
  r_.policy = 0x30000;
  r_.signature_algo = 1;
  r_.platform_info = 0x25;
  r_.cpuid_fam_id = 0x19;
  r_.cpuid_mod_id = 0x01;
  r_.cpuid_step = 0x01;
  r_.measurement.fill(0xAA);
  r_.report_id.fill(0x5A);
  r_.report_id_ma.fill(0xFF);
  for (size_t i = 0; i < r_.chip_id.size(); ++i)
    r_.chip_id[i] = static_cast<uint8_t>(i + 1);
  r_.current_version = {1, 55, 29};
  r_.committed_version = {1, 55, 29};
  product_ = Product::kMilan;
  AllTcbs(4, 0, 24, 219);
}

SnpReportBuilder::SnpReportBuilder(const SnpReport& report, Product product)
    : r_(report), product_(product) {}

void SnpReportBuilder::Relayout(Product from, Product to) {
  for (TcbVersion* t :
       {&r_.current_tcb, &r_.reported_tcb, &r_.committed_tcb, &r_.launch_tcb}) {
    SplParts p = ReadTcb(*t, from);
    *t = MakeTcb(to, p.bl, p.tee, p.snp, p.ucode, p.fmc);
  }
}

SnpReportBuilder& SnpReportBuilder::ForProduct(Product product) {
  Relayout(product_, product);
  product_ = product;
  if (r_.version >= sev_snp::kFirstVersionWithCpuid) {
    switch (product) {
      case Product::kMilan:
        Cpuid(0x19, 0x01, 0x01);
        break;
      case Product::kGenoa:
        Cpuid(0x19, 0x11, 0x01);
        break;
      case Product::kTurin:
        Cpuid(0x1A, 0x02, 0x01);
        break;
      case Product::kUnknown:
        Cpuid(0x17, 0x31, 0x00);  // Zen 2 (Rome): no SNP product line here
        break;
    }
  }
  if (product == Product::kTurin) {
    std::fill(r_.chip_id.begin() + sev_snp::kTurinChipIdSize, r_.chip_id.end(),
              0);
  }
  return *this;
}

SnpReportBuilder& SnpReportBuilder::Version(uint32_t v) {
  r_.version = v;
  if (v < sev_snp::kFirstVersionWithCpuid) Cpuid(0, 0, 0);
  if (v < sev_snp::kFirstVersionWithMitVectors) {
    r_.launch_mit_vector = 0;
    r_.current_mit_vector = 0;
  }
  return *this;
}
SnpReportBuilder& SnpReportBuilder::GuestSvn(uint32_t v) {
  r_.guest_svn = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::Policy(uint64_t v) {
  r_.policy = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::FamilyId(std::span<const uint8_t> v) {
  Assign(r_.family_id, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::ImageId(std::span<const uint8_t> v) {
  Assign(r_.image_id, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::Vmpl(uint32_t v) {
  r_.vmpl = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::SignatureAlgo(uint32_t v) {
  r_.signature_algo = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::CurrentTcb(const TcbVersion& v) {
  r_.current_tcb = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::PlatformInfo(uint64_t v) {
  r_.platform_info = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::SignerInfo(uint32_t v) {
  r_.signer_info = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::SigningKey(uint32_t key) {
  r_.signer_info = (r_.signer_info & ~sev_snp::kSignerSigningKeyMask) |
                   ((key << sev_snp::kSignerSigningKeyShift) &
                    sev_snp::kSignerSigningKeyMask);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::AuthorKeyEn(bool v) {
  r_.signer_info = v ? (r_.signer_info | sev_snp::kSignerAuthorKeyEn)
                     : (r_.signer_info & ~sev_snp::kSignerAuthorKeyEn);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::MaskChipKey(bool v) {
  r_.signer_info = v ? (r_.signer_info | sev_snp::kSignerMaskChipKey)
                     : (r_.signer_info & ~sev_snp::kSignerMaskChipKey);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::ReportData(std::span<const uint8_t> v) {
  Assign(r_.report_data, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::Measurement(std::span<const uint8_t> v) {
  Assign(r_.measurement, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::HostData(std::span<const uint8_t> v) {
  Assign(r_.host_data, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::IdKeyDigest(std::span<const uint8_t> v) {
  Assign(r_.id_key_digest, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::AuthorKeyDigest(
    std::span<const uint8_t> v) {
  Assign(r_.author_key_digest, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::ReportId(std::span<const uint8_t> v) {
  Assign(r_.report_id, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::ReportIdMa(std::span<const uint8_t> v) {
  Assign(r_.report_id_ma, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::ReportedTcb(const TcbVersion& v) {
  r_.reported_tcb = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::Cpuid(uint8_t family, uint8_t model,
                                          uint8_t stepping) {
  r_.cpuid_fam_id = family;
  r_.cpuid_mod_id = model;
  r_.cpuid_step = stepping;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::ChipId(std::span<const uint8_t> v) {
  Assign(r_.chip_id, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::CommittedTcb(const TcbVersion& v) {
  r_.committed_tcb = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::CurrentVersion(uint8_t major, uint8_t minor,
                                                   uint8_t build) {
  r_.current_version = {major, minor, build};
  return *this;
}
SnpReportBuilder& SnpReportBuilder::CommittedVersion(uint8_t major,
                                                     uint8_t minor,
                                                     uint8_t build) {
  r_.committed_version = {major, minor, build};
  return *this;
}
SnpReportBuilder& SnpReportBuilder::LaunchTcb(const TcbVersion& v) {
  r_.launch_tcb = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::LaunchMitVector(uint64_t v) {
  r_.launch_mit_vector = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::CurrentMitVector(uint64_t v) {
  r_.current_mit_vector = v;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::SignatureR(std::span<const uint8_t> v) {
  Assign(r_.signature_r, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::SignatureS(std::span<const uint8_t> v) {
  Assign(r_.signature_s, v);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::AllTcbs(uint8_t bootloader, uint8_t tee,
                                            uint8_t snp, uint8_t microcode,
                                            uint8_t fmc) {
  const TcbVersion t = MakeTcb(product_, bootloader, tee, snp, microcode, fmc);
  r_.current_tcb = r_.reported_tcb = r_.committed_tcb = r_.launch_tcb = t;
  return *this;
}
SnpReportBuilder& SnpReportBuilder::PatchByte(size_t offset, uint8_t value) {
  patches_.emplace_back(offset, value);
  return *this;
}
SnpReportBuilder& SnpReportBuilder::Append(std::span<const uint8_t> extra) {
  append_.insert(append_.end(), extra.begin(), extra.end());
  return *this;
}
SnpReportBuilder& SnpReportBuilder::Truncate(size_t size) {
  truncate_ = size;
  return *this;
}

Bytes SnpReportBuilder::Build() const {
  Bytes out = EncodeSnpReport(r_);
  for (const auto& [offset, value] : patches_) {
    if (offset < out.size()) out[offset] = value;
  }
  out.insert(out.end(), append_.begin(), append_.end());
  if (truncate_ && *truncate_ < out.size()) out.resize(*truncate_);
  return out;
}

absl::StatusOr<Bytes> SnpReportBuilder::BuildSigned(const EVP_PKEY* key) const {
  Bytes out = EncodeSnpReport(r_);
  for (const auto& [offset, value] : patches_) {
    if (offset < sev_snp::kSignedSize) out[offset] = value;
  }
  if (absl::Status s = SignSnpReport(key, out); !s.ok()) return s;
  for (const auto& [offset, value] : patches_) {
    if (offset >= sev_snp::kSignedSize && offset < out.size())
      out[offset] = value;
  }
  out.insert(out.end(), append_.begin(), append_.end());
  if (truncate_ && *truncate_ < out.size()) out.resize(*truncate_);
  return out;
}

// --- KDS extensions and chain ---------------------------------------------

KdsExtensionSpec KdsSpecForReport(const SnpReport& report, Product product,
                                  bool vlek) {
  KdsExtensionSpec s;
  const bool turin = product == Product::kTurin;
  s.struct_version = turin ? 1 : 0;
  const std::string name = Name(product);
  s.product_name = (vlek || product != Product::kMilan) ? name : name + "-B0";
  const SplParts p = ReadTcb(report.reported_tcb, product);
  s.bl_spl = p.bl;
  s.tee_spl = p.tee;
  s.snp_spl = p.snp;
  s.ucode_spl = p.ucode;
  s.spl5 = s.spl6 = s.spl7 = 0;
  if (turin) {
    s.fmc_spl = p.fmc;
  } else {
    s.spl4 = 0;
  }
  if (vlek) {
    s.csp_id = "CN=cc-test.example.com";
  } else {
    const size_t n = turin ? sev_snp::kTurinChipIdSize : sev_snp::kChipIdSize;
    s.hw_id = Bytes(report.chip_id.begin(),
                    report.chip_id.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return s;
}

std::vector<CustomExtension> KdsExtensions(const KdsExtensionSpec& s) {
  using namespace sev_snp;  // NOLINT: OID constants
  std::vector<CustomExtension> out;
  auto add = [&](std::string_view oid, Bytes value) {
    out.push_back(CustomExtension{std::string(oid), std::move(value), false});
  };
  auto spl = [&](std::string_view oid, const std::optional<int>& v) {
    if (v) add(oid, DerInteger(*v));
  };
  spl(kOidStructVersion, s.struct_version);
  if (s.product_name) add(kOidProductName, DerIa5(*s.product_name));
  spl(kOidBlSpl, s.bl_spl);
  spl(kOidTeeSpl, s.tee_spl);
  spl(kOidSnpSpl, s.snp_spl);
  spl(kOidSpl4, s.spl4);
  spl(kOidSpl5, s.spl5);
  spl(kOidSpl6, s.spl6);
  spl(kOidSpl7, s.spl7);
  spl(kOidUcodeSpl, s.ucode_spl);
  spl(kOidFmcSpl, s.fmc_spl);
  if (s.hw_id) {
    if (s.hw_id_form == HwIdForm::kRaw) {
      add(kOidHwId, *s.hw_id);
    } else {
      Bytes der = {0x04, static_cast<uint8_t>(s.hw_id->size())};
      der.insert(der.end(), s.hw_id->begin(), s.hw_id->end());
      add(kOidHwId, std::move(der));
    }
  }
  if (s.csp_id) add(kOidCspId, DerIa5(*s.csp_id));
  return out;
}

std::vector<std::pair<std::string, std::string>> AmdSubjectAttributes() {
  return {{"OU", "Engineering"},
          {"C", "US"},
          {"L", "Santa Clara"},
          {"ST", "CA"},
          {"O", "Advanced Micro Devices"}};
}

absl::StatusOr<SnpTestChain> MakeSnpTestChain(const SnpChainOptions& o) {
  SnpTestChain chain;
  chain.product = o.product;
  const std::string name = Name(o.product);

  CertSpec ark;
  ark.common_name = absl::StrFormat("ARK-%s", name);
  ark.subject_extra = AmdSubjectAttributes();
  ark.serial = o.ark_serial;
  ark.not_before = o.ca_not_before;
  ark.not_after = o.ca_not_after;
  ark.is_ca = true;
  ark.scheme = SigScheme::kRsaPssSha384;
  absl::StatusOr<Issued> ark_issued = MakeRoot(ark, o.ca_key_type);
  if (!ark_issued.ok()) return ark_issued.status();
  chain.ark = *std::move(ark_issued);

  auto intermediate = [&](const std::string& cn,
                          const Bytes& serial) -> absl::StatusOr<Issued> {
    CertSpec s;
    s.common_name = cn;
    s.subject_extra = AmdSubjectAttributes();
    s.serial = serial;
    s.not_before = o.ca_not_before;
    s.not_after = o.ca_not_after;
    s.is_ca = true;
    s.path_len = 0;
    s.scheme = SigScheme::kRsaPssSha384;
    return MakeCert(s, o.ca_key_type, chain.ark.cert.get(),
                    chain.ark.key.get());
  };
  absl::StatusOr<Issued> ask =
      intermediate(absl::StrFormat("SEV-%s", name), o.ask_serial);
  if (!ask.ok()) return ask.status();
  chain.ask = *std::move(ask);
  absl::StatusOr<Issued> asvk =
      intermediate(absl::StrFormat("SEV-VLEK-%s", name), o.asvk_serial);
  if (!asvk.ok()) return asvk.status();
  chain.asvk = *std::move(asvk);

  CrlSpec crl;
  crl.this_update = o.crl_this_update;
  crl.next_update = o.crl_next_update;
  crl.scheme = SigScheme::kRsaPssSha384;
  for (const Bytes& serial : o.revoked_serials) {
    crl.revoked.push_back(
        RevokedEntry{serial, absl::FromUnixSeconds(1667174400), -1});
  }
  absl::StatusOr<crypto::OpensslPtr<X509_CRL>> made =
      MakeCrl(crl, chain.ark.cert.get(), chain.ark.key.get());
  if (!made.ok()) return made.status();
  chain.crl = *std::move(made);
  chain.crl_der = CrlDer(chain.crl.get());
  chain.ark_pem = crypto::CertificatePem(chain.ark.cert.get());
  chain.ask_pem = crypto::CertificatePem(chain.ask.cert.get());
  chain.asvk_pem = crypto::CertificatePem(chain.asvk.cert.get());
  return chain;
}

absl::StatusOr<Issued> MakeSnpLeaf(const SnpTestChain& chain,
                                   const SnpLeafOptions& o) {
  CertSpec s;
  s.common_name = o.common_name.value_or(o.vlek ? "SEV-VLEK" : "SEV-VCEK");
  s.subject_extra = AmdSubjectAttributes();
  s.serial = {};  // KDS leaves have serial 0
  s.not_before = o.not_before;
  s.not_after = o.not_after;
  s.is_ca = false;
  s.key_usage = false;
  s.subject_key_id = false;
  s.authority_key_id = false;
  s.extensions = KdsExtensions(o.extensions);
  s.scheme = o.scheme;
  const Issued& issuer = o.vlek ? chain.asvk : chain.ask;
  return MakeCert(s, o.key_type, issuer.cert.get(), issuer.key.get());
}

}  // namespace rp::testing
