#include "cli/simulate.h"

#include <openssl/evp.h>

#include <sys/stat.h>

#include <openssl/ocsp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <span>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "policy/yaml_json.h"
#include "verifier/common/status_macros.h"
#include "release/jwe.h"
#include "verifier/core/binding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/ocsp.h"
#include "verifier/crypto/x509.h"

#if defined(RP_SIM_COMPOSITE) && RP_SIM_COMPOSITE
#include "tests/testing/gpu_evidence_builder.h"
#include "tests/testing/rim_builder.h"
#include "tests/testing/tdx_quote_builder.h"
#include "verifier/nvidia/opaque.h"
#include "verifier/nvidia/rim/rim_source.h"
#endif

namespace rp::sim {
namespace {

absl::Status WritePrivate(const std::string& path, const std::string& data, bool secret) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  out << data;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("write failed: ", path));
  if (secret && chmod(path.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("chmod 0600 failed: ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<testing::Issued> LoadIssued(const std::string& dir, const std::string& name) {
  ASSIGN_OR_RETURN(std::string cert_pem, ReadSmallFile(dir + "/" + name + ".pem", 64 * 1024));
  ASSIGN_OR_RETURN(std::string key_pem, ReadSmallFile(dir + "/" + name + ".key", 64 * 1024));
  ASSIGN_OR_RETURN(auto certs, crypto::ParsePemCertificates(cert_pem, 1));
  ASSIGN_OR_RETURN(auto key, crypto::ParsePrivateKeyPem(key_pem));
  testing::Issued out;
  out.cert = std::move(certs[0]);
  out.key = std::move(key);
  return out;
}


[[maybe_unused]] absl::Status SaveIssued(const std::string& dir, const std::string& name,
                        const testing::Issued& issued) {
  RETURN_IF_ERROR(
      WritePrivate(dir + "/" + name + ".pem", crypto::CertificatePem(issued.cert.get()), false));
  return WritePrivate(dir + "/" + name + ".key", crypto::PrivateKeyPem(issued.key.get()), true);
}

[[maybe_unused]] bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// Writes collateral atomically (temp file + rename): a server may be reading
// the directory at the same time.
absl::Status WriteCollateral(const std::string& collateral_dir, const std::string& key,
                             std::span<const uint8_t> data) {
  const std::filesystem::path path = std::filesystem::path(collateral_dir) / key;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", path.parent_path().string()));
  const std::string tmp = absl::StrCat(path.parent_path().string(), "/.", path.filename().string(),
                                       ".", HexEncode(crypto::RandomBytes(6)), ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("write failed: ", tmp));
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return absl::InternalError(absl::StrCat("cannot rename to ", path.string()));
  }
  return absl::OkStatus();
}

// A fresh EC P-256 TEE key in the bundle; returns its private PEM.
absl::StatusOr<std::string> NewTeeKey(attestation::v1::EvidenceBundle& bundle,
                                      const std::string& type) {
  crypto::OpensslPtr<EVP_PKEY> key;
  if (type == "P-256" || type == "P-384" || type == "P-521") {
    ASSIGN_OR_RETURN(key, crypto::GenerateEcKey(type));
  } else if (type == "RSA-3072") {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072}));
    if (key == nullptr) return absl::InternalError("simulate: RSA-3072 key generation failed");
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "simulate: TEE key type '", type, "' is unknown (P-256 | P-384 | P-521 | RSA-3072)"));
  }
  const std::string pem = crypto::PrivateKeyPem(key.get());
  ASSIGN_OR_RETURN(attestation::v1::Jwk jwk, release::PublicJwkOfKeyPem(pem));
  // Only the public members the thumbprint covers (and kty): what an
  // attester sends.
  attestation::v1::Jwk* pj = bundle.mutable_tee_public_key();
  pj->set_kty(jwk.kty());
  pj->set_crv(jwk.crv());
  pj->set_x(jwk.x());
  pj->set_y(jwk.y());
  pj->set_n(jwk.n());
  pj->set_e(jwk.e());
  return pem;
}

absl::Status CheckNonce(const std::string& nonce) {
  if (nonce.size() != core::kNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("simulate: nonce is ", nonce.size(), " bytes, expected 32"));
  }
  return absl::OkStatus();
}

// A simulated answer is written valid from now - 1 h to now + 7 days; one
// already on disk is kept while it is valid from `now` for at least a day.
constexpr absl::Duration kOcspBackdate = absl::Hours(1);
constexpr absl::Duration kOcspLifetime = absl::Hours(24 * 7);
constexpr absl::Duration kOcspMinRemaining = absl::Hours(24);

// True when `path` holds a successful OCSP response that says `id` is good
// from before `now` until at least `now` + kOcspMinRemaining (the simulated
// time, not the wall clock). Anything else (absent, unreadable, another
// status, a window that does not cover `now`) means: write a new one. The
// signature is not checked here: the verifiers check it on use.
bool ReusableOcsp(const std::string& path, OCSP_CERTID* id, absl::Time now) {
  absl::StatusOr<std::string> der = ReadSmallFile(path, 64 * 1024);
  if (!der.ok()) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  crypto::OpensslPtr<OCSP_RESPONSE> resp(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der->size())));
  if (!resp || OCSP_response_status(resp.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) return false;
  crypto::OpensslPtr<OCSP_BASICRESP> bs(OCSP_response_get1_basic(resp.get()));
  if (!bs) return false;
  int status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked = nullptr, *this_update = nullptr, *next_update = nullptr;
  if (OCSP_resp_find_status(bs.get(), id, &status, &reason, &revoked, &this_update,
                            &next_update) != 1 ||
      status != V_OCSP_CERTSTATUS_GOOD || this_update == nullptr || next_update == nullptr) {
    return false;
  }
  return ASN1_TIME_cmp_time_t(this_update, absl::ToTimeT(now)) <= 0 &&
         ASN1_TIME_cmp_time_t(next_update, absl::ToTimeT(now + kOcspMinRemaining)) >= 0;
}

// A "good" OCSP answer for `cert`, signed by its issuer, valid around `now`,
// stored under the key the verifiers look up (nvidia/ocsp/<issuer key hash,
// serial>.der). The name depends only on the issuer and the serial, so an
// answer still valid at `now` is reused rather than signed and written again
// (a load run simulates thousands of nodes with the same certificates).
[[maybe_unused]] absl::Status WriteGoodOcsp(const std::string& collateral_dir, const X509* cert,
                           const X509* issuer, const EVP_PKEY* issuer_key, absl::Time now) {
  ASSIGN_OR_RETURN(const std::string key, crypto::NvidiaOcspCollateralKey(cert, issuer));
  crypto::OpensslPtr<OCSP_CERTID> id(OCSP_cert_to_id(EVP_sha1(), cert, issuer));
  if (!id) return absl::InternalError("ocsp: alloc");
  if (ReusableOcsp(collateral_dir + "/" + key, id.get(), now)) return absl::OkStatus();
  crypto::OpensslPtr<OCSP_BASICRESP> bs(OCSP_BASICRESP_new());
  crypto::OpensslPtr<ASN1_TIME> this_update(
      ASN1_GENERALIZEDTIME_set(nullptr, absl::ToTimeT(now - kOcspBackdate)));
  crypto::OpensslPtr<ASN1_TIME> next_update(
      ASN1_GENERALIZEDTIME_set(nullptr, absl::ToTimeT(now + kOcspLifetime)));
  if (!bs || !this_update || !next_update) return absl::InternalError("ocsp: alloc");
  if (OCSP_basic_add1_status(bs.get(), id.get(), V_OCSP_CERTSTATUS_GOOD, 0, nullptr,
                             this_update.get(), next_update.get()) == nullptr) {
    return absl::InternalError("ocsp: OCSP_basic_add1_status");
  }
  if (OCSP_basic_sign(bs.get(), const_cast<X509*>(issuer), const_cast<EVP_PKEY*>(issuer_key),
                      EVP_sha384(), nullptr, 0) != 1) {
    return absl::InternalError("ocsp: OCSP_basic_sign");
  }
  crypto::OpensslPtr<OCSP_RESPONSE> resp(
      OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
  if (!resp) return absl::InternalError("ocsp: OCSP_response_create");
  unsigned char* der = nullptr;
  const int n = i2d_OCSP_RESPONSE(resp.get(), &der);
  if (n <= 0) return absl::InternalError("ocsp: i2d_OCSP_RESPONSE");
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return WriteCollateral(collateral_dir, key, out);
}

// attest-v1 report data, or attest-v2 over `runtime_claims` when set.
absl::StatusOr<Bytes> SimReportData(const std::string& nonce, const attestation::v1::Jwk& key,
                                    const OptionalRuntimeClaims& runtime_claims,
                                    const std::vector<Bytes>& gpu_reports) {
  if (runtime_claims.has_value()) {
    return core::ExpectedAttestV2ReportData(AsBytes(nonce), key, *runtime_claims, gpu_reports);
  }
  return core::ExpectedAttestV1ReportData(AsBytes(nonce), key, gpu_reports);
}

// Names the profile SimReportData used and carries the claims it bound.
void SetSimBinding(const OptionalRuntimeClaims& runtime_claims,
                   attestation::v1::EvidenceBundle& bundle) {
  if (!runtime_claims.has_value()) {
    bundle.set_binding(std::string(core::kBindingAttestV1));
    return;
  }
  bundle.set_binding(std::string(core::kBindingAttestV2));
  bundle.mutable_runtime_claims()->insert(runtime_claims->begin(), runtime_claims->end());
}

// SEV-SNP report (Milan) with `report_data` under the simulation ARK/ASK.
absl::Status BuildSnp(const SimulationRoot& root, const Bytes& report_data, absl::Time now,
                      const SnpSimulationOptions& options, attestation::v1::EvidenceBundle& out) {
  if (options.vmpl < 0 || options.vmpl > 3) {
    return absl::InvalidArgumentError("simulate: vmpl must be 0..3");
  }
  testing::SnpReportBuilder b;
  b.ForProduct(sev_snp::Product::kMilan)
      .ReportData(report_data)
      .Vmpl(static_cast<uint32_t>(options.vmpl))
      .ChipId(crypto::RandomBytes(64))
      .ReportId(crypto::RandomBytes(32))
      .Measurement(crypto::Sha384(AsBytes("attestation-rp simulated guest image")));
  if (options.debug) b.Policy(0x30000 | (uint64_t{1} << 19));
  testing::SnpLeafOptions leaf_opts;
  leaf_opts.extensions = testing::KdsSpecForReport(b.fields(), sev_snp::Product::kMilan, false);
  leaf_opts.not_before = now - absl::Hours(24);
  leaf_opts.not_after = now + absl::Hours(24 * 365 * 7);
  ASSIGN_OR_RETURN(testing::Issued vcek, testing::MakeSnpLeaf(root.chain, leaf_opts));
  ASSIGN_OR_RETURN(Bytes report, b.BuildSigned(vcek.key.get()));
  auto* snp = out.mutable_sev_snp();
  snp->set_report(ToString(report));
  snp->set_vcek(crypto::CertificatePem(vcek.cert.get()));
  snp->set_cert_chain(root.chain.vcek_chain_pem());
  SetSimBinding(options.runtime_claims, out);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SimulationRoot> LoadOrCreateSimulationRoot(const std::string& dir) {
  SimulationRoot root;
  root.chain.product = sev_snp::Product::kMilan;
  std::ifstream probe(dir + "/ark.pem");
  if (probe.good()) {
    ASSIGN_OR_RETURN(root.chain.ark, LoadIssued(dir, "ark"));
    ASSIGN_OR_RETURN(root.chain.ask, LoadIssued(dir, "ask"));
    root.chain.ark_pem = crypto::CertificatePem(root.chain.ark.cert.get());
    root.chain.ask_pem = crypto::CertificatePem(root.chain.ask.cert.get());
    return root;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  testing::SnpChainOptions opts;
  opts.product = sev_snp::Product::kMilan;
  opts.ca_key_type = testing::KeyType::kRsa3072;
  ASSIGN_OR_RETURN(root.chain, testing::MakeSnpTestChain(opts));
  RETURN_IF_ERROR(WritePrivate(dir + "/ark.pem", root.chain.ark_pem, false));
  RETURN_IF_ERROR(WritePrivate(dir + "/ask.pem", root.chain.ask_pem, false));
  RETURN_IF_ERROR(
      WritePrivate(dir + "/ark.key", crypto::PrivateKeyPem(root.chain.ark.key.get()), true));
  RETURN_IF_ERROR(
      WritePrivate(dir + "/ask.key", crypto::PrivateKeyPem(root.chain.ask.key.get()), true));
  RETURN_IF_ERROR(WritePrivate(dir + "/README",
                               "Simulation root for attestctl simulate. NOT AMD. Trusted only by "
                               "configs with simulation.trust_simulation_root: true.\n",
                               false));
  return root;
}


absl::StatusOr<SimulatedEvidence> SimulateSnpEvidence(const SimulationRoot& root,
                                                      const std::string& nonce, absl::Time now,
                                                      const SnpSimulationOptions& options) {
  RETURN_IF_ERROR(CheckNonce(nonce));
  SimulatedEvidence out;
  ASSIGN_OR_RETURN(out.tee_private_key_pem, NewTeeKey(out.bundle, options.tee_key));
  ASSIGN_OR_RETURN(Bytes report_data, SimReportData(nonce, out.bundle.tee_public_key(),
                                                    options.runtime_claims, {}));
  RETURN_IF_ERROR(BuildSnp(root, report_data, now, options, out.bundle));
  return out;
}

absl::StatusOr<GpuMode> ParseGpuMode(std::string_view text) {
  if (text == "cc") return GpuMode::kCc;
  if (text == "ppcie") return GpuMode::kPpcie;
  if (text == "off") return GpuMode::kOff;
  return absl::InvalidArgumentError(
      absl::StrCat("GPU mode '", std::string(text), "' is unknown (cc | ppcie | off)"));
}

#if defined(RP_SIM_COMPOSITE) && RP_SIM_COMPOSITE

struct CompositeRoots {
  testing::TdxTestPki tdx;
  testing::GpuTestPki gpu;
  testing::RimSigningHierarchy rim;
};

bool CompositeSimulationAvailable() { return true; }

namespace {

absl::StatusOr<testing::TdxTestPki> LoadOrCreateTdx(const std::string& dir) {
  testing::TdxTestPki pki;
  if (Exists(dir + "/tdx_root.pem")) {
    ASSIGN_OR_RETURN(pki.root, LoadIssued(dir, "tdx_root"));
    ASSIGN_OR_RETURN(pki.pck_ca, LoadIssued(dir, "tdx_pck_ca"));
    ASSIGN_OR_RETURN(pki.tcb_signing, LoadIssued(dir, "tdx_tcb_signing"));
    pki.root_pem = crypto::CertificatePem(pki.root.cert.get());
    pki.tcb_signing_chain_pem = crypto::CertificatePem(pki.tcb_signing.cert.get()) + pki.root_pem;
    return pki;
  }
  ASSIGN_OR_RETURN(pki, testing::MakeTdxTestPki());
  RETURN_IF_ERROR(SaveIssued(dir, "tdx_pck_ca", pki.pck_ca));
  RETURN_IF_ERROR(SaveIssued(dir, "tdx_tcb_signing", pki.tcb_signing));
  RETURN_IF_ERROR(SaveIssued(dir, "tdx_root", pki.root));  // last: marks completeness
  return pki;
}

testing::GpuPkiOptions GpuOptions() {
  testing::GpuPkiOptions o;
  o.arch = nvidia::GpuArch::kHopper;
  o.root_cn = "SIMULATED NVIDIA Device Identity CA";
  return o;
}

absl::StatusOr<testing::GpuTestPki> LoadOrCreateGpu(const std::string& dir) {
  testing::GpuTestPki pki;
  pki.options = GpuOptions();
  if (Exists(dir + "/gpu_root.pem")) {
    ASSIGN_OR_RETURN(pki.root, LoadIssued(dir, "gpu_root"));
    ASSIGN_OR_RETURN(pki.identity, LoadIssued(dir, "gpu_identity"));
    ASSIGN_OR_RETURN(pki.provisioner, LoadIssued(dir, "gpu_provisioner"));
    return pki;
  }
  ASSIGN_OR_RETURN(pki, testing::MakeGpuTestPki(GpuOptions()));
  RETURN_IF_ERROR(SaveIssued(dir, "gpu_identity", pki.identity));
  RETURN_IF_ERROR(SaveIssued(dir, "gpu_provisioner", pki.provisioner));
  RETURN_IF_ERROR(SaveIssued(dir, "gpu_root", pki.root));
  return pki;
}

absl::StatusOr<testing::RimSigningHierarchy> LoadOrCreateRim(const std::string& dir) {
  testing::RimSigningHierarchy h;
  if (Exists(dir + "/rim_root.pem")) {
    ASSIGN_OR_RETURN(h.root, LoadIssued(dir, "rim_root"));
    ASSIGN_OR_RETURN(h.ca, LoadIssued(dir, "rim_ca"));
    ASSIGN_OR_RETURN(h.l3, LoadIssued(dir, "rim_l3"));
    ASSIGN_OR_RETURN(h.l4, LoadIssued(dir, "rim_l4"));
    return h;
  }
  testing::RimHierarchySpec spec;
  spec.name_prefix = "SIMULATED";
  ASSIGN_OR_RETURN(h, testing::MakeRimSigningHierarchy(spec));
  RETURN_IF_ERROR(SaveIssued(dir, "rim_ca", h.ca));
  RETURN_IF_ERROR(SaveIssued(dir, "rim_l3", h.l3));
  RETURN_IF_ERROR(SaveIssued(dir, "rim_l4", h.l4));
  RETURN_IF_ERROR(SaveIssued(dir, "rim_root", h.root));
  return h;
}

// Golden (= runtime) value of SPDM block `block` (1-based) of every simulated GPU.
Bytes SimMeasurement(int block) {
  return crypto::Sha384(AsBytes(absl::StrCat("attestation-rp simulated GPU measurement ", block)));
}

// VBIOS RIM: RIM indices 0..15; driver RIM: 16..63 (disjoint, as NVIDIA's).
constexpr uint32_t kVbiosIndices = 16;

absl::Status WriteRims(const CompositeRoots& roots, const std::string& collateral_dir) {
  std::vector<nvidia::rim::RimMeasurement> vbios, driver;
  for (uint32_t i = 0; i < 64; ++i) {
    nvidia::rim::RimMeasurement m;
    m.index = i;
    m.active = true;
    m.alternatives = {SimMeasurement(static_cast<int>(i) + 1)};
    (i < kVbiosIndices ? vbios : driver).push_back(std::move(m));
  }
  ASSIGN_OR_RETURN(std::string driver_id,
                   nvidia::rim::DriverRimId(nvidia::rim::GpuArch::kHopper, "", kSimDriverVersion));
  ASSIGN_OR_RETURN(std::string vbios_id,
                   nvidia::rim::VbiosRimId("1010", "0200", "882", kSimVbiosVersion));
  struct One {
    std::string id, version;
    std::vector<nvidia::rim::RimMeasurement>* active;
  };
  for (const One& one : {One{driver_id, kSimDriverVersion, &driver},
                         One{vbios_id, kSimVbiosVersion, &vbios}}) {
    const std::string key = nvidia::rim::RimCollateralKey(one.id);
    if (Exists(collateral_dir + "/" + key)) continue;  // RIMs do not change
    testing::RimContent content = testing::MakeRimContent(one.version, *one.active);
    content.tag_id = one.id;
    ASSIGN_OR_RETURN(std::string xml, testing::BuildSignedRim(content, roots.rim));
    RETURN_IF_ERROR(WriteCollateral(collateral_dir, key, AsBytes(xml)));
  }
  return absl::OkStatus();
}

// The BROM (device identity) serial of simulated GPU slot `g`: the same in
// every run, as a physical node's GPUs keep their device certificates, so
// that the OCSP answer for it (named by issuer and serial) is reused. The
// BROM key and the FMC leaf (ueid) are fresh per run.
Bytes SimBromSerial(int g) {
  const Bytes h = crypto::Sha256(AsBytes(absl::StrCat("attestation-rp simulated GPU BROM ", g)));
  Bytes s(h.begin(), h.begin() + 8);
  s[0] = static_cast<uint8_t>((s[0] & 0x7F) | 0x10);
  return s;
}

// Positive serial of `n` random bytes, distinct from `used`.
Bytes RandomSerial(size_t n, std::set<Bytes>& used) {
  for (;;) {
    Bytes s = crypto::RandomBytes(n);
    s[0] = static_cast<uint8_t>((s[0] & 0x7F) | 0x10);
    if (used.insert(s).second) return s;
  }
}

}  // namespace

absl::StatusOr<SimulationRoots> LoadOrCreateSimulationRoots(const std::string& dir) {
  SimulationRoots roots;
  roots.dir = dir;
  ASSIGN_OR_RETURN(roots.snp, LoadOrCreateSimulationRoot(dir));
  auto c = std::make_shared<CompositeRoots>();
  ASSIGN_OR_RETURN(c->tdx, LoadOrCreateTdx(dir));
  ASSIGN_OR_RETURN(c->gpu, LoadOrCreateGpu(dir));
  ASSIGN_OR_RETURN(c->rim, LoadOrCreateRim(dir));
  std::error_code ec;
  std::filesystem::create_directories(roots.CollateralDir(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", roots.CollateralDir()));
  roots.composite = std::move(c);
  return roots;
}

struct GpuPlatform {
  std::vector<testing::GpuTestDevice> devices;
  std::vector<std::string> chains_pem;  // GpuChainPem of each device
};

namespace {

size_t PlatformGpuCount(const GpuPlatform& platform) { return platform.devices.size(); }

// The RIMs and the OCSP answers of the shared chains (RIM CA, L3, L4; GPU
// identity, provisioner), valid around `now`.
absl::Status WriteGpuCollateral(const CompositeRoots& c, const std::string& col, absl::Time now) {
  RETURN_IF_ERROR(WriteRims(c, col));
  RETURN_IF_ERROR(WriteGoodOcsp(col, c.rim.ca.cert.get(), c.rim.root.cert.get(),
                                c.rim.root.key.get(), now));
  RETURN_IF_ERROR(
      WriteGoodOcsp(col, c.rim.l3.cert.get(), c.rim.ca.cert.get(), c.rim.ca.key.get(), now));
  RETURN_IF_ERROR(
      WriteGoodOcsp(col, c.rim.l4.cert.get(), c.rim.l3.cert.get(), c.rim.l3.key.get(), now));
  RETURN_IF_ERROR(WriteGoodOcsp(col, c.gpu.identity.cert.get(), c.gpu.root.cert.get(),
                                c.gpu.root.key.get(), now));
  return WriteGoodOcsp(col, c.gpu.provisioner.cert.get(), c.gpu.identity.cert.get(),
                       c.gpu.identity.key.get(), now);
}

// The FMC digest every simulated GPU reports and its leaf certificate names.
Bytes SimGpuFwid() { return crypto::Sha384(AsBytes("attestation-rp simulated GPU FMC")); }

absl::Status CheckGpuRequest(const SimulationRoots& roots, int n_gpus) {
  if (n_gpus < 0 || n_gpus > kMaxSimulatedGpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("simulate: --gpus must be 0..", kMaxSimulatedGpus));
  }
  if (roots.composite == nullptr) {
    return absl::FailedPreconditionError("simulate: GPU simulation roots not loaded");
  }
  return absl::OkStatus();
}

// The devices of one node, with the RIMs and every OCSP answer their
// verification needs written (valid around `now`).
absl::StatusOr<GpuPlatform> MakeGpuDevices(const SimulationRoots& roots, int n_gpus,
                                           absl::Time now, bool fresh_devices) {
  const CompositeRoots& c = *roots.composite;
  const std::string col = roots.CollateralDir();
  GpuPlatform platform;
  if (n_gpus == 0) return platform;
  RETURN_IF_ERROR(WriteGpuCollateral(c, col, now));
  std::set<Bytes> serials;
  for (int g = 0; g < n_gpus; ++g) serials.insert(SimBromSerial(g));
  for (int g = 0; g < n_gpus; ++g) {
    testing::GpuDeviceOptions dev_opts;
    dev_opts.brom_serial = fresh_devices ? RandomSerial(8, serials) : SimBromSerial(g);
    dev_opts.leaf_serial = RandomSerial(8, serials);  // ueid
    dev_opts.fwid = SimGpuFwid();
    ASSIGN_OR_RETURN(testing::GpuTestDevice dev, testing::MakeGpuTestDevice(c.gpu, dev_opts));
    RETURN_IF_ERROR(WriteGoodOcsp(col, dev.brom.cert.get(), c.gpu.provisioner.cert.get(),
                                  c.gpu.provisioner.key.get(), now));
    platform.chains_pem.push_back(testing::GpuChainPem(c.gpu, dev));
    platform.devices.push_back(std::move(dev));
  }
  return platform;
}

// Reports from `platform`'s devices bound to `nonce`.
absl::StatusOr<SimulatedGpus> GpuReports(const GpuPlatform& platform, const std::string& nonce,
                                         GpuMode mode, int gpu_mode_off_index) {
  SimulatedGpus out;
  out.nvidia.set_arch("HOPPER");
  // The PPCIe topology: the PDIs of the (not simulated) NVSwitches.
  std::vector<Bytes> pdis;
  for (int i = 0; i < 4; ++i) pdis.push_back(crypto::RandomBytes(8));
  const Bytes fwid = SimGpuFwid();
  for (size_t g = 0; g < platform.devices.size(); ++g) {
    testing::GpuReportBuilder b;
    b.SetNonce(AsBytes(nonce));
    const Bytes rn = crypto::RandomBytes(32);
    std::copy(rn.begin(), rn.end(), b.responder_nonce.begin());
    for (auto& block : b.blocks) block.value = SimMeasurement(block.index);
    b.SetFwid(fwid);
    b.SetOpaque(nvidia::opaque_type::kBoardId,
                {static_cast<uint8_t>(0xB1 + g), 0x03, 0x00, 0x00});
    const GpuMode m = static_cast<int>(g) == gpu_mode_off_index ? GpuMode::kOff : mode;
    if (m == GpuMode::kPpcie) {
      b.SetPpcie(pdis);
    } else if (m == GpuMode::kOff) {
      b.SetOpaque(nvidia::opaque_type::kOpaqueDataVersion, {0x01, 0x00});
      b.SetOpaque(nvidia::opaque_type::kFeatureFlag, {0xFF, 0x00});
    }
    ASSIGN_OR_RETURN(Bytes report, b.BuildSigned(platform.devices[g].leaf.key.get()));
    auto* e = out.nvidia.add_evidence_list();
    e->set_evidence(ToString(report));
    e->set_certificate(platform.chains_pem[g]);
    out.reports.push_back(std::move(report));
  }
  return out;
}

}  // namespace

absl::StatusOr<SimulatedGpus> SimulateGpuEvidence(const SimulationRoots& roots, int n_gpus,
                                                  const std::string& nonce, GpuMode mode,
                                                  absl::Time now, int gpu_mode_off_index,
                                                  bool fresh_devices) {
  RETURN_IF_ERROR(CheckNonce(nonce));
  RETURN_IF_ERROR(CheckGpuRequest(roots, n_gpus));
  if (n_gpus == 0) {
    SimulatedGpus out;
    out.nvidia.set_arch("HOPPER");
    return out;
  }
  ASSIGN_OR_RETURN(GpuPlatform platform, MakeGpuDevices(roots, n_gpus, now, fresh_devices));
  return GpuReports(platform, nonce, mode, gpu_mode_off_index);
}

absl::StatusOr<std::shared_ptr<const GpuPlatform>> SimulateGpuPlatform(
    const SimulationRoots& roots, int n_gpus, absl::Time now) {
  RETURN_IF_ERROR(CheckGpuRequest(roots, n_gpus));
  ASSIGN_OR_RETURN(GpuPlatform platform, MakeGpuDevices(roots, n_gpus, now, false));
  return std::make_shared<const GpuPlatform>(std::move(platform));
}

absl::StatusOr<SimulatedGpus> SimulateGpuEvidenceOn(const SimulationRoots& roots,
                                                    const GpuPlatform& platform,
                                                    const std::string& nonce, GpuMode mode,
                                                    int gpu_mode_off_index) {
  RETURN_IF_ERROR(CheckNonce(nonce));
  RETURN_IF_ERROR(CheckGpuRequest(roots, static_cast<int>(platform.devices.size())));
  return GpuReports(platform, nonce, mode, gpu_mode_off_index);
}

struct TdxPlatform {
  testing::Issued pck;
  crypto::OpensslPtr<EVP_PKEY> attestation_key;
  attestation::v1::TdxCollateral collateral;
};

absl::StatusOr<SimulatedEvidence> SimulateTdxEvidence(const SimulationRoots& roots,
                                                      const std::string& nonce, absl::Time now,
                                                      const std::vector<Bytes>& gpu_reports,
                                                      const TdxSimulationOptions& options) {
  RETURN_IF_ERROR(CheckNonce(nonce));
  if (roots.composite == nullptr) {
    return absl::FailedPreconditionError("simulate: TDX simulation roots not loaded");
  }
  const testing::TdxTestPki& pki = roots.composite->tdx;
  SimulatedEvidence out;
  ASSIGN_OR_RETURN(out.tee_private_key_pem, NewTeeKey(out.bundle, options.tee_key));
  ASSIGN_OR_RETURN(Bytes report_data, SimReportData(nonce, out.bundle.tee_public_key(),
                                                    options.runtime_claims, gpu_reports));
  std::shared_ptr<const TdxPlatform> platform = options.platform;
  if (platform == nullptr) {
    ASSIGN_OR_RETURN(platform, SimulateTdxPlatform(roots, now));
  }
  const testing::Issued& pck = platform->pck;
  testing::TdxQuoteBuilder q;
  std::array<uint8_t, 64> rd{};
  std::copy(report_data.begin(), report_data.end(), rd.begin());
  q.SetReportData(rd);
  std::array<uint8_t, 48> mrtd{};
  const Bytes m = crypto::Sha384(AsBytes("attestation-rp simulated TD image"));
  std::copy(m.begin(), m.end(), mrtd.begin());
  q.SetMrTd(mrtd);
  if (options.debug) q.SetTdAttributes((uint64_t{1} << 28) | 1);
  q.pck_chain_pem = testing::PckChainPem(pck.cert.get(), pki.pck_ca.cert.get(), pki.root.cert.get());
  ASSIGN_OR_RETURN(Bytes quote, q.Build(platform->attestation_key.get(), pck.key.get()));
  out.bundle.mutable_tdx()->set_quote(ToString(quote));
  *out.bundle.mutable_tdx()->mutable_collateral() = platform->collateral;
  SetSimBinding(options.runtime_claims, out.bundle);
  return out;
}

absl::StatusOr<std::shared_ptr<const TdxPlatform>> SimulateTdxPlatform(
    const SimulationRoots& roots, absl::Time now) {
  if (roots.composite == nullptr) {
    return absl::FailedPreconditionError("simulate: TDX simulation roots not loaded");
  }
  const testing::TdxTestPki& pki = roots.composite->tdx;
  auto platform = std::make_shared<TdxPlatform>();
  std::set<Bytes> serials;
  testing::PckExtensionSpec ext;
  const Bytes ppid = crypto::RandomBytes(16);
  std::copy(ppid.begin(), ppid.end(), ext.ppid.begin());
  testing::CertSpec leaf_spec;
  leaf_spec.serial = RandomSerial(16, serials);
  leaf_spec.not_before = now - absl::Hours(24);
  leaf_spec.not_after = now + absl::Hours(24 * 365 * 7);
  ASSIGN_OR_RETURN(platform->pck, testing::MakePckLeaf(pki, ext, leaf_spec));
  ASSIGN_OR_RETURN(platform->attestation_key, testing::MakeKey(testing::KeyType::kEcP256));
  testing::TdxCollateralSpec spec;
  spec.tcb_info = testing::DefaultTcbInfo(now);
  spec.qe_identity = testing::DefaultQeIdentity(now);
  for (testing::CrlSpec* crl : {&spec.pck_crl, &spec.root_crl}) {
    crl->this_update = now - absl::Hours(24);
    crl->next_update = now + absl::Hours(24 * 30);
  }
  ASSIGN_OR_RETURN(platform->collateral, testing::MakeTdxCollateral(pki, spec));
  return std::shared_ptr<const TdxPlatform>(std::move(platform));
}

#else  // !RP_SIM_COMPOSITE

struct CompositeRoots {};

bool CompositeSimulationAvailable() { return false; }

namespace {
absl::Status NoComposite() {
  return absl::UnimplementedError(
      "simulate: this build has no TDX / GPU simulation (configure with BUILD_TESTING=ON); "
      "only SEV-SNP without GPUs is available");
}
}  // namespace

absl::StatusOr<SimulationRoots> LoadOrCreateSimulationRoots(const std::string& dir) {
  SimulationRoots roots;
  roots.dir = dir;
  ASSIGN_OR_RETURN(roots.snp, LoadOrCreateSimulationRoot(dir));
  return roots;
}

absl::StatusOr<SimulatedGpus> SimulateGpuEvidence(const SimulationRoots&, int n_gpus,
                                                  const std::string&, GpuMode, absl::Time, int,
                                                  bool) {
  if (n_gpus == 0) {
    SimulatedGpus out;
    out.nvidia.set_arch("HOPPER");
    return out;
  }
  return NoComposite();
}

struct TdxPlatform {};
struct GpuPlatform {};

namespace {
size_t PlatformGpuCount(const GpuPlatform&) { return 0; }  // none can be made here
}  // namespace

absl::StatusOr<std::shared_ptr<const GpuPlatform>> SimulateGpuPlatform(const SimulationRoots&,
                                                                       int, absl::Time) {
  return NoComposite();
}

absl::StatusOr<SimulatedGpus> SimulateGpuEvidenceOn(const SimulationRoots&, const GpuPlatform&,
                                                    const std::string&, GpuMode, int) {
  return NoComposite();
}

absl::StatusOr<std::shared_ptr<const TdxPlatform>> SimulateTdxPlatform(const SimulationRoots&,
                                                                       absl::Time) {
  return NoComposite();
}

absl::StatusOr<SimulatedEvidence> SimulateTdxEvidence(const SimulationRoots&, const std::string&,
                                                      absl::Time, const std::vector<Bytes>&,
                                                      const TdxSimulationOptions&) {
  return NoComposite();
}

#endif  // RP_SIM_COMPOSITE

absl::StatusOr<SimulatedEvidence> SimulateSnpEvidenceWithGpus(
    const SimulationRoots& roots, const std::string& nonce, absl::Time now,
    const std::vector<Bytes>& gpu_reports, const SnpSimulationOptions& options) {
  RETURN_IF_ERROR(CheckNonce(nonce));
  // The simulation ARK's CRL (RSASSA-PSS like AMD's), valid around now.
  testing::CrlSpec crl_spec;
  crl_spec.this_update = now - absl::Hours(24);
  crl_spec.next_update = now + absl::Hours(24 * 30);
  crl_spec.scheme = testing::SigScheme::kRsaPssSha384;
  ASSIGN_OR_RETURN(auto crl, testing::MakeCrl(crl_spec, roots.snp.chain.ark.cert.get(),
                                              roots.snp.chain.ark.key.get()));
  RETURN_IF_ERROR(WriteCollateral(roots.CollateralDir(), "amd/Milan/crl.der",
                                  testing::CrlDer(crl.get())));
  SimulatedEvidence out;
  ASSIGN_OR_RETURN(out.tee_private_key_pem, NewTeeKey(out.bundle, options.tee_key));
  ASSIGN_OR_RETURN(Bytes report_data, SimReportData(nonce, out.bundle.tee_public_key(),
                                                    options.runtime_claims, gpu_reports));
  RETURN_IF_ERROR(BuildSnp(roots.snp, report_data, now, options, out.bundle));
  return out;
}

absl::StatusOr<SimulatedEvidence> SimulateNode(const SimulationRoots& roots,
                                               const std::string& nonce, absl::Time now,
                                               const NodeSimulationOptions& options) {
  SimulatedGpus gpus;
  if (options.gpu_platform != nullptr && options.gpus > 0) {
    const size_t platform_gpus = PlatformGpuCount(*options.gpu_platform);
    if (static_cast<int>(platform_gpus) != options.gpus) {
      return absl::InvalidArgumentError(absl::StrCat(
          "simulate: the GPU platform has ", platform_gpus, " GPUs, not ", options.gpus));
    }
    ASSIGN_OR_RETURN(gpus, SimulateGpuEvidenceOn(roots, *options.gpu_platform, nonce,
                                                 options.gpu_mode, options.gpu_mode_off_index));
  } else {
    ASSIGN_OR_RETURN(gpus,
                     SimulateGpuEvidence(roots, options.gpus, nonce, options.gpu_mode, now,
                                         options.gpu_mode_off_index, options.fresh_gpu_devices));
  }
  SimulatedEvidence out;
  if (options.tee == SimulatedTee::kTdx) {
    ASSIGN_OR_RETURN(out, SimulateTdxEvidence(roots, nonce, now, gpus.reports, options.tdx));
  } else {
    ASSIGN_OR_RETURN(out,
                     SimulateSnpEvidenceWithGpus(roots, nonce, now, gpus.reports, options.snp));
  }
  if (!gpus.reports.empty()) *out.bundle.mutable_nvidia() = std::move(gpus.nvidia);
  return out;
}

}  // namespace rp::sim
