// Test helpers for the NVIDIA RIM tests: data paths and fixed times.
#ifndef RP_VERIFIER_NVIDIA_RIM_RIM_TEST_UTIL_H_
#define RP_VERIFIER_NVIDIA_RIM_RIM_TEST_UTIL_H_

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace rp::nvidia::rim::testing {

inline std::filesystem::path RimDataDir() {
  return std::filesystem::path(RP_SOURCE_DIR) / "tests/data/nvidia/rims";
}

inline std::string ReadFileOrDie(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string ReadRim(const std::string& rel) { return ReadFileOrDie(RimDataDir() / rel); }

// Inside every genuine RIM signer's validity (PROVENANCE "Time").
inline absl::Time At20250115() { return absl::FromCivil(absl::CivilSecond(2025, 1, 15, 0, 0, 0), absl::UTCTimeZone()); }
inline absl::Time At20261201() { return absl::FromCivil(absl::CivilSecond(2026, 12, 1, 0, 0, 0), absl::UTCTimeZone()); }
inline absl::Time At20270101() { return absl::FromCivil(absl::CivilSecond(2027, 1, 1, 0, 0, 0), absl::UTCTimeZone()); }

// Every genuine NVIDIA-signed RIM of the set (relative to RimDataDir()).
inline std::vector<std::string> GenuineRims() {
  std::vector<std::string> out;
  for (const char* dir : {"vbios", "driver", "store_545.00_testnogpu", "variants"}) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(RimDataDir() / dir)) {
      if (e.path().extension() == ".xml") files.push_back(std::string(dir) + "/" + e.path().filename().string());
    }
    std::sort(files.begin(), files.end());
    out.insert(out.end(), files.begin(), files.end());
  }
  return out;
}

}  // namespace rp::nvidia::rim::testing

#endif  // RP_VERIFIER_NVIDIA_RIM_RIM_TEST_UTIL_H_
