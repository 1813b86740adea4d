// Where verifiers get collateral they were not handed in the bundle. Keys
// are paths in the offline-directory layout (ARCHITECTURE §4), e.g.
// "amd/Milan/cert_chain.pem", so a warmed cache is also an offline bundle.
#ifndef RP_VERIFIER_COLLATERAL_SOURCE_H_
#define RP_VERIFIER_COLLATERAL_SOURCE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"

namespace rp::collateral {

// Thread-safe. Get returns nullopt when the source does not have the item,
// an error when the source failed (I/O error, item too large, bad key).
class CollateralSource {
 public:
  virtual ~CollateralSource() = default;
  virtual absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const = 0;
  // Short description for check details, e.g. "offline:/path".
  virtual std::string Describe() const = 0;
};

inline constexpr size_t kMaxCollateralItemBytes = 4 * 1024 * 1024;

// Reads files below `root`. Keys must be relative, made of [A-Za-z0-9._/-]
// segments, with no "..", no empty segment and no leading "/".
class OfflineDirectorySource : public CollateralSource {
 public:
  explicit OfflineDirectorySource(std::string root) : root_(std::move(root)) {}
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override;
  std::string Describe() const override { return "offline:" + root_; }

 private:
  std::string root_;
};

// A source that has nothing (used when no collateral directory is set).
class EmptySource : public CollateralSource {
 public:
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view) const override {
    return std::optional<Bytes>();
  }
  std::string Describe() const override { return "none"; }
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_SOURCE_H_
