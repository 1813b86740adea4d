// Secret store: where releasable secrets rest, named by resource.
//
// A resource is named `<repository>/<type>/<tag>` (the Trustee KBS
// convention, e.g. "kms/model-key/v1"). Implementations:
//   - DirectoryStore (release/directory_store.h): plaintext files, 0600, for
//     development only.
//   - Pkcs11Store (release/pkcs11_store.h): AES-256-GCM envelopes whose data
//     keys are wrapped by a non-extractable HSM key (production).
// OpenSecretStore() builds either from a SecretStoreConfig, which has the
// same fields as the server's `key_release.store` block and the file read by
// `attestctl resource --pkcs11-config`.
#ifndef RP_RELEASE_SECRET_STORE_H_
#define RP_RELEASE_SECRET_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "release/secret_bytes.h"

namespace rp::release {

// Bounds of a resource name: each of the three segments is 1..64 characters
// of [A-Za-z0-9._-] and does not start with '.' (so "." and ".." can never
// become path components, and temporary files can never collide with a
// resource); the whole name is at most 194 bytes.
inline constexpr size_t kMaxResourceSegmentBytes = 64;
inline constexpr size_t kMaxResourceNameBytes = 3 * kMaxResourceSegmentBytes + 2;
// Largest secret any store accepts (Put refuses more; Get refuses a record
// that would decode to more).
inline constexpr size_t kMaxSecretBytes = 64 * 1024;

// True iff `name` is `<repository>/<type>/<tag>` within the bounds above.
// Every store checks it on every call (INVALID_ARGUMENT otherwise), and the
// release service checks it before looking anything up.
bool IsValidResourceName(std::string_view name);
// True iff `segment` is one valid segment of a resource name.
bool IsValidResourceSegment(std::string_view segment);

// Where releasable secrets rest.
//
// Status contract (the same for every implementation, so the release service
// can map codes without knowing the backend):
//   OK                   the exact secret (Get) / the operation happened.
//   INVALID_ARGUMENT     bad resource name, empty or oversized secret.
//   NOT_FOUND            no such resource (Get, Remove).
//   UNAVAILABLE          backend down: I/O error, HSM/module/token/login/
//                        session failure (the message names the CKR_ code).
//   FAILED_PRECONDITION  the stored file is unsafe (group/other permission
//                        bits, not owned by us, not a regular file) or the
//                        HSM key does not meet the contract.
//   DATA_LOSS            a stored record is malformed or fails authentication
//                        (tampered, truncated, moved from another resource).
//                        Pkcs11Store: authentication is the HSM's, so the
//                        code follows the module's CKR_ (SoftHSM2 says
//                        CKR_GENERAL_ERROR, hence UNAVAILABLE).
// Anything but OK / INVALID_ARGUMENT / NOT_FOUND means "cannot release now"
// (HTTP 503). A failed Get never returns partial data: the value is either
// the whole authenticated secret or absent. Secrets are never logged and no
// message contains secret bytes.
//
// Thread-safety: every method may be called concurrently from any thread. A
// Get racing a Put of the same resource sees the old or the new secret, never
// a mix (records are replaced by an atomic rename).
class SecretStore {
 public:
  virtual ~SecretStore() = default;

  // The secret stored under `resource`, in a buffer that wipes itself.
  virtual absl::StatusOr<SecretBytes> Get(std::string_view resource) const = 0;
  // Creates or replaces `resource`. `secret` is 1..kMaxSecretBytes bytes.
  virtual absl::Status Put(std::string_view resource, std::span<const uint8_t> secret) = 0;
  // Names of all stored resources, sorted. Names only: nothing is decrypted.
  virtual absl::StatusOr<std::vector<std::string>> List() const = 0;
  // Deletes `resource`; NOT_FOUND if it does not exist.
  virtual absl::Status Remove(std::string_view resource) = 0;
  // One line for logs and `attestctl`: backend and location, never a secret
  // or PIN (e.g. "pkcs11 token 'rp' key 'rp-wrap' module ... dir ...").
  virtual std::string Describe() const = 0;
};

// PKCS#11 settings (see Pkcs11Store).
struct Pkcs11Config {
  std::string module;       // path of the PKCS#11 module (.so), dlopen()ed
  std::string token_label;  // CKA_LABEL of the token (exactly one must match)
  std::string pin_file;     // user PIN; regular file owned by us or root, mode 0600/0400
  std::string key_label;    // CKA_LABEL of the non-extractable AES wrapping key
};

// The store block (YAML or JSON):
//   type: pkcs11            # or "directory"
//   dir: /var/lib/rp/secrets  # record files (envelopes for pkcs11)
//   pkcs11:                 # only for type pkcs11; all four required
//     module: /usr/lib/softhsm/libsofthsm2.so
//     token_label: rp-release
//     pin_file: /etc/rp/hsm.pin
//     key_label: rp-release-wrap
struct SecretStoreConfig {
  std::string type;  // "directory" | "pkcs11"
  std::string dir;
  Pkcs11Config pkcs11;
};

// Parses a store block. Unknown keys are errors; relative `dir`, `module`
// (only if it contains a '/') and `pin_file` resolve against `base_dir`
// (unless empty). If `default_type` is non-empty a missing `type` means it,
// and a different `type` is an error. Messages start with `origin`.
absl::StatusOr<SecretStoreConfig> ParseSecretStoreConfig(std::string_view text,
                                                         std::string_view origin,
                                                         std::string_view base_dir,
                                                         std::string_view default_type = "");

// Builds the configured store (connecting to the HSM for pkcs11).
absl::StatusOr<std::unique_ptr<SecretStore>> OpenSecretStore(const SecretStoreConfig& config);

}  // namespace rp::release

#endif  // RP_RELEASE_SECRET_STORE_H_
