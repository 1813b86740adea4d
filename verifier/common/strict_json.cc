#include "verifier/common/strict_json.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rp {

absl::StatusOr<nlohmann::json> ParseStrictJsonObject(std::span<const uint8_t> bytes,
                                                     absl::string_view name, int max_depth) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> open_objects;
  std::string problem;
  const json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (event == json::parse_event_t::object_start) open_objects.emplace_back();
        if (depth > max_depth && problem.empty()) {
          problem = absl::StrCat("nested deeper than ", max_depth);
        }
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && problem.empty()) {
          problem = absl::StrCat("duplicate member \"", parsed.get<std::string>(), "\"");
        }
        break;
      default:
        break;
    }
    return true;
  };
  json value = json::parse(bytes.begin(), bytes.end(), check, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is not valid JSON"));
  }
  if (!problem.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", problem));
  if (!value.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is not a JSON object"));
  }
  return value;
}

}  // namespace rp
