// chaos_client: the request side of tests/chaos/run_chaos.sh (issue 15).
//
//   chaos_client --mode mix --target HOST:PORT --sim-dir DIR --vcek-dir DIR --requests N
//                [--duration S] [--concurrency C] [--seed S] --events FILE
//                [--oversize-bytes B]
//   chaos_client --mode drain --target HOST:PORT --sim-dir DIR --kill-pid PID
//                [--inflight N] [--gpus G] [--kill-after-ms MS]
//
// mix: N requests whose correct outcome is known before they are sent. The
// kind of request i is a pure function of (seed, i):
//   valid_snp      42 %  SEV-SNP, fresh report per challenge       -> TOKEN
//   valid_snp_kds  10 %  SEV-SNP of a new chip, no VCEK in the bundle: the
//                        server fetches it from the KDS stand-in    -> TOKEN
//                        (fail closed while the KDS is slow / dead)
//   valid_tdx      15 %  TDX (rp::sim::SimulateNode)                -> TOKEN
//   valid_snp_gpu  10 %  SEV-SNP + 1 GPU                            -> TOKEN
//   valid_tdx_gpu   5 %  TDX + 1 GPU                                -> TOKEN
//   replay          8 %  a valid SNP bundle sent twice: replay_first -> TOKEN,
//                        replay_second -> NONCE_REPLAYED
//   wrong_nonce     3 %  a valid SNP bundle bound to another nonce  -> rejected
//   wrong_policy    3 %  a valid SNP bundle naming a policy the client may not
//                        choose                                     -> PERMISSION_DENIED
//   oversize      1.5 %  1.5 MiB > max_request_bytes (1 MiB)       -> INVALID_ARGUMENT
//   oversize_2x   1.5 %  2.5 MiB > the gRPC cap (2 x max_request_bytes) -> RESOURCE_EXHAUSTED
//   malformed       1 %  SNP report replaced by random bytes, truncated, or
//                        one byte flipped                           -> rejected
// Requests are paced evenly over --duration seconds (request i is not sent
// before start + i * duration / N) so faults injected at fixed times by the
// script fall on a known part of the mix. A GetChallenge that fails is
// retried (up to 50 times, 100 ms apart); an Attest that fails in transport
// (UNAVAILABLE / INTERNAL / UNKNOWN / CANCELLED without a reason code, e.g. a replica
// that went away behind the balancer) is retried up to 3 times with the same
// request — a client's retry; the event line records every attempt. The
// server's UNAVAILABLE for collateral it could not fetch (message names
// "collateral") is COLLATERAL_UNAVAILABLE and not retried.
// One TSV line per Attest in --events:
//   idx kind challenge_ms start_ms end_ms attempts outcome grpc_code
//   accepted_token latency_ms attempt_outcomes verdict ear_token reasons
// outcome is TOKEN only for an accepting verdict (affirming / warning) with a
// token; a contraindicated verdict (which also carries an EAR token) is its
// first reason code. reasons: every reason of the verdict, comma-separated
// ("-" when none).
// The judge (judge.mjs) decides which outcomes are correct in which fault
// window. Exit 0 when the run happened, 2 on usage / setup errors.
//
// drain: graceful shutdown under load. Gets N challenges, simulates N bundles
// (--gpus G GPUs each, slow to appraise), connects N channels, sends the N
// Attests at once, sends SIGTERM to --kill-pid --kill-after-ms later, waits
// for every answer, then tries a new connection to the target. Prints JSON:
// outcomes, how long after the SIGTERM each answer came, and whether the new
// connection was refused.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

std::map<std::string, std::string> g_flags;

std::string Flag(const std::string& k, const std::string& def = "") {
  auto it = g_flags.find(k);
  return it == g_flags.end() ? def : it->second;
}
int IntFlag(const std::string& k, int def) {
  int v = def;
  if (g_flags.count(k) && !absl::SimpleAtoi(g_flags[k], &v)) {
    std::cerr << "chaos_client: --" << k << " is not an integer\n";
    std::exit(2);
  }
  return v;
}

int64_t UnixMs() { return absl::ToUnixMillis(absl::Now()); }
std::chrono::system_clock::time_point Deadline(int ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",       "CANCELLED",          "UNKNOWN",          "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",     "UNIMPLEMENTED",    "INTERNAL",
      "UNAVAILABLE", "DATA_LOSS",       "UNAUTHENTICATED"};
  const int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? kNames[c] : absl::StrCat("CODE_", c);
}

std::unique_ptr<AttestationService::Stub> NewStub(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  args.SetMaxSendMessageSize(64 * 1024 * 1024);
  return AttestationService::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
}

// The first upper-case reason code (>= 6 chars, with '_') in `text`, or "".
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
    const std::string_view w = text.substr(i, j - i);
    const bool bounded =
        (i == 0 || !absl::ascii_isalnum(static_cast<unsigned char>(text[i - 1]))) &&
        (j == text.size() || !absl::ascii_isalnum(static_cast<unsigned char>(text[j])));
    if (bounded && w.size() >= 6 && w.find('_') != std::string_view::npos && w.back() != '_') {
      return std::string(w);
    }
    i = j;
  }
  return "";
}

struct Outcome {
  bool token = false;      // an accepting verdict (affirming / warning) with a token
  bool ear_token = false;  // any token (a contraindicated verdict comes with one too)
  std::string verdict;
  std::string key;   // TOKEN, a reason code, or GRPC_<CODE>
  std::string code;  // gRPC code name
  std::string reasons;  // every reason of the verdict, comma-separated
  bool transport = false;  // failed without any reason from the server
};

Outcome Classify(const grpc::Status& st, const grpc::ClientContext& ctx, const AttestResponse& resp) {
  Outcome o;
  o.code = CodeName(st.error_code());
  if (st.ok()) {
    // The server answers every appraisal with an EAR token, also a
    // contraindicated one (docs/rest.md: ear.status is the verdict). The
    // request was accepted only when the verdict is affirming or warning
    // and a token came with it.
    o.verdict = attestation::v1::Verdict_Name(resp.verdict());
    o.ear_token = !resp.token().empty();
    o.reasons = absl::StrJoin(resp.reasons(), ",");
    const bool accepting = resp.verdict() == attestation::v1::AFFIRMING ||
                           resp.verdict() == attestation::v1::WARNING;
    if (accepting && o.ear_token) {
      o.token = true;
      o.key = "TOKEN";
    } else if (accepting) {
      o.key = "NO_TOKEN_" + o.verdict;
    } else {
      o.key = resp.reasons().empty() ? o.verdict : resp.reasons(0);
    }
    return o;
  }
  for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) {
    const std::string key(k.data(), k.size());
    if (absl::StrContains(absl::AsciiStrToLower(key), "reason") && !absl::EndsWith(key, "-bin")) {
      o.key = std::string(v.data(), v.size());
      return o;
    }
  }
  if (std::string c = FindReasonCode(st.error_message()); !c.empty()) {
    o.key = c;
    return o;
  }
  // The server's own UNAVAILABLE when collateral could not be fetched (the
  // challenge is spent: a retry of the same request is NONCE_REPLAYED).
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE &&
      absl::StrContains(st.error_message(), "collateral")) {
    o.key = "COLLATERAL_UNAVAILABLE";
    return o;
  }
  o.key = "GRPC_" + o.code;
  // CANCELLED too: nginx resets the call when the replica behind it goes
  // away mid-call (seen once when B was SIGTERMed).
  o.transport = st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                st.error_code() == grpc::StatusCode::INTERNAL ||
                st.error_code() == grpc::StatusCode::UNKNOWN ||
                st.error_code() == grpc::StatusCode::CANCELLED;
  return o;
}

// ---- evidence ------------------------------------------------------------------

// One simulated SEV-SNP machine per worker (one VCEK, a fresh report per
// challenge: ~1 ms); TDX and GPU nodes go through rp::sim::SimulateNode.
class Simulator {
 public:
  explicit Simulator(std::shared_ptr<const rp::sim::SimulationRoots> roots)
      : roots_(std::move(roots)) {}

  absl::Status Init() {
    chip_id_ = rp::crypto::RandomBytes(64);
    builder_.ForProduct(rp::sev_snp::Product::kMilan)
        .Vmpl(0)
        .ChipId(chip_id_)
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

  absl::StatusOr<EvidenceBundle> Snp(const std::string& nonce) const {
    EvidenceBundle bundle;
    ASSIGN_OR_RETURN(auto tee_key, rp::crypto::GenerateEcKey(rp::sim::kDefaultTeeKeyType));
    ASSIGN_OR_RETURN(attestation::v1::Jwk jwk,
                     rp::release::PublicJwkOfKeyPem(rp::crypto::PrivateKeyPem(tee_key.get())));
    attestation::v1::Jwk* pj = bundle.mutable_tee_public_key();
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

  // A machine the server has never seen: a new CHIP_ID and VCEK, and the
  // bundle carries no VCEK, so the server must fetch it from the KDS (the
  // stand-in serves <vcek_dir>/<hwid hex>.der). Puts the KDS on the hot path.
  absl::StatusOr<EvidenceBundle> SnpFromKds(const std::string& nonce, const std::string& vcek_dir) const {
    Simulator fresh(roots_);
    RETURN_IF_ERROR(fresh.Init());
    const rp::Bytes chip = fresh.chip_id_;
    std::string hex;
    for (uint8_t b : chip) absl::StrAppend(&hex, absl::Hex(b, absl::kZeroPad2));
    const rp::Bytes der = rp::crypto::CertificateDer(fresh.vcek_.cert.get());
    const std::string path = vcek_dir + "/" + hex + ".der";
    {
      std::ofstream f(path + ".tmp", std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(der.data()), static_cast<std::streamsize>(der.size()));
      if (!f) return absl::InternalError("cannot write " + path);
    }
    std::filesystem::rename(path + ".tmp", path);
    ASSIGN_OR_RETURN(EvidenceBundle b, fresh.Snp(nonce));
    b.mutable_sev_snp()->clear_vcek();
    return b;
  }

  absl::StatusOr<EvidenceBundle> Node(const std::string& nonce, rp::sim::SimulatedTee tee,
                                      int gpus) const {
    rp::sim::NodeSimulationOptions o;
    o.tee = tee;
    o.gpus = gpus;
    // A node never seen before: its GPUs' device certificates are new, so
    // every GPU Attest needs the OCSP responder (the ocsp_dead fault).
    o.fresh_gpu_devices = true;
    ASSIGN_OR_RETURN(rp::sim::SimulatedEvidence ev,
                     rp::sim::SimulateNode(*roots_, nonce, absl::Now(), o));
    return std::move(ev.bundle);
  }

 private:
  std::shared_ptr<const rp::sim::SimulationRoots> roots_;
  rp::testing::SnpReportBuilder builder_;
  rp::Bytes chip_id_;
  rp::testing::Issued vcek_;
  std::string vcek_pem_;
};

std::string RandomString(size_t n) {
  const rp::Bytes b = rp::crypto::RandomBytes(n);
  return std::string(b.begin(), b.end());
}

// Kind of request i, a pure function of (seed, i).
std::string KindOf(uint64_t seed, uint64_t i) {
  std::mt19937_64 g(seed * 1000003u + i);
  const int r = static_cast<int>(g() % 1000);
  if (r < 10) return "malformed";
  if (r < 25) return "oversize";
  if (r < 40) return "oversize_2x";
  if (r < 70) return "wrong_policy";
  if (r < 100) return "wrong_nonce";
  if (r < 180) return "replay";
  if (r < 330) return "valid_tdx";
  if (r < 430) return "valid_snp_gpu";
  if (r < 480) return "valid_tdx_gpu";
  if (r < 580) return "valid_snp_kds";
  return "valid_snp";
}

// ---- mix -----------------------------------------------------------------------

struct Attempted {
  Outcome out;
  int attempts = 0;
  std::string attempt_keys;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

Attempted AttestWithRetry(AttestationService::Stub& stub, const AttestRequest& req, int deadline_ms) {
  Attempted a;
  a.start_ms = UnixMs();
  for (int attempt = 0; attempt < 4; ++attempt) {
    AttestResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(deadline_ms));
    const grpc::Status st = stub.Attest(&ctx, req, &resp);
    a.out = Classify(st, ctx, resp);
    ++a.attempts;
    absl::StrAppend(&a.attempt_keys, a.attempt_keys.empty() ? "" : ",", a.out.key);
    if (!a.out.transport) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  a.end_ms = UnixMs();
  return a;
}

int RunMix() {
  const std::string target = Flag("target");
  const int n = IntFlag("requests", 2000);
  const int duration_s = IntFlag("duration", 60);
  const int conc = IntFlag("concurrency", 6);
  const uint64_t seed = static_cast<uint64_t>(IntFlag("seed", 1));
  const int oversize = IntFlag("oversize-bytes", 1536 * 1024);
  const int deadline_ms = IntFlag("deadline-ms", 20000);
  const std::string events_file = Flag("events");
  const std::string vcek_dir = Flag("vcek-dir");
  if (vcek_dir.empty()) {
    std::cerr << "chaos_client: --vcek-dir is required (the KDS stand-in's VCEK directory)\n";
    return 2;
  }
  if (target.empty() || events_file.empty()) {
    std::cerr << "chaos_client: --target and --events are required\n";
    return 2;
  }
  auto roots = rp::sim::LoadOrCreateSimulationRoots(Flag("sim-dir"));
  if (!roots.ok()) {
    std::cerr << "chaos_client: " << roots.status() << "\n";
    return 2;
  }
  auto shared = std::make_shared<const rp::sim::SimulationRoots>(*std::move(roots));
  // One full simulation of each kind writes the collateral the fast SNP path
  // and the GPU path need (ARK CRL, RIMs, OCSP answers) into the sim dir.
  for (auto [tee, gpus] : {std::pair{rp::sim::SimulatedTee::kSnp, 1},
                           std::pair{rp::sim::SimulatedTee::kTdx, 1}}) {
    rp::sim::NodeSimulationOptions o;
    o.tee = tee;
    o.gpus = gpus;
    if (auto w = rp::sim::SimulateNode(*shared, RandomString(32), absl::Now(), o); !w.ok()) {
      std::cerr << "chaos_client: simulation: " << w.status() << "\n";
      return 2;
    }
  }
  std::vector<std::unique_ptr<Simulator>> sims;
  for (int w = 0; w < conc; ++w) {
    sims.push_back(std::make_unique<Simulator>(shared));
    if (auto st = sims.back()->Init(); !st.ok()) {
      std::cerr << "chaos_client: simulation: " << st << "\n";
      return 2;
    }
  }
  std::atomic<int> next{0};
  std::mutex mu;
  std::vector<std::string> lines;
  std::map<std::string, int64_t> counts;
  const auto t0 = SteadyClock::now();
  const double gap_ms = 1000.0 * duration_s / std::max(1, n);

  auto worker = [&](int w) {
    const Simulator& sim = *sims[static_cast<size_t>(w)];
    auto stub = NewStub(target);
    while (true) {
      const int i = next.fetch_add(1);
      if (i >= n) return;
      std::this_thread::sleep_until(t0 + std::chrono::microseconds(static_cast<int64_t>(i * gap_ms * 1000)));
      const std::string kind = KindOf(seed, static_cast<uint64_t>(i));
      Challenge c;
      int64_t challenge_ms = 0;
      bool got = false;
      for (int tries = 0; tries < 50 && !got; ++tries) {
        grpc::ClientContext ctx;
        ctx.set_deadline(Deadline(5000));
        challenge_ms = UnixMs();
        got = stub->GetChallenge(&ctx, {}, &c).ok();
        if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      auto record = [&](const std::string& k, const Attempted& a) {
        std::lock_guard<std::mutex> l(mu);
        ++counts[k];
        lines.push_back(absl::StrCat(i, "\t", k, "\t", challenge_ms, "\t", a.start_ms, "\t", a.end_ms,
                                     "\t", a.attempts, "\t", a.out.key, "\t", a.out.code, "\t",
                                     a.out.token ? 1 : 0, "\t", a.end_ms - a.start_ms, "\t",
                                     a.attempt_keys, "\t", a.out.verdict.empty() ? "-" : a.out.verdict,
                                     "\t", a.out.ear_token ? 1 : 0, "\t",
                                     a.out.reasons.empty() ? "-" : a.out.reasons));
      };
      if (!got) {
        Attempted a;
        a.start_ms = a.end_ms = UnixMs();
        a.out.key = "NO_CHALLENGE";
        a.out.code = "UNAVAILABLE";
        record(kind, a);
        continue;
      }
      absl::StatusOr<EvidenceBundle> bundle;
      if (kind == "valid_tdx") {
        bundle = sim.Node(c.nonce(), rp::sim::SimulatedTee::kTdx, 0);
      } else if (kind == "valid_snp_gpu") {
        bundle = sim.Node(c.nonce(), rp::sim::SimulatedTee::kSnp, 1);
      } else if (kind == "valid_tdx_gpu") {
        bundle = sim.Node(c.nonce(), rp::sim::SimulatedTee::kTdx, 1);
      } else if (kind == "valid_snp_kds") {
        bundle = sim.SnpFromKds(c.nonce(), vcek_dir);
      } else if (kind == "wrong_nonce") {
        bundle = sim.Snp(RandomString(c.nonce().size()));
      } else {
        bundle = sim.Snp(c.nonce());
      }
      if (!bundle.ok()) {
        std::cerr << "chaos_client: simulate " << kind << ": " << bundle.status() << "\n";
        std::exit(2);
      }
      AttestRequest req;
      *req.mutable_challenge() = c;
      *req.mutable_evidence() = *std::move(bundle);
      req.mutable_evidence()->clear_nonce();
      if (kind == "malformed") {
        std::string* rep = req.mutable_evidence()->mutable_sev_snp()->mutable_report();
        std::mt19937_64 g(seed + static_cast<uint64_t>(i));
        switch (i % 3) {
          case 0: *rep = RandomString(g() % 2048); break;            // random bytes
          case 1: rep->resize(g() % rep->size()); break;             // truncated
          default: (*rep)[g() % rep->size()] ^= static_cast<char>(1 + g() % 255);  // one byte
        }
      } else if (kind == "oversize" || kind == "oversize_2x") {
        // 1.5 MiB: over max_request_bytes (1 MiB), refused by the service;
        // 2.5 MiB: over the gRPC receive cap (2 x max_request_bytes).
        req.mutable_evidence()->mutable_sev_snp()->mutable_cert_chain()->append(
            std::string(static_cast<size_t>(kind == "oversize" ? oversize : 2 * oversize - 512 * 1024), 'A'));
      } else if (kind == "wrong_policy") {
        req.set_policy(i % 2 ? "no-such-policy" : "strict-production");
      }
      if (kind == "replay") {
        const Attempted first = AttestWithRetry(*stub, req, deadline_ms);
        record("replay_first", first);
        const Attempted second = AttestWithRetry(*stub, req, deadline_ms);
        record("replay_second", second);
      } else {
        record(kind, AttestWithRetry(*stub, req, deadline_ms));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < conc; ++w) threads.emplace_back(worker, w);
  for (auto& t : threads) t.join();
  std::ofstream out(events_file, std::ios::trunc);
  out << "# idx\tkind\tchallenge_ms\tstart_ms\tend_ms\tattempts\toutcome\tgrpc_code\taccepted_token\tlatency_ms\tattempt_outcomes\tverdict\tear_token\treasons\n";
  for (const std::string& l : lines) out << l << "\n";
  out.close();
  Json j;
  j["requests"] = n;
  j["attests"] = lines.size();
  j["kinds"] = counts;
  j["elapsed_s"] = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  std::cout << j.dump() << std::endl;
  return out ? 0 : 2;
}

// ---- drain ---------------------------------------------------------------------

int RunDrain() {
  const std::string target = Flag("target");
  const int n = IntFlag("inflight", 16);
  const int gpus = IntFlag("gpus", 8);
  const int pid = IntFlag("kill-pid", 0);
  const int kill_after_ms = IntFlag("kill-after-ms", 100);
  if (target.empty() || pid <= 0) {
    std::cerr << "chaos_client: --target and --kill-pid are required\n";
    return 2;
  }
  auto roots = rp::sim::LoadOrCreateSimulationRoots(Flag("sim-dir"));
  if (!roots.ok()) {
    std::cerr << "chaos_client: " << roots.status() << "\n";
    return 2;
  }
  Simulator sim(std::make_shared<const rp::sim::SimulationRoots>(*std::move(roots)));
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<AttestationService::Stub>> stubs;
  std::vector<AttestRequest> reqs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxSendMessageSize(64 * 1024 * 1024);
    channels.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
    if (!channels.back()->WaitForConnected(Deadline(5000))) {
      std::cerr << "chaos_client: " << target << " not reachable\n";
      return 2;
    }
    stubs.push_back(AttestationService::NewStub(channels.back()));
    Challenge c;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(5000));
    if (!stubs.back()->GetChallenge(&ctx, {}, &c).ok()) {
      std::cerr << "chaos_client: GetChallenge failed\n";
      return 2;
    }
    auto b = sim.Node(c.nonce(), rp::sim::SimulatedTee::kTdx, gpus);
    if (!b.ok()) {
      std::cerr << "chaos_client: simulate: " << b.status() << "\n";
      return 2;
    }
    *reqs[static_cast<size_t>(i)].mutable_challenge() = c;
    *reqs[static_cast<size_t>(i)].mutable_evidence() = *std::move(b);
    reqs[static_cast<size_t>(i)].mutable_evidence()->clear_nonce();
  }
  std::vector<Outcome> outs(static_cast<size_t>(n));
  std::vector<int64_t> done_ms(static_cast<size_t>(n));
  std::barrier go(n + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      AttestResponse resp;
      grpc::ClientContext ctx;
      go.arrive_and_wait();
      ctx.set_deadline(Deadline(30000));
      const grpc::Status st = stubs[static_cast<size_t>(i)]->Attest(&ctx, reqs[static_cast<size_t>(i)], &resp);
      outs[static_cast<size_t>(i)] = Classify(st, ctx, resp);
      done_ms[static_cast<size_t>(i)] = UnixMs();
    });
  }
  go.arrive_and_wait();
  const int64_t sent_ms = UnixMs();
  std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
  const int64_t kill_ms = UnixMs();
  if (kill(pid, SIGTERM) != 0) {
    std::cerr << "chaos_client: kill " << pid << " failed\n";
    return 2;
  }
  // A new connection shortly after the SIGTERM (while the old ones drain).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  bool new_refused = false;
  std::string new_outcome;
  {
    auto stub = NewStub(target);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(2000));
    Challenge c;
    const grpc::Status st = stub->GetChallenge(&ctx, {}, &c);
    new_refused = !st.ok();
    new_outcome = CodeName(st.error_code());
  }
  const int64_t new_ms = UnixMs();
  for (auto& t : threads) t.join();
  Json j;
  std::map<std::string, int64_t> by;
  int64_t tokens = 0, last = 0, answered_after_kill = 0;
  for (int i = 0; i < n; ++i) {
    ++by[outs[static_cast<size_t>(i)].key];
    tokens += outs[static_cast<size_t>(i)].token ? 1 : 0;
    last = std::max(last, done_ms[static_cast<size_t>(i)] - kill_ms);
    if (done_ms[static_cast<size_t>(i)] > kill_ms) ++answered_after_kill;
  }
  j["inflight"] = n;
  j["gpus"] = gpus;
  j["sent_unix_ms"] = sent_ms;
  j["sigterm_unix_ms"] = kill_ms;
  j["sigterm_after_send_ms"] = kill_ms - sent_ms;
  j["outcomes"] = by;
  j["tokens"] = tokens;
  j["answered_after_sigterm"] = answered_after_kill;
  j["last_answer_after_sigterm_ms"] = last;
  j["new_call_after_sigterm_refused"] = new_refused;
  j["new_call_code"] = new_outcome;
  j["new_call_at_ms_after_sigterm"] = new_ms - kill_ms;
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!absl::StartsWith(a, "--") || i + 1 >= argc) {
      std::cerr << "chaos_client: flags are --name value (see the header of tests/chaos/chaos_client.cc)\n";
      return 2;
    }
    g_flags[a.substr(2)] = argv[++i];
  }
  const std::string mode = Flag("mode");
  if (mode == "mix") return RunMix();
  if (mode == "drain") return RunDrain();
  std::cerr << "chaos_client: --mode mix|drain\n";
  return 2;
}
