// Intel TDX collateral: TCB info (id "TDX", version 3) and QE identity (id
// "TD_QE", version 2) as Intel PCS v4 serves them, the exact signed JSON
// text cut out of a PCS response body, and the QVL collateral JSON shape.
// Parsing only; TdxVerifier checks signatures, dates and content.
#ifndef RP_VERIFIER_TDX_COLLATERAL_H_
#define RP_VERIFIER_TDX_COLLATERAL_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/common/encoding.h"

namespace rp::tdx {

// Cap on any one JSON collateral text.
inline constexpr size_t kMaxCollateralJsonBytes = 256 * 1024;

// TCB statuses as Intel spells them.
enum class TcbStatus {
  kUpToDate,
  kSwHardeningNeeded,
  kConfigurationNeeded,
  kConfigurationAndSwHardeningNeeded,
  kOutOfDate,
  kOutOfDateConfigurationNeeded,
  kRevoked,
};
std::string_view TcbStatusName(TcbStatus s);
std::optional<TcbStatus> ParseTcbStatus(std::string_view name);

struct TcbLevel {
  std::array<uint8_t, 16> sgx_components{};
  uint16_t pcesvn = 0;
  std::array<uint8_t, 16> tdx_components{};
  std::string tcb_date;
  TcbStatus status = TcbStatus::kRevoked;
  std::vector<std::string> advisory_ids;
};

// A level of a TDX module identity or of the QE identity: isvsvn only.
struct IsvTcbLevel {
  uint16_t isvsvn = 0;
  std::string tcb_date;
  TcbStatus status = TcbStatus::kRevoked;
  std::vector<std::string> advisory_ids;
};

struct TdxModuleIdentity {
  std::string id;  // "TDX_01"; empty for the base `tdxModule`
  std::array<uint8_t, 48> mrsigner{};
  std::array<uint8_t, 8> attributes{};
  std::array<uint8_t, 8> attributes_mask{};
  std::vector<IsvTcbLevel> tcb_levels;  // empty for `tdxModule`
};

struct TcbInfo {
  std::string id;
  int version = 0;
  absl::Time issue_date;
  absl::Time next_update;
  std::array<uint8_t, 6> fmspc{};
  std::array<uint8_t, 2> pce_id{};
  int tcb_type = 0;
  int64_t tcb_evaluation_data_number = 0;
  std::optional<TdxModuleIdentity> tdx_module;
  std::vector<TdxModuleIdentity> tdx_module_identities;
  std::vector<TcbLevel> tcb_levels;
};

struct QeIdentity {
  std::string id;
  int version = 0;
  absl::Time issue_date;
  absl::Time next_update;
  int64_t tcb_evaluation_data_number = 0;
  uint32_t miscselect = 0;
  uint32_t miscselect_mask = 0;
  std::array<uint8_t, 16> attributes{};
  std::array<uint8_t, 16> attributes_mask{};
  std::array<uint8_t, 32> mrsigner{};
  uint16_t isvprodid = 0;
  std::vector<IsvTcbLevel> tcb_levels;
};

// Parse the signed JSON text of a TCB info / QE identity (the value of
// "tcbInfo" / "enclaveIdentity"). Structure only: no id/version policy
// here. INVALID_ARGUMENT "tdx: tcb info: ..." / "tdx: qe identity: ...".
absl::StatusOr<TcbInfo> ParseTcbInfo(std::string_view json);
absl::StatusOr<QeIdentity> ParseQeIdentity(std::string_view json);

// A signed JSON object with its signature, as cut from a PCS response body.
struct SignedJson {
  std::string text;  // the exact bytes Intel signed
  Bytes signature;   // r ‖ s (64 bytes)
};
// From a PCS body `{"<key>": {...}, "signature": "<hex>"}`: the value of
// `key` byte-exactly as it appears in `body` (never re-serialized).
// Rejects duplicate top-level keys and malformed JSON.
absl::StatusOr<SignedJson> ExtractSignedJson(std::string_view body, std::string_view key);

// The QVL collateral JSON (sgx_ql_qve_collateral_t fields as PCCS-based
// tools return them). Absent fields stay empty.
struct QvlCollateral {
  std::string pck_crl_issuer_chain;
  std::string root_ca_crl;  // hex DER (PEM text accepted too)
  std::string pck_crl;
  std::string tcb_info_issuer_chain;
  std::string tcb_info;
  std::string tcb_info_signature;  // hex r ‖ s
  std::string qe_identity_issuer_chain;
  std::string qe_identity;
  std::string qe_identity_signature;
};
absl::StatusOr<QvlCollateral> ParseQvlCollateral(std::string_view json);

// A CRL given as hex of DER (QVL JSON), or DER / PEM bytes as they are.
absl::StatusOr<Bytes> DecodeCrlField(std::string_view text);

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_COLLATERAL_H_
