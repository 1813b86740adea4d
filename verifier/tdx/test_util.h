// Test-only helpers for the TDX tests: real vectors under tests/data/tdx,
// an in-memory collateral source, fixed times.
#ifndef RP_VERIFIER_TDX_TEST_UTIL_H_
#define RP_VERIFIER_TDX_TEST_UTIL_H_

#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"

namespace rp::tdx::test {

#ifndef RP_SOURCE_DIR
#define RP_SOURCE_DIR "."
#endif

inline Bytes ReadTdxData(std::string_view relative) {
  std::ifstream in(std::string(RP_SOURCE_DIR) + "/tests/data/tdx/" + std::string(relative),
                   std::ios::binary);
  if (!in) return {};
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline absl::Time At(const char* rfc3339) { return *ParseTime(rfc3339); }

// Collateral from a map; absent keys are "not available". Items listed in
// `stale` are served with stale = true.
class MapSource : public collateral::CollateralSource {
 public:
  void Put(std::string key, Bytes value) { items_[std::move(key)] = std::move(value); }
  void MarkStale(std::string key) { stale_[std::move(key)] = true; }
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override {
    auto it = items_.find(std::string(key));
    if (it == items_.end()) return std::optional<Bytes>();
    return std::optional<Bytes>(it->second);
  }
  absl::StatusOr<std::optional<collateral::CollateralItem>> GetItem(
      std::string_view key, const collateral::GetOptions& options) const override {
    auto it = items_.find(std::string(key));
    if (it == items_.end()) return std::optional<collateral::CollateralItem>();
    collateral::CollateralItem item;
    item.data = it->second;
    item.source = "map";
    if (stale_.count(std::string(key)) > 0) {
      if (options.stale_grace <= absl::ZeroDuration()) {
        return absl::FailedPreconditionError(std::string(key) + " is stale");
      }
      item.stale = true;
    }
    return std::optional<collateral::CollateralItem>(std::move(item));
  }
  std::string Describe() const override { return "map"; }

 private:
  std::map<std::string, Bytes> items_;
  std::map<std::string, bool> stale_;
};

}  // namespace rp::tdx::test

#endif  // RP_VERIFIER_TDX_TEST_UTIL_H_
