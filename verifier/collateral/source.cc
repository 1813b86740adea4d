#include "verifier/collateral/source.h"

#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rp::collateral {

bool IsValidCollateralKey(std::string_view key_view) {
  const std::string key(key_view);
  if (key.empty() || key.size() > 512 || key.front() == '/') return false;
  for (absl::string_view seg : absl::StrSplit(key, '/')) {
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
      if (!ok) return false;
    }
  }
  return true;
}

absl::StatusOr<std::optional<CollateralItem>> CollateralSource::GetItem(
    std::string_view key, const GetOptions& /*options*/) const {
  absl::StatusOr<std::optional<Bytes>> got = Get(key);
  if (!got.ok()) return got.status();
  if (!got->has_value()) return std::optional<CollateralItem>();
  CollateralItem item;
  item.data = std::move(**got);
  item.source = Describe();
  return std::optional<CollateralItem>(std::move(item));
}

absl::StatusOr<std::optional<Bytes>> OfflineDirectorySource::Get(std::string_view key_view) const {
  const std::string key(key_view);
  if (!IsValidCollateralKey(key)) {
    return absl::InvalidArgumentError(absl::StrCat("collateral key '", key, "' is not valid"));
  }
  std::string path = absl::StrCat(root_, "/", key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::optional<Bytes>();
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) return absl::InternalError(absl::StrCat("collateral: cannot size ", path));
  if (static_cast<uint64_t>(size) > kMaxCollateralItemBytes) {
    // Not FAILED_PRECONDITION: verifiers read that as "stale beyond the grace".
    return absl::ResourceExhaustedError(
        absl::StrCat("collateral: ", path, " is ", size, " bytes, over the limit of ",
                     kMaxCollateralItemBytes));
  }
  in.seekg(0);
  Bytes data(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(data.data()), size);  // NOLINT: byte buffer
  if (!in) return absl::InternalError(absl::StrCat("collateral: read failed for ", path));
  return std::optional<Bytes>(std::move(data));
}

}  // namespace rp::collateral
