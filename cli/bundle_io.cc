#include "cli/bundle_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
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

absl::Status WritePrivateFile(const std::string& path, const std::string& data) {
  const std::filesystem::path target(path);
  if (target.filename().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("not a file name: ", path));
  }
  // A fresh name next to the target (same file system, so rename is
  // atomic); mkostemp creates it with O_CREAT|O_EXCL and mode 0600.
  std::string tmp_name =
      (target.parent_path() / absl::StrCat(".", target.filename().string(), ".XXXXXX")).string();
  const int fd = ::mkostemp(tmp_name.data(), O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create a file next to ", path, ": ",
                                            std::strerror(errno)));
  }
  const std::filesystem::path tmp(tmp_name);
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat(what, " ", tmp.string(), ": ", std::strerror(err)));
  };
  // The umask can only remove bits; make the mode exactly 0600 regardless.
  if (::fchmod(fd, 0600) != 0) return fail("cannot chmod");
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot sync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot close ", tmp.string(), ": ", std::strerror(err)));
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot rename to ", path, ": ",
                                            std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace rp::cli
