// PolicyStore: atomic reload on change, broken files change nothing.
#include "server/policy_store.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rp::server {
namespace {

namespace fs = std::filesystem;

std::string TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "rp_policy_store_XXXXXX").string();
  return ::mkdtemp(tmpl.data());
}

void Write(const std::string& path, const std::string& text) {
  // Replace atomically, as an operator's deploy tool would.
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::trunc) << text;
  fs::rename(tmp, path);
}

std::string Policy(const std::string& version) {
  return absl::StrCat("id: fleet\nversion: \"", version,
                      "\"\nallow_simulated: true\nsev_snp: {require_revocation_check: false}\n");
}

TEST(PolicyStoreTest, ReloadsOnChangeAndKeepsOldOnBrokenFile) {
  const std::string dir = TempDir();
  const std::string def = dir + "/default.yaml";
  const std::string extra = dir + "/strict.yaml";
  Write(def, Policy("1"));
  Write(extra, "id: strict\n");
  std::vector<std::string> log;
  PolicyStoreOptions o{def, {extra}, [&log](const std::string& l) { log.push_back(l); }};
  std::vector<bool> outcomes;  // what on_reload saw (the metrics hook)
  o.on_reload = [&outcomes](bool ok) { outcomes.push_back(ok); };
  auto store = PolicyStore::Create(o);
  ASSERT_TRUE(store.ok()) << store.status();
  auto v1 = (*store)->Current();
  EXPECT_EQ(v1->default_policy().version, "1");
  ASSERT_NE(v1->Find("strict"), nullptr);

  EXPECT_TRUE((*store)->ReloadIfChanged().ok());  // unchanged: no reload
  EXPECT_EQ((*store)->reloads(), 0);
  EXPECT_EQ((*store)->Current(), v1);

  Write(def, Policy("2"));
  ASSERT_TRUE((*store)->ReloadIfChanged().ok());
  auto v2 = (*store)->Current();
  EXPECT_EQ(v2->default_policy().version, "2");
  EXPECT_NE(v2->default_policy().sha256_hex, v1->default_policy().sha256_hex);
  // The old snapshot stays valid for requests that hold it.
  EXPECT_EQ(v1->default_policy().version, "1");
  EXPECT_EQ(outcomes, std::vector<bool>({true}));

  Write(def, "id: fleet\nsev_snp: {max_vmpl: 7}\n");  // invalid
  absl::Status bad = (*store)->ReloadIfChanged();
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.message()).find("sev_snp.max_vmpl"), std::string::npos) << bad;
  EXPECT_EQ((*store)->Current(), v2);
  EXPECT_EQ((*store)->failed_reloads(), 1);
  // The same broken content is reported once, not on every poll.
  EXPECT_FALSE((*store)->ReloadIfChanged().ok());
  EXPECT_EQ((*store)->failed_reloads(), 1);
  EXPECT_EQ(outcomes, std::vector<bool>({true, false}));
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log.back().find("keeping the current policies"), std::string::npos) << log.back();

  fs::remove(extra);  // a missing file: keep serving the old set
  EXPECT_FALSE((*store)->ReloadIfChanged().ok());
  EXPECT_EQ((*store)->Current(), v2);
  EXPECT_EQ(outcomes, std::vector<bool>({true, false, false}));
  fs::remove_all(dir);
}

TEST(PolicyStoreTest, BrokenFileAtStartIsAnError) {
  const std::string dir = TempDir();
  Write(dir + "/p.yaml", "id: [\n");
  EXPECT_FALSE(PolicyStore::Create({dir + "/p.yaml", {}, nullptr}).ok());
  EXPECT_FALSE(PolicyStore::Create({dir + "/missing.yaml", {}, nullptr}).ok());
  fs::remove_all(dir);
}

TEST(PolicyStoreTest, WatcherPicksUpChangesAndSighupRequests) {
  const std::string dir = TempDir();
  const std::string def = dir + "/default.yaml";
  Write(def, Policy("1"));
  auto store = PolicyStore::Create({def, {}, nullptr});
  ASSERT_TRUE(store.ok());
  (*store)->StartWatching(absl::Milliseconds(50));
  Write(def, Policy("2"));
  for (int i = 0; i < 100 && (*store)->Current()->default_policy().version != "2"; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ((*store)->Current()->default_policy().version, "2");
  const int64_t before = (*store)->reloads();
  (*store)->RequestReload();  // what SIGHUP does
  for (int i = 0; i < 100 && (*store)->reloads() == before; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GT((*store)->reloads(), before);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rp::server
