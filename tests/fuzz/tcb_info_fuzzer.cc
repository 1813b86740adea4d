// libFuzzer target: Intel TDX TCB info collateral (verifier/tdx/collateral.h).
// The attacker controls this text: a PCS/PCCS response, a QVL collateral
// JSON or a bundle's tdx.collateral.tcb_info field.
//   ExtractSignedJson(body, "tcbInfo")  the byte-exact signed text + signature
//   ParseTcbInfo(json)                  the structure
//   ParseQvlCollateral(json)            the QVL collateral shape
// Invariants: no crash / sanitizer report; errors are INVALID_ARGUMENT with
// the "tdx:" context; ExtractSignedJson's text is a substring of the body
// and its signature is 64 bytes; a parsed TCB info has every level's status
// name round-trip (TcbStatusName / ParseTcbStatus), at most the input size
// in levels, and parsing is deterministic.
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "tests/fuzz/fuzz_util.h"
#include "verifier/tdx/collateral.h"

namespace {
constexpr char kT[] = "tcb_info_fuzzer";
using rp::fuzz::Fail;

void CheckError(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kInvalidArgument) Fail(kT, "error is not INVALID_ARGUMENT");
  if (s.message().find("tdx") == std::string_view::npos) Fail(kT, "error without tdx context");
}

void CheckTcbInfo(std::string_view json) {
  absl::StatusOr<rp::tdx::TcbInfo> t = rp::tdx::ParseTcbInfo(json);
  if (!t.ok()) {
    CheckError(t.status());
    return;
  }
  if (t->tcb_levels.size() > json.size()) Fail(kT, "more levels than input bytes");
  for (const rp::tdx::TcbLevel& l : t->tcb_levels) {
    std::optional<rp::tdx::TcbStatus> back = rp::tdx::ParseTcbStatus(rp::tdx::TcbStatusName(l.status));
    if (!back || *back != l.status) Fail(kT, "status name does not round-trip");
  }
  absl::StatusOr<rp::tdx::TcbInfo> again = rp::tdx::ParseTcbInfo(json);
  if (!again.ok() || again->tcb_levels.size() != t->tcb_levels.size() || again->fmspc != t->fmspc ||
      again->tcb_evaluation_data_number != t->tcb_evaluation_data_number) {
    Fail(kT, "parsing is not deterministic");
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = rp::fuzz::AsText(data, size);
  CheckTcbInfo(text);
  absl::StatusOr<rp::tdx::SignedJson> s = rp::tdx::ExtractSignedJson(text, "tcbInfo");
  if (s.ok()) {
    if (text.find(s->text) == std::string_view::npos) Fail(kT, "signed text not cut from the body");
    if (s->signature.size() != 64) Fail(kT, "signature is not 64 bytes");
    CheckTcbInfo(s->text);
  }
  absl::StatusOr<rp::tdx::QvlCollateral> q = rp::tdx::ParseQvlCollateral(text);
  if (q.ok() && !q->tcb_info.empty()) CheckTcbInfo(q->tcb_info);
  return 0;
}
