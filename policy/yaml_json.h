// YAML (or JSON, a YAML subset) text → nlohmann::json, so that YAML config
// and policy documents can be mapped onto protos with the one JSON mapper.
#ifndef RP_POLICY_YAML_JSON_H_
#define RP_POLICY_YAML_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace rp {

inline constexpr size_t kMaxDocumentBytes = 1024 * 1024;

// Plain scalars true/false become booleans and null/~ null; every other
// scalar, quoted or not, stays a string (so hex digests never turn into
// numbers; the proto JSON mapping accepts "300" for integer fields).
absl::StatusOr<nlohmann::json> YamlToJson(const std::string& text, const std::string& origin);

// YAML/JSON text → proto message; unknown fields are errors. Messages start
// with `origin` (the file name).
absl::Status ParseDocumentToProto(const std::string& text, const std::string& origin,
                                  google::protobuf::Message* out);

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

}  // namespace rp

#endif  // RP_POLICY_YAML_JSON_H_
