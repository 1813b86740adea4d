#include "verifier/sev_snp/verifier.h"

#include <openssl/x509.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/crl.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/claims.h"
#include "verifier/sev_snp/layout.h"
#include "verifier/sev_snp/rules.h"
#include "verifier/sev_snp/vcek.h"

namespace rp::sev_snp {
namespace {

using attestation::v1::SevSnpEvidence;
using core::Component;
using crypto::OpensslPtr;

// A bundle cert_chain is "ASK/ASVK then ARK"; allow a little slack so a
// wrong shape is reported as such, but cap the work (STYLE §11).
constexpr size_t kMaxBundleChainCerts = 4;
constexpr size_t kMaxSimulationRootsPerEntry = 8;

void Record(core::DeviceResult& d, const char* name, Component component,
            RuleOutcome o) {
  d.Add(name, o.status, std::move(o.reason), std::move(o.detail), component);
}

RuleOutcome Skipped(std::string_view why) {
  return RuleOutcome::NotChecked(reason::kPrerequisiteFailed, std::string(why));
}

// --- Collateral lookups with freshness ---------------------------------------

// Check and reasons for collateral freshness (docs/reasons.md). Kept here
// rather than in rules.h: they describe how collateral was obtained, not a
// rule over the report.
constexpr char kCheckCollateralFreshness[] = "sev_snp.collateral_freshness";
constexpr char kReasonStaleCollateral[] = "STALE_COLLATERAL";
constexpr char kReasonStaleBeyondGrace[] = "COLLATERAL_STALE_BEYOND_GRACE";

// Fetches collateral with the policy's grace and remembers which items that
// were actually used were served stale, for the freshness check. One per
// VerifyEvidence call; not shared between threads.
class CollateralReader {
 public:
  explicit CollateralReader(const core::VerifyContext& ctx)
      : source_(*ctx.collateral), grace_(ctx.collateral_grace) {}

  // FAILED_PRECONDITION: the source holds the item only stale beyond the
  // grace (callers fail closed); other errors as the source reports them.
  absl::StatusOr<std::optional<collateral::CollateralItem>> Get(
      const std::string& key) const {
    collateral::GetOptions options;
    options.stale_grace = grace_;
    return source_.GetItem(key, options);
  }

  // Records that `item` went into a check.
  void Used(const std::string& key, const collateral::CollateralItem& item) {
    core::CollateralRef ref;
    ref.kind = CollateralKindName(key);
    ref.id = key;
    ref.sha256 = HexEncode(crypto::Sha256(item.data));
    if (item.fresh_until != absl::InfiniteFuture()) {
      ref.next_update = rp::FormatRfc3339(item.fresh_until);
    }
    ref.source = item.source.empty() ? source_.Describe() : item.source;
    used_.push_back(std::move(ref));
    if (!item.stale) return;
    std::string when;
    if (item.fresh_until != absl::InfiniteFuture()) {
      when = absl::StrFormat(" (fresh until %s)",
                             rp::FormatRfc3339(item.fresh_until));
    }
    stale_.push_back(absl::StrFormat("%s%s", key, when));
  }

  const std::vector<std::string>& stale() const { return stale_; }
  const std::vector<core::CollateralRef>& used() const { return used_; }
  absl::Duration grace() const { return grace_; }
  std::string Describe() const { return source_.Describe(); }

 private:
  const collateral::CollateralSource& source_;
  const absl::Duration grace_;
  std::vector<std::string> stale_;
  std::vector<core::CollateralRef> used_;

  static std::string CollateralKindName(const std::string& key) {
    if (absl::StrContains(key, "/vcek/")) return "vcek";
    if (absl::StrContains(key, "crl")) return "crl";
    if (absl::StrContains(key, "cert_chain")) return "cert_chain";
    return "other";
  }
};

bool IsStaleBeyondGrace(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition;
}

RuleOutcome StaleBeyondGrace(const std::string& key, absl::Duration grace,
                             const absl::Status& s) {
  return RuleOutcome::Fail(
      kReasonStaleBeyondGrace,
      absl::StrFormat("collateral %s is stale beyond the policy's grace of "
                      "%s and was not used (fail closed): %s",
                      key, absl::FormatDuration(grace),
                      std::string(s.message())));
}

bool SelfIssued(const X509* cert) {
  return X509_NAME_cmp(X509_get_subject_name(cert),
                       X509_get_issuer_name(cert)) == 0;
}

// --- Endorsement key (spec §5 step 4) ----------------------------------------

struct Endorsement {
  OpensslPtr<X509> leaf;
  LeafSource source = LeafSource::kBundleVcek;
  std::optional<KdsExtensions> ext;
  RuleOutcome outcome;
};

// Parses the endorsement certificate into e.leaf; on failure sets a
// CERT_MALFORMED outcome naming where it came from and returns false.
bool ParseLeaf(std::span<const uint8_t> data, const std::string& origin, Endorsement& e) {
  absl::StatusOr<OpensslPtr<X509>> cert = crypto::ParseCertificateAnyEncoding(data);
  if (!cert.ok()) {
    e.outcome = RuleOutcome::Fail(
        reason::kCertMalformed,
        absl::StrFormat("%s: %s", origin, std::string(cert.status().message())));
    return false;
  }
  e.leaf = *std::move(cert);
  return true;
}

absl::StatusOr<Endorsement> ResolveEndorsement(const SevSnpEvidence& ev,
                                               const SnpReport& r,
                                               CollateralReader& source) {
  Endorsement e;
  std::string origin;
  const bool has_vcek = !ev.vcek().empty();
  const bool has_vlek = !ev.vlek().empty();
  if (has_vcek && has_vlek) {
    e.outcome = RuleOutcome::Fail(
        reason::kEndorsementCertAmbiguous,
        "the bundle has both a vcek and a vlek; send only the one "
        "matching the report's SIGNING_KEY");
    return e;
  }
  if (has_vcek || has_vlek) {
    e.source = has_vcek ? LeafSource::kBundleVcek : LeafSource::kBundleVlek;
    origin = has_vcek ? "bundle vcek" : "bundle vlek";
    if (!ParseLeaf(AsBytes(has_vcek ? ev.vcek() : ev.vlek()), origin, e)) return e;
  } else {
    if (r.signing_key() == kSigningKeyVlek) {
      e.outcome = RuleOutcome::Fail(
          reason::kEndorsementCertMissing,
          "VLEK-signed report (SIGNING_KEY=1) without a vlek: VLEKs "
          "cannot be fetched and must come with the evidence");
      return e;
    }
    if (r.ChipIdIsZero()) {
      e.outcome = RuleOutcome::Fail(
          reason::kEndorsementCertMissing,
          "no vcek in the bundle, and CHIP_ID is masked (all zero), so "
          "the VCEK cannot be looked up");
      return e;
    }
    std::vector<Product> candidates;
    if (r.has_cpuid()) {
      candidates.push_back(r.ProductFromReport());
    } else {
      // v2: the product line is unknown until the certificate says; the
      // (hwID, TCB) key matches at most one line in practice.
      candidates = {Product::kMilan, Product::kGenoa, Product::kTurin};
    }
    std::vector<std::string> tried;
    for (Product p : candidates) {
      if (p == Product::kUnknown) continue;
      const std::string key = VcekCollateralKey(p, r);
      tried.push_back(key);
      absl::StatusOr<std::optional<collateral::CollateralItem>> item =
          source.Get(key);
      if (!item.ok() && IsStaleBeyondGrace(item.status())) {
        e.outcome = StaleBeyondGrace(key, source.grace(), item.status());
        return e;
      }
      if (!item.ok()) {
        return Annotate(
            item.status(),
            absl::StrFormat("sev_snp: VCEK from collateral %s", key));
      }
      if (!item->has_value()) continue;
      e.source = LeafSource::kCollateral;
      origin = absl::StrFormat("collateral %s", key);
      if (!ParseLeaf((*item)->data, origin, e)) return e;
      source.Used(key, **item);
      break;
    }
    if (e.leaf == nullptr) {
      e.outcome = RuleOutcome::Fail(
          reason::kEndorsementCertMissing,
          tried.empty()
              ? std::string(
                    "no vcek in the bundle and the product line is unknown")
              : absl::StrFormat(
                    "no vcek in the bundle and none in %s (tried %s)",
                    source.Describe(), absl::StrJoin(tried, ", ")));
      return e;
    }
  }
  absl::StatusOr<KdsExtensions> ext = ParseKdsExtensions(e.leaf.get());
  if (!ext.ok()) {
    e.outcome = RuleOutcome::Fail(
        reason::kCertMalformed,
        absl::StrFormat("%s: %s", origin, std::string(ext.status().message())));
    return e;
  }
  e.ext = *std::move(ext);
  e.outcome = RuleOutcome::Pass(
      absl::StrFormat("\"%s\" issued by \"%s\" from %s",
                      crypto::SubjectCommonName(e.leaf.get()),
                      crypto::IssuerCommonName(e.leaf.get()), origin));
  return e;
}

// --- Certificate chain (spec §5 step 5) --------------------------------------

struct ChainRun {
  RuleOutcome outcome;
  bool ok = false;
  bool simulated = false;
  std::vector<OpensslPtr<X509>> owned;  // parsed from the bundle or collateral
  std::vector<const X509*> intermediates;
  const X509* root = nullptr;          // the trusted root reached (when ok)
  const X509* intermediate = nullptr;  // ASK/ASVK in the verified path
};

ChainRun RunChain(const SnpVerifier::Anchors& a, const SnpReport& r, Product p,
                  const X509* leaf, const SevSnpEvidence& ev,
                  const core::VerifyContext& ctx, CollateralReader& source) {
  ChainRun run;
  std::vector<std::string> notes;
  const bool vlek = r.signing_key() == kSigningKeyVlek;
  std::string from;
  if (!ev.cert_chain().empty()) {
    absl::StatusOr<std::vector<OpensslPtr<X509>>> certs =
        crypto::ParsePemCertificates(ev.cert_chain(), kMaxBundleChainCerts);
    if (!certs.ok()) {
      run.outcome = RuleOutcome::Fail(
          reason::kCertMalformed,
          absl::StrFormat("bundle cert_chain: %s",
                          std::string(certs.status().message())));
      return run;
    }
    run.owned = *std::move(certs);
    from = "the bundle's cert_chain";
  } else {
    const std::string key =
        CertChainCollateralKey(p, vlek);
    absl::StatusOr<std::optional<collateral::CollateralItem>> item =
        source.Get(key);
    // Unlike a CRL, an intermediate certificate carries no freshness: a
    // cached chain that is stale (or unavailable) falls back to the
    // compiled-in ASK/ASVK, which is still verified against the pinned ARK
    // at the verification time, and the detail says so.
    if (!item.ok()) {
      notes.push_back(
          absl::StrFormat("collateral %s failed (%s); using the compiled-in "
                          "intermediate",
                          key, std::string(item.status().message())));
    } else if (item->has_value()) {
      absl::StatusOr<std::vector<OpensslPtr<X509>>> certs =
          crypto::ParsePemCertificates(ToString((*item)->data),
                                       kMaxBundleChainCerts);
      if (certs.ok()) {
        run.owned = *std::move(certs);
        source.Used(key, **item);
        from = absl::StrFormat("collateral %s", key);
      } else {
        notes.push_back(absl::StrFormat(
            "collateral %s is malformed (%s); using the compiled-in "
            "intermediate",
            key, std::string(certs.status().message())));
      }
    }
  }
  for (const OpensslPtr<X509>& c : run.owned) {
    if (!SelfIssued(c.get())) {
      run.intermediates.push_back(c.get());
      continue;
    }
    // A root that arrives with the evidence is never a trust anchor: the
    // pinned one is used, and anything else is dropped (spec §3.6).
    if (a.ark != nullptr && crypto::CertificateDer(c.get()) == a.ark_der) {
      notes.push_back(absl::StrFormat("%s carries the pinned %s (identical)",
                                      from,
                                      crypto::SubjectCommonName(c.get())));
    } else {
      notes.push_back(absl::StrFormat(
          "ignored root \"%s\" (SPKI SHA-256 %s) from %s: not a "
          "pinned ARK, never trusted",
          crypto::SubjectCommonName(c.get()),
          HexEncode(crypto::SpkiSha256(c.get())), from));
    }
  }
  if (run.intermediates.empty()) {
    const X509* fallback = vlek ? a.asvk.get() : a.ask.get();
    if (fallback != nullptr) {
      run.intermediates.push_back(fallback);
      from = "compiled-in";
    }
  }

  std::vector<const X509*> roots;
  if (a.ark != nullptr) roots.push_back(a.ark.get());
  for (const OpensslPtr<X509>& s : a.simulation_roots) roots.push_back(s.get());
  // The simulated ARK-Milan shares the real one's name: hand the chain check
  // only the root that signed the intermediate, so that its memo applies
  // (crypto::AnchorsThatSigned; never a pass the full set would refuse).
  if (roots.size() > 1) roots = crypto::AnchorsThatSigned(run.intermediates, roots);
  std::string suffix;
  if (!from.empty()) suffix = absl::StrFormat("; intermediates from %s", from);
  if (!notes.empty())
    suffix += absl::StrFormat("; %s", absl::StrJoin(notes, "; "));
  if (roots.empty()) {
    run.outcome =
        RuleOutcome::Fail(reason::kChainUntrustedRoot,
                          absl::StrFormat("no trust anchor configured for %s%s",
                                          ProductName(p), suffix));
    return run;
  }

  crypto::ChainOptions options;
  options.at = ctx.at;
  options.expected_length = kChainLength;
  absl::StatusOr<crypto::ChainResult> result =
      crypto::VerifyChain(leaf, run.intermediates, roots, options);
  if (!result.ok()) {
    run.outcome = RuleOutcome::Fail(
        reason::kChainInvalid,
        absl::StrFormat("%s%s", std::string(result.status().message()),
                        suffix));
    return run;
  }
  if (!result->ok()) {
    RuleOutcome o = ChainOutcome(*result);
    o.detail = absl::StrFormat("at %s: %s%s", rp::FormatRfc3339(ctx.at),
                               o.detail, suffix);
    run.outcome = std::move(o);
    return run;
  }
  const std::vector<const X509*>& path = result->path;
  run.root = path.back();
  run.intermediate = path.size() > 1 ? path[1] : nullptr;
  // Identify the anchor by content: OpenSSL may have matched an equal copy.
  run.simulated =
      a.ark == nullptr || crypto::CertificateDer(run.root) != a.ark_der;
  std::vector<std::string> names;
  for (const X509* c : path)
    names.push_back(absl::StrFormat("\"%s\"", crypto::SubjectCommonName(c)));
  const std::string chain_text = absl::StrJoin(names, " -> ");
  if (!run.simulated) {
    std::string not_pss = NonPssSignatureInPath(path);
    if (!not_pss.empty()) {
      // Listed as a shape error in docs/reasons.md: AMD's chain profile is
      // RSASSA-PSS at every level.
      run.outcome = RuleOutcome::Fail(
          reason::kChainShapeInvalid,
          absl::StrFormat("%s verifies but %s (AMD signs with "
                          "RSASSA-PSS)%s",
                          chain_text, not_pss, suffix));
      return run;
    }
  }
  run.ok = true;
  run.outcome = RuleOutcome::Pass(absl::StrFormat(
      "%s at %s, root %s%s", chain_text, rp::FormatRfc3339(ctx.at),
      run.simulated ? "is a SIMULATION root (not AMD)"
                    : "is the pinned AMD ARK",
      suffix));
  return run;
}

// --- Revocation (spec §5 step 6)
// ----------------------------------------------

RuleOutcome RunRevocation(const SnpReport& r, Product p, const ChainRun& chain,
                          const core::VerifyContext& ctx,
                          CollateralReader& source) {
  // The CRL speaks only about certificates issued by the root it comes
  // from; without a verified path there is no such intermediate to look up.
  if (!chain.ok || chain.root == nullptr || chain.intermediate == nullptr) {
    return Skipped("the certificate chain did not verify");
  }
  const X509* issuer = chain.root;
  const X509* subject = chain.intermediate;
  const bool vlek = r.signing_key() == kSigningKeyVlek;
  const std::string key = CrlCollateralKey(p, vlek);
  absl::StatusOr<std::optional<collateral::CollateralItem>> item =
      source.Get(key);
  if (!item.ok() && IsStaleBeyondGrace(item.status())) {
    return StaleBeyondGrace(key, source.grace(), item.status());
  }
  if (!item.ok()) {
    return RuleOutcome::NotChecked(
        reason::kCrlUnavailable,
        absl::StrFormat("collateral %s: %s", key,
                        std::string(item.status().message())));
  }
  if (!item->has_value()) {
    return RuleOutcome::NotChecked(
        reason::kCrlUnavailable,
        absl::StrFormat("no CRL %s in %s", key, source.Describe()));
  }
  absl::StatusOr<OpensslPtr<X509_CRL>> crl = crypto::ParseCrl((*item)->data);
  if (!crl.ok()) {
    return RuleOutcome::Fail(
        reason::kCrlMalformed,
        absl::StrFormat("collateral %s: %s", key,
                        std::string(crl.status().message())));
  }
  // The CRL's own nextUpdate decides its freshness wherever it came from
  // (an offline directory has no cache to judge it): past nextUpdate it is
  // used only within the policy's grace (reported as stale collateral),
  // beyond the grace the check fails closed.
  collateral::CollateralItem used = **item;
  absl::Time judge_at = ctx.at;
  const crypto::CrlCheck window = crypto::CheckCrl(crl->get(), issuer, subject, ctx.at);
  if (window.outcome == crypto::CrlOutcome::kExpired &&
      window.next_update > window.this_update && ctx.at >= window.next_update) {
    if (ctx.at - window.next_update > ctx.collateral_grace) {
      return RuleOutcome::Fail(
          kReasonStaleBeyondGrace,
          absl::StrFormat("collateral %s: CRL nextUpdate %s is %s before the verification time "
                          "%s, beyond the policy's grace of %s (fail closed)",
                          key, rp::FormatRfc3339(window.next_update),
                          absl::FormatDuration(ctx.at - window.next_update),
                          rp::FormatRfc3339(ctx.at),
                          absl::FormatDuration(ctx.collateral_grace)));
    }
    // Within the grace: judge the entries as of the CRL's last valid moment.
    judge_at = window.next_update - absl::Seconds(1);
    used.stale = true;
    used.fresh_until = window.next_update;
  }
  source.Used(key, used);
  RuleOutcome o = CheckRevocation(crl->get(), issuer, subject, judge_at);
  if (judge_at != ctx.at && o.passed()) {
    o.detail = absl::StrFormat("%s; STALE: judged as of %s, within the policy's grace", o.detail,
                               rp::FormatRfc3339(judge_at));
  }
  if (chain.simulated && o.reason == reason::kCrlSignatureInvalid) {
    // The collateral CRL belongs to AMD's ARK, not to the simulation root.
    return RuleOutcome::NotChecked(
        reason::kCrlUnavailable,
        absl::StrFormat("CRL %s is not issued by the simulation root", key));
  }
  o.detail = absl::StrFormat("%s (%s)", o.detail, key);
  return o;
}

absl::StatusOr<std::vector<OpensslPtr<X509>>> ParseAnchor(
    std::string_view pem, size_t max, std::string_view what) {
  absl::StatusOr<std::vector<OpensslPtr<X509>>> certs =
      crypto::ParsePemCertificates(pem, max);
  if (!certs.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("sev_snp: trust config: %s: %s", what,
                        std::string(certs.status().message())));
  }
  return certs;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SnpVerifier>> SnpVerifier::Create(
    TrustConfig config) {
  std::map<Product, Anchors> anchors;
  for (const auto& [product, pa] : config.amd) {
    if (product == Product::kUnknown) {
      return absl::InvalidArgumentError(
          "sev_snp: trust config: anchors for an unknown product");
    }
    const std::string name(ProductName(product));
    Anchors& a = anchors[product];
    ASSIGN_OR_RETURN(
        std::vector<OpensslPtr<X509>> ark,
        ParseAnchor(pa.ark_pem, 1, absl::StrFormat("%s ARK", name)));
    a.ark = std::move(ark.front());
    if (!config.allow_unpinned_arks_for_test) {
      const Bytes spki = crypto::SpkiSha256(a.ark.get());
      const std::array<uint8_t, 32> pin = AmdArkSpkiSha256(product);
      if (!std::equal(spki.begin(), spki.end(), pin.begin(), pin.end())) {
        return absl::InvalidArgumentError(
            absl::StrFormat("sev_snp: trust config: %s ARK SPKI SHA-256 %s "
                            "does not match the compiled AMD pin "
                            "%s",
                            name, HexEncode(spki), HexEncode(pin)));
      }
    }
    a.ark_der = crypto::CertificateDer(a.ark.get());
    if (!pa.ask_pem.empty()) {
      ASSIGN_OR_RETURN(
          std::vector<OpensslPtr<X509>> ask,
          ParseAnchor(pa.ask_pem, 1, absl::StrFormat("%s ASK", name)));
      a.ask = std::move(ask.front());
    }
    if (!pa.asvk_pem.empty()) {
      ASSIGN_OR_RETURN(
          std::vector<OpensslPtr<X509>> asvk,
          ParseAnchor(pa.asvk_pem, 1, absl::StrFormat("%s ASVK", name)));
      a.asvk = std::move(asvk.front());
    }
  }
  for (const auto& [product, pems] : config.simulation_roots_pem) {
    if (product == Product::kUnknown) {
      return absl::InvalidArgumentError(
          "sev_snp: trust config: simulation roots for an unknown product");
    }
    Anchors& a = anchors[product];
    for (const std::string& pem : pems) {
      ASSIGN_OR_RETURN(std::vector<OpensslPtr<X509>> roots,
                       ParseAnchor(pem, kMaxSimulationRootsPerEntry,
                                   absl::StrFormat("%s simulation root",
                                                   ProductName(product))));
      for (OpensslPtr<X509>& root : roots)
        a.simulation_roots.push_back(std::move(root));
    }
  }
  return std::unique_ptr<SnpVerifier>(new SnpVerifier(std::move(anchors)));
}

absl::StatusOr<std::vector<core::DeviceResult>> SnpVerifier::Verify(
    const attestation::v1::EvidenceBundle& bundle,
    const core::VerifyContext& ctx) const {
  std::vector<core::DeviceResult> out;
  if (!bundle.has_sev_snp()) return out;
  ASSIGN_OR_RETURN(core::DeviceResult d, VerifyEvidence(bundle.sev_snp(), ctx));
  out.push_back(std::move(d));
  return out;
}

absl::StatusOr<core::DeviceResult> SnpVerifier::VerifyEvidence(
    const SevSnpEvidence& ev, const core::VerifyContext& ctx) const {
  ASSIGN_OR_RETURN(core::DeviceResult d, VerifyEvidenceOnce(ev, ctx));
  if (d.evidence_authentic || ev.vcek().empty() || !ev.vlek().empty()) return d;
  // The bundle's VCEK did not get the report verified. The server's own
  // VCEK for this chip and TCB (offline directory, cache, AMD KDS) wins
  // over the attester's hint: try it before judging.
  SevSnpEvidence without = ev;
  without.clear_vcek();
  absl::StatusOr<core::DeviceResult> server = VerifyEvidenceOnce(without, ctx);
  if (!server.ok() || !server->evidence_authentic) return d;
  for (core::Check& c : server->checks) {
    if (c.name == kCheckEndorsementKey) {
      c.detail = absl::StrFormat(
          "%s (the bundle's VCEK did not verify the report and was ignored)", c.detail);
    }
  }
  return server;
}

absl::StatusOr<core::DeviceResult> SnpVerifier::VerifyEvidenceOnce(
    const SevSnpEvidence& ev, const core::VerifyContext& ctx) const {
  if (ctx.collateral == nullptr) {
    return absl::InvalidArgumentError(
        "sev_snp: VerifyContext has no collateral source");
  }
  core::DeviceResult d;
  d.tee = "sev-snp";
  const std::span<const uint8_t> bytes = AsBytes(ev.report());

  // Steps 1-2: frame and structure. Nothing else can be judged without it.
  absl::StatusOr<SnpReport> parsed = ParseReportUnverified(bytes);
  if (!parsed.ok()) {
    d.Fail(kCheckReportFormat, Component::kHardware,
           std::string(ReportErrorReason(ReportErrorOf(parsed.status()))),
           std::string(parsed.status().message()));
    return d;
  }
  const SnpReport& report = *parsed;
  d.Pass(kCheckReportFormat, Component::kHardware,
         absl::StrFormat("report version %d, %d bytes, SIGNING_KEY=%d",
                         report.version, bytes.size(), report.signing_key()));

  // Step 4 before 3: a v2 report learns its product line from the leaf.
  CollateralReader source(ctx);
  ASSIGN_OR_RETURN(Endorsement e, ResolveEndorsement(ev, report, source));
  const KdsExtensions* ext = e.ext ? &*e.ext : nullptr;
  Product product = Product::kUnknown;
  Record(d, kCheckProduct, Component::kHardware,
         DetermineProduct(report, ext, &product));
  Record(d, kCheckEndorsementKey, Component::kHardware, e.outcome);
  const X509* leaf = e.leaf.get();

  std::optional<LeafFacts> facts;
  if (leaf != nullptr) facts = DescribeLeaf(leaf, e.source);
  Record(d, kCheckSigningKeyType, Component::kHardware,
         facts ? CheckSigningKeyType(report, product, *facts)
               : Skipped("no endorsement certificate"));

  // Steps 5-6: chain to the pinned root, then revocation of the ASK/ASVK.
  auto it = anchors_.find(product);
  ChainRun chain;
  if (leaf == nullptr) {
    chain.outcome = Skipped("no endorsement certificate");
  } else if (product == Product::kUnknown) {
    chain.outcome = Skipped("product line unknown: no pinned ARK to chain to");
  } else if (it == anchors_.end()) {
    chain.outcome =
        RuleOutcome::Fail(reason::kChainUntrustedRoot,
                          absl::StrFormat("no trust anchor configured for %s",
                                          ProductName(product)));
  } else {
    chain = RunChain(it->second, report, product, leaf, ev, ctx, source);
  }
  Record(d, kCheckCertChain, Component::kHardware, chain.outcome);
  RuleOutcome revocation =
      (leaf == nullptr || product == Product::kUnknown || it == anchors_.end())
          ? Skipped("no chain to check revocation for")
          : RunRevocation(report, product, chain, ctx, source);
  // A revoked (or unverifiable-CRL) ASK/ASVK vouches for nothing: the
  // report data and claims are then not authentic.
  const bool revocation_failed = revocation.status == core::CheckStatus::kFail;
  Record(d, kCheckRevocation, Component::kHardware, std::move(revocation));

  // Step 7: the leaf's extensions against the report.
  const bool can_compare = ext != nullptr && product != Product::kUnknown;
  const std::string_view no_compare =
      ext == nullptr ? "no endorsement certificate extensions"
                     : "product line unknown";
  Record(
      d, kCheckTcbMatch, Component::kHardware,
      can_compare ? CheckTcbMatch(report, product, *ext) : Skipped(no_compare));
  Record(
      d, kCheckChipId, Component::kInstanceIdentity,
      can_compare ? CheckChipId(report, product, *ext) : Skipped(no_compare));
  Record(d, kCheckCertProduct, Component::kHardware,
         can_compare ? CheckCertProduct(product, *ext) : Skipped(no_compare));

  // Step 8: the report signature with the leaf key.
  RuleOutcome sig;
  if (leaf == nullptr) {
    sig = Skipped("no endorsement certificate");
  } else if (facts->curve != "P-384") {
    sig = Skipped("the endorsement key is not EC P-384");
  } else {
    sig = CheckReportSignature(bytes, crypto::PublicKey(leaf));
  }
  const bool signature_ok = sig.passed();
  Record(d, kCheckReportSignature, Component::kHardware, std::move(sig));

  if (signature_ok && chain.ok && !revocation_failed) {
    d.report_data = Bytes(report.report_data.begin(), report.report_data.end());
    d.evidence_authentic = true;
  }
  d.simulated = chain.ok && chain.simulated;

  // Collateral served past its freshness within the policy's grace: the
  // checks above ran on it, and the device is at best a warning.
  if (!source.stale().empty()) {
    d.NotChecked(kCheckCollateralFreshness, Component::kHardware,
                 kReasonStaleCollateral,
                 absl::StrFormat("stale collateral used within the policy's "
                                 "grace of %s: %s",
                                 absl::FormatDuration(source.grace()),
                                 absl::StrJoin(source.stale(), ", ")));
  }

  // Step 10: claims (the checks above say how far they can be trusted).
  std::optional<CertClaims> cert;
  if (leaf != nullptr) cert = DescribeCertificate(leaf, ext);
  d.claims = BuildClaims(report, product, cert ? &*cert : nullptr);
  d.collateral = source.used();
  return d;
}

std::string VcekCollateralKey(Product product, const SnpReport& report) {
  const size_t n = product == Product::kTurin ? kTurinChipIdSize : kChipIdSize;
  return absl::StrFormat("amd/vcek/%s/%s-%s.der", ProductName(product),
                         HexEncode(std::span<const uint8_t>(report.chip_id).first(n)),
                         report.reported_tcb.Hex());
}

std::string CertChainCollateralKey(Product product, bool vlek) {
  return absl::StrFormat("amd/%s/%s", ProductName(product),
                         vlek ? "vlek_cert_chain.pem" : "cert_chain.pem");
}

std::string CrlCollateralKey(Product product, bool vlek) {
  return absl::StrFormat("amd/%s/%s", ProductName(product), vlek ? "vlek_crl.der" : "crl.der");
}

}  // namespace rp::sev_snp
