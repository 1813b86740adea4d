// Pkcs11Store: secrets at rest under a non-extractable HSM key (envelope
// encryption), for production. SoftHSM2 in tests and the demo; any PKCS#11
// v2.40 module in production.
#ifndef RP_RELEASE_PKCS11_STORE_H_
#define RP_RELEASE_PKCS11_STORE_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "release/directory_store.h"
#include "release/secret_bytes.h"
#include "release/secret_store.h"

namespace rp::release {

namespace internal {
class Pkcs11Token;  // pkcs11_store.cc: module, slot, login, session pool
}  // namespace internal

// Envelope encryption:
//   Put: the HSM generates a fresh AES-256 data key as a session object
//        (sensitive: its value never leaves the HSM in the clear), encrypts
//        the secret with it (CKM_AES_GCM, random 96-bit IV, 128-bit tag, AAD
//        = "rp-secret-store/v1\0" + resource name, so a record moved to another
//        name fails), wraps it with the token's wrapping key
//        (CKM_AES_KEY_WRAP_PAD, RFC 5649; CKM_AES_KEY_WRAP, RFC 3394, if the
//        module lacks PAD) and destroys it. The record — wrapping mechanism,
//        wrapped data key, IV, ciphertext+tag — is written as one file by a
//        DirectoryStore at `dir` (same layout and file rules: 0600, atomic
//        rename).
//   Get: the HSM unwraps the data key into a non-extractable session object,
//        decrypts and authenticates the ciphertext with it (GCM: plaintext
//        only if the tag verifies), and the key is destroyed. Neither the
//        wrapping key nor a data key is ever in this process's memory.
// Records live in files rather than as PKCS#11 data objects: HSM token
// storage is small and slow to write, ciphertext needs no protection beyond
// integrity (which GCM gives), and files are backed up, listed and removed
// without a login. The HSM holds exactly one object of ours: the wrapping
// key.
//
// The wrapping key (GenerateWrappingKey, or any AES-256 key with the same
// attributes) must have CKA_EXTRACTABLE=false, CKA_NEVER_EXTRACTABLE=true,
// CKA_SENSITIVE=true, CKA_WRAP=true and CKA_UNWRAP=true; Create() refuses
// any other key (FAILED_PRECONDITION), since a key that can leave, or once
// could leave, the HSM defeats the point of the store.
//
// The module is dlopen()ed and C_Initialize()d (CKF_OS_LOCKING_OK) once per
// process per path and shared by every store using it. Sessions are pooled:
// one caller per session at a time, a session that saw any error is closed,
// and a session found logged out (e.g. after the HSM restarted) is logged in
// again with the PIN read at Create(). Errors of the HSM are UNAVAILABLE with
// the function and CKR_ name ("C_Login: CKR_PIN_INCORRECT"). A malformed
// record is DATA_LOSS; one that the HSM refuses to unwrap or authenticate is
// DATA_LOSS if the module says CKR_WRAPPED_KEY_INVALID/
// CKR_ENCRYPTED_DATA_INVALID (or _LEN_RANGE), otherwise UNAVAILABLE
// (SoftHSM2 reports both as CKR_GENERAL_ERROR, which cannot be told from a
// fault). Never NOT_FOUND except for a missing record. See SecretStore for
// the full status contract.
//
// Thread-safety: all methods may be called concurrently.
class Pkcs11Store final : public SecretStore {
 public:
  // Connects to the token now (dlopen, token lookup by label, login, key
  // lookup and attribute checks); any failure there is returned (UNAVAILABLE
  // for the module/token/login, FAILED_PRECONDITION for the PIN file or the
  // key). `dir` holds the records (created 0700 if absent).
  static absl::StatusOr<std::unique_ptr<Pkcs11Store>> Create(const Pkcs11Config& config,
                                                             const std::string& dir);

  // Creates the wrapping key on the token (an admin step, once per token):
  // AES-256, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not extractable, not
  // modifiable, usable only to wrap and unwrap. ALREADY_EXISTS if a secret
  // key with `config.key_label` is already there.
  static absl::Status GenerateWrappingKey(const Pkcs11Config& config);

  ~Pkcs11Store() override;
  Pkcs11Store(const Pkcs11Store&) = delete;
  Pkcs11Store& operator=(const Pkcs11Store&) = delete;

  absl::StatusOr<SecretBytes> Get(std::string_view resource) const override;
  absl::Status Put(std::string_view resource, std::span<const uint8_t> secret) override;
  absl::StatusOr<std::vector<std::string>> List() const override;
  absl::Status Remove(std::string_view resource) override;
  std::string Describe() const override;

 private:
  Pkcs11Store(std::unique_ptr<internal::Pkcs11Token> token,
              std::unique_ptr<DirectoryStore> records, std::string description);

  const std::unique_ptr<internal::Pkcs11Token> token_;
  const std::unique_ptr<DirectoryStore> records_;
  const std::string description_;
};

// Upper bound of a record's size beyond the secret itself (header, wrapped
// key, IV, tag).
inline constexpr size_t kPkcs11RecordOverheadBytes = 256;
// Largest PIN file accepted.
inline constexpr size_t kMaxPinFileBytes = 256;

}  // namespace rp::release

#endif  // RP_RELEASE_PKCS11_STORE_H_
