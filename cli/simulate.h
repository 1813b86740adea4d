// Simulated hardware (ARCHITECTURE §9): evidence of the real formats, bound
// to a real challenge with attest-v1, signed under simulation roots kept in a
// simulation directory. Only a configuration that trusts the simulation
// roots (dev/demo) accepts it, and then always with a warning.
//
// Simulation directory (`attestctl simulate init`; keys mode 0600):
//   ark.pem/.key, ask.pem/.key              SEV-SNP (Milan) ARK + ASK
//   tdx_root.pem/.key, tdx_pck_ca.pem/.key, tdx_tcb_signing.pem/.key
//                                            Intel-like PCK hierarchy
//   gpu_root.pem/.key, gpu_identity.pem/.key, gpu_provisioner.pem/.key
//                                            NVIDIA-like device hierarchy (Hopper)
//   rim_root.pem/.key, rim_ca.pem/.key, rim_l3.pem/.key, rim_l4.pem/.key
//                                            NVIDIA-like RIM signing hierarchy
//   collateral/                              offline collateral directory the
//                                            simulator writes (RIMs, OCSP
//                                            answers, the SNP CRL); point
//                                            --collateral / collateral_dir here
// The TDX / GPU / RIM parts need the test builders (BUILD_TESTING=ON);
// without them only SEV-SNP simulation is available
// (CompositeSimulationAvailable() is false).
#ifndef RP_CLI_SIMULATE_H_
#define RP_CLI_SIMULATE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "tests/testing/snp_report_builder.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::sim {

// The simulation ARK/ASK pair kept in `dir` (ark.pem, ark.key, ask.pem,
// ask.key), created on first use with mode 0600 keys.
// The simulated product line is Milan (CN "SEV-Milan" etc.).
struct SimulationRoot {
  testing::SnpTestChain chain;  // ark + ask (with keys); no ASVK, no CRL
};

absl::StatusOr<SimulationRoot> LoadOrCreateSimulationRoot(const std::string& dir);

// The TEE key the simulated report commits to: "P-256" (default), "P-384",
// "P-521" or "RSA-3072" (key release wraps to it: ECDH-ES+A256KW or
// RSA-OAEP-256).
inline constexpr char kDefaultTeeKeyType[] = "P-256";

// Runtime claims to bind (binding profile attest-v2, docs/binding.md);
// nullopt = attest-v1.
using OptionalRuntimeClaims = std::optional<std::map<std::string, std::string>>;

struct SnpSimulationOptions {
  bool debug = false;
  int vmpl = 0;
  std::string tee_key = kDefaultTeeKeyType;
  OptionalRuntimeClaims runtime_claims;
};

struct SimulatedEvidence {
  // CPU evidence + tee_public_key + binding attest-v1 (attest-v2 with the
  // runtime claims when the options name some).
  attestation::v1::EvidenceBundle bundle;
  std::string tee_private_key_pem;         // the TEE key the report commits to
};

// `nonce` is the challenge nonce (32 bytes).
absl::StatusOr<SimulatedEvidence> SimulateSnpEvidence(const SimulationRoot& root,
                                                      const std::string& nonce, absl::Time now,
                                                      const SnpSimulationOptions& options);

// ---- Composite nodes (TDX or SNP + up to 8 GPUs) ---------------------------

// True when this build has the TDX / GPU / RIM builders.
bool CompositeSimulationAvailable();

struct CompositeRoots;  // TDX, GPU and RIM hierarchies (simulate.cc)

// Every simulation root of `dir`, created on first use. Without the
// composite builders only `snp` is loaded (composite stays null).
struct SimulationRoots {
  std::string dir;
  SimulationRoot snp;
  std::shared_ptr<const CompositeRoots> composite;
  std::string CollateralDir() const { return dir + "/collateral"; }
};

absl::StatusOr<SimulationRoots> LoadOrCreateSimulationRoots(const std::string& dir);

// GPU modes of the simulator. kOff: the GPU's report carries no valid
// confidential-computing mode (the report format has no "CC off" field; a
// real GPU in CC-off mode gives no report). It is written with
// OPAQUE_DATA_VERSION 1 and FEATURE_FLAG 0xFF, which the verifier refuses
// (nvidia.cc_mode fails, cc_mode claim null; the policy never trusts it).
// kPpcie: PROTECTED_PCIE_STATUS on + SWITCH_PDI; no NVSwitch evidence is
// simulated, so a verifier that requires switch evidence refuses it.
enum class GpuMode { kCc, kPpcie, kOff };
absl::StatusOr<GpuMode> ParseGpuMode(std::string_view text);  // "cc" | "ppcie" | "off"

inline constexpr int kMaxSimulatedGpus = 8;
// What the simulated GPUs report (the RIMs are made for these).
inline constexpr char kSimDriverVersion[] = "550.90.07";
inline constexpr char kSimVbiosVersion[] = "96.00.9F.00.01";

struct SimulatedGpus {
  attestation::v1::NvidiaEvidence nvidia;  // arch HOPPER, evidence_list
  std::vector<Bytes> reports;              // the raw reports, in order
};

// `n_gpus` (0..8) GPU reports, each with a 5-certificate chain under the
// simulation GPU root, requester nonce = `nonce`, distinct ueids. Also
// writes into roots.CollateralDir(): the signed driver and VBIOS RIMs for
// the simulated versions (nvidia/rims/<RIM_ID>.xml, under the simulation RIM
// root) and OCSP answers (good, valid around `now`) for the GPU and RIM
// chains (nvidia/ocsp/...). `gpu_mode_off_index` >= 0 puts that one GPU in
// kOff mode (the others use `mode`).
// `fresh_devices`: every GPU gets a new BROM serial too (a node never seen
// before: its device certificates' OCSP status must be fetched), instead of
// slot g's fixed serial (the same physical node on every run).
absl::StatusOr<SimulatedGpus> SimulateGpuEvidence(const SimulationRoots& roots, int n_gpus,
                                                  const std::string& nonce, GpuMode mode,
                                                  absl::Time now, int gpu_mode_off_index = -1,
                                                  bool fresh_devices = false);

// `n_gpus` simulated GPUs of one node, made once for a time: their device
// certificates and keys, and in roots.CollateralDir() the RIMs and OCSP
// answers SimulateGpuEvidence writes. Reports made with it
// (SimulateGpuEvidenceOn) differ only in what a real node's reports differ in
// (nonces, signatures): a verifier sees the same certificate chains request
// after request, as from real GPUs (bench/attest_load).
struct GpuPlatform;
absl::StatusOr<std::shared_ptr<const GpuPlatform>> SimulateGpuPlatform(
    const SimulationRoots& roots, int n_gpus, absl::Time now);
absl::StatusOr<SimulatedGpus> SimulateGpuEvidenceOn(const SimulationRoots& roots,
                                                    const GpuPlatform& platform,
                                                    const std::string& nonce, GpuMode mode,
                                                    int gpu_mode_off_index = -1);

// One simulated TDX machine: its PCK certificate, quoting enclave's
// attestation key and QVL collateral (TCB info, QE identity, CRLs), made once
// for a time. Quotes made with it differ only in what a real machine's
// quotes differ in (report data, signatures), so a verifier sees the same
// platform and collateral request after request (bench/attest_load).
struct TdxPlatform;
absl::StatusOr<std::shared_ptr<const TdxPlatform>> SimulateTdxPlatform(
    const SimulationRoots& roots, absl::Time now);

struct TdxSimulationOptions {
  bool debug = false;
  std::string tee_key = kDefaultTeeKeyType;
  OptionalRuntimeClaims runtime_claims;
  // When set, quotes come from this machine; else each from a new one.
  std::shared_ptr<const TdxPlatform> platform;
};

// A TDX quote v4 under the simulation PCK hierarchy, report_data = attest-v1
// over `nonce`, a fresh TEE key and `gpu_reports`; QVL collateral (TCB info,
// QE identity, CRLs) valid at `now` in bundle.tdx.collateral. Does not set
// bundle.nvidia.
absl::StatusOr<SimulatedEvidence> SimulateTdxEvidence(const SimulationRoots& roots,
                                                      const std::string& nonce, absl::Time now,
                                                      const std::vector<Bytes>& gpu_reports,
                                                      const TdxSimulationOptions& options = {});

// SEV-SNP bound to `gpu_reports` too (attest-v1); also writes the simulation
// ARK's CRL (amd/Milan/crl.der, valid around `now`) into the collateral dir.
absl::StatusOr<SimulatedEvidence> SimulateSnpEvidenceWithGpus(
    const SimulationRoots& roots, const std::string& nonce, absl::Time now,
    const std::vector<Bytes>& gpu_reports, const SnpSimulationOptions& options = {});

enum class SimulatedTee { kSnp, kTdx };

struct NodeSimulationOptions {
  SimulatedTee tee = SimulatedTee::kSnp;
  int gpus = 0;
  GpuMode gpu_mode = GpuMode::kCc;
  int gpu_mode_off_index = -1;  // one GPU in CC-off mode (negative tests)
  bool fresh_gpu_devices = false;  // SimulateGpuEvidence's fresh_devices
  // When set (with gpus == its GPU count), the GPUs are this node's
  // (SimulateGpuPlatform); else made anew for each node.
  std::shared_ptr<const GpuPlatform> gpu_platform;
  SnpSimulationOptions snp;
  TdxSimulationOptions tdx;
};

// A whole node: GPUs (if any), then the CPU evidence bound to them.
absl::StatusOr<SimulatedEvidence> SimulateNode(const SimulationRoots& roots,
                                               const std::string& nonce, absl::Time now,
                                               const NodeSimulationOptions& options);

}  // namespace rp::sim

#endif  // RP_CLI_SIMULATE_H_
