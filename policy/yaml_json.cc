#include "policy/yaml_json.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "yaml-cpp/yaml.h"

namespace rp {
namespace {

constexpr int kMaxDepth = 64;

absl::StatusOr<nlohmann::json> Convert(const YAML::Node& node, const std::string& origin,
                                       int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": nesting deeper than ", kMaxDepth));
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nlohmann::json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return nlohmann::json(s);  // quoted
      if (s == "true") return nlohmann::json(true);
      if (s == "false") return nlohmann::json(false);
      if (s == "null" || s == "~") return nlohmann::json(nullptr);
      // Numbers stay strings: the proto JSON mapping accepts "300" for
      // integer fields, and string fields (version: 1, hex digests) keep
      // their text exactly.
      return nlohmann::json(s);
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : node) {
        auto v = Convert(item, origin, depth + 1);
        if (!v.ok()) return v.status();
        arr.push_back(std::move(*v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      nlohmann::json obj = nlohmann::json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(absl::StrCat(origin, ": map keys must be scalars"));
        }
        const std::string key = kv.first.Scalar();
        if (obj.contains(key)) {
          return absl::InvalidArgumentError(absl::StrCat(origin, ": duplicate key '", key, "'"));
        }
        auto v = Convert(kv.second, origin, depth + 1);
        if (!v.ok()) return v.status();
        obj[key] = std::move(*v);
      }
      return obj;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(origin, ": unsupported YAML node"));
}

}  // namespace

absl::StatusOr<nlohmann::json> YamlToJson(const std::string& text, const std::string& origin) {
  if (text.size() > kMaxDocumentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": document is ", text.size(), " bytes, limit ", kMaxDocumentBytes));
  }
  try {
    YAML::Node root = YAML::Load(text);
    return Convert(root, origin, 0);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", e.what()));
  }
}

absl::Status ParseDocumentToProto(const std::string& text, const std::string& origin,
                                  google::protobuf::Message* out) {
  auto json = YamlToJson(text, origin);
  if (!json.ok()) return json.status();
  if (json->is_null()) *json = nlohmann::json::object();
  if (!json->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": top level must be a mapping"));
  }
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  // dump() throws on a string that is not valid UTF-8 (raw bytes in the
  // document, or an escape yaml-cpp decodes to a lone surrogate): refuse the
  // document instead of letting the exception terminate the process
  // (found by tests/fuzz/policy_yaml_fuzzer).
  std::string text_json;
  try {
    text_json = json->dump();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": not valid UTF-8 text (", e.what(), ")"));
  }
  auto st = google::protobuf::util::JsonStringToMessage(text_json, out, opts);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", std::string(st.message().data(), st.message().size())));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string data;
  char buf[8192];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than the limit of ", max_bytes, " bytes"));
    }
  }
  return data;
}

}  // namespace rp
