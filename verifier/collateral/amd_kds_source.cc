#include "verifier/collateral/amd_kds_source.h"

#include <array>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "verifier/collateral/freshness.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"

namespace rp::collateral {
namespace {

constexpr size_t kTcbHexChars = 16;       // 8-byte TCB_VERSION (specs/sev-snp.md §2)
constexpr size_t kLegacyHwidHexChars = 128;  // CHIP_ID, 64 bytes (Milan/Genoa)
constexpr size_t kTurinHwidHexChars = 16;    // CHIP_ID[0..8] (Turin, §3.4)

bool IsKnownProduct(std::string_view p) { return p == "Milan" || p == "Genoa" || p == "Turin"; }

absl::Status BadKey(std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("amd-kds: key '", std::string(key), "': ", std::string(why)));
}

absl::StatusOr<std::string> VcekPathAndQuery(std::string_view key, const std::string& product,
                                             const std::string& file) {
  if (!absl::EndsWith(file, ".der")) return BadKey(key, "VCEK file name must end in .der");
  const std::string stem = file.substr(0, file.size() - 4);
  std::vector<std::string> parts = absl::StrSplit(stem, '-');
  if (parts.size() != 2) return BadKey(key, "VCEK file name must be <hwid>-<tcb>.der");
  const std::string& hwid = parts[0];
  const std::string& tcb_hex = parts[1];
  const bool turin = product == "Turin";
  const size_t want_hwid = turin ? kTurinHwidHexChars : kLegacyHwidHexChars;
  if (hwid.size() != want_hwid || !IsHexString(hwid)) {
    return BadKey(key, absl::StrCat("hwid must be ", want_hwid, " hex characters for ", product,
                                    ", got ", hwid.size()));
  }
  if (tcb_hex.size() != kTcbHexChars || !IsHexString(tcb_hex)) {
    return BadKey(key, absl::StrCat("TCB must be ", kTcbHexChars, " hex characters"));
  }
  absl::StatusOr<Bytes> tcb = HexDecode(tcb_hex);
  if (!tcb.ok() || tcb->size() != 8) return BadKey(key, "TCB is not valid hex");
  const Bytes& b = *tcb;
  // Byte layouts of TCB_VERSION, specs/sev-snp.md §2.
  std::string query;
  if (turin) {
    query = absl::StrCat("blSPL=", b[1], "&teeSPL=", b[2], "&snpSPL=", b[3], "&ucodeSPL=", b[7],
                         "&fmcSPL=", b[0]);
  } else {
    query = absl::StrCat("blSPL=", b[0], "&teeSPL=", b[1], "&snpSPL=", b[6], "&ucodeSPL=", b[7]);
  }
  return absl::StrCat("/vcek/v1/", product, "/", absl::AsciiStrToLower(hwid), "?", query);
}

}  // namespace

absl::StatusOr<std::optional<std::string>> AmdKdsUrlForKey(std::string_view base_url_view,
                                                           std::string_view key) {
  std::string base(base_url_view);
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!absl::StartsWith(base, "https://") && !absl::StartsWith(base, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("amd-kds: base URL '", base, "' must start with https:// or http://"));
  }
  if (!IsValidCollateralKey(key)) return BadKey(key, "not a valid collateral key");
  std::vector<std::string> parts = absl::StrSplit(std::string(key), '/');
  if (parts[0] != "amd") return std::optional<std::string>();
  if (parts.size() >= 2 && parts[1] == "vlek") {
    return std::optional<std::string>();  // VLEKs are not served by KDS
  }
  if (parts.size() >= 2 && parts[1] == "vcek") {
    if (parts.size() != 4) return BadKey(key, "expected amd/vcek/<product>/<hwid>-<tcb>.der");
    if (!IsKnownProduct(parts[2])) return BadKey(key, "unknown product");
    ASSIGN_OR_RETURN(std::string path, VcekPathAndQuery(key, parts[2], parts[3]));
    return std::optional<std::string>(base + path);
  }
  if (parts.size() != 3) return std::optional<std::string>();
  const std::string& product = parts[1];
  if (!IsKnownProduct(product)) return BadKey(key, "unknown product");
  const std::string& file = parts[2];
  std::string path;
  if (file == "cert_chain.pem") {
    path = "/vcek/v1/" + product + "/cert_chain";
  } else if (file == "crl.der") {
    path = "/vcek/v1/" + product + "/crl";
  } else if (file == "vlek_cert_chain.pem") {
    path = "/vlek/v1/" + product + "/cert_chain";
  } else if (file == "vlek_crl.der") {
    path = "/vlek/v1/" + product + "/crl";
  } else {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(base + path);
}

absl::Status CheckAmdKdsBody(std::string_view key, std::span<const uint8_t> body) {
  if (body.empty()) return absl::InvalidArgumentError("empty body");
  absl::StatusOr<std::optional<absl::Time>> expiry = ContentExpiry(key, body);
  if (!expiry.ok()) return expiry.status();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HttpCollateralSource>> CreateAmdKdsSource(
    const AmdKdsOptions& options, const HttpFetcher& fetcher, const Clock& clock,
    CollateralObserver& observer) {
  // Validate the base URL once, up front.
  RETURN_IF_ERROR(AmdKdsUrlForKey(options.base_url, "amd/Milan/crl.der").status());
  HttpSourceConfig config;
  config.name = "amd-kds";
  config.key_to_url = [base = options.base_url](std::string_view key) {
    return AmdKdsUrlForKey(base, key);
  };
  config.body_check = &CheckAmdKdsBody;
  config.limits = options.limits;
  return HttpCollateralSource::Create(std::move(config), fetcher, clock, observer);
}

}  // namespace rp::collateral
