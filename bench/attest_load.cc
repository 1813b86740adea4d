// attest_load: a gRPC load and race client for attestation-server replicas
// (issue 12: scale-out behind a load balancer, single-use state on Redis).
//
//   attest_load --mode load --targets A,B,C --sim-dir DIR [--duration S]
//               [--concurrency C] [--tee snp|tdx] [--gpus N] [--audience AUD]
//               [--policy NAME] [--split] [--fresh-node] [--events FILE]
//   attest_load --mode race --targets A,B,C --sim-dir DIR [--racers 64]
//
// load: C workers, each looping GetChallenge -> simulate -> Attest; the
// target is chosen round robin per request over all workers; with --split
// the Attest goes to the target after the one that issued the challenge (a
// challenge is never redeemed where it was issued, unless there is only
// one target). Prints one JSON object: tokens issued, every outcome by
// reason code and by gRPC code, a per-second timeline, Attest latency
// percentiles; --events FILE adds one TSV line per Attest
// (start_unix_ms end_unix_ms target outcome) for windows finer than a
// second.
//
// e2e (issue 16): an end-to-end benchmark of one server. Phase 1 gets N
// challenges (plus --warmup W) and builds N bound simulated bundles
// (--tee snp|tdx, --gpus 0..8) on --build-threads threads; phase 2 sends
// them, each once, from C workers (each its own connection, connected
// beforehand) as fast as answers come back (closed loop), or with --rate R
// at R requests/s (open loop: request i is due at i/R s and its latency is
// counted from then, so a slow server cannot hide queueing in the client).
// Reports throughput, latency percentiles (nearest rank), outcomes by
// reason, and with --server-pid PID the server's CPU per request
// (/proc/PID/stat), RSS and threads (/proc/PID/status: at the end and the
// peak seen every 50 ms); always the client's CPU (getrusage). The
// challenges are consumed, so every bundle is sent once.
//   attest_load --mode e2e --targets HOST:PORT --sim-dir DIR [--requests N (200)]
//               [--concurrency C (4)] [--rate R] [--warmup W (10)] [--tee snp|tdx]
//               [--gpus N] [--server-pid PID] [--build-threads T] [--label TEXT]
//               [--table-row] [--save-response FILE]
// --table-row prints one Markdown table row after the JSON (bench.sh).
// --save-response FILE writes the last warm-up answer that carried a token
// (a serialized AttestResponse): bench/grpc_floor sends it back to every
// Attest, so the transport floor is measured with the real answer's size.
// --retry-busy: a request refused with SERVER_BUSY (admission control) is
// sent again after the retry-after hint, as a well-behaved client would
// (its challenge was not consumed); without it, it counts as an error and
// the worker moves on at once (the closed loop then offers unbounded load).
//
// race: one challenge, one simulated bundle, `racers` threads (each with its
// own connection, connected beforehand) released together by a barrier,
// each sending the same AttestRequest to target i % N. Prints the tokens
// issued (a correct deployment issues exactly one) and what the others got.
//
// Outcome keys: TOKEN (a token was issued), else the rejection reason:
// AttestResponse.reasons[0] for a verdict without a token; for a failed RPC
// a reason code found in the trailers (a key containing "reason") or in the
// status message (an upper-case code such as NONCE_STORE_UNAVAILABLE, or
// the phrase "replay store unavailable" / "nonce store unavailable"), else
// GRPC_<CODE>. `reason_from` counts where the reasons came from.
//
// Simulated evidence: by default each worker is one simulated SEV-SNP
// machine (its VCEK made once at start, like a real chip's) and each Attest
// gets a fresh TEE key and report signed by that VCEK, so the client spends
// ~1 ms of CPU per request instead of ~6 ms for a fresh VCEK and ARK CRL
// (two RSA-4096 signatures) that `attestctl simulate` makes. --tee tdx or
// --gpus N use rp::sim::SimulateNode for every request; with --tee tdx each
// worker is likewise one TDX machine (its PCK certificate, attestation key and
// collateral made once: rp::sim::SimulateTdxPlatform), as a real platform
// sends the same certificates and collateral until Intel's next update, and
// its GPUs are one node's (device certificates made once:
// rp::sim::SimulateGpuPlatform).
// --fresh-node makes every request come from a new machine instead.
//
// Exit codes: 0 the run happened (the caller judges the numbers), 2 usage
// or setup errors (bad flags, simulation directory, unreachable target).
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.grpc.pb.h"
#include "cli/simulate.h"
#include "nlohmann/json.hpp"
#include "release/jwe.h"
#include "tests/testing/snp_report_builder.h"
#include "verifier/common/status_macros.h"
#include "verifier/core/binding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/x509.h"

namespace {

using attestation::v1::AttestationService;
using attestation::v1::AttestRequest;
using attestation::v1::AttestResponse;
using attestation::v1::Challenge;
using attestation::v1::EvidenceBundle;
using Json = nlohmann::ordered_json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kRan = 0;
constexpr int kUsageOrSetup = 2;

constexpr char kUsage[] =
    "usage: attest_load --mode load|race|e2e --targets HOST:PORT[,HOST:PORT...] --sim-dir DIR\n"
    "  load:  [--duration S (10)] [--concurrency C (4)] [--split] [--events FILE]\n"
    "  race:  [--racers N (64)]\n"
    "  e2e:   [--requests N (200)] [--concurrency C (4)] [--rate R (0: closed loop)]\n"
    "         [--warmup W (10)] [--server-pid PID] [--build-threads T (cores)]\n"
    "         [--label TEXT] [--table-row] [--retry-busy] [--save-response FILE]\n"
    "  all:   [--tee snp|tdx (snp)] [--gpus 0..8 (0)] [--audience AUD] [--policy NAME]\n"
    "         [--fresh-node] [--deadline-ms MS (10000)] [--connect-timeout-ms MS (5000)]\n"
    "exit codes: 0 the run happened (judge the JSON on stdout), 2 usage or setup error\n";

struct Options {
  std::string mode;
  std::vector<std::string> targets;
  std::string sim_dir;
  int duration_s = 10;
  int concurrency = 4;
  int racers = 64;
  rp::sim::NodeSimulationOptions node;
  std::string tee_name = "snp";
  std::string audience;
  std::string policy;
  bool split = false;
  bool fresh_node = false;
  int deadline_ms = 10000;
  int connect_timeout_ms = 5000;
  std::string events_file;
  // e2e
  int requests = 200;
  double rate = 0;  // requests/s; 0 = closed loop
  int warmup = 10;
  int server_pid = 0;
  int build_threads = 0;
  std::string label;
  bool table_row = false;
  bool retry_busy = false;
  std::string save_response;
};

absl::StatusOr<int> IntFlag(const std::string& name, const std::string& value, int lo, int hi) {
  int v = 0;
  if (!absl::SimpleAtoi(value, &v) || v < lo || v > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an integer in ", lo, "..", hi, ", not '", value, "'"));
  }
  return v;
}

absl::StatusOr<Options> ParseFlags(int argc, char** argv) {
  const std::vector<std::string> kBool = {"split", "fresh-node", "table-row", "retry-busy"};
  const std::vector<std::string> kValued = {
      "mode",     "targets",    "sim-dir",       "duration",    "concurrency",
      "racers",   "tee",        "gpus",          "audience",    "policy",
      "deadline-ms", "connect-timeout-ms", "events", "requests", "rate",
      "warmup",   "server-pid", "build-threads", "label", "save-response"};
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    arg = arg.substr(2);
    std::optional<std::string> inline_value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    if (std::find(kBool.begin(), kBool.end(), arg) != kBool.end()) {
      if (inline_value) return absl::InvalidArgumentError(absl::StrCat("--", arg, " takes no value"));
      flags[arg] = "true";
    } else if (std::find(kValued.begin(), kValued.end(), arg) != kValued.end()) {
      if (inline_value) {
        flags[arg] = *inline_value;
      } else if (i + 1 < argc) {
        flags[arg] = argv[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", arg, " needs a value"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", arg));
    }
  }
  auto get = [&](const std::string& k, const std::string& def = "") {
    auto it = flags.find(k);
    return it == flags.end() ? def : it->second;
  };
  Options o;
  o.mode = get("mode");
  if (o.mode != "load" && o.mode != "race" && o.mode != "e2e") {
    return absl::InvalidArgumentError(
        o.mode.empty() ? "--mode is required (load | race | e2e)"
                       : absl::StrCat("--mode must be load, race or e2e, not '", o.mode, "'"));
  }
  for (absl::string_view t : absl::StrSplit(get("targets"), ',', absl::SkipWhitespace())) {
    const std::string target(absl::StripAsciiWhitespace(t));
    const size_t colon = target.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(target.substr(colon + 1), &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("--targets: '", target, "' is not HOST:PORT"));
    }
    o.targets.push_back(target);
  }
  if (o.targets.empty()) return absl::InvalidArgumentError("--targets is required (HOST:PORT,...)");
  o.sim_dir = get("sim-dir");
  if (o.sim_dir.empty()) return absl::InvalidArgumentError("--sim-dir is required");
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(o.sim_dir) / "ark.pem", ec)) {
    // Creating fresh roots here would only produce evidence no server trusts.
    return absl::InvalidArgumentError(absl::StrCat(
        "--sim-dir ", o.sim_dir, ": no simulation roots (run `attestctl simulate init --sim-dir ",
        o.sim_dir, "` and point the servers' simulation.dir at it)"));
  }
  ASSIGN_OR_RETURN(o.duration_s, IntFlag("duration", get("duration", "10"), 1, 3600));
  ASSIGN_OR_RETURN(o.concurrency, IntFlag("concurrency", get("concurrency", "4"), 1, 256));
  ASSIGN_OR_RETURN(o.racers, IntFlag("racers", get("racers", "64"), 2, 1024));
  ASSIGN_OR_RETURN(o.deadline_ms, IntFlag("deadline-ms", get("deadline-ms", "10000"), 1, 600000));
  ASSIGN_OR_RETURN(o.connect_timeout_ms,
                   IntFlag("connect-timeout-ms", get("connect-timeout-ms", "5000"), 1, 600000));
  ASSIGN_OR_RETURN(o.node.gpus, IntFlag("gpus", get("gpus", "0"), 0, rp::sim::kMaxSimulatedGpus));
  o.tee_name = get("tee", "snp");
  if (o.tee_name == "snp") {
    o.node.tee = rp::sim::SimulatedTee::kSnp;
  } else if (o.tee_name == "tdx") {
    o.node.tee = rp::sim::SimulatedTee::kTdx;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--tee must be snp or tdx, not '", o.tee_name, "'"));
  }
  if ((o.node.tee == rp::sim::SimulatedTee::kTdx || o.node.gpus > 0) &&
      !rp::sim::CompositeSimulationAvailable()) {
    return absl::InvalidArgumentError(
        "this build has no TDX / GPU simulation (BUILD_TESTING=ON); use --tee snp --gpus 0");
  }
  o.audience = get("audience");
  o.policy = get("policy");
  o.split = flags.count("split") > 0;
  o.fresh_node = flags.count("fresh-node") > 0;
  o.events_file = get("events");
  if (o.mode == "race") {
    for (const char* f : {"duration", "concurrency", "split", "events"}) {
      if (flags.count(f)) return absl::InvalidArgumentError(absl::StrCat("--", f, " is for --mode load"));
    }
  } else if (flags.count("racers")) {
    return absl::InvalidArgumentError("--racers is for --mode race");
  }
  if (o.mode == "e2e") {
    for (const char* f : {"duration", "split", "events", "fresh-node"}) {
      if (flags.count(f)) return absl::InvalidArgumentError(absl::StrCat("--", f, " is not for --mode e2e"));
    }
    if (o.targets.size() != 1) return absl::InvalidArgumentError("--mode e2e takes one target");
  } else {
    for (const char* f : {"requests", "rate", "warmup", "server-pid", "build-threads", "label",
                          "table-row", "retry-busy", "save-response"}) {
      if (flags.count(f)) return absl::InvalidArgumentError(absl::StrCat("--", f, " is for --mode e2e"));
    }
  }
  ASSIGN_OR_RETURN(o.requests, IntFlag("requests", get("requests", "200"), 1, 1000000));
  ASSIGN_OR_RETURN(o.warmup, IntFlag("warmup", get("warmup", "10"), 0, 100000));
  ASSIGN_OR_RETURN(o.server_pid, IntFlag("server-pid", get("server-pid", "0"), 0, 1 << 30));
  ASSIGN_OR_RETURN(o.build_threads, IntFlag("build-threads", get("build-threads", "0"), 0, 256));
  if (const std::string r = get("rate", "0"); !absl::SimpleAtod(r, &o.rate) || !(o.rate >= 0) ||
                                               o.rate > 1e6) {
    return absl::InvalidArgumentError(absl::StrCat("--rate must be a number in 0..1e6, not '", r, "'"));
  }
  o.label = get("label");
  o.table_row = flags.count("table-row") > 0;
  o.retry_busy = flags.count("retry-busy") > 0;
  o.save_response = get("save-response");
  if (!o.save_response.empty() && o.warmup < 1) {
    return absl::InvalidArgumentError("--save-response saves a warm-up answer: --warmup must be >= 1");
  }
  return o;
}

// ---- Simulated evidence ------------------------------------------------------

// One simulated machine: the SEV-SNP fast path keeps one VCEK (as a real
// chip does) and signs a fresh report per challenge; everything else goes
// through rp::sim::SimulateNode each time, a TDX machine with its platform
// (PCK certificate, attestation key, collateral) kept unless --fresh-node.
class NodeSimulator {
 public:
  static absl::StatusOr<std::unique_ptr<NodeSimulator>> Create(
      std::shared_ptr<const rp::sim::SimulationRoots> roots, const Options& o) {
    auto sim = std::unique_ptr<NodeSimulator>(new NodeSimulator(std::move(roots), o));
    if (sim->fast_) RETURN_IF_ERROR(sim->MakeVcek());
    if (!o.fresh_node && o.node.tee == rp::sim::SimulatedTee::kTdx) {
      ASSIGN_OR_RETURN(sim->options_.tdx.platform,
                       rp::sim::SimulateTdxPlatform(*sim->roots_, absl::Now()));
    }
    if (!o.fresh_node && o.node.gpus > 0) {
      ASSIGN_OR_RETURN(sim->options_.gpu_platform,
                       rp::sim::SimulateGpuPlatform(*sim->roots_, o.node.gpus, absl::Now()));
    }
    return sim;
  }

  absl::StatusOr<EvidenceBundle> Make(const std::string& nonce) const {
    if (!fast_) {
      ASSIGN_OR_RETURN(rp::sim::SimulatedEvidence ev,
                       rp::sim::SimulateNode(*roots_, nonce, absl::Now(), options_));
      return std::move(ev.bundle);
    }
    EvidenceBundle bundle;
    ASSIGN_OR_RETURN(auto tee_key, rp::crypto::GenerateEcKey(rp::sim::kDefaultTeeKeyType));
    ASSIGN_OR_RETURN(attestation::v1::Jwk jwk,
                     rp::release::PublicJwkOfKeyPem(rp::crypto::PrivateKeyPem(tee_key.get())));
    attestation::v1::Jwk* pj = bundle.mutable_tee_public_key();  // public members only
    pj->set_kty(jwk.kty());
    pj->set_crv(jwk.crv());
    pj->set_x(jwk.x());
    pj->set_y(jwk.y());
    ASSIGN_OR_RETURN(rp::Bytes report_data,
                     rp::core::ExpectedAttestV1ReportData(rp::AsBytes(nonce), *pj, {}));
    rp::testing::SnpReportBuilder b = builder_;
    b.ReportData(report_data).ReportId(rp::crypto::RandomBytes(32));
    ASSIGN_OR_RETURN(rp::Bytes report, b.BuildSigned(vcek_.key.get()));
    auto* snp = bundle.mutable_sev_snp();
    snp->set_report(std::string(report.begin(), report.end()));
    snp->set_vcek(vcek_pem_);
    snp->set_cert_chain(roots_->snp.chain.vcek_chain_pem());
    bundle.set_binding(std::string(rp::core::kBindingAttestV1));
    return bundle;
  }

 private:
  NodeSimulator(std::shared_ptr<const rp::sim::SimulationRoots> roots, const Options& o)
      : roots_(std::move(roots)),
        options_(o.node),
        fast_(!o.fresh_node && o.node.tee == rp::sim::SimulatedTee::kSnp && o.node.gpus == 0) {}

  // As rp::sim's SEV-SNP simulation does per report (cli/simulate.cc
  // BuildSnp): Milan, VMPL 0, the simulated guest image's measurement, a
  // random chip id, a VCEK with the KDS extensions of the report's TCB.
  absl::Status MakeVcek() {
    builder_.ForProduct(rp::sev_snp::Product::kMilan)
        .Vmpl(0)
        .ChipId(rp::crypto::RandomBytes(64))
        .Measurement(rp::crypto::Sha384(rp::AsBytes("attestation-rp simulated guest image")));
    rp::testing::SnpLeafOptions leaf;
    leaf.extensions =
        rp::testing::KdsSpecForReport(builder_.fields(), rp::sev_snp::Product::kMilan, false);
    const absl::Time now = absl::Now();
    leaf.not_before = now - absl::Hours(24);
    leaf.not_after = now + absl::Hours(24 * 365 * 7);
    ASSIGN_OR_RETURN(vcek_, rp::testing::MakeSnpLeaf(roots_->snp.chain, leaf));
    vcek_pem_ = rp::crypto::CertificatePem(vcek_.cert.get());
    return absl::OkStatus();
  }

  std::shared_ptr<const rp::sim::SimulationRoots> roots_;
  rp::sim::NodeSimulationOptions options_;
  bool fast_;
  rp::testing::SnpReportBuilder builder_;
  rp::testing::Issued vcek_;
  std::string vcek_pem_;
};

// ---- gRPC --------------------------------------------------------------------

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",           "CANCELLED",         "UNKNOWN",        "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",    "ALREADY_EXISTS", "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",    "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? kNames[c] : absl::StrCat("CODE_", c);
}

// Each channel gets its own connection (no global subchannel sharing), so
// workers are separate clients as far as a balancer can tell.
std::unique_ptr<AttestationService::Stub> NewStub(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  return AttestationService::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
}

absl::Status WaitConnected(const std::string& target, int timeout_ms) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 std::chrono::milliseconds(timeout_ms))) {
    return absl::UnavailableError(
        absl::StrCat("target ", target, ": not reachable within ", timeout_ms, " ms"));
  }
  return absl::OkStatus();
}

// The first upper-case reason code in `text` (A-Z, 0-9, '_', with at least
// one '_', e.g. NONCE_STORE_UNAVAILABLE), or "".
std::string FindReasonCode(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (!absl::ascii_isupper(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (absl::ascii_isupper(static_cast<unsigned char>(text[j])) ||
                               absl::ascii_isdigit(static_cast<unsigned char>(text[j])) ||
                               text[j] == '_')) {
      ++j;
    }
    const std::string_view word = text.substr(i, j - i);
    const bool bounded = (i == 0 || !absl::ascii_isalnum(static_cast<unsigned char>(text[i - 1]))) &&
                         (j == text.size() || !absl::ascii_isalnum(static_cast<unsigned char>(text[j])));
    if (bounded && word.size() >= 6 && word.find('_') != std::string_view::npos &&
        word.back() != '_') {
      return std::string(word);
    }
    i = j;
  }
  return "";
}

struct Outcome {
  bool token = false;
  std::string key;         // TOKEN or the reason
  std::string code;        // gRPC code name
  std::string verdict;     // OK responses only
  std::string reason_from; // response | trailer | message_code | message_phrase | grpc_code
};

Outcome Classify(const grpc::Status& st, const grpc::ClientContext& ctx, const AttestResponse& resp) {
  Outcome o;
  o.code = CodeName(st.error_code());
  if (st.ok()) {
    o.verdict = attestation::v1::Verdict_Name(resp.verdict());
    if (!resp.token().empty()) {
      o.token = true;
      o.key = "TOKEN";
      return o;
    }
    o.key = resp.reasons().empty() ? absl::StrCat("NO_TOKEN_", o.verdict) : resp.reasons(0);
    o.reason_from = "response";
    return o;
  }
  for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) {
    const std::string key(k.data(), k.size());
    if (absl::StrContains(absl::AsciiStrToLower(key), "reason") && !absl::EndsWith(key, "-bin")) {
      o.key = std::string(v.data(), v.size());
      o.reason_from = "trailer";
      return o;
    }
  }
  const std::string& msg = st.error_message();
  if (std::string code = FindReasonCode(msg); !code.empty()) {
    o.key = code;
    o.reason_from = "message_code";
    return o;
  }
  const std::string lower = absl::AsciiStrToLower(msg);
  if (absl::StrContains(lower, "replay store unavailable") ||
      absl::StrContains(lower, "nonce store unavailable")) {
    o.key = "NONCE_STORE_UNAVAILABLE";
    o.reason_from = "message_phrase";
    return o;
  }
  o.key = "GRPC_" + o.code;
  o.reason_from = "grpc_code";
  return o;
}

AttestRequest MakeRequest(const Challenge& c, EvidenceBundle bundle, const Options& o) {
  AttestRequest req;
  *req.mutable_challenge() = c;
  *req.mutable_evidence() = std::move(bundle);
  req.mutable_evidence()->clear_nonce();
  req.set_policy(o.policy);
  req.set_audience(o.audience);
  return req;
}

std::chrono::system_clock::time_point Deadline(int ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

int64_t UnixMs() { return absl::ToUnixMillis(absl::Now()); }

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

Json Percentiles(std::vector<double> ms) {
  Json j = Json::object();
  j["count"] = ms.size();
  if (ms.empty()) return j;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double p) {
    // nearest rank
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(ms.size())));
    rank = std::clamp<size_t>(rank, 1, ms.size());
    return std::round(ms[rank - 1] * 100.0) / 100.0;
  };
  j["p50"] = at(50);
  j["p90"] = at(90);
  j["p99"] = at(99);
  j["max"] = std::round(ms.back() * 100.0) / 100.0;
  return j;
}

// ---- load --------------------------------------------------------------------

struct Event {
  int64_t start_unix_ms;
  int64_t end_unix_ms;
  int target;
  std::string key;
};

struct Bucket {
  int64_t attests = 0;
  int64_t tokens = 0;
  int64_t challenge_errors = 0;
  std::map<std::string, int64_t> outcomes;
};

struct WorkerStats {
  int64_t attests = 0;
  int64_t tokens = 0;
  std::map<std::string, int64_t> outcomes;       // TOKEN / reason
  std::map<std::string, int64_t> grpc_codes;     // Attest status codes
  std::map<std::string, int64_t> reason_from;
  std::map<std::string, int64_t> token_verdicts;
  std::map<std::string, int64_t> challenge_errors;  // GetChallenge failures by code
  std::map<std::string, int64_t> simulate_errors;
  std::vector<std::map<std::string, int64_t>> by_target;  // Attest outcomes per target
  std::vector<Bucket> timeline;
  std::vector<double> attest_ms;
  std::vector<double> token_ms;
  double simulate_ms = 0;
  int64_t simulations = 0;
  std::vector<Event> events;
};

Bucket& BucketAt(WorkerStats& s, SteadyClock::time_point t0, SteadyClock::time_point t) {
  const auto sec = std::chrono::duration_cast<std::chrono::seconds>(t - t0).count();
  const size_t i = sec < 0 ? 0 : static_cast<size_t>(sec);
  if (s.timeline.size() <= i) s.timeline.resize(i + 1);
  return s.timeline[i];
}

void Worker(const Options& o, const NodeSimulator& sim, std::atomic<uint64_t>& rr,
            SteadyClock::time_point t0, SteadyClock::time_point end, WorkerStats& s) {
  const size_t n = o.targets.size();
  std::vector<std::unique_ptr<AttestationService::Stub>> stubs;
  for (const std::string& t : o.targets) stubs.push_back(NewStub(t));
  s.by_target.resize(n);
  while (SteadyClock::now() < end) {
    const uint64_t i = rr.fetch_add(1);
    const size_t tc = i % n;
    const size_t ta = o.split ? (i + 1) % n : tc;
    Challenge c;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline(o.deadline_ms));
      const grpc::Status st = stubs[tc]->GetChallenge(&ctx, {}, &c);
      if (!st.ok()) {
        ++s.challenge_errors[CodeName(st.error_code())];
        ++BucketAt(s, t0, SteadyClock::now()).challenge_errors;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // no hot spin on an outage
        continue;
      }
    }
    const auto sim_start = SteadyClock::now();
    absl::StatusOr<EvidenceBundle> bundle = sim.Make(c.nonce());
    s.simulate_ms +=
        std::chrono::duration<double, std::milli>(SteadyClock::now() - sim_start).count();
    ++s.simulations;
    if (!bundle.ok()) {
      ++s.simulate_errors[std::string(bundle.status().message()).substr(0, 200)];
      continue;
    }
    const AttestRequest req = MakeRequest(c, *std::move(bundle), o);
    AttestResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(o.deadline_ms));
    const int64_t start_ms = UnixMs();
    const auto start = SteadyClock::now();
    const grpc::Status st = stubs[ta]->Attest(&ctx, req, &resp);
    const auto stop = SteadyClock::now();
    const double ms = std::chrono::duration<double, std::milli>(stop - start).count();
    const Outcome out = Classify(st, ctx, resp);
    ++s.attests;
    ++s.outcomes[out.key];
    ++s.grpc_codes[out.code];
    ++s.by_target[ta][out.key];
    if (!out.reason_from.empty()) ++s.reason_from[out.reason_from];
    s.attest_ms.push_back(ms);
    Bucket& b = BucketAt(s, t0, start);  // by start: an outage is when requests were sent
    ++b.attests;
    ++b.outcomes[out.key];
    if (out.token) {
      ++s.tokens;
      ++b.tokens;
      ++s.token_verdicts[out.verdict];
      s.token_ms.push_back(ms);
    }
    if (!o.events_file.empty()) {
      s.events.push_back(Event{start_ms, UnixMs(), static_cast<int>(ta), out.key});
    }
  }
}

template <typename K>
void Add(std::map<K, int64_t>& into, const std::map<K, int64_t>& from) {
  for (const auto& [k, v] : from) into[k] += v;
}

int RunLoad(const Options& o, std::shared_ptr<const rp::sim::SimulationRoots> roots) {
  std::vector<std::unique_ptr<NodeSimulator>> sims;
  for (int w = 0; w < o.concurrency; ++w) {
    auto sim = NodeSimulator::Create(roots, o);
    if (!sim.ok()) {
      std::cerr << "attest_load: simulation: " << sim.status() << "\n";
      return kUsageOrSetup;
    }
    sims.push_back(*std::move(sim));
  }
  std::vector<WorkerStats> stats(static_cast<size_t>(o.concurrency));
  std::atomic<uint64_t> rr{0};
  const double cpu0 = CpuSeconds();
  const int64_t start_unix_ms = UnixMs();
  const auto t0 = SteadyClock::now();
  const auto end = t0 + std::chrono::seconds(o.duration_s);
  std::vector<std::thread> threads;
  for (int w = 0; w < o.concurrency; ++w) {
    threads.emplace_back(Worker, std::cref(o), std::cref(*sims[static_cast<size_t>(w)]),
                         std::ref(rr), t0, end, std::ref(stats[static_cast<size_t>(w)]));
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const double cpu = CpuSeconds() - cpu0;

  WorkerStats all;
  all.by_target.resize(o.targets.size());
  std::vector<Event> events;
  for (WorkerStats& s : stats) {
    all.attests += s.attests;
    all.tokens += s.tokens;
    Add(all.outcomes, s.outcomes);
    Add(all.grpc_codes, s.grpc_codes);
    Add(all.reason_from, s.reason_from);
    Add(all.token_verdicts, s.token_verdicts);
    Add(all.challenge_errors, s.challenge_errors);
    Add(all.simulate_errors, s.simulate_errors);
    for (size_t t = 0; t < s.by_target.size(); ++t) Add(all.by_target[t], s.by_target[t]);
    if (all.timeline.size() < s.timeline.size()) all.timeline.resize(s.timeline.size());
    for (size_t i = 0; i < s.timeline.size(); ++i) {
      all.timeline[i].attests += s.timeline[i].attests;
      all.timeline[i].tokens += s.timeline[i].tokens;
      all.timeline[i].challenge_errors += s.timeline[i].challenge_errors;
      Add(all.timeline[i].outcomes, s.timeline[i].outcomes);
    }
    all.attest_ms.insert(all.attest_ms.end(), s.attest_ms.begin(), s.attest_ms.end());
    all.token_ms.insert(all.token_ms.end(), s.token_ms.begin(), s.token_ms.end());
    all.simulate_ms += s.simulate_ms;
    all.simulations += s.simulations;
    events.insert(events.end(), s.events.begin(), s.events.end());
  }

  if (!o.events_file.empty()) {
    std::sort(events.begin(), events.end(),
              [](const Event& a, const Event& b) { return a.start_unix_ms < b.start_unix_ms; });
    std::ofstream out(o.events_file, std::ios::trunc);
    out << "# start_unix_ms\tend_unix_ms\ttarget\toutcome\n";
    for (const Event& e : events) {
      out << e.start_unix_ms << '\t' << e.end_unix_ms << '\t' << o.targets[static_cast<size_t>(e.target)]
          << '\t' << e.key << '\n';
    }
    out.close();
    if (!out) {
      std::cerr << "attest_load: cannot write " << o.events_file << "\n";
      return kUsageOrSetup;
    }
  }

  int64_t challenge_errors = 0;
  for (const auto& [k, v] : all.challenge_errors) challenge_errors += v;
  Json j;
  j["mode"] = "load";
  j["targets"] = o.targets;
  j["split"] = o.split;
  j["concurrency"] = o.concurrency;
  j["evidence"] = absl::StrCat(o.tee_name, "+", o.node.gpus, "gpu",
                               o.fresh_node ? " (a new machine per request)"
                               : o.tee_name == "snp" && o.node.gpus == 0 ? " (one VCEK per worker)"
                               : o.tee_name == "tdx" ? " (one TDX platform and its GPUs per worker)"
                                                     : " (one SEV-SNP VCEK per request, GPUs per worker)");
  j["start_unix_ms"] = start_unix_ms;
  j["elapsed_s"] = std::round(elapsed * 1000.0) / 1000.0;
  j["attests"] = all.attests;
  j["tokens"] = all.tokens;
  j["attests_per_s"] = std::round(static_cast<double>(all.attests) / elapsed * 10.0) / 10.0;
  j["tokens_per_s"] = std::round(static_cast<double>(all.tokens) / elapsed * 10.0) / 10.0;
  j["outcomes"] = all.outcomes;
  j["grpc_codes"] = all.grpc_codes;
  j["reason_from"] = all.reason_from;
  j["token_verdicts"] = all.token_verdicts;
  j["challenge_errors"] = challenge_errors;
  j["challenge_error_codes"] = all.challenge_errors;
  j["simulate_errors"] = all.simulate_errors;
  Json by_target = Json::object();
  for (size_t t = 0; t < o.targets.size(); ++t) by_target[o.targets[t]] = all.by_target[t];
  j["attest_by_target"] = by_target;
  j["attest_latency_ms"] = Percentiles(all.attest_ms);
  j["token_latency_ms"] = Percentiles(all.token_ms);
  j["client_simulate_ms_per_attest"] =
      all.simulations ? std::round(all.simulate_ms / static_cast<double>(all.simulations) * 1000.0) / 1000.0
                      : 0.0;
  j["client_cpu_s"] = std::round(cpu * 100.0) / 100.0;
  Json timeline = Json::array();
  for (size_t i = 0; i < all.timeline.size(); ++i) {
    const Bucket& b = all.timeline[i];
    Json e;
    e["t"] = i;
    e["attests"] = b.attests;
    e["tokens"] = b.tokens;
    if (b.challenge_errors) e["challenge_errors"] = b.challenge_errors;
    e["outcomes"] = b.outcomes;
    timeline.push_back(std::move(e));
  }
  j["timeline"] = std::move(timeline);
  std::cout << j.dump() << std::endl;
  return kRan;
}

// ---- e2e ---------------------------------------------------------------------

// What /proc/PID says about the server (zeros when it cannot be read).
struct ProcSample {
  int64_t rss_kb = 0;
  int64_t hwm_kb = 0;  // VmHWM: peak RSS over the process's life
  int64_t threads = 0;
  double cpu_s = 0;    // utime + stime
};

ProcSample SampleProc(int pid) {
  ProcSample p;
  if (pid <= 0) return p;
  {
    std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
    std::string line;
    while (std::getline(in, line)) {
      auto field = [&](const char* name, int64_t* out) {
        if (absl::StartsWith(line, name)) {
          std::string v(absl::StripAsciiWhitespace(line.substr(std::string_view(name).size())));
          if (absl::EndsWith(v, " kB")) v.resize(v.size() - 3);
          (void)absl::SimpleAtoi(v, out);
        }
      };
      field("VmRSS:", &p.rss_kb);
      field("VmHWM:", &p.hwm_kb);
      field("Threads:", &p.threads);
    }
  }
  {
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command name (which may contain spaces) ")": state is
    // field 3, utime 14, stime 15.
    const size_t close = stat.rfind(')');
    if (close != std::string::npos) {
      std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
      int64_t ut = 0, st = 0;
      if (f.size() > 12 && absl::SimpleAtoi(f[11], &ut) && absl::SimpleAtoi(f[12], &st)) {
        p.cpu_s = static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
      }
    }
  }
  return p;
}

// `v` rounded to the multiple of `unit` (0.1, 0.01, 0.001), divided rather
// than multiplied back so that 182.2 prints as 182.2.
double Round(double v, double unit) {
  const double per = std::round(1.0 / unit);
  return std::round(v * per) / per;
}

int RunE2e(const Options& o, std::shared_ptr<const rp::sim::SimulationRoots> roots) {
  const std::string& target = o.targets[0];
  const int total = o.requests + o.warmup;
  // Phase 1: challenges, then bundles bound to them.
  std::vector<Challenge> challenges(static_cast<size_t>(total));
  const auto p1 = SteadyClock::now();
  {
    auto stub = NewStub(target);
    for (int i = 0; i < total; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline(o.deadline_ms));
      const grpc::Status st = stub->GetChallenge(&ctx, {}, &challenges[static_cast<size_t>(i)]);
      if (!st.ok()) {
        std::cerr << "attest_load: GetChallenge " << i << ": " << CodeName(st.error_code()) << " "
                  << st.error_message()
                  << " (the e2e benchmark needs the per-client limits off: limits.get_challenge"
                     ".rate_per_second: -1 in a development config)\n";
        return kUsageOrSetup;
      }
    }
  }
  const int threads = o.build_threads > 0
                          ? o.build_threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<AttestRequest> requests(static_cast<size_t>(total));
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::string first_error;
  std::mutex error_mu;
  {
    std::vector<std::thread> builders;
    for (int t = 0; t < threads; ++t) {
      builders.emplace_back([&] {
        auto sim = NodeSimulator::Create(roots, o);  // one machine per builder
        if (!sim.ok()) {
          std::lock_guard<std::mutex> l(error_mu);
          failed = true;
          first_error = std::string(sim.status().message());
          return;
        }
        for (int i = next++; i < total && !failed; i = next++) {
          const Challenge& c = challenges[static_cast<size_t>(i)];
          absl::StatusOr<EvidenceBundle> b = (*sim)->Make(c.nonce());
          if (!b.ok()) {
            std::lock_guard<std::mutex> l(error_mu);
            failed = true;
            first_error = std::string(b.status().message());
            return;
          }
          requests[static_cast<size_t>(i)] = MakeRequest(c, *std::move(b), o);
        }
      });
    }
    for (auto& t : builders) t.join();
  }
  if (failed) {
    std::cerr << "attest_load: simulation: " << first_error << "\n";
    return kUsageOrSetup;
  }
  const double phase1_s = std::chrono::duration<double>(SteadyClock::now() - p1).count();
  double request_bytes = 0;
  for (const AttestRequest& r : requests) request_bytes += static_cast<double>(r.ByteSizeLong());
  request_bytes /= total;

  // Phase 2: one connection per worker, connected before the clock starts.
  const int workers = o.concurrency;
  std::vector<std::unique_ptr<AttestationService::Stub>> stubs;
  for (int w = 0; w < workers; ++w) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
    auto ch = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    if (!ch->WaitForConnected(Deadline(o.connect_timeout_ms))) {
      std::cerr << "attest_load: worker " << w << ": " << target << " not reachable\n";
      return kUsageOrSetup;
    }
    stubs.push_back(AttestationService::NewStub(ch));
  }
  // Warm-up, one at a time, not measured (first-use collateral loads).
  std::string saved_response;
  for (int i = 0; i < o.warmup; ++i) {
    AttestResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(o.deadline_ms));
    const grpc::Status st = stubs[0]->Attest(&ctx, requests[static_cast<size_t>(i)], &resp);
    if (st.ok() && !resp.token().empty()) saved_response = resp.SerializeAsString();
  }
  if (!o.save_response.empty()) {
    if (saved_response.empty()) {
      std::cerr << "attest_load: --save-response: no warm-up answer carried a token\n";
      return kUsageOrSetup;
    }
    std::ofstream f(o.save_response, std::ios::binary | std::ios::trunc);
    f << saved_response;
    if (!f.flush()) {
      std::cerr << "attest_load: cannot write " << o.save_response << "\n";
      return kUsageOrSetup;
    }
  }

  struct Result {
    double ms = 0;
    Outcome out;
    size_t token_bytes = 0;
    size_t response_bytes = 0;
  };
  std::vector<Result> results(static_cast<size_t>(o.requests));
  std::atomic<int> idx{0};
  std::atomic<int64_t> busy_retries{0};
  std::atomic<bool> sampling{true};
  ProcSample peak;
  std::thread sampler([&] {
    while (sampling) {
      const ProcSample s = SampleProc(o.server_pid);
      peak.rss_kb = std::max(peak.rss_kb, s.rss_kb);
      peak.threads = std::max(peak.threads, s.threads);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const ProcSample server0 = SampleProc(o.server_pid);
  const double cpu0 = CpuSeconds();
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      for (int i = idx++; i < o.requests; i = idx++) {
        SteadyClock::time_point start = SteadyClock::now();
        if (o.rate > 0) {
          const auto due = t0 + std::chrono::duration_cast<SteadyClock::duration>(
                                    std::chrono::duration<double>(i / o.rate));
          std::this_thread::sleep_until(due);
          start = due;  // latency from when it was due
        }
        const AttestRequest& req = requests[static_cast<size_t>(o.warmup + i)];
        Result& r = results[static_cast<size_t>(i)];
        for (int attempt = 0;; ++attempt) {
          AttestResponse resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(Deadline(o.deadline_ms));
          const grpc::Status st = stubs[static_cast<size_t>(w)]->Attest(&ctx, req, &resp);
          r.out = Classify(st, ctx, resp);
          r.token_bytes = resp.token().size();
          r.response_bytes = resp.ByteSizeLong();
          // --retry-busy: what a well-behaved client does with SERVER_BUSY:
          // wait the retry-after hint, then send the same request again (its
          // challenge was not consumed). At most 10 times.
          if (!o.retry_busy || r.out.key != "SERVER_BUSY" || attempt >= 10) break;
          ++busy_retries;
          int64_t wait_s = 1;
          const auto& md = ctx.GetServerTrailingMetadata();
          if (auto it = md.find("retry-after"); it != md.end()) {
            (void)absl::SimpleAtoi(std::string(it->second.data(), it->second.size()), &wait_s);
          }
          std::this_thread::sleep_for(std::chrono::seconds(std::clamp<int64_t>(wait_s, 1, 60)));
        }
        r.ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
      }
    });
  }
  for (auto& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const double client_cpu = CpuSeconds() - cpu0;
  const ProcSample server1 = SampleProc(o.server_pid);
  sampling = false;
  sampler.join();

  std::map<std::string, int64_t> outcomes, codes;
  std::vector<double> all_ms, token_ms;
  int64_t tokens = 0;
  double token_bytes = 0;
  double response_bytes = 0;
  for (const Result& r : results) {
    response_bytes += static_cast<double>(r.response_bytes);
    ++outcomes[r.out.key];
    ++codes[r.out.code];
    all_ms.push_back(r.ms);
    if (r.out.token) {
      ++tokens;
      token_ms.push_back(r.ms);
      token_bytes += static_cast<double>(r.token_bytes);
    }
  }
  const double n = static_cast<double>(o.requests);
  Json j;
  j["mode"] = "e2e";
  j["label"] = o.label;
  j["target"] = target;
  j["evidence"] = absl::StrCat(o.tee_name, "+", o.node.gpus, "gpu");
  j["concurrency"] = workers;
  j["rate"] = o.rate;
  j["requests"] = o.requests;
  j["warmup"] = o.warmup;
  j["phase1_s"] = Round(phase1_s, 0.001);
  j["request_bytes"] = std::llround(request_bytes);
  j["elapsed_s"] = Round(elapsed, 0.001);
  j["attests_per_s"] = Round(n / elapsed, 0.1);
  j["tokens"] = tokens;
  j["tokens_per_s"] = Round(static_cast<double>(tokens) / elapsed, 0.1);
  j["response_bytes"] = std::llround(response_bytes / n);
  j["token_bytes"] = tokens ? std::llround(token_bytes / static_cast<double>(tokens)) : 0;
  j["outcomes"] = outcomes;
  j["grpc_codes"] = codes;
  j["retry_busy"] = o.retry_busy;
  j["busy_retries"] = busy_retries.load();
  j["latency_ms"] = Percentiles(all_ms);
  j["token_latency_ms"] = Percentiles(token_ms);
  j["client_cpu_ms_per_request"] = Round(client_cpu * 1000.0 / n, 0.001);
  if (o.server_pid > 0) {
    j["server"] = Json{
        {"pid", o.server_pid},
        {"cpu_ms_per_request", Round((server1.cpu_s - server0.cpu_s) * 1000.0 / n, 0.01)},
        {"cpu_utilisation", Round((server1.cpu_s - server0.cpu_s) / elapsed, 0.01)},
        {"rss_mb_end", Round(static_cast<double>(server1.rss_kb) / 1024.0, 0.1)},
        {"rss_mb_peak_sampled", Round(static_cast<double>(peak.rss_kb) / 1024.0, 0.1)},
        {"vm_hwm_mb", Round(static_cast<double>(server1.hwm_kb) / 1024.0, 0.1)},
        {"threads_end", server1.threads},
        {"threads_peak_sampled", peak.threads}};
  }
  std::cout << j.dump() << std::endl;
  if (o.table_row) {
    // | scenario | c | answers/s | tokens/s | p50 | p90 | p99 | token p99 | errors |
    // | server CPU ms/token | server RSS MB | threads | client CPU ms/req |
    std::string errors;
    for (const auto& [k, v] : outcomes) {
      if (k == "TOKEN") continue;
      absl::StrAppend(&errors, errors.empty() ? "" : ", ", k, " ", v);
    }
    if (busy_retries > 0) {
      absl::StrAppend(&errors, errors.empty() ? "0" : "", " (", busy_retries.load(),
                      " SERVER_BUSY retried)");
    }
    const Json& lat = j["latency_ms"];
    const Json& tlat = j["token_latency_ms"];
    auto num = [](const Json& obj, const char* k) {
      return obj.contains(k) ? obj[k].dump() : std::string("-");
    };
    std::string server_cpu = "-", rss = "-", thr = "-";
    if (o.server_pid > 0) {
      const double cpu = server1.cpu_s - server0.cpu_s;
      server_cpu = tokens ? absl::StrFormat("%.2f", cpu * 1000.0 / static_cast<double>(tokens)) : "-";
      rss = j["server"]["rss_mb_peak_sampled"].dump();
      thr = j["server"]["threads_peak_sampled"].dump();
    }
    std::cout << "| " << (o.label.empty() ? j["evidence"].get<std::string>() : o.label) << " | "
              << (o.rate > 0 ? absl::StrCat("rate ", o.rate) : absl::StrCat(workers)) << " | "
              << j["attests_per_s"].dump() << " | " << j["tokens_per_s"].dump() << " | "
              << num(lat, "p50") << " | " << num(lat, "p90") << " | " << num(lat, "p99") << " | "
              << num(tlat, "p99") << " | "
              << (errors.empty() ? "0" : errors) << " | " << server_cpu << " | " << rss << " | "
              << thr << " | " << j["client_cpu_ms_per_request"].dump() << " |" << std::endl;
  }
  return kRan;
}

// ---- race --------------------------------------------------------------------

int RunRace(const Options& o, std::shared_ptr<const rp::sim::SimulationRoots> roots) {
  Challenge c;
  {
    auto stub = NewStub(o.targets[0]);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(o.deadline_ms));
    const grpc::Status st = stub->GetChallenge(&ctx, {}, &c);
    if (!st.ok()) {
      std::cerr << "attest_load: GetChallenge at " << o.targets[0] << ": "
                << CodeName(st.error_code()) << " " << st.error_message() << "\n";
      return kUsageOrSetup;
    }
  }
  auto sim = NodeSimulator::Create(roots, o);
  if (!sim.ok()) {
    std::cerr << "attest_load: simulation: " << sim.status() << "\n";
    return kUsageOrSetup;
  }
  auto bundle = (*sim)->Make(c.nonce());
  if (!bundle.ok()) {
    std::cerr << "attest_load: simulation: " << bundle.status() << "\n";
    return kUsageOrSetup;
  }
  const AttestRequest req = MakeRequest(c, *std::move(bundle), o);
  const size_t n = static_cast<size_t>(o.racers);
  // Every racer's channel is connected before the barrier, so the Attests
  // leave together rather than in connection-setup order.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<AttestationService::Stub>> stubs;
  for (size_t i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(o.targets[i % o.targets.size()],
                                                 grpc::InsecureChannelCredentials(), args));
    if (!channels.back()->WaitForConnected(Deadline(o.connect_timeout_ms))) {
      std::cerr << "attest_load: racer " << i << ": " << o.targets[i % o.targets.size()]
                << " not reachable\n";
      return kUsageOrSetup;
    }
    stubs.push_back(AttestationService::NewStub(channels.back()));
  }
  std::vector<Outcome> outcomes(n);
  std::vector<double> ms(n);
  std::barrier start(static_cast<std::ptrdiff_t>(n));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      AttestResponse resp;
      grpc::ClientContext ctx;
      start.arrive_and_wait();
      ctx.set_deadline(Deadline(o.deadline_ms));
      const auto t = SteadyClock::now();
      const grpc::Status st = stubs[i]->Attest(&ctx, req, &resp);
      ms[i] = std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
      outcomes[i] = Classify(st, ctx, resp);
    });
  }
  for (auto& t : threads) t.join();
  int64_t tokens = 0;
  std::map<std::string, int64_t> by_outcome, by_code, reason_from;
  std::vector<std::map<std::string, int64_t>> by_target(o.targets.size());
  Json winners = Json::array();
  for (size_t i = 0; i < n; ++i) {
    const Outcome& out = outcomes[i];
    ++by_outcome[out.key];
    ++by_code[out.code];
    ++by_target[i % o.targets.size()][out.key];
    if (!out.reason_from.empty()) ++reason_from[out.reason_from];
    if (out.token) {
      ++tokens;
      winners.push_back(Json{{"racer", i}, {"target", o.targets[i % o.targets.size()]}});
    }
  }
  Json j;
  j["mode"] = "race";
  j["targets"] = o.targets;
  j["racers"] = o.racers;
  j["tokens"] = tokens;
  j["winners"] = std::move(winners);
  j["outcomes"] = by_outcome;
  j["grpc_codes"] = by_code;
  j["reason_from"] = reason_from;
  Json bt = Json::object();
  for (size_t t = 0; t < o.targets.size(); ++t) bt[o.targets[t]] = by_target[t];
  j["attest_by_target"] = bt;
  j["attest_latency_ms"] = Percentiles(ms);
  std::cout << j.dump() << std::endl;
  return kRan;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return kRan;
    }
  }
  absl::StatusOr<Options> o = ParseFlags(argc, argv);
  if (!o.ok()) {
    std::cerr << "attest_load: " << o.status().message() << "\n" << kUsage;
    return kUsageOrSetup;
  }
  auto roots = rp::sim::LoadOrCreateSimulationRoots(o->sim_dir);
  if (!roots.ok()) {
    std::cerr << "attest_load: --sim-dir " << o->sim_dir << ": " << roots.status() << "\n";
    return kUsageOrSetup;
  }
  auto shared_roots = std::make_shared<const rp::sim::SimulationRoots>(*std::move(roots));
  for (const std::string& t : o->targets) {
    if (absl::Status st = WaitConnected(t, o->connect_timeout_ms); !st.ok()) {
      std::cerr << "attest_load: " << st.message() << "\n";
      return kUsageOrSetup;
    }
  }
  // The SEV-SNP fast path needs the simulation ARK's CRL in the collateral
  // directory; one full simulation writes it (and the GPU collateral, if any).
  {
    std::string nonce(32, '\0');
    const rp::Bytes r = rp::crypto::RandomBytes(32);
    nonce.assign(r.begin(), r.end());
    auto warm = rp::sim::SimulateNode(*shared_roots, nonce, absl::Now(), o->node);
    if (!warm.ok()) {
      std::cerr << "attest_load: simulation: " << warm.status() << "\n";
      return kUsageOrSetup;
    }
  }
  if (o->mode == "e2e") return RunE2e(*o, shared_roots);
  return o->mode == "load" ? RunLoad(*o, shared_roots) : RunRace(*o, shared_roots);
}
