#include "release/directory_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rp::release {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }
std::string Str(const SecretBytes& b) { return std::string(b.AsStringView()); }

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

void WriteRaw(const fs::path& p, std::string_view content, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

class DirectoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rp-dirstore-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    root_ = base_ / "secrets";
    auto store = DirectoryStore::Create(root_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  fs::path base_, root_;
  std::unique_ptr<DirectoryStore> store_;
};

TEST_F(DirectoryStoreTest, PutGetListRemove) {
  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("secret-one")).ok());
  ASSERT_TRUE(store_->Put("kms/model-key/v2", Bytes("secret-two")).ok());
  ASSERT_TRUE(store_->Put("default/key/1", Bytes("k1")).ok());

  auto got = store_->Get("kms/model-key/v1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Str(*got), "secret-one");

  auto names = store_->List();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("default/key/1", "kms/model-key/v1", "kms/model-key/v2"));

  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("replaced")).ok());
  EXPECT_EQ(Str(*store_->Get("kms/model-key/v1")), "replaced");

  ASSERT_TRUE(store_->Remove("kms/model-key/v1").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Get("kms/model-key/v1").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Remove("kms/model-key/v1")));
  EXPECT_THAT(*store_->List(), ElementsAre("default/key/1", "kms/model-key/v2"));
}

TEST_F(DirectoryStoreTest, UnknownResourcesAreNotFound) {
  EXPECT_TRUE(absl::IsNotFound(store_->Get("no/such/thing").status()));
  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("x")).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Get("kms/model-key/v9").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get("kms/other/v1").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Remove("kms/model-key/v9")));
}

TEST_F(DirectoryStoreTest, BadNamesAreRejectedBeforeTouchingTheDisk) {
  for (const std::string& name : std::vector<std::string>{"", "a", "a/b", "a/b/c/d", "../b/c", "a/../c", "a/b/..", "./b/c", "a//c", "a/b/c/",
        "/a/b/c", "a/b/c d", "a/b/c\n", "a/b/\xc3\xa7", ".hidden/b/c", "a/b/.tmp-c-00",
        std::string(65, 'x') + "/b/c", std::string("a/b\0/c", 6)}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(IsValidResourceName(name));
    EXPECT_TRUE(absl::IsInvalidArgument(store_->Put(name, Bytes("x"))));
    EXPECT_TRUE(absl::IsInvalidArgument(store_->Get(name).status()));
    EXPECT_TRUE(absl::IsInvalidArgument(store_->Remove(name)));
  }
  EXPECT_THAT(*store_->List(), IsEmpty());
  EXPECT_TRUE(fs::is_empty(root_));
  EXPECT_FALSE(fs::exists(base_ / "b"));
}

TEST_F(DirectoryStoreTest, SizeLimits) {
  ASSERT_TRUE(store_->Put("a/b/c", Bytes("old")).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Put("a/b/c", {})));
  std::vector<uint8_t> big(kMaxSecretBytes + 1, 0x41);
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Put("a/b/c", big)));
  EXPECT_EQ(Str(*store_->Get("a/b/c")), "old");  // a refused Put leaves the old secret
  big.pop_back();
  ASSERT_TRUE(store_->Put("a/b/c", big).ok());
  EXPECT_EQ(store_->Get("a/b/c")->size(), kMaxSecretBytes);

  // Records planted by hand: oversized and empty ones are refused on read.
  WriteRaw(root_ / "a/b/big", std::string(kMaxSecretBytes + 1, 'x'), 0600);
  EXPECT_TRUE(absl::IsDataLoss(store_->Get("a/b/big").status()));
  WriteRaw(root_ / "a/b/empty", "", 0600);
  EXPECT_TRUE(absl::IsDataLoss(store_->Get("a/b/empty").status()));
}

TEST_F(DirectoryStoreTest, FilesAre0600AndDirectories0700) {
  mode_t old_umask = ::umask(022);
  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("s")).ok());
  ::umask(old_umask);
  EXPECT_EQ(ModeOf(root_), 0700u);
  EXPECT_EQ(ModeOf(root_ / "kms"), 0700u);
  EXPECT_EQ(ModeOf(root_ / "kms/model-key"), 0700u);
  EXPECT_EQ(ModeOf(root_ / "kms/model-key/v1"), 0600u);
}

TEST_F(DirectoryStoreTest, ReadsRefuseGroupOrOtherPermissionBits) {
  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("TOPSECRETVALUE")).ok());
  fs::path file = root_ / "kms/model-key/v1";
  for (mode_t mode : {0640, 0604, 0660, 0644, 0610, 0601}) {
    SCOPED_TRACE(mode);
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    auto got = store_->Get("kms/model-key/v1");
    ASSERT_TRUE(absl::IsFailedPrecondition(got.status())) << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr("mode"));
    EXPECT_THAT(got.status().message(), Not(HasSubstr("TOPSECRET")));
  }
  ASSERT_EQ(::chmod(file.c_str(), 0400), 0);
  EXPECT_TRUE(store_->Get("kms/model-key/v1").ok());
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);

  // A directory on the path that others can enter or write is refused too.
  ASSERT_EQ(::chmod((root_ / "kms/model-key").c_str(), 0750), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Get("kms/model-key/v1").status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Put("kms/model-key/v1", Bytes("x"))));
  ASSERT_EQ(::chmod((root_ / "kms/model-key").c_str(), 0700), 0);
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(DirectoryStore::Create(root_.string()).status()));
}

TEST_F(DirectoryStoreTest, ReadsRefuseFilesNotOwnedByUs) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("s")).ok());
  fs::path file = root_ / "kms/model-key/v1";
  ASSERT_EQ(::chown(file.c_str(), 65534, 65534), 0);
  auto got = store_->Get("kms/model-key/v1");
  ASSERT_TRUE(absl::IsFailedPrecondition(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("owned by uid 65534"));
  ASSERT_EQ(::chown((root_ / "kms").c_str(), 65534, 65534), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Get("kms/model-key/v1").status()));
}

TEST_F(DirectoryStoreTest, SymlinksFifosAndDirectoriesAreRefused) {
  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("s")).ok());
  WriteRaw(base_ / "elsewhere", "planted", 0600);
  ASSERT_EQ(::symlink((base_ / "elsewhere").c_str(), (root_ / "kms/model-key/v2").c_str()), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Get("kms/model-key/v2").status()));

  fs::create_directories(base_ / "otherdir/t");
  ASSERT_EQ(::chmod((base_ / "otherdir").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((base_ / "otherdir/t").c_str(), 0700), 0);
  WriteRaw(base_ / "otherdir/t/x", "planted", 0600);
  ASSERT_EQ(::symlink((base_ / "otherdir").c_str(), (root_ / "evil").c_str()), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Get("evil/t/x").status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Put("evil/t/y", Bytes("x"))));
  EXPECT_FALSE(fs::exists(base_ / "otherdir/t/y"));

  ASSERT_EQ(::mkfifo((root_ / "kms/model-key/fifo").c_str(), 0600), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Get("kms/model-key/fifo").status()));
  fs::create_directory(root_ / "kms/model-key/dir");
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Get("kms/model-key/dir").status()));

  // List shows regular files at depth three only.
  EXPECT_THAT(*store_->List(), ElementsAre("kms/model-key/v1"));
}

TEST_F(DirectoryStoreTest, ListIsSortedAndIgnoresJunk) {
  ASSERT_TRUE(store_->Put("a/x/y", Bytes("1")).ok());
  ASSERT_TRUE(store_->Put("a-b/x/y", Bytes("2")).ok());
  ASSERT_TRUE(store_->Put("a/x/y-2", Bytes("3")).ok());
  WriteRaw(root_ / "toplevel-file", "x", 0600);
  WriteRaw(root_ / "a/depth-two-file", "x", 0600);
  WriteRaw(root_ / "a/x/bad name", "x", 0600);
  WriteRaw(root_ / "a/x/.tmp-y-0011223344556677", "x", 0600);
  EXPECT_THAT(*store_->List(), ElementsAre("a-b/x/y", "a/x/y", "a/x/y-2"));
}

TEST_F(DirectoryStoreTest, LeftoverTempFileDoesNotShow) {
  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("committed")).ok());
  // What a crash between write and rename leaves behind.
  WriteRaw(root_ / "kms/model-key/.tmp-v1-deadbeefdeadbeef", "half-writ", 0600);
  EXPECT_EQ(Str(*store_->Get("kms/model-key/v1")), "committed");
  EXPECT_THAT(*store_->List(), ElementsAre("kms/model-key/v1"));
  ASSERT_TRUE(store_->Put("kms/model-key/v1", Bytes("next")).ok());
  EXPECT_EQ(Str(*store_->Get("kms/model-key/v1")), "next");
  // Put leaves no temp file of its own.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(root_ / "kms/model-key")) ++entries;
  EXPECT_EQ(entries, 2u);  // v1 + the planted leftover
}

// Readers racing a writer see one whole version or the other, never a mix
// or a short read (the rename is the only visible step).
TEST_F(DirectoryStoreTest, ConcurrentReadersNeverSeeATornRecord) {
  const std::string a(1000, 'a'), b(3000, 'b');
  ASSERT_TRUE(store_->Put("r/t/x", Bytes(a)).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto got = store_->Get("r/t/x");
        if (!got.ok() || (Str(*got) != a && Str(*got) != b)) ++bad;
        ++reads;
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(store_->Put("r/t/x", Bytes(i % 2 ? a : b)).ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

TEST_F(DirectoryStoreTest, CreateMakesAMissingRootButNotItsParents) {
  EXPECT_FALSE(DirectoryStore::Create((base_ / "no/such/parent").string()).ok());
  auto fresh = DirectoryStore::Create((base_ / "fresh").string());
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(ModeOf(base_ / "fresh"), 0700u);
  WriteRaw(base_ / "plainfile", "x", 0600);
  EXPECT_TRUE(absl::IsFailedPrecondition(DirectoryStore::Create((base_ / "plainfile").string()).status()));
  EXPECT_THAT((*fresh)->Describe(), HasSubstr("development only"));
}

TEST_F(DirectoryStoreTest, ReadPrivateFileEnforcesMode) {
  fs::path pin = base_ / "pin";
  WriteRaw(pin, "1234\n", 0600);
  auto got = internal::ReadPrivateFile(pin.string(), 64, true);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Str(*got), "1234\n");
  ASSERT_EQ(::chmod(pin.c_str(), 0644), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(internal::ReadPrivateFile(pin.string(), 64, true).status()));
  ASSERT_EQ(::chmod(pin.c_str(), 0600), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(internal::ReadPrivateFile(pin.string(), 2, true).status()));
  EXPECT_TRUE(absl::IsNotFound(internal::ReadPrivateFile((base_ / "nope").string(), 64, true).status()));
}

}  // namespace
}  // namespace rp::release
