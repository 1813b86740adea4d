// DirectoryStore: secrets as plaintext files, one per resource — for
// development and tests only (production uses Pkcs11Store). Also the record
// layer under Pkcs11Store, which keeps its envelopes the same way.
#ifndef RP_RELEASE_DIRECTORY_STORE_H_
#define RP_RELEASE_DIRECTORY_STORE_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "release/secret_bytes.h"
#include "release/secret_store.h"

namespace rp::release {

// Layout: <root>/<repository>/<type>/<tag>, one file per resource.
//
// Why each rule (the files hold secrets in the clear):
//   - the root and every directory below it are owned by us with no
//     group/other bits (created 0700); anything else is refused, because a
//     directory others can write lets them swap a secret;
//   - records are written to a temporary file (mode 0600, O_EXCL, name
//     starting with '.', which no resource segment may) that is fsync()ed and
//     renamed over the record, so a reader sees the old or the new secret,
//     never a torn one, and a crash leaves at worst a stray temp file;
//   - reads open with O_NOFOLLOW below the root (no symlink redirects), and
//     refuse anything that is not a regular file owned by us without
//     group/other permission bits (FAILED_PRECONDITION), or that is empty or
//     larger than the cap (DATA_LOSS);
//   - all paths are resolved relative to a descriptor of the root taken at
//     Create(), so renaming the root's path later cannot redirect the store.
//
// Thread-safety: stateless apart from the root descriptor; every method may
// run concurrently.
class DirectoryStore final : public SecretStore {
 public:
  struct Options {
    // Largest record accepted by Put and Get (Pkcs11Store raises it by its
    // envelope overhead).
    size_t max_record_bytes = kMaxSecretBytes;
  };

  // Opens `root`, creating it (mode 0700; its parent must exist) if absent.
  // FAILED_PRECONDITION if it is not a directory owned by us with mode 0700
  // (no group/other bits).
  static absl::StatusOr<std::unique_ptr<DirectoryStore>> Create(const std::string& root,
                                                                Options options);
  static absl::StatusOr<std::unique_ptr<DirectoryStore>> Create(const std::string& root) {
    return Create(root, Options{});
  }

  ~DirectoryStore() override;
  DirectoryStore(const DirectoryStore&) = delete;
  DirectoryStore& operator=(const DirectoryStore&) = delete;

  absl::StatusOr<SecretBytes> Get(std::string_view resource) const override;
  absl::Status Put(std::string_view resource, std::span<const uint8_t> secret) override;
  absl::StatusOr<std::vector<std::string>> List() const override;
  absl::Status Remove(std::string_view resource) override;
  std::string Describe() const override;

  const std::string& root() const { return root_; }

 private:
  DirectoryStore(std::string root, int root_fd, Options options)
      : root_(std::move(root)), root_fd_(root_fd), options_(options) {}

  const std::string root_;
  const int root_fd_;  // owned; O_DIRECTORY
  const Options options_;
};

// List() returns at most this many names (RESOURCE_EXHAUSTED beyond).
inline constexpr size_t kMaxListedResources = 100000;

namespace internal {

// Reads a small secret file (a PIN, a key): it must be a regular file of at
// most `max_bytes` with no group/other permission bits, owned by us (or by
// root when `allow_root_owner`: e.g. a Kubernetes Secret mount). Symlinks are
// followed (Secret mounts are symlinks); the checks apply to the target.
// NOT_FOUND if missing, FAILED_PRECONDITION for an unsafe file.
absl::StatusOr<SecretBytes> ReadPrivateFile(const std::string& path, size_t max_bytes,
                                            bool allow_root_owner);

}  // namespace internal
}  // namespace rp::release

#endif  // RP_RELEASE_DIRECTORY_STORE_H_
