#include "tests/testing/tdx_quote_builder.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "verifier/common/clock.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/x509.h"

namespace rp::testing {
namespace {

// --- Minimal DER writer (test data only) ---------------------------------------

void PutLength(Bytes& out, size_t n) {
  if (n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
    return;
  }
  Bytes len;
  while (n > 0) {
    len.insert(len.begin(), static_cast<uint8_t>(n & 0xff));
    n >>= 8;
  }
  out.push_back(static_cast<uint8_t>(0x80 | len.size()));
  out.insert(out.end(), len.begin(), len.end());
}

Bytes Tlv(uint8_t tag, const Bytes& value) {
  Bytes out = {tag};
  PutLength(out, value.size());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

Bytes Seq(const std::vector<Bytes>& items) {
  Bytes v;
  for (const Bytes& i : items) v.insert(v.end(), i.begin(), i.end());
  return Tlv(0x30, v);
}

Bytes Oid(const std::string& dotted) {
  std::vector<uint64_t> arcs;
  for (absl::string_view p : absl::StrSplit(dotted, '.')) {
    uint64_t v = 0;
    for (char c : p) v = v * 10 + static_cast<uint64_t>(c - '0');
    arcs.push_back(v);
  }
  Bytes v = {static_cast<uint8_t>(arcs[0] * 40 + arcs[1])};
  for (size_t i = 2; i < arcs.size(); ++i) {
    Bytes enc = {static_cast<uint8_t>(arcs[i] & 0x7f)};
    for (uint64_t a = arcs[i] >> 7; a > 0; a >>= 7) {
      enc.insert(enc.begin(), static_cast<uint8_t>(0x80 | (a & 0x7f)));
    }
    v.insert(v.end(), enc.begin(), enc.end());
  }
  return Tlv(0x06, v);
}

Bytes Int(uint64_t n, uint8_t tag = 0x02) {
  Bytes v;
  do {
    v.insert(v.begin(), static_cast<uint8_t>(n & 0xff));
    n >>= 8;
  } while (n > 0);
  if (v.front() & 0x80) v.insert(v.begin(), 0x00);
  return Tlv(tag, v);
}

template <size_t N>
Bytes Octets(const std::array<uint8_t, N>& a) {
  return Tlv(0x04, Bytes(a.begin(), a.end()));
}

constexpr char kSgx[] = "1.2.840.113741.1.13.1";

std::string Sub(const std::string& suffix) { return std::string(kSgx) + "." + suffix; }

void PutLe(Bytes& b, size_t off, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void PutU32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
template <typename C>
void Append(Bytes& b, const C& c) {
  b.insert(b.end(), c.begin(), c.end());
}

std::string Hex(const Bytes& b) { return HexEncode(b); }

std::string Svn16Json(nlohmann::json* out, const std::array<uint8_t, 16>& svn) {
  *out = nlohmann::json::array();
  for (uint8_t s : svn) out->push_back({{"svn", s}});
  return "";
}

nlohmann::json Level(const std::array<uint8_t, 16>& sgx, int pcesvn, const std::array<uint8_t, 16>& tdx,
                     const std::string& date, const std::string& status,
                     std::vector<std::string> advisories = {}) {
  nlohmann::json s, t;
  Svn16Json(&s, sgx);
  Svn16Json(&t, tdx);
  nlohmann::json l = {{"tcb", {{"sgxtcbcomponents", s}, {"pcesvn", pcesvn}, {"tdxtcbcomponents", t}}},
                      {"tcbDate", date},
                      {"tcbStatus", status}};
  if (!advisories.empty()) l["advisoryIDs"] = advisories;
  return l;
}

}  // namespace

Bytes EncodePckExtensions(const PckExtensionSpec& s) {
  std::vector<Bytes> tcb;
  for (int i = 0; i < 16; ++i) {
    tcb.push_back(Seq({Oid(Sub(absl::StrFormat("2.%d", i + 1))), Int(s.cpusvn_components[static_cast<size_t>(i)])}));
  }
  tcb.push_back(Seq({Oid(Sub("2.17")), Int(s.pcesvn)}));
  tcb.push_back(Seq({Oid(Sub("2.18")), Octets(s.cpusvn)}));
  std::vector<Bytes> top = {
      Seq({Oid(Sub("1")), Octets(s.ppid)}),
      Seq({Oid(Sub("2")), Seq(tcb)}),
      Seq({Oid(Sub("3")), Octets(s.pce_id)}),
  };
  if (!s.omit_fmspc) top.push_back(Seq({Oid(Sub("4")), Octets(s.fmspc)}));
  if (s.duplicate_fmspc) top.push_back(Seq({Oid(Sub("4")), Octets(s.fmspc)}));
  top.push_back(Seq({Oid(Sub("5")), Int(static_cast<uint64_t>(s.sgx_type), 0x0a)}));
  if (s.platform_instance_id) top.push_back(Seq({Oid(Sub("6")), Octets(*s.platform_instance_id)}));
  return Seq(top);
}

absl::StatusOr<TdxTestPki> MakeTdxTestPki() {
  TdxTestPki pki;
  const std::vector<std::pair<std::string, std::string>> intel = {{"O", "Intel Corporation"},
                                                                  {"L", "Santa Clara"}};
  CertSpec root;
  root.common_name = "Intel SGX Root CA";
  root.subject_extra = intel;
  root.is_ca = true;
  root.path_len = 1;
  root.serial = {0x22, 0x65};
  ASSIGN_OR_RETURN(pki.root, MakeRoot(root, KeyType::kEcP256));
  CertSpec ca;
  ca.common_name = "Intel SGX PCK Platform CA";
  ca.subject_extra = intel;
  ca.is_ca = true;
  ca.path_len = 0;
  ca.serial = {0x09, 0x56};
  ASSIGN_OR_RETURN(pki.pck_ca, MakeCert(ca, KeyType::kEcP256, pki.root.cert.get(), pki.root.key.get()));
  CertSpec signing;
  signing.common_name = "Intel SGX TCB Signing";
  signing.subject_extra = intel;
  signing.serial = {0x7e, 0x38};
  ASSIGN_OR_RETURN(pki.tcb_signing,
                   MakeCert(signing, KeyType::kEcP256, pki.root.cert.get(), pki.root.key.get()));
  pki.root_pem = crypto::CertificatePem(pki.root.cert.get());
  pki.tcb_signing_chain_pem = crypto::CertificatePem(pki.tcb_signing.cert.get()) + pki.root_pem;
  return pki;
}

absl::StatusOr<Issued> MakePckLeaf(const TdxTestPki& pki, const PckExtensionSpec& ext, CertSpec spec) {
  spec.common_name = "Intel SGX PCK Certificate";
  spec.subject_extra = {{"O", "Intel Corporation"}, {"L", "Santa Clara"}};
  spec.extensions = {CustomExtension{kSgx, EncodePckExtensions(ext), false}};
  return MakeCert(spec, KeyType::kEcP256, pki.pck_ca.cert.get(), pki.pck_ca.key.get());
}

std::string PckChainPem(const X509* leaf, const X509* ca, const X509* root) {
  return crypto::CertificatePem(leaf) + crypto::CertificatePem(ca) + crypto::CertificatePem(root);
}

absl::StatusOr<std::array<uint8_t, 64>> RawP256PublicKey(const EVP_PKEY* key) {
  ASSIGN_OR_RETURN(crypto::JwkPublic jwk, crypto::EcPublicJwk(key));
  ASSIGN_OR_RETURN(Bytes x, Base64Decode(jwk.x));
  ASSIGN_OR_RETURN(Bytes y, Base64Decode(jwk.y));
  if (x.size() != 32 || y.size() != 32) return absl::InvalidArgumentError("not a P-256 key");
  std::array<uint8_t, 64> out{};
  std::copy(x.begin(), x.end(), out.begin());
  std::copy(y.begin(), y.end(), out.begin() + 32);
  return out;
}

TdxQuoteBuilder::TdxQuoteBuilder() : body(584, 0), qe_report(384, 0) {
  SetTeeTcbSvn({0x06, 0x01, 0x03});
  SetTdAttributes(1ULL << 28);  // SEPT_VE_DISABLE
  PutLe(body, 128, 0x0602e7, 8);  // XFAM
  std::array<uint8_t, 48> mrtd{};
  for (size_t i = 0; i < 48; ++i) mrtd[i] = static_cast<uint8_t>(0xa0 + i);
  SetMrTd(mrtd);
  for (size_t r = 0; r < 4; ++r) {
    for (size_t i = 0; i < 48; ++i) body[328 + r * 48 + i] = static_cast<uint8_t>(0x10 * (r + 1) + i);
  }
  std::array<uint8_t, 64> rd{};
  for (size_t i = 0; i < 64; ++i) rd[i] = static_cast<uint8_t>(i);
  SetReportData(rd);
  // QE report: Intel's TD QE identity values.
  qe_report[48] = 0x11;  // ATTRIBUTES
  SetQeMrSigner({0xDC, 0x9E, 0x2A, 0x7C, 0x6F, 0x94, 0x8F, 0x17, 0x47, 0x4E, 0x34,
                 0xA7, 0xFC, 0x43, 0xED, 0x03, 0x0F, 0x7C, 0x15, 0x63, 0xF1, 0xBA,
                 0xBD, 0xDF, 0x63, 0x40, 0xC8, 0x2E, 0x0E, 0x54, 0xA8, 0xC5});
  PutLe(qe_report, 256, 2, 2);  // ISVPRODID
  SetQeIsvSvn(8);
}

void TdxQuoteBuilder::SetTeeTcbSvn(const std::array<uint8_t, 16>& svn) {
  std::copy(svn.begin(), svn.end(), body.begin());
}
void TdxQuoteBuilder::SetMrSignerSeam(const std::array<uint8_t, 48>& v) {
  std::copy(v.begin(), v.end(), body.begin() + 64);
}
void TdxQuoteBuilder::SetSeamAttributes(uint64_t v) { PutLe(body, 112, v, 8); }
void TdxQuoteBuilder::SetTdAttributes(uint64_t v) { PutLe(body, 120, v, 8); }
void TdxQuoteBuilder::SetMrTd(const std::array<uint8_t, 48>& v) {
  std::copy(v.begin(), v.end(), body.begin() + 136);
}
void TdxQuoteBuilder::SetReportData(const std::array<uint8_t, 64>& v) {
  std::copy(v.begin(), v.end(), body.begin() + 520);
}
void TdxQuoteBuilder::SetQeIsvSvn(uint16_t svn) { PutLe(qe_report, 258, svn, 2); }
void TdxQuoteBuilder::SetQeMrSigner(const std::array<uint8_t, 32>& v) {
  std::copy(v.begin(), v.end(), qe_report.begin() + 128);
}
void TdxQuoteBuilder::SetQeMiscSelect(uint32_t v) { PutLe(qe_report, 16, v, 4); }
void TdxQuoteBuilder::UseV5(bool td15) {
  version = 5;
  body_type = td15 ? 3 : 2;
  body.resize(td15 ? 648 : 584, 0);
}

absl::StatusOr<Bytes> TdxQuoteBuilder::Build(const EVP_PKEY* attestation_key,
                                             const EVP_PKEY* pck_key) const {
  ASSIGN_OR_RETURN(auto att_raw, RawP256PublicKey(attestation_key));
  Bytes q;
  PutU16(q, version);
  PutU16(q, attestation_key_type);
  PutU32(q, tee_type);
  PutU16(q, 0);
  PutU16(q, 0);
  Append(q, qe_vendor_id);
  Append(q, user_data);
  if (version == 5) {
    PutU16(q, body_type);
    PutU32(q, body_size_override.value_or(static_cast<uint32_t>(body.size())));
  }
  Append(q, body);
  ASSIGN_OR_RETURN(Bytes quote_sig, crypto::SignEcdsaP1363(attestation_key, q, false));

  Bytes qe = qe_report;
  if (qe_report_data_override) {
    std::copy(qe_report_data_override->begin(), qe_report_data_override->end(), qe.begin() + 320);
  } else if (bind_qe_report_data) {
    Bytes in(att_raw.begin(), att_raw.end());
    Append(in, qe_auth_data);
    const Bytes h = crypto::Sha256(in);
    std::copy(h.begin(), h.end(), qe.begin() + 320);
    std::fill(qe.begin() + 352, qe.end(), 0);
  }
  ASSIGN_OR_RETURN(Bytes qe_sig, crypto::SignEcdsaP1363(pck_key, qe, false));

  Bytes cert;  // type-6 data
  Append(cert, qe);
  Append(cert, qe_sig);
  PutU16(cert, static_cast<uint16_t>(qe_auth_data.size()));
  Append(cert, qe_auth_data);
  PutU16(cert, pck_cert_data_type);
  PutU32(cert, static_cast<uint32_t>(pck_chain_pem.size()));
  Append(cert, pck_chain_pem);

  Bytes sig;
  Append(sig, quote_sig);
  Append(sig, att_raw);
  PutU16(sig, certification_data_type);
  PutU32(sig, static_cast<uint32_t>(cert.size()));
  Append(sig, cert);

  PutU32(q, static_cast<uint32_t>(sig.size()));
  Append(q, sig);
  Append(q, trailing);
  return q;
}

nlohmann::json DefaultTcbInfo(absl::Time at) {
  const std::array<uint8_t, 16> sgx2 = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  const std::array<uint8_t, 16> sgx1 = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const std::array<uint8_t, 16> tdx_new = {5, 0, 2};
  const std::array<uint8_t, 16> tdx_old = {3, 0, 1};
  const std::string zero48(96, '0');
  nlohmann::json module_levels = nlohmann::json::array(
      {{{"tcb", {{"isvsvn", 4}}}, {"tcbDate", "2024-03-13T00:00:00Z"}, {"tcbStatus", "UpToDate"}},
       {{"tcb", {{"isvsvn", 2}}},
        {"tcbDate", "2023-08-09T00:00:00Z"},
        {"tcbStatus", "OutOfDate"},
        {"advisoryIDs", {"INTEL-SA-00960"}}}});
  return {
      {"id", "TDX"},
      {"version", 3},
      {"issueDate", FormatRfc3339(at - absl::Hours(24 * 5))},
      {"nextUpdate", FormatRfc3339(at + absl::Hours(24 * 25))},
      {"fmspc", "00906ED50000"},
      {"pceId", "0000"},
      {"tcbType", 0},
      {"tcbEvaluationDataNumber", 17},
      {"tdxModule", {{"mrsigner", zero48}, {"attributes", "0000000000000000"}, {"attributesMask", "FFFFFFFFFFFFFFFF"}}},
      {"tdxModuleIdentities",
       nlohmann::json::array({{{"id", "TDX_01"},
                               {"mrsigner", zero48},
                               {"attributes", "0000000000000000"},
                               {"attributesMask", "FFFFFFFFFFFFFFFF"},
                               {"tcbLevels", module_levels}}})},
      {"tcbLevels",
       nlohmann::json::array({Level(sgx2, 11, tdx_new, "2024-03-13T00:00:00Z", "UpToDate"),
                              Level(sgx1, 5, tdx_old, "2018-01-04T00:00:00Z", "OutOfDate",
                                    {"INTEL-SA-00106", "INTEL-SA-00115"})})},
  };
}

nlohmann::json DefaultQeIdentity(absl::Time at) {
  return {
      {"id", "TD_QE"},
      {"version", 2},
      {"issueDate", FormatRfc3339(at - absl::Hours(24 * 5))},
      {"nextUpdate", FormatRfc3339(at + absl::Hours(24 * 25))},
      {"tcbEvaluationDataNumber", 17},
      {"miscselect", "00000000"},
      {"miscselectMask", "FFFFFFFF"},
      {"attributes", "11000000000000000000000000000000"},
      {"attributesMask", "FBFFFFFFFFFFFFFF0000000000000000"},
      {"mrsigner", "DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5"},
      {"isvprodid", 2},
      {"tcbLevels",
       nlohmann::json::array(
           {{{"tcb", {{"isvsvn", 4}}}, {"tcbDate", "2024-03-13T00:00:00Z"}, {"tcbStatus", "UpToDate"}}})},
  };
}

absl::StatusOr<std::string> SignJsonHex(const EVP_PKEY* key, const std::string& text) {
  ASSIGN_OR_RETURN(Bytes sig, crypto::SignEcdsaP1363(key, AsBytes(text), false));
  return Hex(sig);
}

absl::StatusOr<attestation::v1::TdxCollateral> MakeTdxCollateral(const TdxTestPki& pki,
                                                                TdxCollateralSpec spec) {
  attestation::v1::TdxCollateral c;
  const std::string tcb = spec.tcb_info.dump();
  const std::string qe = spec.qe_identity.dump();
  c.set_tcb_info(tcb);
  ASSIGN_OR_RETURN(std::string tcb_sig, SignJsonHex(pki.tcb_signing.key.get(), tcb));
  c.set_tcb_info_signature(tcb_sig);
  c.set_tcb_info_issuer_chain(pki.tcb_signing_chain_pem);
  c.set_qe_identity(qe);
  ASSIGN_OR_RETURN(std::string qe_sig, SignJsonHex(pki.tcb_signing.key.get(), qe));
  c.set_qe_identity_signature(qe_sig);
  c.set_qe_identity_issuer_chain(pki.tcb_signing_chain_pem);
  spec.pck_crl.revoked = spec.pck_revoked;
  ASSIGN_OR_RETURN(auto pck_crl, MakeCrl(spec.pck_crl, pki.pck_ca.cert.get(), pki.pck_ca.key.get()));
  c.set_pck_crl(Hex(CrlDer(pck_crl.get())));
  c.set_pck_crl_issuer_chain(crypto::CertificatePem(pki.pck_ca.cert.get()) + pki.root_pem);
  spec.root_crl.revoked = spec.root_revoked;
  ASSIGN_OR_RETURN(auto root_crl, MakeCrl(spec.root_crl, pki.root.cert.get(), pki.root.key.get()));
  c.set_root_ca_crl(Hex(CrlDer(root_crl.get())));
  return c;
}

}  // namespace rp::testing
