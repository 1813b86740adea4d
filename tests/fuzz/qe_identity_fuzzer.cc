// libFuzzer target: Intel TDX QE identity collateral (verifier/tdx/collateral.h).
//   ExtractSignedJson(body, "enclaveIdentity") + ParseQeIdentity(json)
// Invariants: no crash / sanitizer report; errors are INVALID_ARGUMENT with
// the "tdx:" context; the signed text is a substring of the body with a
// 64-byte signature; a parsed identity has every level's status name
// round-trip, and parsing is deterministic.
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "tests/fuzz/fuzz_util.h"
#include "verifier/tdx/collateral.h"

namespace {
constexpr char kT[] = "qe_identity_fuzzer";
using rp::fuzz::Fail;

void CheckQeIdentity(std::string_view json) {
  absl::StatusOr<rp::tdx::QeIdentity> q = rp::tdx::ParseQeIdentity(json);
  if (!q.ok()) {
    if (q.status().code() != absl::StatusCode::kInvalidArgument) Fail(kT, "not INVALID_ARGUMENT");
    if (q.status().message().find("tdx") == std::string_view::npos) Fail(kT, "no tdx context");
    return;
  }
  if (q->tcb_levels.size() > json.size()) Fail(kT, "more levels than input bytes");
  for (const rp::tdx::IsvTcbLevel& l : q->tcb_levels) {
    std::optional<rp::tdx::TcbStatus> back = rp::tdx::ParseTcbStatus(rp::tdx::TcbStatusName(l.status));
    if (!back || *back != l.status) Fail(kT, "status name does not round-trip");
  }
  absl::StatusOr<rp::tdx::QeIdentity> again = rp::tdx::ParseQeIdentity(json);
  if (!again.ok() || again->mrsigner != q->mrsigner || again->isvprodid != q->isvprodid ||
      again->miscselect != q->miscselect || again->tcb_levels.size() != q->tcb_levels.size()) {
    Fail(kT, "parsing is not deterministic");
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = rp::fuzz::AsText(data, size);
  CheckQeIdentity(text);
  absl::StatusOr<rp::tdx::SignedJson> s = rp::tdx::ExtractSignedJson(text, "enclaveIdentity");
  if (s.ok()) {
    if (text.find(s->text) == std::string_view::npos) Fail(kT, "signed text not cut from the body");
    if (s->signature.size() != 64) Fail(kT, "signature is not 64 bytes");
    CheckQeIdentity(s->text);
  }
  return 0;
}
