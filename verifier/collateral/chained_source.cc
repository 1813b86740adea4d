#include "verifier/collateral/chained_source.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "verifier/common/status_macros.h"

namespace rp::collateral {

absl::StatusOr<std::unique_ptr<ChainedSource>> ChainedSource::Create(
    std::vector<std::shared_ptr<const CollateralSource>> sources) {
  if (sources.empty()) return absl::InvalidArgumentError("chained source: no sources");
  for (const auto& s : sources) {
    if (s == nullptr) return absl::InvalidArgumentError("chained source: null source");
  }
  return std::unique_ptr<ChainedSource>(new ChainedSource(std::move(sources)));
}

std::string ChainedSource::Describe() const {
  std::vector<std::string> names;
  names.reserve(sources_.size());
  for (const auto& s : sources_) names.push_back(s->Describe());
  return absl::StrCat("chain[", absl::StrJoin(names, ", "), "]");
}

absl::StatusOr<std::optional<Bytes>> ChainedSource::Get(std::string_view key) const {
  ASSIGN_OR_RETURN(std::optional<CollateralItem> item, GetItem(key, GetOptions{}));
  if (!item.has_value()) return std::optional<Bytes>();
  return std::optional<Bytes>(std::move(item->data));
}

absl::StatusOr<std::optional<CollateralItem>> ChainedSource::GetItem(
    std::string_view key, const GetOptions& options) const {
  std::vector<std::string> notes;
  size_t failures = 0;
  size_t invalid = 0;
  for (const auto& source : sources_) {
    absl::StatusOr<std::optional<CollateralItem>> got = source->GetItem(key, options);
    if (got.ok() && got->has_value()) return got;
    if (got.ok()) {
      notes.push_back(absl::StrCat(source->Describe(), ": not found"));
      continue;
    }
    ++failures;
    if (got.status().code() == absl::StatusCode::kInvalidArgument) ++invalid;
    notes.push_back(absl::StrCat(source->Describe(), ": ",
                                 absl::StatusCodeToString(got.status().code()), ": ",
                                 got.status().message()));
  }
  if (failures == 0) return std::optional<CollateralItem>();
  const std::string message = absl::StrCat("collateral ", std::string(key),
                                           ": no source has it: ", absl::StrJoin(notes, "; "));
  if (invalid == failures) return absl::InvalidArgumentError(message);
  return absl::UnavailableError(message);
}

}  // namespace rp::collateral
