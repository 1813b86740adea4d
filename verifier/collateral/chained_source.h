// Several collateral sources tried in a configured order.
#ifndef RP_VERIFIER_COLLATERAL_CHAINED_SOURCE_H_
#define RP_VERIFIER_COLLATERAL_CHAINED_SOURCE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/collateral/source.h"

namespace rp::collateral {

// Thread-safe if the sources are. The first source that has the item wins.
// An error from one source is recorded and the next source is tried. When
// no source has the item:
//   - every source answered "not found"  → nullopt;
//   - some source failed                 → UNAVAILABLE naming every source's
//     error ("collateral <key>: all sources failed: a: …; b: not found"),
//     except that INVALID_ARGUMENT from all failing sources stays
//     INVALID_ARGUMENT (a bad key is not retryable).
class ChainedSource : public CollateralSource {
 public:
  static absl::StatusOr<std::unique_ptr<ChainedSource>> Create(
      std::vector<std::shared_ptr<const CollateralSource>> sources);

  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override;
  absl::StatusOr<std::optional<CollateralItem>> GetItem(std::string_view key,
                                                        const GetOptions& options) const override;
  std::string Describe() const override;

 private:
  explicit ChainedSource(std::vector<std::shared_ptr<const CollateralSource>> sources)
      : sources_(std::move(sources)) {}
  const std::vector<std::shared_ptr<const CollateralSource>> sources_;
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_CHAINED_SOURCE_H_
