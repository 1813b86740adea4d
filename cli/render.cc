#include "cli/render.h"

#include "absl/strings/ascii.h"
#include "google/protobuf/util/json_util.h"

namespace rp::cli {
namespace {

std::string Lower(const std::string& s) {
  std::string out = absl::AsciiStrToLower(s);
  for (char& c : out) {
    if (c == '_') c = '-';
  }
  return out;
}

nlohmann::json CheckToJson(const attestation::v1::Check& c) {
  nlohmann::json j = {{"name", c.name()},
                      {"status", Lower(attestation::v1::CheckStatus_Name(c.status()))},
                      {"reason", c.reason()}};
  if (!c.detail().empty()) j["detail"] = c.detail();
  if (c.informational()) j["informational"] = true;
  return j;
}

}  // namespace

nlohmann::json ResponseToResultJson(const attestation::v1::AttestResponse& r) {
  nlohmann::json j;
  j["verdict"] = Lower(attestation::v1::Verdict_Name(r.verdict()));
  j["policy"] = {{"id", r.policy_id()}, {"sha256", r.policy_sha256()}};
  j["checks"] = nlohmann::json::array();
  for (const auto& c : r.checks()) j["checks"].push_back(CheckToJson(c));
  j["reasons"] = r.reasons();
  if (!r.runtime_claims().empty()) {  // bound by attest-v2 (docs/binding.md)
    j["runtime_claims"] = nlohmann::json::object();
    for (const auto& [k, v] : r.runtime_claims()) j["runtime_claims"][k] = v;
  }
  nlohmann::json submods = nlohmann::json::object();
  for (const auto& s : r.submods()) {
    nlohmann::json d;
    d["status"] = Lower(attestation::v1::Verdict_Name(s.status()));
    d["tee"] = s.tee();
    std::string claims;
    (void)google::protobuf::util::MessageToJsonString(s.claims(), &claims);
    d["claims"] = nlohmann::json::parse(claims.empty() ? "{}" : claims, nullptr, false);
    d["checks"] = nlohmann::json::array();
    for (const auto& c : s.checks()) d["checks"].push_back(CheckToJson(c));
    d["trust_vector"] = nlohmann::json::object();
    for (const auto& [k, v] : s.trust_vector()) d["trust_vector"][k] = v;
    submods[s.name()] = d;
  }
  j["submods"] = submods;
  if (!r.token().empty()) j["token"] = r.token();
  return j;
}

void PrintHuman(const nlohmann::json& result, std::ostream& out) {
  out << "verdict: " << result.value("verdict", "?") << "\n";
  if (result.contains("policy")) {
    out << "policy:  " << result["policy"].value("id", "") << " "
        << result["policy"].value("version", "") << " sha256:"
        << result["policy"].value("sha256", "").substr(0, 16) << "\n";
  }
  if (result.value("simulated", false)) out << "NOTE: simulated evidence (not real hardware)\n";
  auto print_checks = [&](const nlohmann::json& checks, const char* indent) {
    for (const auto& c : checks) {
      std::string status = c.value("status", "");
      if (status == "pass" || c.value("informational", false)) continue;
      out << indent << (status == "fail" ? "FAIL        " : "NOT-CHECKED ") << c.value("name", "")
          << "  [" << c.value("reason", "") << "] " << c.value("detail", "") << "\n";
    }
  };
  if (result.contains("checks")) print_checks(result["checks"], "  ");
  if (result.contains("submods")) {
    for (const auto& [name, d] : result["submods"].items()) {
      size_t passed = 0, total = 0;
      for (const auto& c : d["checks"]) {
        ++total;
        if (c.value("status", "") == "pass") ++passed;
      }
      out << name << " (" << d.value("tee", "") << "): " << d.value("status", "") << " — "
          << passed << "/" << total << " checks passed\n";
      print_checks(d["checks"], "    ");
      const auto& cl = d["claims"];
      for (const char* k : {"product", "version", "signing_key", "vmpl", "measurement",
                            "report_data", "chip_id"}) {
        if (cl.contains(k)) out << "    " << k << ": " << cl[k].dump() << "\n";
      }
      if (cl.contains("reported_tcb")) out << "    reported_tcb: " << cl["reported_tcb"].dump() << "\n";
      if (cl.contains("policy") && cl["policy"].is_object()) {
        out << "    guest policy: debug=" << cl["policy"].value("debug", false)
            << " smt=" << cl["policy"].value("smt", false)
            << " migrate_ma=" << cl["policy"].value("migrate_ma", false) << "\n";
      }
    }
  }
  if (result.contains("reasons") && !result["reasons"].empty()) {
    out << "reasons: " << result["reasons"].dump() << "\n";
  }
}

}  // namespace rp::cli
