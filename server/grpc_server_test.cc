// StartGrpcServer's sync thread pool: a burst of calls is served by the
// threads an earlier burst left behind, not by new ones (MAX_POLLERS), and a
// negative max_pollers is refused.
#include "server/grpc_server.h"

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.grpc.pb.h"
#include "gtest/gtest.h"

namespace rp::server {
namespace {

// GetJwks holds each call until `burst` calls are inside at once (so each
// has a thread of its own) and records the thread that ran it.
class BurstService final : public attestation::v1::AttestationService::Service {
 public:
  grpc::Status GetJwks(grpc::ServerContext*, const attestation::v1::GetJwksRequest*,
                       attestation::v1::Jwks*) override {
    absl::MutexLock lock(&mu_);
    handler_tids_.insert(static_cast<long>(syscall(SYS_gettid)));
    ++inside_;
    auto all_in = [this] { return inside_ >= burst_; };
    const bool met = mu_.AwaitWithTimeout(absl::Condition(&all_in), absl::Seconds(20));
    return met ? grpc::Status::OK
               : grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "burst did not gather");
  }

  // Next burst: `n` calls; forgets the threads seen so far.
  void Expect(int n) {
    absl::MutexLock lock(&mu_);
    burst_ = n;
    inside_ = 0;
    handler_tids_.clear();
  }
  std::set<long> HandlerThreads() {
    absl::MutexLock lock(&mu_);
    return handler_tids_;
  }

 private:
  absl::Mutex mu_;
  int burst_ = 0;
  int inside_ = 0;
  std::set<long> handler_tids_;
};

std::set<long> ThreadsOfThisProcess() {
  std::set<long> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (const dirent* e = readdir(dir)) {
    long tid = 0;
    if (absl::SimpleAtoi(e->d_name, &tid)) out.insert(tid);
  }
  closedir(dir);
  return out;
}

// `n` GetJwks calls at once, each on its own channel; every status.
std::vector<grpc::Status> Burst(int port, int n) {
  std::vector<grpc::Status> statuses(static_cast<size_t>(n));
  std::vector<std::thread> clients;
  for (int i = 0; i < n; ++i) {
    clients.emplace_back([port, i, &statuses] {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", i);  // one connection per client
      auto stub = attestation::v1::AttestationService::NewStub(grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(), args));
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
      attestation::v1::Jwks jwks;
      statuses[static_cast<size_t>(i)] =
          stub->GetJwks(&ctx, attestation::v1::GetJwksRequest(), &jwks);
    });
  }
  for (std::thread& t : clients) t.join();
  return statuses;
}

TEST(GrpcServerThreads, ALaterBurstReusesTheThreadsOfAnEarlierOne) {
  BurstService service;
  GrpcServerOptions opts;
  opts.listen = "127.0.0.1:0";
  auto running = StartGrpcServer(opts, &service);
  ASSERT_TRUE(running.ok()) << running.status();

  constexpr int kFirst = 12;
  service.Expect(kFirst);
  for (const grpc::Status& st : Burst(running->port, kFirst)) {
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  ASSERT_EQ(service.HandlerThreads().size(), static_cast<size_t>(kFirst));
  // With gRPC's default of 2 idle pollers, all but 2 of the first burst's
  // threads exit as their calls finish; give them the time to.
  absl::SleepFor(absl::Milliseconds(300));
  const std::set<long> alive = ThreadsOfThisProcess();

  constexpr int kSecond = 4;
  service.Expect(kSecond);
  for (const grpc::Status& st : Burst(running->port, kSecond)) {
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  const std::set<long> second = service.HandlerThreads();
  ASSERT_EQ(second.size(), static_cast<size_t>(kSecond));
  for (long tid : second) {
    EXPECT_TRUE(alive.contains(tid))
        << "the second burst's call on thread " << tid
        << " ran on a thread created for it, not on one the first burst left polling";
  }
  running->server->Shutdown();
}

TEST(GrpcServerThreads, NegativeMaxPollersIsRefused) {
  BurstService service;
  GrpcServerOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.max_pollers = -1;
  auto running = StartGrpcServer(opts, &service);
  ASSERT_FALSE(running.ok());
  EXPECT_EQ(running.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rp::server
