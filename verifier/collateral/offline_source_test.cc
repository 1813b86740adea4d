// OfflineDirectorySource: keys, limits, and the in-memory copy of files
// (source.h): a cached copy answers only while the file is unchanged.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "verifier/collateral/source.h"

namespace rp::collateral {
namespace {

namespace fs = std::filesystem;

class OfflineSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("offline_source_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "a");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& rel, const std::string& text) {
    std::ofstream out(dir_ / rel, std::ios::binary | std::ios::trunc);
    out << text;
  }
  // Writes in place (same inode), keeping the size.
  void Overwrite(const std::string& rel, const std::string& text) {
    std::FILE* f = std::fopen((dir_ / rel).c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(text.data(), 1, text.size(), f), text.size());
    std::fclose(f);
  }
  std::string Read(const OfflineDirectorySource& s, const std::string& key) {
    absl::StatusOr<std::optional<Bytes>> got = s.Get(key);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || !got->has_value()) return "<none>";
    return std::string((*got)->begin(), (*got)->end());
  }

  fs::path dir_;
};

TEST_F(OfflineSourceTest, ReadsFilesAndRefusesBadKeys) {
  Write("a/x.bin", "hello");
  OfflineDirectorySource s(dir_.string());
  EXPECT_EQ(Read(s, "a/x.bin"), "hello");
  EXPECT_EQ(Read(s, "a/missing.bin"), "<none>");
  for (const char* bad : {"../x", "/etc/passwd", "a//x.bin", "a/./x.bin", "a/x y"}) {
    absl::StatusOr<std::optional<Bytes>> got = s.Get(bad);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  // A directory under a key is an error, not an empty item.
  EXPECT_FALSE(s.Get("a").ok());
}

TEST_F(OfflineSourceTest, OverTheSizeLimitIsAnError) {
  {
    std::ofstream out(dir_ / "a/big.bin", std::ios::binary);
    out.seekp(static_cast<std::streamoff>(kMaxCollateralItemBytes));
    out.put('x');
  }
  OfflineDirectorySource s(dir_.string());
  EXPECT_EQ(s.Get("a/big.bin").status().code(), absl::StatusCode::kResourceExhausted);
}

// A file written just now is read again on every call (its ctime has not
// settled): two same-size writes within one timestamp tick both show.
TEST_F(OfflineSourceTest, FreshFilesAreReadEveryTime) {
  Write("a/x.bin", "one");
  OfflineDirectorySource s(dir_.string());
  EXPECT_EQ(Read(s, "a/x.bin"), "one");
  Overwrite("a/x.bin", "two");
  EXPECT_EQ(Read(s, "a/x.bin"), "two");
  Overwrite("a/x.bin", "333");
  EXPECT_EQ(Read(s, "a/x.bin"), "333");
}

// Settled files come from memory until they change in any way: rewritten in
// place (same size), replaced by rename, or removed.
TEST_F(OfflineSourceTest, SettledFilesAreCachedUntilTheyChange) {
  Write("a/x.bin", "first");
  Write("a/y.bin", "why");
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // > kOfflineFileSettle
  OfflineDirectorySource s(dir_.string());
  EXPECT_EQ(Read(s, "a/x.bin"), "first");
  EXPECT_EQ(Read(s, "a/x.bin"), "first");  // from memory
  Overwrite("a/x.bin", "FIRST");          // same size, same inode: mtime/ctime move
  EXPECT_EQ(Read(s, "a/x.bin"), "FIRST");
  Write("a/x.tmp", "second");
  fs::rename(dir_ / "a/x.tmp", dir_ / "a/x.bin");  // new inode
  EXPECT_EQ(Read(s, "a/x.bin"), "second");
  EXPECT_EQ(Read(s, "a/y.bin"), "why");
  EXPECT_EQ(Read(s, "a/y.bin"), "why");
  fs::remove(dir_ / "a/y.bin");
  EXPECT_EQ(Read(s, "a/y.bin"), "<none>");
  // A same-size rewrite with the old times put back (utimensat) still changes ctime.
  Write("a/z.bin", "zzz");
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(Read(s, "a/z.bin"), "zzz");
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "a/z.bin").c_str(), &st), 0);
  Overwrite("a/z.bin", "ZZZ");
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ / "a/z.bin").c_str(), times, 0), 0);
  EXPECT_EQ(Read(s, "a/z.bin"), "ZZZ");
}

}  // namespace
}  // namespace rp::collateral
