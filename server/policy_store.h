// The server's appraisal policies with hot reload: an immutable PolicySet
// snapshot replaced atomically when a policy file changes (polled) or on
// request (SIGHUP). A request takes one snapshot and uses it throughout, so
// every token carries exactly the old or exactly the new policy. A file that
// fails to load changes nothing: the old snapshot stays and the error is
// logged and counted.
#ifndef RP_SERVER_POLICY_STORE_H_
#define RP_SERVER_POLICY_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/service.h"

namespace rp::server {

struct PolicyStoreOptions {
  std::string default_file;         // "" => the built-in default policy
  std::vector<std::string> files;   // more named policies
  // Called with one line per reload outcome (never null after Create).
  std::function<void(const std::string&)> log;
  // Called after every reload attempt with its outcome (metrics); may be
  // empty. Called on the reloading thread, never under a lock.
  std::function<void(bool ok)> on_reload;
};

class PolicyStore {
 public:
  // Loads every file; any error fails Create (the server must not start on
  // a broken policy).
  static absl::StatusOr<std::unique_ptr<PolicyStore>> Create(PolicyStoreOptions options);
  // A fixed set without files (tests, embedding): Reload is
  // FAILED_PRECONDITION and the watcher never changes it.
  static std::unique_ptr<PolicyStore> Fixed(std::shared_ptr<const PolicySet> set);
  ~PolicyStore();  // stops the watcher

  // The current snapshot (never null). Thread-safe.
  std::shared_ptr<const PolicySet> Current() const;

  // Re-reads every file. On success the new snapshot replaces the old one
  // atomically; on failure nothing changes and the error is returned (and
  // logged). Thread-safe; reloads are serialized.
  absl::Status Reload();
  // Reload() when some file's bytes differ from those loaded (SHA-256).
  // OK (and no change) when nothing changed.
  absl::Status ReloadIfChanged();

  // Polls the files every `interval` (and honours RequestReload) on a
  // background thread until destruction.
  void StartWatching(absl::Duration interval);
  // Asks the watcher to reload at its next wake-up (≤ 100 ms). Only sets an
  // atomic flag: safe to call from a signal handler.
  void RequestReload() { reload_requested_.store(true, std::memory_order_relaxed); }

  int64_t reloads() const { return reloads_.load(); }
  int64_t failed_reloads() const { return failed_reloads_.load(); }

 private:
  explicit PolicyStore(PolicyStoreOptions options) : options_(std::move(options)) {}
  // Loads all files into a new set plus the SHA-256 of each file's bytes.
  absl::StatusOr<std::shared_ptr<const PolicySet>> LoadAll(
      std::vector<std::string>* hashes) const;
  absl::StatusOr<std::vector<std::string>> HashFiles() const;
  absl::Status DoReload();  // Reload() without the on_reload call

  const PolicyStoreOptions options_;
  bool fixed_ = false;
  mutable absl::Mutex mu_;
  std::shared_ptr<const PolicySet> current_ ABSL_GUARDED_BY(mu_);
  absl::Mutex reload_mu_;  // serializes reloads
  std::vector<std::string> loaded_hashes_ ABSL_GUARDED_BY(reload_mu_);
  std::vector<std::string> failed_hashes_ ABSL_GUARDED_BY(reload_mu_);
  absl::Status failed_status_ ABSL_GUARDED_BY(reload_mu_);
  std::atomic<bool> reload_requested_{false};
  std::atomic<int64_t> reloads_{0};
  std::atomic<int64_t> failed_reloads_{0};
  absl::Notification stop_;
  std::thread watcher_;
};

}  // namespace rp::server

#endif  // RP_SERVER_POLICY_STORE_H_
