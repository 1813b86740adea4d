// Test helpers for the NVIDIA RIM tests: data paths and fixed times.
#ifndef RP_VERIFIER_NVIDIA_RIM_RIM_TEST_UTIL_H_
#define RP_VERIFIER_NVIDIA_RIM_RIM_TEST_UTIL_H_

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"
#include "verifier/core/result.h"

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

// In-memory collateral: key → bytes, or key → error.
class MapSource : public collateral::CollateralSource {
 public:
  void Put(const std::string& key, std::string data) { items_[key] = Bytes(data.begin(), data.end()); }
  void PutError(const std::string& key, absl::Status s) { errors_[key] = std::move(s); }
  void PutStale(const std::string& key) { stale_[key] = true; }
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override {
    absl::StatusOr<std::optional<collateral::CollateralItem>> it = GetItem(key, {});
    if (!it.ok()) return it.status();
    if (!it->has_value()) return std::optional<Bytes>();
    return std::optional<Bytes>((*it)->data);
  }
  absl::StatusOr<std::optional<collateral::CollateralItem>> GetItem(
      std::string_view key, const collateral::GetOptions&) const override {
    const std::string k(key);
    if (auto e = errors_.find(k); e != errors_.end()) return e->second;
    auto it = items_.find(k);
    if (it == items_.end()) return std::optional<collateral::CollateralItem>();
    collateral::CollateralItem item;
    item.data = it->second;
    item.source = "map";
    item.stale = stale_.count(k) > 0;
    return std::optional<collateral::CollateralItem>(std::move(item));
  }
  std::string Describe() const override { return "map"; }

 private:
  std::map<std::string, Bytes> items_;
  std::map<std::string, absl::Status> errors_;
  std::map<std::string, bool> stale_;
};

// The one check named `name` (fails the test if absent or repeated).
inline const core::Check* FindCheck(const core::DeviceResult& r, const std::string& name) {
  const core::Check* found = nullptr;
  for (const core::Check& c : r.checks) {
    if (c.name != name) continue;
    if (found != nullptr) ADD_FAILURE() << "check " << name << " twice";
    found = &c;
  }
  if (found == nullptr) ADD_FAILURE() << "no check " << name;
  return found;
}

// "status/reason" of a check, "<absent>" if missing.
inline std::string Outcome(const core::DeviceResult& r, const std::string& name) {
  const core::Check* c = FindCheck(r, name);
  if (c == nullptr) return "<absent>";
  return std::string(core::CheckStatusName(c->status)) + "/" + c->reason;
}

// SPDM 1.1 GET_MEASUREMENTS request (37 B) + MEASUREMENTS response; returns
// block index (1-based) → 48-byte digest (specs/nvidia-gpu.md §1.2). Test
// helper only (the real parser belongs to the GPU verifier).
inline std::map<uint32_t, Bytes> MeasurementsFromReportHex(const std::string& hex_text) {
  std::string hex;
  for (char c : hex_text) {
    if (!isspace(static_cast<unsigned char>(c))) hex.push_back(c);
  }
  absl::StatusOr<Bytes> raw = HexDecode(hex);
  std::map<uint32_t, Bytes> out;
  if (!raw.ok() || raw->size() < 37 + 8) {
    ADD_FAILURE() << "bad report hex";
    return out;
  }
  const Bytes& b = *raw;
  size_t r = 37;
  EXPECT_EQ(b[r], 0x11);
  EXPECT_EQ(b[r + 1], 0x60);
  const size_t blocks = b[r + 4];
  const size_t len = b[r + 5] | (b[r + 6] << 8) | (b[r + 7] << 16);
  size_t off = r + 8;
  const size_t end = off + len;
  EXPECT_LE(end, b.size());
  for (size_t i = 0; i < blocks && off + 7 <= end; ++i) {
    const uint32_t index = b[off];
    const size_t size = b[off + 2] | (b[off + 3] << 8);
    const size_t value_size = b[off + 5] | (b[off + 6] << 8);
    EXPECT_EQ(b[off + 1], 0x01);  // DMTF
    EXPECT_EQ(size, value_size + 3);
    EXPECT_LE(off + 4 + size, end);
    out[index] = Bytes(b.begin() + static_cast<long>(off + 7),
                       b.begin() + static_cast<long>(off + 7 + value_size));
    off += 4 + size;
  }
  EXPECT_EQ(off, end);
  EXPECT_EQ(out.size(), blocks);
  return out;
}

}  // namespace rp::nvidia::rim::testing

#endif  // RP_VERIFIER_NVIDIA_RIM_RIM_TEST_UTIL_H_
