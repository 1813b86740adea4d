// Simulated SEV-SNP hardware (ARCHITECTURE §9): evidence of the real format,
// bound to a real challenge with attest-v1, signed by a simulation VCEK that
// chains to a simulation ARK. Only a configuration that trusts the
// simulation root (dev/demo) accepts it, and then always with a warning.
#ifndef RP_CLI_SIMULATE_H_
#define RP_CLI_SIMULATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "tests/testing/snp_report_builder.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::sim {

// The simulation ARK/ASK pair kept in `dir` (ark.pem, ark.key, ask.pem,
// ask.key), created on first use with mode 0600 keys.
// The simulated product line is Milan (CN "SEV-Milan" etc.).
struct SimulationRoot {
  testing::SnpTestChain chain;  // ark + ask (with keys); no ASVK, no CRL
};

absl::StatusOr<SimulationRoot> LoadOrCreateSimulationRoot(const std::string& dir);

struct SnpSimulationOptions {
  bool debug = false;
  int vmpl = 0;
};

struct SimulatedEvidence {
  attestation::v1::EvidenceBundle bundle;  // sev_snp + tee_public_key + binding attest-v1
  std::string tee_private_key_pem;         // the TEE key the report commits to
};

// `nonce` is the challenge nonce (32 bytes).
absl::StatusOr<SimulatedEvidence> SimulateSnpEvidence(const SimulationRoot& root,
                                                      const std::string& nonce, absl::Time now,
                                                      const SnpSimulationOptions& options);

}  // namespace rp::sim

#endif  // RP_CLI_SIMULATE_H_
