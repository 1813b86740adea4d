// Reading evidence bundles (ARCHITECTURE §4 JSON) and small files for the CLI.
#ifndef RP_CLI_BUNDLE_IO_H_
#define RP_CLI_BUNDLE_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "attestation/v1/attestation.pb.h"

namespace rp::cli {

inline constexpr size_t kMaxBundleBytes = 4 * 1024 * 1024;

// Strict: unknown fields, wrong types and bad base64 are errors naming the file.
absl::StatusOr<attestation::v1::EvidenceBundle> ParseBundleJson(const std::string& json,
                                                                const std::string& origin);
absl::StatusOr<attestation::v1::EvidenceBundle> ReadBundleFile(const std::string& path);
std::string BundleToJson(const attestation::v1::EvidenceBundle& bundle);

absl::StatusOr<attestation::v1::Challenge> ReadChallengeFile(const std::string& path);
std::string ChallengeToJson(const attestation::v1::Challenge& challenge);

absl::Status WriteFile(const std::string& path, const std::string& data);

// For secrets (private keys): the data goes to a new file created with mode
// 0600 (O_CREAT|O_EXCL, never readable by others, not even while being
// written) in the target's directory, which is then renamed over `path`. A
// symlink at `path` is replaced, not followed.
absl::Status WritePrivateFile(const std::string& path, const std::string& data);

}  // namespace rp::cli

#endif  // RP_CLI_BUNDLE_IO_H_
