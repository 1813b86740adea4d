// libFuzzer target: policy documents (policy/appraisal.h ParsePolicy: YAML
// or JSON -> JSON -> strict proto mapping -> validation). Policies are
// operator-supplied, but they also arrive over the policy-update API and
// are parsed by `attestctl policy` from any file, so the loader must be
// robust to any bytes.
// Invariants: no crash / sanitizer report / unbounded allocation; errors
// are not OK and non-empty; a loaded policy has a non-empty id, a 64-hex
// sha256 of the input bytes, and parsing is deterministic (same id,
// version, sha256 and byte-equal proto).
#include <cstdint>
#include <string>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "policy/appraisal.h"
#include "tests/fuzz/fuzz_util.h"

namespace {
constexpr char kT[] = "policy_yaml_fuzzer";
using rp::fuzz::Fail;

std::string Det(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream s(&out);
  google::protobuf::io::CodedOutputStream c(&s);
  c.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&c);
  c.Trim();
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;  // policies are small; keeps YAML's cost bounded
  const std::string text(rp::fuzz::AsText(data, size));
  absl::StatusOr<rp::policy::LoadedPolicy> p = rp::policy::ParsePolicy(text, "fuzz.yaml");
  if (!p.ok()) {
    if (p.status().message().empty()) Fail(kT, "error without a message");
    return 0;
  }
  if (p->id.empty()) Fail(kT, "policy without an id");
  if (p->sha256_hex.size() != 64 ||
      p->sha256_hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    Fail(kT, "sha256 is not 64 lower-case hex");
  }
  absl::StatusOr<rp::policy::LoadedPolicy> again = rp::policy::ParsePolicy(text, "fuzz.yaml");
  if (!again.ok() || again->id != p->id || again->version != p->version ||
      again->sha256_hex != p->sha256_hex ||
      Det(again->policy) != Det(p->policy)) {
    Fail(kT, "parsing is not deterministic");
  }
  return 0;
}
