// Human-readable and JSON rendering of results for attestctl.
#ifndef RP_CLI_RENDER_H_
#define RP_CLI_RENDER_H_

#include <ostream>

#include "attestation/v1/attestation.pb.h"
#include "nlohmann/json.hpp"

namespace rp::cli {

// The result JSON shape of ARCHITECTURE §4 from an online response.
nlohmann::json ResponseToResultJson(const attestation::v1::AttestResponse& r);
// Verdict, per-device status, every non-passing check with its reason, and
// the headline claims.
void PrintHuman(const nlohmann::json& result, std::ostream& out);

}  // namespace rp::cli

#endif  // RP_CLI_RENDER_H_
