// Shared helpers for collateral tests (test-only).
#ifndef RP_VERIFIER_COLLATERAL_COLLATERAL_TEST_UTIL_H_
#define RP_VERIFIER_COLLATERAL_COLLATERAL_TEST_UTIL_H_

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "verifier/common/encoding.h"

namespace rp::collateral::testing {

inline constexpr char kMilanHwid[] =
    "1f8c2a55866688e0cec9b382591d3bc073b1b16d015dc1f9cfd333c6e57b8416"
    "d531aa74c2e35e3a84326484b6976cbeca7728f6a8a9be78d1ef3c0731a14f1b";
inline constexpr char kMilanTcb[] = "04000000000018db";

inline std::string MilanVcekKey() {
  return absl::StrCat("amd/vcek/Milan/", kMilanHwid, "-", kMilanTcb, ".der");
}

inline std::string OfflineDir() {
  return std::string(RP_SOURCE_DIR) + "/tests/data/snp/offline";
}

inline std::string ReadTestFile(const std::string& relative_to_offline) {
  std::ifstream in(OfflineDir() + "/" + relative_to_offline, std::ios::binary);
  EXPECT_TRUE(in.good()) << relative_to_offline;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// 2025-09-01T00:00:00Z, inside the validity of the checked-in AMD data.
inline absl::Time TestTime() { return absl::FromUnixSeconds(1756684800); }

// A fresh empty directory under the gtest temp dir.
inline std::string FreshTempDir(const std::string& tag) {
  static std::atomic<int> n{0};
  std::string dir = absl::StrCat(::testing::TempDir(), "/rp_collateral_", tag, "_", ::getpid(),
                                 "_", n.fetch_add(1));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace rp::collateral::testing

#endif  // RP_VERIFIER_COLLATERAL_COLLATERAL_TEST_UTIL_H_
