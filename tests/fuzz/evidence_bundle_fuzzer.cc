// libFuzzer target: the evidence bundle JSON (protobuf JSON mapping,
// ARCHITECTURE §4) as attestctl reads it (cli::ParseBundleJson: size cap,
// the NVIDIA evidence-list form, strict mapping) and as the server's REST
// face maps a body (JsonStringToMessage into AttestRequest with unknown
// fields refused, server/rest_api.cc ParseJsonBody; the server's SAX
// pre-check is not linked here).
// Invariants: no crash / sanitizer report; ParseBundleJson errors are
// INVALID_ARGUMENT naming the origin; a parsed bundle round-trips:
// BundleToJson -> ParseBundleJson gives the same message (byte-equal
// deterministic serialization); an AttestRequest that maps re-maps from its
// own JSON print to the same message.
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "attestation/v1/attestation.pb.h"
#include "cli/bundle_io.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "tests/fuzz/fuzz_util.h"

namespace {
constexpr char kT[] = "evidence_bundle_fuzzer";
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
  const std::string text(rp::fuzz::AsText(data, size));
  absl::StatusOr<attestation::v1::EvidenceBundle> b = rp::cli::ParseBundleJson(text, "fuzz.json");
  if (!b.ok()) {
    if (b.status().code() != absl::StatusCode::kInvalidArgument) Fail(kT, "not INVALID_ARGUMENT");
    if (b.status().message().find("fuzz.json") == std::string_view::npos) Fail(kT, "no origin");
  } else {
    const std::string json = rp::cli::BundleToJson(*b);
    absl::StatusOr<attestation::v1::EvidenceBundle> again = rp::cli::ParseBundleJson(json, "again");
    if (!again.ok()) Fail(kT, "BundleToJson output does not parse");
    if (Det(*again) != Det(*b)) Fail(kT, "bundle does not round-trip through JSON");
  }

  attestation::v1::AttestRequest req;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  if (google::protobuf::util::JsonStringToMessage(text, &req, opts).ok()) {
    std::string printed;
    if (!google::protobuf::util::MessageToJsonString(req, &printed).ok()) Fail(kT, "no JSON print");
    attestation::v1::AttestRequest back;
    if (!google::protobuf::util::JsonStringToMessage(printed, &back, opts).ok() ||
        Det(back) != Det(req)) {
      Fail(kT, "AttestRequest does not round-trip through JSON");
    }
  }
  return 0;
}
