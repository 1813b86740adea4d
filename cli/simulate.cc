#include "cli/simulate.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "policy/yaml_json.h"
#include "verifier/common/status_macros.h"
#include "verifier/core/binding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/x509.h"

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
  if (nonce.size() != core::kNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("simulate: nonce is ", nonce.size(), " bytes, expected 32"));
  }
  if (options.vmpl < 0 || options.vmpl > 3) {
    return absl::InvalidArgumentError("simulate: vmpl must be 0..3");
  }
  SimulatedEvidence out;
  ASSIGN_OR_RETURN(auto tee_key, crypto::GenerateEcKey("P-256"));
  ASSIGN_OR_RETURN(crypto::JwkPublic jwk, crypto::EcPublicJwk(tee_key.get()));
  attestation::v1::Jwk* pj = out.bundle.mutable_tee_public_key();
  pj->set_kty(jwk.kty);
  pj->set_crv(jwk.crv);
  pj->set_x(jwk.x);
  pj->set_y(jwk.y);
  out.tee_private_key_pem = crypto::PrivateKeyPem(tee_key.get());
  ASSIGN_OR_RETURN(Bytes report_data,
                   core::ExpectedAttestV1ReportData(AsBytes(nonce), *pj, {}));

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

  auto* snp = out.bundle.mutable_sev_snp();
  snp->set_report(ToString(report));
  snp->set_vcek(crypto::CertificatePem(vcek.cert.get()));
  snp->set_cert_chain(root.chain.vcek_chain_pem());
  out.bundle.set_binding(std::string(core::kBindingAttestV1));
  return out;
}

}  // namespace rp::sim
