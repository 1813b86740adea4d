#include "cli/bundle_io.h"

#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "policy/yaml_json.h"

namespace rp::cli {
namespace {

absl::Status FromJson(const std::string& json, const std::string& origin,
                      google::protobuf::Message* out) {
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(json, out, opts);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(origin, ": ", st.ToString()));
  return absl::OkStatus();
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

}  // namespace

absl::StatusOr<attestation::v1::EvidenceBundle> ParseBundleJson(const std::string& json,
                                                                const std::string& origin) {
  if (json.size() > kMaxBundleBytes) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": bundle is ", json.size(),
                                                   " bytes, limit ", kMaxBundleBytes));
  }
  attestation::v1::EvidenceBundle b;
  if (auto st = FromJson(json, origin, &b); !st.ok()) return st;
  return b;
}

absl::StatusOr<attestation::v1::EvidenceBundle> ReadBundleFile(const std::string& path) {
  auto text = ReadSmallFile(path, kMaxBundleBytes);
  if (!text.ok()) return text.status();
  return ParseBundleJson(*text, path);
}

std::string BundleToJson(const attestation::v1::EvidenceBundle& bundle) { return ToJson(bundle); }

absl::StatusOr<attestation::v1::Challenge> ReadChallengeFile(const std::string& path) {
  auto text = ReadSmallFile(path, 64 * 1024);
  if (!text.ok()) return text.status();
  attestation::v1::Challenge c;
  if (auto st = FromJson(*text, path, &c); !st.ok()) return st;
  return c;
}

std::string ChallengeToJson(const attestation::v1::Challenge& challenge) {
  return ToJson(challenge);
}

absl::Status WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  out << data;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("write failed: ", path));
  return absl::OkStatus();
}

}  // namespace rp::cli
