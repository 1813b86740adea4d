#include "verifier/collateral/intel_pcs_source.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/crl.h"
#include "verifier/crypto/x509.h"
#include "verifier/common/absl_view.h"

namespace rp::collateral {
namespace {

constexpr size_t kFmspcHexChars = 12;
constexpr size_t kMaxIssuerChainCerts = 4;
constexpr char kIssuerChainSuffix[] = ".issuer_chain.pem";

absl::Status BadKey(std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("intel-pcs: key '", std::string(key), "': ", std::string(why)));
}

std::string Base(std::string_view base_url) {
  std::string b(base_url);
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b;
}

// Strips ".issuer_chain.pem" and sets *chain; the rest names the item.
std::string ItemKey(std::string_view key, bool* chain) {
  *chain = absl::EndsWith(AbslView(key), kIssuerChainSuffix);
  if (!*chain) return std::string(key);
  return std::string(key.substr(0, key.size() - sizeof(kIssuerChainSuffix) + 1));
}

bool LooksLikeHexText(std::span<const uint8_t> body) {
  return !body.empty() && body.size() % 2 == 0 && IsHexString(ToString(body));
}

absl::StatusOr<Bytes> Extract(std::string_view key, const HttpResponse& response) {
  const std::string_view header = IntelPcsHeaderForKey(key);
  if (!header.empty()) {
    const std::string value = response.Header(header);
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("response has no ", std::string(header),
                                                     " header"));
    }
    ASSIGN_OR_RETURN(std::string pem, PercentDecode(value));
    return Bytes(pem.begin(), pem.end());
  }
  bool chain = false;
  const std::string item = ItemKey(key, &chain);
  if ((absl::EndsWith(item, ".der") || absl::EndsWith(item, ".crl")) &&
      LooksLikeHexText(response.body)) {
    // PCCS answers some CRLs as hex text.
    return HexDecode(ToString(response.body));
  }
  return response.body;
}

absl::Status CheckBody(std::string_view key, std::span<const uint8_t> body) {
  if (absl::EndsWith(AbslView(key), ".pem")) {
    ASSIGN_OR_RETURN(auto certs, crypto::ParsePemCertificates(ToString(body), kMaxIssuerChainCerts));
    if (certs.empty()) return absl::InvalidArgumentError("issuer chain has no certificate");
    return absl::OkStatus();
  }
  if (absl::EndsWith(AbslView(key), ".der") || absl::EndsWith(AbslView(key), ".crl")) {
    return crypto::ParseCrl(body).status();
  }
  // JSON: {"tcbInfo": …, "signature": …} or {"enclaveIdentity": …, …}.
  nlohmann::json j = nlohmann::json::parse(ToString(body), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  const char* field = absl::StrContains(AbslView(key), "tcb_info") ? "tcbInfo" : "enclaveIdentity";
  if (!j.contains(field) || !j.contains("signature")) {
    return absl::InvalidArgumentError(absl::StrCat("JSON has no ", field, " and signature"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (in.size() - i < 3) return absl::InvalidArgumentError("truncated percent escape");
    const std::string hex(in.substr(i + 1, 2));
    if (!IsHexString(hex)) return absl::InvalidArgumentError("bad percent escape");
    out.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
    i += 2;
  }
  return out;
}

std::string_view IntelPcsHeaderForKey(std::string_view key) {
  bool chain = false;
  const std::string item = ItemKey(key, &chain);
  if (!chain) return "";
  if (absl::StartsWith(item, "intel/tcb_info/")) return "tcb-info-issuer-chain";
  if (item == "intel/qe_identity") return "sgx-enclave-identity-issuer-chain";
  if (absl::StartsWith(item, "intel/pck_crl_")) return "sgx-pck-crl-issuer-chain";
  return "";
}

absl::StatusOr<std::optional<std::string>> IntelPcsUrlForKey(const IntelPcsOptions& options,
                                                             std::string_view key) {
  if (!absl::StartsWith(AbslView(key), "intel/")) return std::optional<std::string>();
  const std::string base = Base(options.base_url);
  bool chain = false;
  const std::string item = ItemKey(key, &chain);
  if (absl::StartsWith(item, "intel/tcb_info/")) {
    std::string fmspc = item.substr(std::string("intel/tcb_info/").size());
    if (!chain) {
      if (!absl::EndsWith(fmspc, ".json")) return BadKey(key, "TCB info must be <fmspc>.json");
      fmspc = fmspc.substr(0, fmspc.size() - 5);
    }
    if (fmspc.size() != kFmspcHexChars || !IsHexString(fmspc)) {
      return BadKey(key, "FMSPC must be 12 hex characters");
    }
    return std::optional<std::string>(absl::StrCat(base, "/tdx/certification/v4/tcb?fmspc=",
                                                   absl::AsciiStrToUpper(fmspc)));
  }
  if (item == "intel/qe_identity.json" || (chain && item == "intel/qe_identity")) {
    return std::optional<std::string>(absl::StrCat(base, "/tdx/certification/v4/qe/identity"));
  }
  if (absl::StartsWith(item, "intel/pck_crl_")) {
    std::string ca = item.substr(std::string("intel/pck_crl_").size());
    if (!chain) {
      if (!absl::EndsWith(ca, ".der")) return BadKey(key, "PCK CRL must be pck_crl_<ca>.der");
      ca = ca.substr(0, ca.size() - 4);
    }
    if (ca != "platform" && ca != "processor") {
      return BadKey(key, "PCK CRL CA must be platform or processor");
    }
    return std::optional<std::string>(
        absl::StrCat(base, "/sgx/certification/v4/pckcrl?ca=", ca, "&encoding=der"));
  }
  if (item == "intel/root_ca.crl" && !chain) {
    if (options.root_ca_crl_url.empty()) return std::optional<std::string>();
    return std::optional<std::string>(options.root_ca_crl_url);
  }
  // intel/collateral/<fmspc>.json (QVL bundles) exist only offline.
  return std::optional<std::string>();
}

absl::StatusOr<std::unique_ptr<HttpCollateralSource>> CreateIntelPcsSource(
    const IntelPcsOptions& options, const HttpFetcher& fetcher, const Clock& clock,
    CollateralObserver& observer) {
  HttpSourceConfig config;
  config.name = options.name;
  config.key_to_url = [options](std::string_view key) { return IntelPcsUrlForKey(options, key); };
  config.extract = &Extract;
  config.body_check = &CheckBody;
  config.limits = options.limits;
  return HttpCollateralSource::Create(std::move(config), fetcher, clock, observer);
}

}  // namespace rp::collateral
