// Test helpers for verifier/nvidia: the real vectors in tests/data/nvidia
// (see its PROVENANCE.md), a map collateral source, small assertions.
#ifndef RP_VERIFIER_NVIDIA_TEST_UTIL_H_
#define RP_VERIFIER_NVIDIA_TEST_UTIL_H_

#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"
#include "verifier/core/result.h"

#ifndef RP_SOURCE_DIR
#define RP_SOURCE_DIR "."
#endif

namespace rp::nvidia::test {

inline std::string DataPath(const std::string& relative) {
  return std::string(RP_SOURCE_DIR) + "/tests/data/nvidia/" + relative;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A *_report.hex file as bytes (aborts the test on bad hex via an empty value).
inline Bytes ReadHexReport(const std::string& relative) {
  std::string hex = ReadFile(DataPath(relative));
  std::string clean;
  for (char c : hex) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) clean.push_back(c);
  }
  absl::StatusOr<Bytes> b = HexDecode(clean);
  return b.ok() ? *b : Bytes();
}

inline Bytes Unhex(std::string_view hex) {
  absl::StatusOr<Bytes> b = HexDecode(hex);
  return b.ok() ? *b : Bytes();
}

// One GPU entry of an evidence JSON file (NVIDIA's wire shape).
struct JsonEvidence {
  std::string arch;
  Bytes report;
  std::string chain_pem;
  std::string nonce_hex;
};

inline std::vector<JsonEvidence> LoadEvidenceJson(const std::string& relative) {
  std::vector<JsonEvidence> out;
  const nlohmann::json j = nlohmann::json::parse(ReadFile(DataPath(relative)));
  for (const auto& e : j) {
    JsonEvidence x;
    x.arch = e.at("arch").get<std::string>();
    x.report = Base64Decode(e.at("evidence").get<std::string>()).value_or(Bytes());
    x.chain_pem = ToString(Base64Decode(e.at("certificate").get<std::string>()).value_or(Bytes()));
    x.nonce_hex = e.value("nonce", "");
    out.push_back(std::move(x));
  }
  return out;
}

// A real report + chain pair with the facts PROVENANCE.md states.
struct RealVector {
  std::string name;
  std::string report;  // path under tests/data/nvidia
  std::string chain;
  std::string arch;
  std::string nonce;
  size_t size;
  std::string driver;
  std::string vbios;
  std::string project;
  std::string project_sku;
  std::string chip_sku;
  std::string ueid;
  bool has_fwid;
};

inline const std::vector<RealVector>& RealVectors() {
  static const auto* v = new std::vector<RealVector>{
      {"h100_550_90_07", "hopper/h100_drv550.90.07_vbios96009F0001_report.hex",
       "hopper/h100_drv550.90.07_vbios96009F0001_certchain.pem", "HOPPER",
       "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb", 4117, "550.90.07",
       "96.00.9F.00.01", "1010", "0200", "882", "478176379286082186618948445787393647364802107249",
       true},
      {"h100_545_00", "hopper/h100_drv545.00_vbios96005E0001_report.hex",
       "hopper/h100_drv545.00_vbios96005E0001_certchain.pem", "HOPPER",
       "4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e", 4049, "545.00",
       "96.00.5E.00.01", "1010", "0200", "882", "460032006552296075780760406069494258829212062021",
       false},
      {"h100_535_86_09", "hopper/h100_drv535.86.09_vbios96005E0001_report.hex",
       "hopper/h100_drv535.86.09_vbios96005E0001_certchain.pem", "HOPPER",
       "27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66", 4052, "535.86.09",
       "96.00.5E.00.01", "1010", "0200", "882", "395803620356496203949105887342232667833655422354",
       false},
      {"h100_570_124_03", "hopper/h100_drv570.124.03_vbios96005E0004_report.hex",
       "hopper/h100_drv570.124.03_vbios96005E0004_certchain.pem", "HOPPER",
       "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb", 4118, "570.124.03",
       "96.00.5E.00.04", "1010", "0205", "862", "513040271002320286744800603328389647958014137565",
       true},
      {"gb100_575_32", "blackwell/gb100_drv575.32_vbios970088000F_report.hex",
       "blackwell/gb100_drv575.32_vbios970088000F_certchain.pem", "BLACKWELL",
       "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb", 4121, "575.32",
       "97.00.88.00.0F", "G525", "0220", "886", "474146966256510137525212816567191319424869109849",
       true},
  };
  return *v;
}

// 2026-11-22T00:00:00Z (collection date of the vectors); device chains
// never expire, so any time after 2022-03-01 verifies them.
inline absl::Time VectorTime() { return absl::FromUnixSeconds(1795305600); }

class MapSource : public collateral::CollateralSource {
 public:
  void Put(std::string key, Bytes value) { items_[std::move(key)] = std::move(value); }
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override {
    auto it = items_.find(std::string(key));
    if (it == items_.end()) return std::optional<Bytes>();
    return std::optional<Bytes>(it->second);
  }
  std::string Describe() const override { return "map"; }

 private:
  std::map<std::string, Bytes> items_;
};

inline const core::Check* FindCheck(const core::DeviceResult& d, std::string_view name) {
  const core::Check* found = nullptr;
  for (const core::Check& c : d.checks) {
    if (c.name == name) found = &c;  // the last one recorded wins
  }
  return found;
}

// All checks named `name` (a node-level check may add a second entry).
inline std::vector<const core::Check*> FindChecks(const core::DeviceResult& d,
                                                  std::string_view name) {
  std::vector<const core::Check*> out;
  for (const core::Check& c : d.checks) {
    if (c.name == name) out.push_back(&c);
  }
  return out;
}

inline std::string DescribeChecks(const core::DeviceResult& d) {
  std::string out;
  for (const core::Check& c : d.checks) {
    out += "  " + c.name + " " + std::string(core::CheckStatusName(c.status)) + " " + c.reason +
           " " + c.detail + "\n";
  }
  return out;
}

}  // namespace rp::nvidia::test

#endif  // RP_VERIFIER_NVIDIA_TEST_UTIL_H_
