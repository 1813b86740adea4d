#include "server/policy_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/yaml_json.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"

namespace rp::server {

absl::StatusOr<std::unique_ptr<PolicyStore>> PolicyStore::Create(PolicyStoreOptions options) {
  if (!options.log) options.log = [](const std::string&) {};
  std::unique_ptr<PolicyStore> store(new PolicyStore(std::move(options)));
  std::vector<std::string> hashes;
  ASSIGN_OR_RETURN(std::shared_ptr<const PolicySet> set, store->LoadAll(&hashes));
  {
    absl::MutexLock l(&store->mu_);
    store->current_ = std::move(set);
  }
  absl::MutexLock l(&store->reload_mu_);
  store->loaded_hashes_ = std::move(hashes);
  return store;
}

std::unique_ptr<PolicyStore> PolicyStore::Fixed(std::shared_ptr<const PolicySet> set) {
  PolicyStoreOptions options;
  options.log = [](const std::string&) {};
  std::unique_ptr<PolicyStore> store(new PolicyStore(std::move(options)));
  store->fixed_ = true;
  absl::MutexLock l(&store->mu_);
  store->current_ = std::move(set);
  return store;
}

PolicyStore::~PolicyStore() {
  stop_.Notify();
  if (watcher_.joinable()) watcher_.join();
}

std::shared_ptr<const PolicySet> PolicyStore::Current() const {
  absl::MutexLock l(&mu_);
  return current_;
}

absl::StatusOr<std::vector<std::string>> PolicyStore::HashFiles() const {
  std::vector<std::string> hashes;
  std::vector<std::string> paths;
  if (!options_.default_file.empty()) paths.push_back(options_.default_file);
  for (const std::string& f : options_.files) paths.push_back(f);
  for (const std::string& path : paths) {
    ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxDocumentBytes));
    hashes.push_back(HexEncode(crypto::Sha256(AsBytes(text))));
  }
  return hashes;
}

absl::StatusOr<std::shared_ptr<const PolicySet>> PolicyStore::LoadAll(
    std::vector<std::string>* hashes) const {
  policy::LoadedPolicy default_policy = policy::DefaultPolicy();
  if (!options_.default_file.empty()) {
    ASSIGN_OR_RETURN(default_policy, policy::LoadPolicyFile(options_.default_file));
  }
  hashes->clear();
  if (!options_.default_file.empty()) hashes->push_back(default_policy.sha256_hex);
  auto set = std::make_shared<PolicySet>(std::move(default_policy));
  for (const std::string& file : options_.files) {
    ASSIGN_OR_RETURN(policy::LoadedPolicy p, policy::LoadPolicyFile(file));
    hashes->push_back(p.sha256_hex);
    RETURN_IF_ERROR(Annotate(set->Add(std::move(p)), file));
  }
  return std::shared_ptr<const PolicySet>(std::move(set));
}

absl::Status PolicyStore::Reload() {
  if (fixed_) return absl::FailedPreconditionError("policy store: fixed set, no files to reload");
  absl::Status st = DoReload();
  if (options_.on_reload) options_.on_reload(st.ok());
  return st;
}

absl::Status PolicyStore::DoReload() {
  absl::MutexLock reload_lock(&reload_mu_);
  std::vector<std::string> hashes;
  absl::StatusOr<std::shared_ptr<const PolicySet>> set = LoadAll(&hashes);
  if (!set.ok()) {
    failed_reloads_.fetch_add(1);
    options_.log(absl::StrCat("policy reload failed, keeping the current policies: ",
                              set.status().message()));
    return set.status();
  }
  std::vector<std::string> refs;
  for (const auto& [id, p] : (*set)->all()) {
    refs.push_back(absl::StrCat(PolicyRef(p), " sha256=", p.sha256_hex.substr(0, 16)));
  }
  {
    absl::MutexLock l(&mu_);
    current_ = *std::move(set);
  }
  loaded_hashes_ = std::move(hashes);
  reloads_.fetch_add(1);
  options_.log(absl::StrCat("policies reloaded: ", absl::StrJoin(refs, ", ")));
  return absl::OkStatus();
}

absl::Status PolicyStore::ReloadIfChanged() {
  if (fixed_) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> hashes = HashFiles();
  if (!hashes.ok()) {
    // A file being replaced (or deleted by mistake): keep what we have.
    failed_reloads_.fetch_add(1);
    options_.log(absl::StrCat("policy files unreadable, keeping the current policies: ",
                              hashes.status().message()));
    if (options_.on_reload) options_.on_reload(false);
    return hashes.status();
  }
  {
    absl::MutexLock l(&reload_mu_);
    if (*hashes == loaded_hashes_) return absl::OkStatus();
    // The same broken content as last time: already reported.
    if (*hashes == failed_hashes_) return failed_status_;
  }
  absl::Status st = Reload();
  absl::MutexLock l(&reload_mu_);
  if (st.ok()) {
    failed_hashes_.clear();
  } else {
    failed_hashes_ = *std::move(hashes);
    failed_status_ = st;
  }
  return st;
}

void PolicyStore::StartWatching(absl::Duration interval) {
  if (watcher_.joinable()) return;
  watcher_ = std::thread([this, interval] {
    absl::Time next_poll = absl::Now() + interval;
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
      if (reload_requested_.exchange(false)) {
        (void)Reload();  // logged and counted inside
        next_poll = absl::Now() + interval;
        continue;
      }
      if (absl::Now() >= next_poll) {
        // A failure is remembered by the files' hashes, so a broken file is
        // reported once per change rather than on every poll.
        (void)ReloadIfChanged();
        next_poll = absl::Now() + interval;
      }
    }
  });
}

}  // namespace rp::server
