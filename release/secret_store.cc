#include "release/secret_store.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "release/directory_store.h"
#include "release/pkcs11_store.h"

namespace rp::release {

bool IsValidResourceSegment(std::string_view s) {
  if (s.empty() || s.size() > kMaxResourceSegmentBytes || s.front() == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

bool IsValidResourceName(std::string_view name) {
  if (name.size() > kMaxResourceNameBytes) return false;
  size_t segments = 0;
  while (true) {
    size_t slash = name.find('/');
    if (!IsValidResourceSegment(name.substr(0, slash))) return false;
    ++segments;
    if (slash == std::string_view::npos) break;
    name.remove_prefix(slash + 1);
  }
  return segments == 3;
}

namespace {

constexpr size_t kMaxConfigBytes = 64 * 1024;

std::string Resolve(absl::string_view base_dir, const std::string& path) {
  if (base_dir.empty() || path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(std::string(base_dir)) / path).lexically_normal().string();
}

absl::StatusOr<std::string> Scalar(const YAML::Node& node, absl::string_view origin,
                                   absl::string_view key) {
  if (!node.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", key, " must be a string"));
  }
  return node.Scalar();
}

absl::StatusOr<SecretStoreConfig> ParseNode(const YAML::Node& root, absl::string_view origin,
                                            absl::string_view base_dir,
                                            absl::string_view default_type) {
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": the store config must be a mapping"));
  }
  SecretStoreConfig config;
  bool has_pkcs11 = false;
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": keys must be strings"));
    }
    const std::string key = kv.first.Scalar();
    if (key == "type") {
      auto v = Scalar(kv.second, origin, key);
      if (!v.ok()) return v.status();
      config.type = *v;
    } else if (key == "dir") {
      auto v = Scalar(kv.second, origin, key);
      if (!v.ok()) return v.status();
      config.dir = *v;
    } else if (key == "pkcs11") {
      if (!kv.second.IsMap()) {
        return absl::InvalidArgumentError(absl::StrCat(origin, ": pkcs11 must be a mapping"));
      }
      has_pkcs11 = true;
      for (const auto& p : kv.second) {
        const std::string pkey = p.first.IsScalar() ? p.first.Scalar() : "";
        std::string* field = pkey == "module"        ? &config.pkcs11.module
                             : pkey == "token_label" ? &config.pkcs11.token_label
                             : pkey == "pin_file"    ? &config.pkcs11.pin_file
                             : pkey == "key_label"   ? &config.pkcs11.key_label
                                                     : nullptr;
        if (field == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat(origin, ": unknown field pkcs11.", pkey,
                           " (known: module, token_label, pin_file, key_label)"));
        }
        auto v = Scalar(p.second, origin, absl::StrCat("pkcs11.", pkey));
        if (!v.ok()) return v.status();
        *field = *v;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": unknown field ", key, " (known: type, dir, pkcs11)"));
    }
  }
  if (config.type.empty()) config.type = std::string(default_type);
  if (!default_type.empty() && config.type != default_type) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": type is '", config.type, "', want '", default_type, "'"));
  }
  if (config.type != "directory" && config.type != "pkcs11") {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": type must be 'directory' or 'pkcs11', got '", config.type, "'"));
  }
  if (config.dir.empty()) return absl::InvalidArgumentError(absl::StrCat(origin, ": dir is required"));
  if (config.type == "directory" && has_pkcs11) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": pkcs11 settings given for a directory store"));
  }
  if (config.type == "pkcs11") {
    for (const auto& [name, value] : {std::pair<const char*, const std::string*>{
                                          "module", &config.pkcs11.module},
                                      {"token_label", &config.pkcs11.token_label},
                                      {"pin_file", &config.pkcs11.pin_file},
                                      {"key_label", &config.pkcs11.key_label}}) {
      if (value->empty()) {
        return absl::InvalidArgumentError(absl::StrCat(origin, ": pkcs11.", name, " is required"));
      }
    }
  }
  config.dir = Resolve(base_dir, config.dir);
  config.pkcs11.pin_file = Resolve(base_dir, config.pkcs11.pin_file);
  // A bare module name ("libsofthsm2.so") is left to the dynamic loader's
  // search path; a relative path with a '/' is relative to the config file.
  if (config.pkcs11.module.find('/') != std::string::npos) {
    config.pkcs11.module = Resolve(base_dir, config.pkcs11.module);
  }
  return config;
}

}  // namespace

absl::StatusOr<SecretStoreConfig> ParseSecretStoreConfig(std::string_view text,
                                                         std::string_view origin_view,
                                                         std::string_view base_dir_view,
                                                         std::string_view default_type_view) {
  const std::string origin(origin_view), base_dir(base_dir_view),
      default_type(default_type_view);
  if (text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": larger than ", kMaxConfigBytes, " bytes"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", e.what()));
  }
  try {
    return ParseNode(root, origin, base_dir, default_type);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<SecretStore>> OpenSecretStore(const SecretStoreConfig& config) {
  if (config.type == "directory") {
    auto store = DirectoryStore::Create(config.dir);
    if (!store.ok()) return store.status();
    return std::unique_ptr<SecretStore>(std::move(*store));
  }
  if (config.type == "pkcs11") {
    auto store = Pkcs11Store::Create(config.pkcs11, config.dir);
    if (!store.ok()) return store.status();
    return std::unique_ptr<SecretStore>(std::move(*store));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("secret store: type must be 'directory' or 'pkcs11', got '", config.type, "'"));
}

}  // namespace rp::release
