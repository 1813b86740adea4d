#include "cli/bundle_io.h"

#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
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
  // NVIDIA's tools (nvtrust, the SDKs, NRAS requests) write a GPU evidence
  // list: [{"arch", "nonce" (hex), "evidence" (base64), "certificate"
  // (base64 PEM chain)}, ...]. Accept it as a GPU-only bundle.
  const size_t first = json.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && json[first] == '[') {
    nlohmann::json list = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (list.is_discarded() || !list.is_array() || list.empty() || list.size() > 64) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": a top-level array must be an NVIDIA evidence list of 1..64 entries"));
    }
    nlohmann::json bundle = {{"nvidia", {{"evidence_list", nlohmann::json::array()}}}};
    std::string arch, nonce;
    for (size_t i = 0; i < list.size(); ++i) {
      const nlohmann::json& e = list[i];
      const std::string where = absl::StrCat(origin, ": [", i, "]");
      if (!e.is_object() || !e.contains("evidence") || !e["evidence"].is_string() ||
          !e.contains("certificate") || !e["certificate"].is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": needs string fields evidence and certificate"));
      }
      const std::string a = e.value("arch", std::string());
      const std::string n = e.value("nonce", std::string());
      if (i == 0) {
        arch = a;
        nonce = n;
      } else if (a != arch || n != nonce) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": arch and nonce must be the same for every GPU"));
      }
      bundle["nvidia"]["evidence_list"].push_back(
          {{"evidence", e["evidence"]}, {"certificate", e["certificate"]}});
    }
    if (!arch.empty()) bundle["nvidia"]["arch"] = arch;
    if (!nonce.empty()) bundle["nonce"] = nonce;
    attestation::v1::EvidenceBundle b;
    if (auto st = FromJson(bundle.dump(), origin, &b); !st.ok()) return st;
    return b;
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
