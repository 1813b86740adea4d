#include "tests/property/monotonicity.h"

#include <algorithm>
#include <exception>
#include <map>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/canonical_json.h"

namespace rp::property {
namespace {

using policy::Verdict;

std::string Name(Verdict v) { return std::string(policy::VerdictName(v)); }

bool IsCpu(const std::string& tee) { return tee == "sev-snp" || tee == "tdx"; }

// The intact device a mutant device stands for ("" = none: another
// vector's evidence, or no attribution possible).
std::string IntactName(const DeviceOutcome& d, const Outcome& mutant, const Mutant& m) {
  if (IsCpu(d.tee)) return m.cpu_foreign ? "" : d.name;
  const bool gpu = d.tee == "nvidia-gpu";
  const std::vector<std::string>& origin = gpu ? m.gpu_origin : m.switch_origin;
  // One device per list element, numbered in list order; check that the
  // engine gave exactly that before using the numbering.
  size_t count = 0;
  for (const DeviceOutcome& o : mutant.devices) {
    if (o.tee == d.tee) ++count;
  }
  if (count != origin.size()) return "";
  const std::string prefix = gpu ? "gpu" : "switch";
  if (d.name.rfind(prefix, 0) != 0) return "";
  const size_t k = std::stoul(d.name.substr(prefix.size()));
  return k < origin.size() ? origin[k] : "";
}

}  // namespace

Outcome Evaluate(const appraisal::Engine& engine, const attestation::v1::EvidenceBundle& bundle,
                 const policy::LoadedPolicy& policy, const appraisal::RunOptions& options) {
  Outcome out;
  try {
    absl::StatusOr<policy::Appraisal> a = engine.Run(bundle, policy, options);
    if (!a.ok()) {
      out.kind = Outcome::Kind::kError;
      out.error = a.status().ToString();
      return out;
    }
    // The result the server hashes into the token (written directly) must
    // be byte for byte the canonical form of the result tree: if not, the
    // outcome is an exception, which every group reports.
    {
      const absl::StatusOr<std::string> direct = a->CanonicalResultJson();
      const absl::StatusOr<std::string> via_tree = policy::CanonicalJson(a->ToJson());
      if (direct.ok() != via_tree.ok() || (direct.ok() && *direct != *via_tree)) {
        out.kind = Outcome::Kind::kException;
        out.error = absl::StrCat("CanonicalResultJson differs from CanonicalJson(ToJson()): ",
                                 direct.ok() ? "ok" : direct.status().ToString(), " vs ",
                                 via_tree.ok() ? "ok" : via_tree.status().ToString());
        return out;
      }
    }
    out.kind = Outcome::Kind::kAppraisal;
    out.verdict = a->verdict;
    out.reasons = a->reasons;
    for (const policy::AppraisedDevice& d : a->devices) {
      DeviceOutcome dev{d.device.name, d.device.tee, d.status, d.device.evidence_authentic, {}, ""};
      const char* id_claim = d.device.tee == "tdx"       ? "fmspc"
                             : d.device.tee == "sev-snp" ? "chip_id"
                                                         : "ueid";
      if (auto it = d.device.claims.find(id_claim);
          it != d.device.claims.end() && it->is_string()) {
        dev.identity = it->get<std::string>();
      }
      for (const core::Check& c : d.device.checks) {
        auto [it, fresh] = dev.passed.emplace(c.name, c.status == core::CheckStatus::kPass);
        if (!fresh) it->second = it->second && c.status == core::CheckStatus::kPass;
      }
      out.devices.push_back(std::move(dev));
    }
    for (const core::Check& c : a->bundle_checks) {
      if (c.name == "binding") out.binding = c.status;
      auto [it, fresh] = out.bundle_passed.emplace(c.name, c.status == core::CheckStatus::kPass);
      if (!fresh) it->second = it->second && c.status == core::CheckStatus::kPass;
    }
    out.binding_profile = a->binding;
    // As attestation-server builds the token (server/service.cc), in the
    // default (compact) profile; device claims are looked for in the full
    // profile too, which carries every claim a token can.
    const attestation::v1::Jwk* key =
        bundle.has_tee_public_key() ? &bundle.tee_public_key() : nullptr;
    const nlohmann::json claims = a->EarClaims(key, "property-test");
    policy::EarOptions full_profile;
    full_profile.profile = policy::TokenProfile::kFull;
    const nlohmann::json full = a->EarClaims(key, "property-test", full_profile);
    if (claims.contains("cnf")) out.cnf = claims["cnf"];
    if (claims.contains("runtime_claims")) out.runtime_claims = claims["runtime_claims"];
    out.token_binding = claims.contains("binding");
    for (const nlohmann::json* t : {&claims, &full}) {
      const nlohmann::json& submods = (*t)["submods"];
      for (DeviceOutcome& d : out.devices) {
        auto it = submods.find(d.name);
        if (it == submods.end()) continue;
        auto c = it->find("claims");
        d.token_claims = d.token_claims || (c != it->end() && !c->empty());
      }
    }
  } catch (const std::exception& e) {
    out = Outcome{};
    out.kind = Outcome::Kind::kException;
    out.error = e.what();
  } catch (...) {
    out = Outcome{};
    out.kind = Outcome::Kind::kException;
    out.error = "unknown exception";
  }
  return out;
}

std::string OutcomeName(const Outcome& o) {
  switch (o.kind) {
    case Outcome::Kind::kError:
      return "error";
    case Outcome::Kind::kException:
      return "exception";
    case Outcome::Kind::kAppraisal:
      break;
  }
  return Name(o.verdict);
}

std::vector<Finding> Compare(const Outcome& intact, const Outcome& mutant, const Mutant& m,
                             const Outcome* donor) {
  std::vector<Finding> out;
  if (mutant.kind == Outcome::Kind::kException) {
    // The service would not answer at all (an exception escapes the engine).
    out.push_back(Finding{"exception", mutant.error});
    return out;
  }
  if (mutant.kind == Outcome::Kind::kError) return out;  // rejected: never better
  // A bundle the engine refused (intact or donor) counts as contraindicated
  // with no devices, no cnf and no binding.
  auto verdict_of = [](const Outcome& o) {
    return o.kind == Outcome::Kind::kAppraisal ? o.verdict : Verdict::kContraindicated;
  };
  const bool have_donor = donor != nullptr && donor->kind != Outcome::Kind::kException;
  if (mutant.verdict < verdict_of(intact)) {
    out.push_back(Finding{"verdict", absl::StrCat(OutcomeName(intact), " -> ", Name(mutant.verdict)),
                          have_donor && mutant.verdict >= verdict_of(*donor)});
  }
  if (mutant.cnf.has_value() && (!intact.cnf.has_value() || *intact.cnf != *mutant.cnf)) {
    out.push_back(Finding{
        "cnf",
        absl::StrCat(intact.cnf.has_value() ? "intact cnf key differs: " : "intact has no cnf: ",
                     mutant.cnf->dump().substr(0, 100)),
        have_donor && donor->cnf.has_value() && *donor->cnf == *mutant.cnf});
  }
  if (mutant.runtime_claims.has_value() &&
      (!intact.runtime_claims.has_value() || *intact.runtime_claims != *mutant.runtime_claims)) {
    out.push_back(Finding{
        "runtime_claims",
        absl::StrCat(intact.runtime_claims.has_value() ? "intact runtime claims differ: "
                                                       : "intact has no runtime claims: ",
                     mutant.runtime_claims->dump().substr(0, 100)),
        have_donor && donor->runtime_claims.has_value() &&
            *donor->runtime_claims == *mutant.runtime_claims});
  }
  // A bundle-level check (binding, device counts, ...) that passes for the
  // mutant and ran without passing for the intact bundle.
  for (const auto& [name, pass] : mutant.bundle_passed) {
    auto it = intact.bundle_passed.find(name);
    if (!pass || it == intact.bundle_passed.end() || it->second) continue;
    auto dit = have_donor ? donor->bundle_passed.find(name) : intact.bundle_passed.end();
    out.push_back(Finding{"bundle_check", absl::StrCat(name, " passes, intact does not"),
                          have_donor && dit != donor->bundle_passed.end() && dit->second});
  }
  auto index = [](const Outcome& o) {
    std::map<std::string, const DeviceOutcome*> by_name;
    for (const DeviceOutcome& d : o.devices) by_name[d.name] = &d;
    return by_name;
  };
  const auto by_name = index(intact);
  const auto donor_by_name = have_donor ? index(*donor) : std::map<std::string, const DeviceOutcome*>();
  for (const DeviceOutcome& d : mutant.devices) {
    const std::string iname = IntactName(d, mutant, m);
    if (iname.empty()) continue;
    auto it = by_name.find(iname);
    // A CPU stays the same kind; a GPU report moved to the switch list is
    // compared with the GPU it was.
    if (it == by_name.end() || (IsCpu(d.tee) && it->second->tee != d.tee)) continue;
    const DeviceOutcome& b = *it->second;
    auto dit = donor_by_name.find(iname);
    const DeviceOutcome* dd = dit != donor_by_name.end() ? dit->second : nullptr;
    const std::string who = d.name == iname ? d.name : absl::StrCat(d.name, " (intact ", iname, ")");
    if (d.status < b.status) {
      out.push_back(Finding{"device", absl::StrCat(who, ": ", Name(b.status), " -> ", Name(d.status)),
                            dd != nullptr && d.status >= dd->status});
    }
    // A check of this device that passes, where the intact device ran it
    // without passing: more is trusted, even when other failures keep the
    // status (e.g. under the constrained policies).
    for (const auto& [name, pass] : d.passed) {
      auto it2 = b.passed.find(name);
      if (!pass || it2 == b.passed.end() || it2->second) continue;
      bool explained = false;
      if (dd != nullptr) {
        auto dc = dd->passed.find(name);
        explained = dc != dd->passed.end() && dc->second;
      }
      out.push_back(Finding{"check", absl::StrCat(who, ": ", name, " passes, intact does not"),
                            explained});
    }
    if (d.authentic && !b.authentic) {
      out.push_back(Finding{"authentic", absl::StrCat(who, ": evidence_authentic false -> true"),
                            dd != nullptr && dd->authentic});
    }
  }
  return out;
}

namespace {

bool IsFreshnessCheck(const std::string& n) {
  return n == "nonce" || n == "freshness" || absl::EndsWith(n, ".nonce") ||
         absl::EndsWith(n, ".freshness");
}

// The devices a swap at `path` touches, as (tee, index or -1 = all of that
// tee); empty when the field is not primary evidence or collateral.
std::vector<std::pair<std::string, int>> SwappedDevices(const std::string& path) {
  static const std::regex kTdx(R"(tdx(\.quote|\.collateral(\..*)?)?)");
  static const std::regex kSnp(R"(sev_snp(\.(report|vcek|vlek|cert_chain))?)");
  static const std::regex kGpu(
      R"(nvidia(\.(evidence_list|switch_evidence_list)(\[([0-9]+)\](\.(evidence|certificate))?)?)?)");
  std::smatch mt;
  if (std::regex_match(path, kTdx)) return {{"tdx", -1}};
  if (std::regex_match(path, kSnp)) return {{"sev-snp", -1}};
  if (std::regex_match(path, mt, kGpu)) {
    if (!mt[2].matched) return {{"nvidia-gpu", -1}, {"nvidia-switch", -1}};
    const std::string tee = mt[2] == "evidence_list" ? "nvidia-gpu" : "nvidia-switch";
    return {{tee, mt[4].matched ? std::stoi(mt[4].str()) : -1}};
  }
  return {};
}

std::vector<const DeviceOutcome*> OfTee(const Outcome& o, const std::string& tee) {
  std::vector<const DeviceOutcome*> out;
  for (const DeviceOutcome& d : o.devices) {
    if (d.tee == tee) out.push_back(&d);
  }
  return out;
}

}  // namespace

std::string Recombination(const Mutant& m, const Outcome& intact, const Outcome& mutant,
                          const Outcome& donor) {
  if (m.kind.rfind("swap:", 0) != 0 || mutant.kind != Outcome::Kind::kAppraisal ||
      intact.kind != Outcome::Kind::kAppraisal || donor.kind != Outcome::Kind::kAppraisal) {
    return "";
  }
  const auto touched = SwappedDevices(m.path);
  if (touched.empty() || mutant.devices.empty()) return "";
  for (const DeviceOutcome& d : mutant.devices) {
    if (!d.authentic) return "";
  }
  std::vector<std::string> same;
  for (const auto& [tee, index] : touched) {
    const auto mine = OfTee(mutant, tee), theirs = OfTee(intact, tee), donors = OfTee(donor, tee);
    // A device list the swap resized (or emptied) is not the same platform.
    if (mine.size() != theirs.size()) return "";
    for (size_t k = 0; k < mine.size(); ++k) {
      if (index >= 0 && static_cast<size_t>(index) != k) continue;
      const std::string& id = mine[k]->identity;
      if (id.empty() || theirs[k]->identity != id) return "";
      if (std::none_of(donors.begin(), donors.end(),
                       [&](const DeviceOutcome* d) { return d->identity == id; })) {
        return "";
      }
      same.push_back(absl::StrCat(tee == "tdx"       ? "fmspc "
                                  : tee == "sev-snp" ? "chip_id "
                                                     : "ueid ",
                                  id.substr(0, 16)));
    }
  }
  if (same.empty()) return "";
  std::sort(same.begin(), same.end());
  same.erase(std::unique(same.begin(), same.end()), same.end());
  return absl::StrJoin(same, ",");
}

bool RecombinationMayExcuse(const Finding& f) {
  if (f.property == "verdict" || f.property == "device" || f.property == "authentic") return true;
  if (f.property == "check" || f.property == "bundle_check") {
    // "<who>: <check> passes, intact does not" / "<check> passes, ..."
    std::string name = f.detail.substr(0, f.detail.find(" passes"));
    if (const size_t colon = name.rfind(": "); colon != std::string::npos) {
      name = name.substr(colon + 2);
    }
    return name != "binding" && !IsFreshnessCheck(name);
  }
  return false;  // cnf, runtime_claims, exception, cnf_unbound, runtime_claims_unbound,
                 // nonce_unverified
}

std::vector<Finding> CheckAbsolute(const Outcome& o, bool have_expected_nonce) {
  std::vector<Finding> out;
  if (o.kind != Outcome::Kind::kAppraisal) return out;
  const bool key_bound = o.binding == core::CheckStatus::kPass &&
                         (o.binding_profile == "attest-v1" || o.binding_profile == "attest-v2");
  if (o.cnf.has_value() && !key_bound) {
    out.push_back(Finding{
        "cnf_unbound",
        absl::StrCat("cnf with binding '", o.binding_profile, "' ",
                     o.binding.has_value() ? std::string(core::CheckStatusName(*o.binding))
                                           : std::string("absent"))});
  }
  if (o.runtime_claims.has_value() &&
      (o.binding != core::CheckStatus::kPass || o.binding_profile != "attest-v2")) {
    out.push_back(Finding{"runtime_claims_unbound",
                          absl::StrCat("runtime claims with binding '", o.binding_profile, "' ",
                                       o.binding.has_value()
                                           ? std::string(core::CheckStatusName(*o.binding))
                                           : std::string("absent"))});
  }
  for (const DeviceOutcome& d : o.devices) {
    if (d.token_claims && !d.authentic) {
      out.push_back(Finding{"claims_unauthentic",
                            absl::StrCat(d.name.substr(0, 3), ": token carries claims of evidence "
                                                              "that is not authentic")});
    }
  }
  if (o.token_binding && o.binding != core::CheckStatus::kPass) {
    out.push_back(Finding{"binding_unverified",
                          absl::StrCat("token names binding '", o.binding_profile,
                                       "' and the binding check did not pass")});
  }
  if (!have_expected_nonce) {
    const auto freshness = IsFreshnessCheck;
    for (const auto& [name, pass] : o.bundle_passed) {
      if (pass && freshness(name)) {
        out.push_back(Finding{"nonce_unverified", absl::StrCat(name, " passes on a bundle nonce")});
      }
    }
    for (const DeviceOutcome& d : o.devices) {
      for (const auto& [name, pass] : d.passed) {
        if (pass && freshness(name)) {
          out.push_back(Finding{"nonce_unverified",
                                absl::StrCat(d.name.substr(0, 3), " ", name, " passes on a bundle nonce")});
        }
      }
    }
  }
  return out;
}

}  // namespace rp::property
