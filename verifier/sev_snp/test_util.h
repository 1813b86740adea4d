// Test-only helpers for the SEV-SNP tests: real vectors under
// tests/data/snp, an in-memory collateral source, the fixed test clock.
#ifndef RP_VERIFIER_SEV_SNP_TEST_UTIL_H_
#define RP_VERIFIER_SEV_SNP_TEST_UTIL_H_

#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"

namespace rp::sev_snp::test {

#ifndef RP_SOURCE_DIR
#define RP_SOURCE_DIR "."
#endif

inline std::string SnpDataPath(std::string_view relative) {
  return std::string(RP_SOURCE_DIR) + "/tests/data/snp/" +
         std::string(relative);
}

// The whole file, or an empty vector if it cannot be read (tests then fail
// on the content, with the path in their message).
inline Bytes ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return Bytes(std::istreambuf_iterator<char>(in),
               std::istreambuf_iterator<char>());
}
inline Bytes ReadSnpData(std::string_view relative) {
  return ReadFileBytes(SnpDataPath(relative));
}

// 2025-09-01T00:00:00Z: every certificate and both real CRLs are valid then
// (vectors/snp/PROVENANCE.md).
inline absl::Time GoldenTime() { return absl::FromUnixSeconds(1756684800); }

// Collateral from a map; keys absent from the map are "not available".
class MapSource : public collateral::CollateralSource {
 public:
  MapSource() = default;
  explicit MapSource(std::map<std::string, Bytes> items)
      : items_(std::move(items)) {}
  void Put(std::string key, Bytes value) {
    items_[std::move(key)] = std::move(value);
  }
  absl::StatusOr<std::optional<Bytes>> Get(
      std::string_view key) const override {
    auto it = items_.find(std::string(key));
    if (it == items_.end()) return std::optional<Bytes>();
    return std::optional<Bytes>(it->second);
  }
  std::string Describe() const override { return "map"; }

 private:
  std::map<std::string, Bytes> items_;
};

}  // namespace rp::sev_snp::test

#endif  // RP_VERIFIER_SEV_SNP_TEST_UTIL_H_
