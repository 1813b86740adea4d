// grpc_floor: the transport floor of the end-to-end benchmark (issue 16).
//
// An AttestationService that does no attestation work: GetChallenge answers
// a random nonce, Attest answers one fixed AttestResponse read from a file
// (a real answer the real server gave, saved by `attest_load
// --save-response`). It is started through the real server's
// StartGrpcServer (same builder, thread quota, health service, message
// limits), so `attest_load --mode e2e` against it measures what gRPC,
// HTTP/2 and protobuf cost per request on this machine, with the real
// request and answer sizes: the most any server built on this transport
// could reach with this client. scripts/bench_e2e.sh runs it beside each
// scenario (rows "... (gRPC floor)").
//
// --work-us N makes each Attest burn N microseconds of its thread's CPU
// first (a busy loop on CLOCK_THREAD_CPUTIME_ID): with N = the in-process
// appraisal time it shows what a server whose only work is the appraisal
// would reach through this transport (the bound on the end-to-end ratio).
//
// --model callback serves the same answers through gRPC's callback API
// (CallbackService, handlers run on gRPC's own threads) instead of the sync
// API the real server uses (a thread per call in flight): what a change of
// request model alone would buy (docs/performance.md, "Sixth session").
//
// NOT a verifier: it issues tokens for anything. It binds loopback only.
//
//   grpc_floor --response FILE [--work-us N (0)] [--model sync|callback (sync)]
//              [--listen 127.0.0.1:0] [--port-file FILE]
// Runs until SIGTERM or SIGINT. Exit codes: 0 stopped by a signal, 2 usage
// or setup error.

#include <signal.h>

#include <time.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "attestation/v1/attestation.grpc.pb.h"
#include "server/grpc_server.h"
#include "verifier/crypto/digest.h"

namespace {

constexpr int kUsageOrSetup = 2;
constexpr size_t kMaxResponseBytes = 16 * 1024 * 1024;

class FloorService final : public attestation::v1::AttestationService::Service {
 public:
  FloorService(attestation::v1::AttestResponse answer, int64_t work_us)
      : answer_(std::move(answer)), work_ns_(work_us * 1000) {}

  grpc::Status GetChallenge(grpc::ServerContext*, const attestation::v1::GetChallengeRequest*,
                            attestation::v1::Challenge* response) override {
    const rp::Bytes nonce = rp::crypto::RandomBytes(32);
    response->set_nonce(std::string(nonce.begin(), nonce.end()));
    return grpc::Status::OK;
  }

  grpc::Status Attest(grpc::ServerContext*, const attestation::v1::AttestRequest*,
                      attestation::v1::AttestResponse* response) override {
    if (work_ns_ > 0) BurnThreadCpu(work_ns_);
    *response = answer_;
    return grpc::Status::OK;
  }

 private:
  static int64_t ThreadCpuNs() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
  }
  // CPU time, not wall time: a preempted thread does not count its wait.
  static void BurnThreadCpu(int64_t ns) {
    const int64_t until = ThreadCpuNs() + ns;
    while (ThreadCpuNs() < until) {
    }
  }

  const attestation::v1::AttestResponse answer_;
  const int64_t work_ns_;
};

// The same answers through the callback API: each handler finishes its call
// at once on the thread gRPC runs it on.
class CallbackFloorService final
    : public attestation::v1::AttestationService::CallbackService {
 public:
  explicit CallbackFloorService(FloorService* floor) : floor_(floor) {}

  grpc::ServerUnaryReactor* GetChallenge(grpc::CallbackServerContext* context,
                                         const attestation::v1::GetChallengeRequest* request,
                                         attestation::v1::Challenge* response) override {
    return Finished(context, floor_->GetChallenge(nullptr, request, response));
  }

  grpc::ServerUnaryReactor* Attest(grpc::CallbackServerContext* context,
                                   const attestation::v1::AttestRequest* request,
                                   attestation::v1::AttestResponse* response) override {
    return Finished(context, floor_->Attest(nullptr, request, response));
  }

 private:
  static grpc::ServerUnaryReactor* Finished(grpc::CallbackServerContext* context,
                                            const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  FloorService* const floor_;
};

int Usage(const std::string& why) {
  std::cerr << "grpc_floor: " << why
            << "\nusage: grpc_floor --response FILE [--work-us N (0)] [--model sync|callback (sync)]\n"
               "                  [--listen 127.0.0.1:0] [--port-file FILE]\n";
  return kUsageOrSetup;
}

}  // namespace

int main(int argc, char** argv) {
  std::string response_file, port_file, listen = "127.0.0.1:0", model = "sync";
  int64_t work_us = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage(absl::StrCat(arg, " needs a value"));
    if (arg == "--response") {
      response_file = argv[++i];
    } else if (arg == "--work-us") {
      if (!absl::SimpleAtoi(argv[++i], &work_us) || work_us < 0 || work_us > 10000000) {
        return Usage("--work-us must be an integer in 0..10000000");
      }
    } else if (arg == "--model") {
      model = argv[++i];
      if (model != "sync" && model != "callback") {
        return Usage("--model must be sync or callback");
      }
    } else if (arg == "--listen") {
      listen = argv[++i];
    } else if (arg == "--port-file") {
      port_file = argv[++i];
    } else {
      return Usage(absl::StrCat("unknown argument '", arg, "'"));
    }
  }
  if (response_file.empty()) return Usage("--response is required");
  if (!absl::StartsWith(listen, "127.0.0.1:") && !absl::StartsWith(listen, "[::1]:")) {
    return Usage("--listen must be a loopback address (this server answers a token to anything)");
  }
  std::ifstream in(response_file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Usage(absl::StrCat("cannot read ", response_file));
  attestation::v1::AttestResponse answer;
  if (bytes.empty() || bytes.size() > kMaxResponseBytes || !answer.ParseFromString(bytes)) {
    return Usage(absl::StrCat(response_file, ": not a serialized AttestResponse of 1 B..16 MB"));
  }

  // Signals are taken synchronously (sigwait), so block them before gRPC
  // starts its threads.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  FloorService service(std::move(answer), work_us);
  CallbackFloorService callback_service(&service);
  rp::server::GrpcServerOptions options;  // the real server's defaults
  options.listen = listen;
  absl::StatusOr<rp::server::RunningGrpcServer> server = rp::server::StartGrpcServer(
      options, model == "callback" ? static_cast<grpc::Service*>(&callback_service) : &service);
  if (!server.ok()) return Usage(std::string(server.status().message()));
  if (!port_file.empty()) {
    // The shape of attestation-server's port file (tests/integration/lib/e2e.sh reads it).
    const std::string tmp = port_file + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << "{\"grpc\":" << server->port << "}\n";
    if (!f.flush() || std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      return Usage(absl::StrCat("cannot write ", port_file));
    }
  }
  std::cerr << "grpc_floor: listening on port " << server->port << ", " << model
            << " API (no attestation: a fixed answer to every Attest)\n";
  int sig = 0;
  sigwait(&stop, &sig);
  server->server->Shutdown();
  return 0;
}
