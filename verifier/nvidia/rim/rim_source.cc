#include "verifier/nvidia/rim/rim_source.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "verifier/collateral/source.h"
#include "verifier/common/status_macros.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim.h"

namespace rp::nvidia::rim {
namespace {

constexpr char kKeyPrefix[] = "nvidia/rims/";
constexpr char kKeySuffix[] = ".xml";
constexpr size_t kMaxFieldLength = 32;

absl::Status BadId(absl::string_view detail) {
  return ReasonError(absl::StatusCode::kInvalidArgument, reason::kRimIdInvalid, detail);
}

// NUL-stripped, upper-cased field; only [A-Z0-9] (plus '.' if allowed).
absl::StatusOr<std::string> Field(std::string_view raw, absl::string_view what, bool allow_dot,
                                  bool allow_empty = false) {
  std::string out;
  for (char c : raw) {
    if (c == '\0') continue;
    const unsigned char u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && !(allow_dot && c == '.')) {
      return BadId(absl::StrCat(what, " contains a character outside [A-Za-z0-9",
                                allow_dot ? "." : "", "]"));
    }
    out.push_back(static_cast<char>(absl::ascii_toupper(u)));
  }
  if (out.empty() && !allow_empty) return BadId(absl::StrCat(what, " is empty"));
  if (out.size() > kMaxFieldLength) return BadId(absl::StrCat(what, " is too long"));
  return out;
}

}  // namespace

absl::StatusOr<std::string> DriverRimId(GpuArch arch, std::string_view chip_info,
                                        std::string_view driver_version) {
  ASSIGN_OR_RETURN(std::string ver, Field(driver_version, "driver version", true));
  if (arch == GpuArch::kHopper) return absl::StrCat("NV_GPU_DRIVER_GH100_", ver);
  ASSIGN_OR_RETURN(std::string chip, Field(chip_info, "CHIP_INFO", false, true));
  if (chip.empty()) chip = "GB100";  // C++ SDK fallback for OPAQUE_DATA_VERSION 0
  return absl::StrCat("NV_GPU_CC_DRIVER_", chip, "_", ver);
}

absl::StatusOr<std::string> VbiosRimId(std::string_view project, std::string_view project_sku,
                                       std::string_view chip_sku, std::string_view vbios_version) {
  ASSIGN_OR_RETURN(std::string p, Field(project, "PROJECT", false));
  ASSIGN_OR_RETURN(std::string ps, Field(project_sku, "PROJECT_SKU", false));
  ASSIGN_OR_RETURN(std::string cs, Field(chip_sku, "CHIP_SKU", false));
  ASSIGN_OR_RETURN(std::string v, Field(vbios_version, "VBIOS version", true));
  std::string compact;
  for (char c : v) {
    if (c != '.') compact.push_back(c);
  }
  if (compact.empty()) return BadId("VBIOS version is empty");
  return absl::StrCat("NV_GPU_VBIOS_", p, "_", ps, "_", cs, "_", compact);
}

bool IsValidRimId(std::string_view id) {
  if (id.size() < 4 || id.size() > kMaxRimIdLength || id.substr(0, 3) != "NV_") return false;
  for (char c : id) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!(absl::ascii_isupper(u) || absl::ascii_isdigit(u) || c == '_' || c == '.')) return false;
  }
  return id.find("..") == std::string_view::npos;
}

std::string RimCollateralKey(std::string_view rim_id) {
  return absl::StrCat(kKeyPrefix, absl::string_view(rim_id.data(), rim_id.size()), kKeySuffix);
}

namespace {

// The RIM id of a nvidia/rims/ key; nullopt if the key is elsewhere.
absl::StatusOr<std::optional<std::string>> RimIdOfKey(std::string_view key) {
  const absl::string_view k(key.data(), key.size());
  if (!absl::StartsWith(k, kKeyPrefix)) return std::optional<std::string>();
  if (!absl::EndsWith(k, kKeySuffix)) {
    return absl::InvalidArgumentError(absl::StrCat("nvidia-rim: key '", k, "' must end in .xml"));
  }
  std::string id(k.substr(sizeof(kKeyPrefix) - 1,
                          k.size() - (sizeof(kKeyPrefix) - 1) - (sizeof(kKeySuffix) - 1)));
  if (!IsValidRimId(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("nvidia-rim: key '", k, "' does not name a valid RIM id"));
  }
  return std::optional<std::string>(std::move(id));
}

}  // namespace

absl::StatusOr<std::optional<std::string>> NvidiaRimServiceUrlForKey(std::string_view base_url,
                                                                     std::string_view key) {
  std::string base(base_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!absl::StartsWith(base, "https://") && !absl::StartsWith(base, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("nvidia-rim: base URL '", base, "' must start with https:// or http://"));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> id, RimIdOfKey(key));
  if (!id.has_value()) return std::optional<std::string>();
  return std::optional<std::string>(absl::StrCat(base, "/v1/rim/", *id));
}

absl::StatusOr<Bytes> ExtractRimFromServiceResponse(std::string_view key,
                                                    std::span<const uint8_t> body) {
  ASSIGN_OR_RETURN(std::optional<std::string> id, RimIdOfKey(key));
  if (!id.has_value()) return absl::InvalidArgumentError("not a nvidia/rims/ key");
  if (body.size() > collateral::kMaxCollateralItemBytes) {
    return absl::InvalidArgumentError("response too large");
  }
  const nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                                 /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("response is not a JSON object");
  }
  auto id_it = j.find("id");
  auto rim_it = j.find("rim");
  if (id_it == j.end() || !id_it->is_string() || rim_it == j.end() || !rim_it->is_string()) {
    return absl::InvalidArgumentError("response lacks string fields 'id' and 'rim'");
  }
  if (id_it->get<std::string>() != *id) {
    // The service answered for another RIM: never use it under this id.
    return ReasonError(absl::StatusCode::kInvalidArgument, reason::kRimIdMismatch,
                       absl::StrCat("requested ", *id, ", service returned id '",
                                    id_it->get<std::string>().substr(0, kMaxRimIdLength), "'"));
  }
  absl::StatusOr<Bytes> xml = Base64Decode(rim_it->get<std::string>());
  if (!xml.ok()) return absl::InvalidArgumentError("field 'rim' is not base64");
  return *std::move(xml);
}

absl::StatusOr<std::unique_ptr<collateral::HttpCollateralSource>> CreateNvidiaRimServiceSource(
    const NvidiaRimServiceOptions& options, const collateral::HttpFetcher& fetcher,
    const Clock& clock, collateral::CollateralObserver& observer) {
  RETURN_IF_ERROR(
      NvidiaRimServiceUrlForKey(options.base_url, "nvidia/rims/NV_GPU_DRIVER_GH100_0.xml")
          .status());
  collateral::HttpSourceConfig config;
  config.name = "nvidia-rim";
  config.key_to_url = [base = options.base_url](std::string_view key) {
    return NvidiaRimServiceUrlForKey(base, key);
  };
  config.extract = [](std::string_view key, const collateral::HttpResponse& response) {
    return ExtractRimFromServiceResponse(key, response.body);
  };
  // Cache only XML that parses as a RIM (no crypto: verified at use).
  config.body_check = [](std::string_view, std::span<const uint8_t> xml) -> absl::Status {
    absl::StatusOr<Rim> rim = ParseRimUnverified(
        std::string_view(reinterpret_cast<const char*>(xml.data()), xml.size()));  // NOLINT
    return rim.status();
  };
  config.limits = options.limits;
  return collateral::HttpCollateralSource::Create(std::move(config), fetcher, clock, observer);
}

}  // namespace rp::nvidia::rim
