#include "verifier/tdx/verifier.h"

#include <openssl/err.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "verifier/collateral/freshness.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/crl.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/crypto/x509.h"
#include "verifier/tdx/checks.h"
#include "verifier/tdx/claims.h"
#include "verifier/tdx/collateral.h"
#include "verifier/tdx/collateral_choice.h"
#include "verifier/tdx/layout.h"
#include "verifier/tdx/pck_extensions.h"
#include "verifier/tdx/quote.h"
#include "verifier/tdx/tcb.h"

namespace rp::tdx {
namespace {

using attestation::v1::TdxEvidence;
using core::Component;
using crypto::OpensslPtr;

constexpr size_t kPckChainLength = 3;      // PCK leaf, Platform/Processor CA, root
constexpr size_t kSigningChainLength = 2;  // TCB signing cert, root
constexpr size_t kMaxChainCerts = 4;
constexpr int kTcbInfoVersion = 3;
constexpr int kQeIdentityVersion = 2;
constexpr int kTcbType = 0;  // the only TCB type Intel defines for TDX
constexpr char kPckLeafCn[] = "Intel SGX PCK Certificate";
constexpr char kTcbSigningCn[] = "Intel SGX TCB Signing";

void Record(core::DeviceResult& d, const char* name, Component c, Outcome o) {
  d.Add(name, o.status, std::move(o.reason), std::move(o.detail), c);
}

Outcome Skipped(std::string_view why) {
  return Outcome::NotChecked(reason::kPrerequisiteFailed, std::string(why));
}

bool SelfIssued(const X509* cert) {
  return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0;
}

// --- Collateral --------------------------------------------------------------

// One collateral text and where it came from.
struct Piece {
  std::string data;
  std::string origin;  // for details: "bundle tcb_info", "collateral <key> (tcb_info)"
  std::string id;      // for the token's collateral list: "bundle" or the collateral key
  std::string stale;   // non-empty: served stale within the grace ("<key> (fresh until ..)")
};

// Looks collateral up on the server side (the QVL collateral JSON
// intel/collateral/<fmspc>.json from ctx.collateral, then the individual
// offline items) and wraps the bundle's items. Which copy is used is
// decided by ChooseCollateral (collateral_choice.h), never here. Remembers
// the items used and the stale ones among them.
class Collateral {
 public:
  explicit Collateral(const core::VerifyContext& ctx)
      : source_(*ctx.collateral), grace_(ctx.collateral_grace) {}

  // Loads the QVL JSON for `fmspc` if the source has it. Errors: the
  // source failed (returned to the caller) or the JSON is malformed.
  absl::Status LoadQvl(const std::string& fmspc) {
    if (fmspc.empty()) return absl::OkStatus();
    const std::string key = QvlCollateralKey(fmspc);
    absl::StatusOr<std::optional<Fetched>> fetched = Fetch(key);
    if (!fetched.ok() && fetched.status().code() == absl::StatusCode::kFailedPrecondition) {
      // Stale beyond the grace: every item it would have supplied fails
      // closed (see Server).
      qvl_refused_ = Annotate(fetched.status(), key);
      return absl::OkStatus();
    }
    if (!fetched.ok()) return fetched.status();
    if (!fetched->has_value()) return absl::OkStatus();
    // Parsed once per distinct document (verified_memo.h: a pure parse).
    absl::StatusOr<QvlCollateral> qvl = crypto::MemoizedParse<QvlCollateral>(
        "tdx-qvl-collateral-v1", (*fetched)->data, ParseQvlCollateral);
    if (!qvl.ok()) {
      qvl_error_ = absl::StrFormat("collateral %s: %s", key, qvl.status().message());
      return absl::OkStatus();
    }
    qvl_ = *std::move(qvl);
    qvl_key_ = key;
    qvl_stale_ = (*fetched)->stale;
    return absl::OkStatus();
  }

  // The server's copy of one item: the QVL JSON's field, else `offline_key`
  // (none when empty). nullopt: the server has none. Error status: source
  // failure (FAILED_PRECONDITION = stale beyond grace).
  absl::StatusOr<std::optional<Piece>> Server(std::string QvlCollateral::*field,
                                              const std::string& name,
                                              const std::string& offline_key) {
    if (qvl_ && !((*qvl_).*field).empty()) {
      return Piece{(*qvl_).*field, absl::StrFormat("collateral %s (%s)", qvl_key_, name), qvl_key_,
                   qvl_stale_};
    }
    if (!qvl_refused_.ok()) return qvl_refused_;
    if (offline_key.empty()) return std::optional<Piece>();
    ASSIGN_OR_RETURN(std::optional<Fetched> fetched, Fetch(offline_key));
    if (!fetched) return std::optional<Piece>();
    return Piece{std::move(fetched->data), absl::StrFormat("collateral %s", offline_key),
                 offline_key, std::move(fetched->stale)};
  }

  static std::optional<Piece> Bundle(const std::string& value, const std::string& name) {
    if (value.empty()) return std::nullopt;
    return Piece{value, "bundle " + name, "bundle", ""};
  }

  // Records `piece` as used for the token's collateral list; `why` (the
  // choice between a bundle and a server copy) goes into its source.
  void Use(const std::string& kind, const Piece& piece, const std::string& why) {
    core::CollateralRef ref;
    ref.kind = kind;
    ref.id = piece.id;
    ref.sha256 = HexEncode(crypto::Sha256(AsBytes(piece.data)));
    // CRLs (hex DER in QVL JSON, DER offline) and signed JSON name their
    // own next update.
    Bytes bytes(piece.data.begin(), piece.data.end());
    std::string key = piece.id;
    if (absl::StrContains(kind, "crl") && !absl::StrContains(kind, "issuer_chain")) {
      absl::StatusOr<Bytes> der = HexDecode(piece.data);
      if (der.ok()) bytes = *std::move(der);
      key = "intel/" + kind + ".der";
    } else if (kind == "tcb_info" || kind == "qe_identity") {
      key = "intel/" + kind + ".json";
    }
    absl::StatusOr<std::optional<absl::Time>> next = collateral::ContentExpiry(key, bytes);
    if (next.ok() && next->has_value()) ref.next_update = FormatRfc3339(**next);
    ref.source = why.empty() ? piece.origin : absl::StrFormat("%s (%s)", piece.origin, why);
    used_.push_back(std::move(ref));
    if (!piece.stale.empty() &&
        std::find(stale_.begin(), stale_.end(), piece.stale) == stale_.end()) {
      stale_.push_back(piece.stale);
    }
  }

  // Every item used, for the token's collateral list.
  const std::vector<core::CollateralRef>& used() const { return used_; }

  // Stale items (within the grace) among those used.
  const std::vector<std::string>& stale() const { return stale_; }
  absl::Duration grace() const { return grace_; }
  std::string Describe() const {
    std::string s = source_.Describe();
    if (!qvl_error_.empty()) s += absl::StrFormat(" (ignored %s)", qvl_error_);
    return s;
  }

 private:
  struct Fetched {
    std::string data;
    std::string stale;
  };

  absl::StatusOr<std::optional<Fetched>> Fetch(const std::string& key) const {
    collateral::GetOptions options;
    options.stale_grace = grace_;
    absl::StatusOr<std::optional<collateral::CollateralItem>> item = source_.GetItem(key, options);
    if (!item.ok()) return item.status();
    if (!item->has_value()) return std::optional<Fetched>();
    Fetched f{ToString((*item)->data), ""};
    if ((*item)->stale) {
      f.stale = key;
      if ((*item)->fresh_until != absl::InfiniteFuture()) {
        f.stale += absl::StrFormat(" (fresh until %s)", FormatRfc3339((*item)->fresh_until));
      }
    }
    return std::optional<Fetched>(std::move(f));
  }

  const collateral::CollateralSource& source_;
  const absl::Duration grace_;
  std::optional<QvlCollateral> qvl_;
  std::string qvl_key_;
  std::string qvl_stale_;
  std::string qvl_error_;
  absl::Status qvl_refused_;
  std::vector<std::string> stale_;
  std::vector<core::CollateralRef> used_;
};

// A server lookup that failed: stale beyond the grace is a FAIL outcome
// (fail closed: the server cannot vouch for what is current, so no bundle
// copy is used either); any other source failure is returned as an error
// (retryable: the evidence was not judged). nullopt: the lookup worked.
absl::StatusOr<std::optional<Outcome>> Refusal(const absl::StatusOr<std::optional<Piece>>& server,
                                               const std::string& what, const Collateral& c) {
  if (server.ok()) return std::optional<Outcome>();
  if (server.status().code() == absl::StatusCode::kFailedPrecondition) {
    return Outcome::Fail(reason::kCollateralStaleBeyondGrace,
                         absl::StrFormat("%s is stale beyond the policy's grace of %s and was "
                                         "not used (fail closed): %s",
                                         what, absl::FormatDuration(c.grace()),
                                         server.status().message()));
  }
  return Annotate(server.status(), absl::StrCat("tdx: collateral ", what));
}

std::string NotFound(const std::string& what, const Collateral& c) {
  return absl::StrFormat("no %s in the bundle or in %s", what, c.Describe());
}

// --- Chains and CRLs ---------------------------------------------------------

struct Anchors {
  std::vector<const X509*> all;  // Intel (or ForTest) roots, then simulation roots
  size_t real_count = 0;
};

struct ChainRun {
  Outcome outcome;
  bool ok = false;
  bool simulated = false;
  std::vector<OpensslPtr<X509>> owned;
  const X509* leaf = nullptr;
  const X509* intermediate = nullptr;  // in the verified path (PCK CA)
  const X509* root = nullptr;
};

bool IsRealRoot(const Anchors& a, const X509* root) {
  for (size_t i = 0; i < a.real_count; ++i) {
    if (X509_cmp(a.all[i], root) == 0) return true;
  }
  return false;
}

// Verifies the certificates of `pem` (leaf first) to one of the anchors at
// `at`, with exactly `length` certificates in the path.
ChainRun RunChain(const std::string& pem, const Anchors& anchors, absl::Time at, size_t length,
                  const std::string& what, const char* malformed, const char* invalid,
                  const char* untrusted, const char* expired, const char* not_yet_valid,
                  std::string_view expected_leaf_cn) {
  ChainRun run;
  absl::StatusOr<std::vector<OpensslPtr<X509>>> certs =
      crypto::ParsePemCertificates(pem, kMaxChainCerts);
  if (!certs.ok()) {
    run.outcome = Outcome::Fail(malformed, absl::StrFormat("%s: %s", what, certs.status().message()));
    return run;
  }
  run.owned = *std::move(certs);
  if (run.owned.size() != length) {
    run.outcome = Outcome::Fail(
        malformed, absl::StrFormat("%s has %d certificates (expected %d)", what, run.owned.size(), length));
    return run;
  }
  run.leaf = run.owned.front().get();
  std::vector<const X509*> intermediates;
  for (size_t i = 1; i < run.owned.size(); ++i) {
    // A root that arrives with the evidence is never an anchor.
    if (!SelfIssued(run.owned[i].get())) intermediates.push_back(run.owned[i].get());
  }
  crypto::ChainOptions options;
  options.at = at;
  options.expected_length = length;
  absl::StatusOr<crypto::ChainResult> r =
      crypto::VerifyChain(run.leaf, intermediates, anchors.all, options);
  if (!r.ok()) {
    run.outcome = Outcome::Fail(invalid, absl::StrFormat("%s: %s", what, r.status().message()));
    return run;
  }
  if (!r->ok()) {
    const char* code = invalid;
    switch (r->error) {
      case crypto::ChainError::kUntrustedRoot: code = untrusted; break;
      case crypto::ChainError::kExpired: code = expired; break;
      case crypto::ChainError::kNotYetValid: code = not_yet_valid; break;
      default: break;
    }
    run.outcome = Outcome::Fail(code, absl::StrFormat("%s at %s: %s", what, FormatRfc3339(at), r->detail));
    return run;
  }
  run.root = r->path.back();
  run.intermediate = r->path.size() > 2 ? r->path[1] : nullptr;
  run.simulated = !IsRealRoot(anchors, run.root);
  std::vector<std::string> names;
  for (const X509* c : r->path) names.push_back(absl::StrFormat("\"%s\"", crypto::SubjectCommonName(c)));
  // Intel's profile names each role; a certificate Intel issued for another
  // role (e.g. a CA presented as the TCB signer) is refused.
  if (!run.simulated && crypto::SubjectCommonName(run.leaf) != expected_leaf_cn) {
    run.outcome = Outcome::Fail(
        invalid, absl::StrFormat("%s: leaf is \"%s\", expected \"%s\"", what,
                                 crypto::SubjectCommonName(run.leaf), expected_leaf_cn));
    return run;
  }
  run.ok = true;
  run.outcome = Outcome::Pass(absl::StrFormat(
      "%s: %s at %s%s", what, absl::StrJoin(names, " -> "), FormatRfc3339(at),
      run.simulated ? " (SIMULATION root, not Intel)" : ""));
  return run;
}

// A CRL copy, parsed once. Remembers the issuer whose signature, name and
// validity-window check it passed, so later lookups against the same
// issuer only look the serial up (the root CA CRL serves the PCK CA and
// the TCB signing certificate).
struct CrlCopy {
  Piece piece;
  Bytes der;
  OpensslPtr<X509_CRL> crl;  // null: malformed
  std::string parse_error;
  const X509* verified_issuer = nullptr;  // owned by the anchors / the PCK chain
  crypto::CrlCheck verified;              // dates of that check
};

CrlCopy ParseCrlCopy(Piece piece) {
  CrlCopy c;
  absl::StatusOr<Bytes> der = DecodeCrlField(piece.data);
  absl::StatusOr<OpensslPtr<X509_CRL>> crl =
      der.ok() ? crypto::ParseCrl(*der) : absl::StatusOr<OpensslPtr<X509_CRL>>(der.status());
  if (crl.ok()) {
    c.crl = *std::move(crl);
    c.der = *std::move(der);
  } else {
    c.parse_error = std::string(crl.status().message());
  }
  c.piece = std::move(piece);
  return c;
}

// Checks `subject` against `c` (issued by `issuer`) at `at`.
Outcome RunCrl(CrlCopy& c, const X509* issuer, const X509* subject, absl::Time at,
               const char* revoked_reason, const std::string& what) {
  const std::string where = absl::StrFormat("%s (%s)", what, c.piece.origin);
  if (c.crl == nullptr) {
    return Outcome::Fail(reason::kCrlMalformed, absl::StrFormat("%s: %s", where, c.parse_error));
  }
  crypto::CrlCheck check;
  if (c.verified_issuer != nullptr && X509_cmp(c.verified_issuer, issuer) == 0) {
    // Signature, issuer name and window already checked at `at`: look the
    // serial up only.
    check = c.verified;
    X509_REVOKED* revoked = nullptr;  // owned by c.crl
    ERR_clear_error();
    const int found = X509_CRL_get0_by_serial(c.crl.get(), &revoked, X509_get0_serialNumber(subject));
    ERR_clear_error();
    check.outcome = found == 0 || revoked == nullptr ? crypto::CrlOutcome::kNotRevoked
                                                     : crypto::CrlOutcome::kRevoked;
    if (revoked != nullptr) {
      absl::StatusOr<absl::Time> when =
          crypto::Asn1TimeToTime(X509_REVOKED_get0_revocationDate(revoked));
      if (when.ok()) check.revocation_time = *when;
    }
  } else {
    check = crypto::CheckCrl(c.crl.get(), issuer, subject, at);
    if (check.outcome == crypto::CrlOutcome::kNotRevoked ||
        check.outcome == crypto::CrlOutcome::kRevoked) {
      c.verified_issuer = issuer;
      c.verified = check;
    }
  }
  switch (check.outcome) {
    case crypto::CrlOutcome::kNotRevoked:
      return Outcome::Pass(absl::StrFormat("%s: \"%s\" serial %s not revoked (CRL %s -> %s)", where,
                                           crypto::SubjectCommonName(subject),
                                           crypto::SerialHex(subject),
                                           FormatRfc3339(check.this_update),
                                           FormatRfc3339(check.next_update)));
    case crypto::CrlOutcome::kRevoked:
      return Outcome::Fail(revoked_reason,
                           absl::StrFormat("%s: \"%s\" serial %s revoked at %s", where,
                                           crypto::SubjectCommonName(subject),
                                           crypto::SerialHex(subject),
                                           FormatRfc3339(check.revocation_time)));
    case crypto::CrlOutcome::kBadSignature:
      return Outcome::Fail(reason::kCrlSignatureInvalid,
                           absl::StrFormat("%s: %s", where, check.detail));
    case crypto::CrlOutcome::kWrongIssuer:
      return Outcome::Fail(reason::kCrlIssuerMismatch, absl::StrFormat("%s: %s", where, check.detail));
    case crypto::CrlOutcome::kNotYetValid:
    case crypto::CrlOutcome::kExpired:
      return Outcome::Fail(reason::kCrlNotCurrent,
                           absl::StrFormat("%s at %s: %s", where, FormatRfc3339(at), check.detail));
  }
  return Outcome::Fail(reason::kCrlMalformed, where);
}

// Whether `c` is usable as a choice between copies: signed by one of
// `issuers` (matched by name), issuer name right, current at `at`.
CopyStatus InspectCrl(CrlCopy& c, const std::vector<const X509*>& issuers, absl::Time at) {
  if (c.crl == nullptr) return CopyStatus::Unusable(absl::StrCat("malformed: ", c.parse_error));
  std::string problem = "no trusted issuer has its issuer name";
  for (const X509* issuer : issuers) {
    if (issuer == nullptr ||
        X509_NAME_cmp(X509_CRL_get_issuer(c.crl.get()), X509_get_subject_name(issuer)) != 0) {
      continue;
    }
    // The issuer stands in as the subject: only signature, name and
    // window matter here (kNotRevoked / kRevoked both mean they passed).
    const crypto::CrlCheck check = crypto::CheckCrl(c.crl.get(), issuer, issuer, at);
    if (check.outcome == crypto::CrlOutcome::kNotRevoked ||
        check.outcome == crypto::CrlOutcome::kRevoked) {
      c.verified_issuer = issuer;
      c.verified = check;
      return CopyStatus::Verified(Freshness{std::nullopt, CrlNumber(c.crl.get()), check.this_update});
    }
    problem = check.detail;
  }
  return CopyStatus::Unusable(problem);
}

// The CRL to use for one item, chosen between the bundle's and the
// server's copies.
struct CrlChoice {
  std::optional<CrlCopy> copy;
  // When no copy: missing (NOT_CHECKED) or refused (stale beyond grace, FAIL).
  std::optional<Outcome> unavailable;
  std::string why;  // the choice, for details ("" when there was none)
};

absl::StatusOr<CrlChoice> ChooseCrl(Collateral& col, std::string QvlCollateral::*field,
                                    const std::string& bundle_value, const std::string& name,
                                    const std::string& offline_key, const std::string& what,
                                    const std::vector<const X509*>& issuers, absl::Time at) {
  CrlChoice out;
  absl::StatusOr<std::optional<Piece>> server_piece = col.Server(field, name, offline_key);
  ASSIGN_OR_RETURN(std::optional<Outcome> refused, Refusal(server_piece, what, col));
  if (refused) {
    out.unavailable = *std::move(refused);
    return out;
  }
  std::optional<CrlCopy> server;
  std::optional<CrlCopy> bundle;
  if (server_piece->has_value()) server = ParseCrlCopy(**std::move(server_piece));
  if (std::optional<Piece> b = Collateral::Bundle(bundle_value, name)) bundle = ParseCrlCopy(*b);
  std::string why;
  if (server && bundle && server->crl != nullptr && server->der == bundle->der) {
    bundle.reset();
    why = "the bundle's copy is identical";
  }
  CopyStatus b_status = CopyStatus::Absent();
  CopyStatus s_status = CopyStatus::Absent();
  if (server && bundle) {
    // Two different copies: verify both to choose.
    b_status = InspectCrl(*bundle, issuers, at);
    s_status = InspectCrl(*server, issuers, at);
  } else {
    if (bundle) b_status = CopyStatus::Unusable("not inspected");
    if (server) s_status = CopyStatus::Unusable("not inspected");
  }
  const Choice choice = ChooseCollateral(b_status, s_status);
  if (!choice.why.empty()) why = choice.why;
  switch (choice.chosen) {
    case Chosen::kNone:
      out.unavailable = Outcome::NotChecked(reason::kCollateralMissing, NotFound(what, col));
      return out;
    case Chosen::kBundle:
      out.copy = *std::move(bundle);
      break;
    case Chosen::kServer:
      out.copy = *std::move(server);
      break;
  }
  col.Use(name, out.copy->piece, why);
  out.why = std::move(why);
  return out;
}

// --- Signed collateral (TCB info, QE identity) -------------------------------

struct SignedCodes {
  const char* what;
  const char* missing;
  const char* malformed;
  const char* signature_invalid;
  const char* expired;
  const char* not_yet_valid;
  const char* unsupported;
};

// Where one signed item lives.
struct SignedSpec {
  std::string QvlCollateral::*text_field;
  std::string QvlCollateral::*sig_field;
  std::string QvlCollateral::*chain_field;
  std::string name;      // "tcb_info" / "qe_identity"
  std::string body_key;  // "tcbInfo" / "enclaveIdentity" in a PCS body
  std::string offline_key;
  std::string offline_chain_key;
  const SignedCodes* codes;
};

// One copy of a signed item: text + signature + issuer chain.
struct SignedCopy {
  std::string text;  // the exact bytes Intel signed
  Bytes signature;
  std::optional<Piece> chain;
  std::string origin;  // of the text
  std::vector<std::pair<std::string, Piece>> pieces;  // kind -> piece, for Collateral::Use
  std::optional<Outcome> problem;  // could not be assembled (FAIL)
};

struct SignedLookup {
  std::optional<SignedCopy> copy;
  std::optional<Outcome> refused;  // stale beyond grace (FAIL)
};

// The server's issuer chain for one signed item.
struct ChainLookup {
  std::optional<Piece> chain;
  std::optional<Outcome> refused;  // stale beyond grace (FAIL)
};
absl::StatusOr<ChainLookup> ServerChain(Collateral& col, const SignedSpec& spec) {
  ChainLookup out;
  absl::StatusOr<std::optional<Piece>> chain =
      col.Server(spec.chain_field, spec.name + "_issuer_chain", spec.offline_chain_key);
  ASSIGN_OR_RETURN(out.refused, Refusal(chain, std::string(spec.codes->what) + " issuer chain", col));
  if (!out.refused) out.chain = *std::move(chain);
  return out;
}

// The server's copy. A PCS body ({"tcbInfo": ..., "signature": ...}) from
// the offline layout is cut byte-exactly.
absl::StatusOr<SignedLookup> ServerSigned(Collateral& col, const SignedSpec& spec) {
  SignedLookup out;
  const std::string what = spec.codes->what;
  absl::StatusOr<std::optional<Piece>> text = col.Server(spec.text_field, spec.name, spec.offline_key);
  ASSIGN_OR_RETURN(out.refused, Refusal(text, what, col));
  if (out.refused || !text->has_value()) return out;
  SignedCopy s;
  s.origin = (*text)->origin;
  s.pieces.emplace_back(spec.name, **text);
  if ((*text)->id == spec.offline_key) {
    absl::StatusOr<SignedJson> signed_json = ExtractSignedJson((*text)->data, spec.body_key);
    if (!signed_json.ok()) {
      s.problem = Outcome::Fail(spec.codes->malformed, absl::StrFormat("%s: %s", s.origin,
                                                                       signed_json.status().message()));
    } else {
      s.text = std::move(signed_json->text);
      s.signature = std::move(signed_json->signature);
    }
  } else {
    s.text = (*text)->data;
    absl::StatusOr<std::optional<Piece>> sig = col.Server(spec.sig_field, spec.name + "_signature", "");
    ASSIGN_OR_RETURN(out.refused, Refusal(sig, what + " signature", col));
    if (out.refused) return out;
    if (!sig->has_value()) {
      s.problem = Outcome::Fail(spec.codes->missing, absl::StrFormat("%s has no signature", s.origin));
    } else {
      s.pieces.emplace_back(spec.name + "_signature", **sig);
      absl::StatusOr<Bytes> raw = HexDecode((*sig)->data);
      if (!raw.ok() || raw->size() != 64) {
        s.problem = Outcome::Fail(spec.codes->malformed,
                                  absl::StrFormat("%s: signature is not 64 bytes of hex r||s",
                                                  (*sig)->origin));
      } else {
        s.signature = *std::move(raw);
      }
    }
  }
  ASSIGN_OR_RETURN(ChainLookup chain, ServerChain(col, spec));
  out.refused = std::move(chain.refused);
  if (out.refused) return out;
  s.chain = std::move(chain.chain);
  out.copy = std::move(s);
  return out;
}

std::optional<SignedCopy> BundleSigned(const SignedSpec& spec, const std::string& text,
                                       const std::string& signature, const std::string& chain) {
  std::optional<Piece> t = Collateral::Bundle(text, spec.name);
  if (!t) return std::nullopt;
  SignedCopy s;
  s.origin = t->origin;
  s.text = t->data;
  s.pieces.emplace_back(spec.name, *t);
  s.chain = Collateral::Bundle(chain, spec.name + "_issuer_chain");
  std::optional<Piece> sig = Collateral::Bundle(signature, spec.name + "_signature");
  if (!sig) {
    s.problem = Outcome::Fail(spec.codes->missing, absl::StrFormat("%s has no signature", s.origin));
    return s;
  }
  s.pieces.emplace_back(spec.name + "_signature", *sig);
  absl::StatusOr<Bytes> raw = HexDecode(sig->data);
  if (!raw.ok() || raw->size() != 64) {
    s.problem = Outcome::Fail(spec.codes->malformed,
                              absl::StrFormat("%s: signature is not 64 bytes of hex r||s", sig->origin));
  } else {
    s.signature = *std::move(raw);
  }
  return s;
}

// TCB signing chains verified once per PEM text per verification (the TCB
// info and the QE identity usually share one).
class ChainMemo {
 public:
  ChainMemo(const Anchors& anchors, absl::Time at) : anchors_(anchors), at_(at) {}
  const ChainRun& Run(const std::string& pem) {
    auto it = runs_.find(pem);
    if (it != runs_.end()) return *it->second;
    auto run = std::make_unique<ChainRun>(
        RunChain(pem, anchors_, at_, kSigningChainLength, "TCB signing chain",
                 reason::kTcbSigningChainInvalid, reason::kTcbSigningChainInvalid,
                 reason::kTcbSigningChainInvalid, reason::kTcbSigningChainInvalid,
                 reason::kTcbSigningChainInvalid, kTcbSigningCn));
    return *runs_.emplace(pem, std::move(run)).first->second;
  }

 private:
  const Anchors& anchors_;
  const absl::Time at_;
  std::map<std::string, std::unique_ptr<ChainRun>> runs_;
};

template <typename T>
Outcome CheckDates(const T& v, absl::Time at, const SignedCodes& codes) {
  if (at < v.issue_date) {
    return Outcome::Fail(codes.not_yet_valid,
                         absl::StrFormat("%s issueDate %s is after %s", codes.what,
                                         FormatRfc3339(v.issue_date), FormatRfc3339(at)));
  }
  if (at >= v.next_update) {
    return Outcome::Fail(codes.expired,
                         absl::StrFormat("%s nextUpdate %s is not after %s", codes.what,
                                         FormatRfc3339(v.next_update), FormatRfc3339(at)));
  }
  return Outcome::Pass("");
}

// One copy after verification.
template <typename T>
struct VerifiedCopy {
  Outcome outcome;
  std::optional<T> value;           // when verified
  const X509* signer = nullptr;     // owned by the ChainMemo
  const X509* root = nullptr;       // owned by the anchors
};

template <typename T>
CopyStatus StatusOf(const VerifiedCopy<T>& v) {
  if (!v.value) return CopyStatus::Unusable(absl::StrCat(v.outcome.reason, ": ", v.outcome.detail));
  return CopyStatus::Verified(
      Freshness{v.value->tcb_evaluation_data_number, std::nullopt, v.value->issue_date});
}

// Chain of the TCB signing certificate to the anchors, the ECDSA signature
// over the exact text, then parse (`parse`), id/version (`supported`:
// nullopt or the failure) and the validity window. The signing
// certificate's revocation is a check of its own
// (tdx.tcb_signing_revocation).
template <typename T, typename Parse, typename Supported>
VerifiedCopy<T> VerifySignedCopy(const SignedCopy& s, ChainMemo& chains, absl::Time at,
                                 const SignedCodes& codes, Parse parse, Supported supported) {
  VerifiedCopy<T> v;
  if (s.problem) {
    v.outcome = *s.problem;
    return v;
  }
  if (!s.chain) {
    v.outcome = Outcome::Fail(codes.missing, absl::StrFormat("no issuer chain for %s (%s)",
                                                             codes.what, s.origin));
    return v;
  }
  const ChainRun& chain = chains.Run(s.chain->data);
  if (!chain.ok) {
    v.outcome = Outcome::Fail(chain.outcome.reason,
                              absl::StrFormat("%s (%s) issuer chain (%s): %s", codes.what, s.origin,
                                              s.chain->origin, chain.outcome.detail));
    return v;
  }
  ERR_clear_error();
  absl::Status sig = crypto::VerifyEcdsaP1363(crypto::PublicKey(chain.leaf), AsBytes(s.text),
                                              s.signature, crypto::HashAlg::kSha256);
  if (!sig.ok()) {
    v.outcome = Outcome::Fail(codes.signature_invalid,
                              absl::StrFormat("%s (%s) signature by \"%s\": %s", codes.what, s.origin,
                                              crypto::SubjectCommonName(chain.leaf), sig.message()));
    return v;
  }
  absl::StatusOr<T> parsed = parse(s.text);
  if (!parsed.ok()) {
    v.outcome = Outcome::Fail(codes.malformed, std::string(parsed.status().message()));
    return v;
  }
  if (std::optional<Outcome> bad = supported(*parsed)) {
    v.outcome = *std::move(bad);
    return v;
  }
  Outcome dates = CheckDates(*parsed, at, codes);
  if (!dates.passed()) {
    v.outcome = std::move(dates);
    return v;
  }
  v.outcome = Outcome::Pass(absl::StrFormat(
      "%s (%s) signed by \"%s\"%s; valid %s -> %s, tcbEvaluationDataNumber %d", codes.what,
      s.origin, crypto::SubjectCommonName(chain.leaf), chain.simulated ? " (SIMULATION root)" : "",
      FormatRfc3339(parsed->issue_date), FormatRfc3339(parsed->next_update),
      parsed->tcb_evaluation_data_number));
  v.value = *std::move(parsed);
  v.signer = chain.leaf;
  v.root = chain.root;
  return v;
}

bool SameSignedCopy(const SignedCopy& a, const SignedCopy& b) {
  return a.text == b.text && a.signature == b.signature && !a.problem && !b.problem &&
         (!a.chain || !b.chain || a.chain->data == b.chain->data);
}

// Finds the server's and the bundle's copies, verifies each present one
// (once: identical copies count once), chooses (ChooseCollateral) and
// records the chosen copy's pieces as used. The outcome is for the
// *_collateral check; its detail names the copy used and why.
template <typename T, typename Parse, typename Supported>
absl::StatusOr<VerifiedCopy<T>> ChooseSigned(Collateral& col, const SignedSpec& spec,
                                             const std::string& bundle_text,
                                             const std::string& bundle_sig,
                                             const std::string& bundle_chain, ChainMemo& chains,
                                             absl::Time at, Parse parse, Supported supported) {
  const SignedCodes& codes = *spec.codes;
  ASSIGN_OR_RETURN(SignedLookup server, ServerSigned(col, spec));
  if (server.refused) {
    VerifiedCopy<T> v;
    v.outcome = *server.refused;
    return v;
  }
  std::optional<SignedCopy> bundle = BundleSigned(spec, bundle_text, bundle_sig, bundle_chain);
  // An issuer chain is only certificates verified to the pinned root: a
  // copy without one may use the other side's.
  if (bundle && server.copy) {
    if (!bundle->chain) bundle->chain = server.copy->chain;
    if (!server.copy->chain) server.copy->chain = bundle->chain;
  } else if (bundle && !bundle->chain) {
    ASSIGN_OR_RETURN(ChainLookup chain, ServerChain(col, spec));
    if (chain.refused) {
      VerifiedCopy<T> v;
      v.outcome = *chain.refused;
      return v;
    }
    bundle->chain = std::move(chain.chain);
  }
  std::string why;
  if (bundle && server.copy && SameSignedCopy(*bundle, *server.copy)) {
    bundle.reset();
    why = "the bundle's copy is identical";
  }
  std::optional<VerifiedCopy<T>> vb;
  std::optional<VerifiedCopy<T>> vs;
  if (bundle) vb = VerifySignedCopy<T>(*bundle, chains, at, codes, parse, supported);
  if (server.copy) vs = VerifySignedCopy<T>(*server.copy, chains, at, codes, parse, supported);
  const Choice choice = ChooseCollateral(vb ? StatusOf(*vb) : CopyStatus::Absent(),
                                         vs ? StatusOf(*vs) : CopyStatus::Absent());
  if (!choice.why.empty()) why = choice.why;
  if (choice.chosen == Chosen::kNone) {
    VerifiedCopy<T> v;
    v.outcome = Outcome::Fail(codes.missing, NotFound(codes.what, col));
    return v;
  }
  const bool use_bundle = choice.chosen == Chosen::kBundle;
  SignedCopy& copy = use_bundle ? *bundle : *server.copy;
  VerifiedCopy<T> v = use_bundle ? *std::move(vb) : *std::move(vs);
  for (const auto& [kind, piece] : copy.pieces) col.Use(kind, piece, why);
  if (copy.chain) col.Use(spec.name + "_issuer_chain", *copy.chain, why);
  if (!why.empty()) {
    v.outcome.detail += absl::StrFormat("; %s copy used: %s", use_bundle ? "bundle" : "server", why);
  }
  return v;
}

constexpr SignedCodes kQeIdentityCodes = {
    "QE identity",
    reason::kQeIdentityMissing,
    reason::kQeIdentityMalformed,
    reason::kQeIdentitySignatureInvalid,
    reason::kQeIdentityExpired,
    reason::kQeIdentityNotYetValid,
    reason::kQeIdentityUnsupported,
};
constexpr SignedCodes kTcbInfoCodes = {
    "TCB info",
    reason::kCollateralMissing,
    reason::kTcbInfoMalformed,
    reason::kTcbInfoSignatureInvalid,
    reason::kTcbInfoExpired,
    reason::kTcbInfoNotYetValid,
    reason::kTcbInfoUnsupported,
};

std::string Lower(std::string s) { return absl::AsciiStrToLower(s); }

std::string PckCa(const X509* leaf) {
  const std::string issuer = crypto::IssuerCommonName(leaf);
  if (issuer.find("Processor") != std::string::npos) return "processor";
  if (issuer.find("Platform") != std::string::npos) return "platform";
  return "";
}

// Attestation key x||y as an EC P-256 public key (on-curve checked).
absl::StatusOr<OpensslPtr<EVP_PKEY>> AttestationKey(const std::array<uint8_t, 64>& xy) {
  crypto::JwkPublic jwk;
  jwk.kty = "EC";
  jwk.crv = "P-256";
  jwk.x = Base64UrlEncode(std::span<const uint8_t>(xy).first(32));
  jwk.y = Base64UrlEncode(std::span<const uint8_t>(xy).last(32));
  return crypto::EcPublicKeyFromJwk(jwk);
}

}  // namespace

std::string QvlCollateralKey(std::string_view fmspc) {
  return absl::StrFormat("intel/collateral/%s.json", fmspc);
}
std::string TcbInfoKey(std::string_view fmspc) { return absl::StrFormat("intel/tcb_info/%s.json", fmspc); }
std::string TcbInfoIssuerChainKey(std::string_view fmspc) {
  return absl::StrFormat("intel/tcb_info/%s.issuer_chain.pem", fmspc);
}
std::string QeIdentityKey() { return "intel/qe_identity.json"; }
std::string QeIdentityIssuerChainKey() { return "intel/qe_identity.issuer_chain.pem"; }
std::string PckCrlKey(std::string_view ca) { return absl::StrFormat("intel/pck_crl_%s.der", ca); }
std::string RootCaCrlKey() { return "intel/root_ca.crl"; }

absl::StatusOr<std::unique_ptr<TdxVerifier>> TdxVerifier::Create(TdxTrustConfig config) {
  std::vector<OpensslPtr<X509>> roots;
  std::vector<OpensslPtr<X509>> sim;
  if (config.intel_root_pems.empty() && config.simulation_root_pems.empty()) {
    return absl::InvalidArgumentError("tdx: trust config: no roots");
  }
  const std::array<uint8_t, 32> pin = IntelSgxRootCaSpkiSha256();
  for (const std::string& pem : config.intel_root_pems) {
    absl::StatusOr<std::vector<OpensslPtr<X509>>> certs = crypto::ParsePemCertificates(pem, 1);
    if (!certs.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tdx: trust config: root: %s", certs.status().message()));
    }
    OpensslPtr<X509> root = std::move(certs->front());
    if (!config.allow_unpinned_roots_for_test) {
      const Bytes spki = crypto::SpkiSha256(root.get());
      if (!std::equal(spki.begin(), spki.end(), pin.begin(), pin.end())) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "tdx: trust config: root SPKI SHA-256 %s does not match the Intel SGX Root CA pin %s",
            HexEncode(spki), HexEncode(pin)));
      }
    }
    roots.push_back(std::move(root));
  }
  for (const std::string& pem : config.simulation_root_pems) {
    absl::StatusOr<std::vector<OpensslPtr<X509>>> certs = crypto::ParsePemCertificates(pem, 8);
    if (!certs.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tdx: trust config: simulation root: %s", certs.status().message()));
    }
    for (OpensslPtr<X509>& c : *certs) sim.push_back(std::move(c));
  }
  return std::unique_ptr<TdxVerifier>(new TdxVerifier(std::move(roots), std::move(sim)));
}

absl::StatusOr<std::vector<core::DeviceResult>> TdxVerifier::Verify(
    const attestation::v1::EvidenceBundle& bundle, const core::VerifyContext& ctx) const {
  std::vector<core::DeviceResult> out;
  if (!bundle.has_tdx()) return out;
  ASSIGN_OR_RETURN(core::DeviceResult d, VerifyEvidence(bundle.tdx(), ctx));
  out.push_back(std::move(d));
  return out;
}

absl::StatusOr<core::DeviceResult> TdxVerifier::VerifyEvidence(const TdxEvidence& ev,
                                                               const core::VerifyContext& ctx) const {
  if (ctx.collateral == nullptr) {
    return absl::InvalidArgumentError("tdx: VerifyContext has no collateral source");
  }
  core::DeviceResult d;
  d.tee = "tdx";
  const Component hw = Component::kHardware;

  // Step 1: parse and header checks.
  absl::StatusOr<TdxQuote> parsed = ParseQuoteUnverified(AsBytes(ev.quote()));
  if (!parsed.ok()) {
    d.Fail(kCheckQuoteFormat, hw, std::string(QuoteErrorReason(QuoteErrorOf(parsed.status()))),
           std::string(parsed.status().message()));
    return d;
  }
  const TdxQuote& q = *parsed;
  d.Pass(kCheckQuoteFormat, hw,
         absl::StrFormat("quote v%d, TD report body type %d, %d bytes%s", q.version, q.body_type,
                         ev.quote().size(),
                         q.zero_padding > 0
                             ? absl::StrFormat(" (%d zero padding bytes after the signature data ignored)",
                                               q.zero_padding)
                             : ""));

  Anchors anchors;
  for (const auto& r : intel_roots_) anchors.all.push_back(r.get());
  anchors.real_count = anchors.all.size();
  for (const auto& r : simulation_roots_) anchors.all.push_back(r.get());

  // Step 2: PCK chain to the pinned root at the verification time.
  ChainRun pck = RunChain(q.pck_chain_pem, anchors, ctx.at, kPckChainLength, "PCK chain",
                          reason::kPckChainMalformed, reason::kPckChainInvalid,
                          reason::kPckChainUntrustedRoot, reason::kPckCertExpired,
                          reason::kPckCertNotYetValid, kPckLeafCn);
  // Step 3 (parsed early: FMSPC keys the collateral lookups).
  std::optional<PckExtensions> ext;
  Outcome ext_outcome = Skipped("no PCK certificate");
  if (!pck.owned.empty()) {
    // A pure function of the certificate: parsed once per PCK certificate
    // (verifier/crypto/verified_memo.h).
    const X509* pck_leaf = pck.owned.front().get();
    absl::StatusOr<PckExtensions> e = crypto::MemoizedParse<PckExtensions>(
        "tdx-pck-extensions-v1", ToString(crypto::CertificateDer(pck_leaf)),
        [pck_leaf](std::string_view) { return ParsePckExtensions(pck_leaf); });
    if (e.ok()) {
      ext = *std::move(e);
      ext_outcome = Outcome::Pass(absl::StrFormat(
          "FMSPC %s, PCE-ID %s, PCESVN %d, CPUSVN %s, SGX type %d", HexEncode(ext->fmspc),
          HexEncode(ext->pce_id), ext->pcesvn, HexEncode(ext->cpusvn), ext->sgx_type));
    } else {
      ext_outcome = Outcome::Fail(reason::kPckExtensionsInvalid, std::string(e.status().message()));
    }
  }
  const std::string fmspc = ext ? Lower(HexEncode(ext->fmspc)) : "";
  const std::string ca = pck.owned.empty() ? "" : PckCa(pck.owned.front().get());

  Collateral col(ctx);
  RETURN_IF_ERROR(col.LoadQvl(fmspc));
  const attestation::v1::TdxCollateral& b = ev.collateral();

  // Root CA CRL (for the PCK CA and the TCB signing certificate), issued by
  // a trusted root.
  ASSIGN_OR_RETURN(CrlChoice root_crl,
                   ChooseCrl(col, &QvlCollateral::root_ca_crl, b.root_ca_crl(), "root_ca_crl",
                             RootCaCrlKey(), "root CA CRL", anchors.all, ctx.at));

  Record(d, kCheckPckChain, hw, pck.outcome);

  // Revocation of the PCK CA (root CA CRL) and of the PCK leaf (PCK CRL).
  // PASS only when both CRLs were there and say "not revoked"; a missing
  // CRL is NOT_CHECKED, a bad or stale-beyond-grace one FAIL.
  Outcome revocation = Skipped("the PCK chain did not verify");
  if (pck.ok) {
    ASSIGN_OR_RETURN(
        CrlChoice pck_crl,
        ChooseCrl(col, &QvlCollateral::pck_crl, b.pck_crl(), "pck_crl",
                  ca.empty() ? "" : PckCrlKey(ca),
                  absl::StrFormat("PCK CRL (%s CA)", ca.empty() ? "unknown" : ca),
                  std::vector<const X509*>{pck.intermediate}, ctx.at));
    std::vector<std::string> passed;
    std::optional<Outcome> failed;
    std::vector<Outcome> missing;
    auto run = [&](CrlChoice& choice, const X509* issuer, const X509* subject,
                   const char* revoked_reason, const char* what) {
      if (failed) return;
      if (!choice.copy) {
        missing.push_back(*choice.unavailable);
        return;
      }
      Outcome o = RunCrl(*choice.copy, issuer, subject, ctx.at, revoked_reason, what);
      if (!choice.why.empty()) o.detail += absl::StrFormat(" [%s]", choice.why);
      if (o.passed()) passed.push_back(o.detail); else failed = o;
    };
    run(root_crl, pck.root, pck.intermediate, reason::kPckCaRevoked, "root CA CRL");
    run(pck_crl, pck.intermediate, pck.leaf, reason::kPckRevoked, "PCK CRL");
    if (failed) {
      revocation = *failed;
    } else if (!missing.empty()) {
      // A stale-beyond-grace CRL is a FAIL; absence is NOT_CHECKED.
      Outcome m = missing.front();
      for (const Outcome& o : missing) {
        if (o.status == core::CheckStatus::kFail) m = o;
      }
      std::vector<std::string> details;
      for (const Outcome& o : missing) details.push_back(o.detail);
      for (const std::string& p : passed) details.push_back(p);
      m.detail = absl::StrJoin(details, "; ");
      revocation = m;
    } else {
      revocation = Outcome::Pass(absl::StrJoin(passed, "; "));
    }
  }
  const bool revocation_failed = revocation.status == core::CheckStatus::kFail;
  Record(d, kCheckPckRevocation, hw, std::move(revocation));
  Record(d, kCheckPckExtensions, hw, ext_outcome);

  // Step 4: QE report signature by the PCK leaf, QE report data binding.
  Outcome qe_sig = Skipped("no PCK certificate");
  if (pck.leaf != nullptr) {
    ERR_clear_error();
    absl::Status s = crypto::VerifyEcdsaP1363(crypto::PublicKey(pck.leaf), q.qe_report_raw,
                                              q.qe_report_signature, crypto::HashAlg::kSha256);
    qe_sig = s.ok() ? Outcome::Pass("QE report signed by the PCK certificate key")
                    : Outcome::Fail(reason::kQeReportSignatureInvalid,
                                    absl::StrFormat("QE report signature: %s", s.message()));
  }
  const bool qe_sig_ok = qe_sig.passed();
  Record(d, kCheckQeReportSignature, hw, std::move(qe_sig));

  Bytes binding_input(q.attestation_key.begin(), q.attestation_key.end());
  binding_input.insert(binding_input.end(), q.qe_auth_data.begin(), q.qe_auth_data.end());
  const Bytes expected = crypto::Sha256(binding_input);
  const std::span<const uint8_t> rd(q.qe_report.report_data);
  const bool hash_ok = crypto::ConstantTimeEquals(rd.first(32), expected);
  const bool zeros_ok = std::all_of(rd.begin() + 32, rd.end(), [](uint8_t x) { return x == 0; });
  Outcome qe_data =
      hash_ok && zeros_ok
          ? Outcome::Pass("QE REPORTDATA = SHA-256(attestation key || QE auth data) || zeros")
          : Outcome::Fail(reason::kQeReportDataMismatch,
                          !hash_ok ? absl::StrFormat("QE REPORTDATA[0:32] %s != SHA-256(attestation "
                                                     "key || QE auth data) %s",
                                                     HexEncode(rd.first(32)), HexEncode(expected))
                                   : absl::StrFormat("QE REPORTDATA[32:64] is not zero: %s",
                                                     HexEncode(rd.subspan(32))));
  const bool qe_data_ok = qe_data.passed();
  Record(d, kCheckQeReportData, hw, std::move(qe_data));

  // Step 5: quote signature by the attestation key.
  Outcome quote_sig;
  {
    ERR_clear_error();
    absl::StatusOr<OpensslPtr<EVP_PKEY>> key = AttestationKey(q.attestation_key);
    if (!key.ok()) {
      quote_sig = Outcome::Fail(reason::kAttestationKeyInvalid,
                                absl::StrFormat("attestation key: %s", key.status().message()));
    } else {
      // The quote is fresh per request (its nonce): never memoised
      // (verified_memo.h), so every call pays for its check.
      const crypto::ScopedMemoBypass fresh_evidence;
      absl::Status s = crypto::VerifyEcdsaP1363(key->get(), q.signed_bytes, q.signature,
                                                crypto::HashAlg::kSha256);
      quote_sig = s.ok() ? Outcome::Pass(absl::StrFormat("signature over %d bytes of header%s and body",
                                                         q.signed_bytes.size(),
                                                         q.version == 5 ? ", body descriptor" : ""))
                         : Outcome::Fail(reason::kQuoteSignatureInvalid,
                                         absl::StrFormat("quote signature: %s", s.message()));
    }
  }
  const bool quote_sig_ok = quote_sig.passed();
  Record(d, kCheckQuoteSignature, hw, std::move(quote_sig));


  // Steps 6-7: QE identity and TCB info, each the bundle's or the server's
  // copy (ChooseSigned), then the TCB signing certificates' revocation.
  ChainMemo chains(anchors, ctx.at);
  const SignedSpec qe_spec{&QvlCollateral::qe_identity,
                           &QvlCollateral::qe_identity_signature,
                           &QvlCollateral::qe_identity_issuer_chain,
                           "qe_identity",
                           "enclaveIdentity",
                           QeIdentityKey(),
                           QeIdentityIssuerChainKey(),
                           &kQeIdentityCodes};
  ASSIGN_OR_RETURN(
      VerifiedCopy<QeIdentity> qe_copy,
      ChooseSigned<QeIdentity>(
          col, qe_spec, b.qe_identity(), b.qe_identity_signature(), b.qe_identity_issuer_chain(),
          chains, ctx.at, [](std::string_view t) {
            return crypto::MemoizedParse<QeIdentity>("tdx-qe-identity-v1", t, ParseQeIdentity);
          },
          [](const QeIdentity& id) -> std::optional<Outcome> {
            if (id.id == "TD_QE" && id.version == kQeIdentityVersion) return std::nullopt;
            return Outcome::Fail(reason::kQeIdentityUnsupported,
                                 absl::StrFormat("QE identity id \"%s\" version %d (expected TD_QE "
                                                 "version 2)",
                                                 id.id, id.version));
          }));

  std::optional<VerifiedCopy<TcbInfo>> tcb_copy;
  if (ext) {
    const SignedSpec tcb_spec{&QvlCollateral::tcb_info,
                              &QvlCollateral::tcb_info_signature,
                              &QvlCollateral::tcb_info_issuer_chain,
                              "tcb_info",
                              "tcbInfo",
                              TcbInfoKey(fmspc),
                              TcbInfoIssuerChainKey(fmspc),
                              &kTcbInfoCodes};
    ASSIGN_OR_RETURN(
        tcb_copy,
        ChooseSigned<TcbInfo>(
            col, tcb_spec, b.tcb_info(), b.tcb_info_signature(), b.tcb_info_issuer_chain(), chains,
            ctx.at, [](std::string_view t) {
              return crypto::MemoizedParse<TcbInfo>("tdx-tcb-info-v1", t, ParseTcbInfo);
            },
            [](const TcbInfo& info) -> std::optional<Outcome> {
              if (info.id == "TDX" && info.version == kTcbInfoVersion && info.tcb_type == kTcbType) {
                return std::nullopt;
              }
              return Outcome::Fail(reason::kTcbInfoUnsupported,
                                   absl::StrFormat("TCB info id \"%s\" version %d tcbType %d "
                                                   "(expected TDX version 3 tcbType 0)",
                                                   info.id, info.version, info.tcb_type));
            }));
  }

  // The TCB signing certificate(s) of the verified TCB info / QE identity
  // against the root CA CRL. PASS only when that CRL was there, current and
  // says "not revoked"; a revoked signer also fails the collateral it
  // signed (its content is not used).
  Outcome signing_revocation =
      Skipped("no verified TCB info or QE identity: no TCB signing certificate to check");
  {
    std::vector<std::pair<const X509*, const X509*>> signers;  // signer, root
    for (const X509* s : {qe_copy.signer, tcb_copy ? tcb_copy->signer : nullptr}) {
      if (s == nullptr) continue;
      const bool seen = std::any_of(signers.begin(), signers.end(),
                                    [s](const auto& p) { return X509_cmp(p.first, s) == 0; });
      if (!seen) signers.emplace_back(s, s == qe_copy.signer ? qe_copy.root : tcb_copy->root);
    }
    std::vector<const X509*> revoked;
    if (!signers.empty() && !root_crl.copy) {
      signing_revocation = *root_crl.unavailable;
      signing_revocation.detail += ": TCB signing certificate revocation not checked";
    } else if (!signers.empty()) {
      std::vector<std::string> passed;
      std::optional<Outcome> failed;
      for (const auto& [signer, root] : signers) {
        Outcome o = RunCrl(*root_crl.copy, root, signer, ctx.at, reason::kTcbSigningCertRevoked,
                           "root CA CRL");
        if (!root_crl.why.empty()) o.detail += absl::StrFormat(" [%s]", root_crl.why);
        if (o.reason == reason::kTcbSigningCertRevoked) revoked.push_back(signer);
        if (o.passed()) {
          passed.push_back(o.detail);
        } else if (!failed) {
          failed = std::move(o);
        }
      }
      signing_revocation = failed ? *failed : Outcome::Pass(absl::StrJoin(passed, "; "));
    }
    auto drop_if_revoked = [&revoked](auto& copy, const char* what) {
      if (copy.signer == nullptr) return;
      for (const X509* r : revoked) {
        if (X509_cmp(r, copy.signer) != 0) continue;
        copy.outcome = Outcome::Fail(
            reason::kTcbSigningCertRevoked,
            absl::StrFormat("%s signed by \"%s\" serial %s, revoked by the root CA CRL (see %s)",
                            what, crypto::SubjectCommonName(copy.signer),
                            crypto::SerialHex(copy.signer), kCheckTcbSigningRevocation));
        copy.value.reset();
        return;
      }
    };
    drop_if_revoked(qe_copy, "QE identity");
    if (tcb_copy) drop_if_revoked(*tcb_copy, "TCB info");
  }

  // Step 6: QE identity.
  const std::optional<QeIdentity>& qe_identity = qe_copy.value;
  std::optional<IsvTcbLevel> qe_level;
  Record(d, kCheckQeIdentityCollateral, hw, qe_copy.outcome);
  {
    Outcome match = Skipped("no verified QE identity");
    if (qe_identity && !qe_sig_ok) {
      match = Skipped("the QE report signature did not verify");
    } else if (qe_identity) {
      match = CheckQeIdentityMatch(*qe_identity, q.qe_report);
      if (match.passed()) {
        qe_level = SelectQeTcbLevel(*qe_identity, q.qe_report);
        if (!qe_level) {
          match = Outcome::Fail(reason::kQeTcbLevelNotFound,
                                absl::StrFormat("QE ISVSVN %d is below every QE identity tcbLevel",
                                                q.qe_report.isvsvn));
        } else if (qe_level->status == TcbStatus::kRevoked) {
          match = Outcome::Fail(reason::kQeTcbRevoked,
                                absl::StrFormat("QE ISVSVN %d -> level isvsvn %d: Revoked",
                                                q.qe_report.isvsvn, qe_level->isvsvn));
        } else {
          match = Outcome::Pass(absl::StrFormat(
              "MRSIGNER %s, ISVPRODID %d; QE ISVSVN %d -> level isvsvn %d: %s",
              HexEncode(q.qe_report.mrsigner), q.qe_report.isvprodid, q.qe_report.isvsvn,
              qe_level->isvsvn, TcbStatusName(qe_level->status)));
        }
      }
    }
    Record(d, kCheckQeIdentity, hw, std::move(match));
  }

  // Step 7: TCB info.
  const std::optional<TcbInfo> no_tcb_info;
  const std::optional<TcbInfo>& tcb_info = tcb_copy ? tcb_copy->value : no_tcb_info;
  Record(d, kCheckTcbInfoCollateral, hw,
         tcb_copy ? tcb_copy->outcome : Skipped("no PCK certificate extensions: FMSPC unknown"));
  Record(d, kCheckTcbSigningRevocation, hw, std::move(signing_revocation));

  Outcome match = Skipped("no verified TCB info");
  if (tcb_info) match = CheckTcbInfoMatch(*tcb_info, *ext);
  const bool match_ok = match.passed();
  Record(d, kCheckTcbInfoMatch, hw, std::move(match));

  // The TCB evaluation uses SVNs from the PCK certificate and the TD
  // report: only meaningful when both are authenticated.
  const bool svns_authentic = pck.ok && qe_sig_ok && qe_data_ok && quote_sig_ok;
  const char* not_authentic = "the quote's signature chain did not verify";
  ModuleResult module;
  module.outcome = !match_ok ? Skipped("the TCB info does not apply to this platform")
                             : Skipped(not_authentic);
  if (match_ok && svns_authentic) module = CheckTdxModule(*tcb_info, q.body);
  Record(d, kCheckTdxModule, hw, module.outcome);

  std::optional<size_t> level_index;
  Outcome level = !match_ok ? Skipped("the TCB info does not apply to this platform")
                            : Skipped(not_authentic);
  if (match_ok && svns_authentic) {
    level_index = SelectTcbLevel(*tcb_info, *ext, q.body.tee_tcb_svn);
    const size_t start = TdxComponentStart(*tcb_info, q.body.tee_tcb_svn);
    const std::string inputs = absl::StrFormat(
        "PCK SGX components %s, PCESVN %d, TEE_TCB_SVN %s (TDX components compared from index %d)",
        HexEncode(ext->cpusvn_components), ext->pcesvn, HexEncode(q.body.tee_tcb_svn), start);
    if (!level_index) {
      level = Outcome::Fail(reason::kTcbLevelNotFound,
                            absl::StrFormat("no TCB level of FMSPC %s matches: %s (the platform's "
                                            "TCB is below every level Intel lists)",
                                            fmspc, inputs));
    } else {
      const TcbLevel& l = tcb_info->tcb_levels[*level_index];
      level = l.status == TcbStatus::kRevoked
                  ? Outcome::Fail(reason::kTcbRevoked,
                                  absl::StrFormat("tcbLevels[%d] (%s) is Revoked: %s", *level_index,
                                                  l.tcb_date, inputs))
                  : Outcome::Pass(absl::StrFormat("tcbLevels[%d] (tcbDate %s): %s; %s", *level_index,
                                                  l.tcb_date, TcbStatusName(l.status), inputs));
    }
  }
  Record(d, kCheckTcbLevel, hw, std::move(level));

  // Step 8: combine like QVL: platform level, then QE, then module.
  Outcome status = Skipped("no TCB status without a matching TCB level");
  nlohmann::json claims = BuildQuoteClaims(q, ext ? &*ext : nullptr);
  if (level_index && module.outcome.passed()) {
    const TcbLevel& l = tcb_info->tcb_levels[*level_index];
    TcbStatus combined = l.status;
    std::set<std::string> advisories(l.advisory_ids.begin(), l.advisory_ids.end());
    std::vector<std::string> parts = {absl::StrFormat("platform %s", TcbStatusName(l.status))};
    if (qe_level) {
      combined = ConvergeTcbStatus(combined, qe_level->status);
      advisories.insert(qe_level->advisory_ids.begin(), qe_level->advisory_ids.end());
      parts.push_back(absl::StrFormat("QE %s", TcbStatusName(qe_level->status)));
    } else {
      parts.push_back("QE status unknown (no verified, matching QE identity)");
    }
    if (module.level) {
      combined = ConvergeTcbStatus(combined, module.level->status);
      advisories.insert(module.level->advisory_ids.begin(), module.level->advisory_ids.end());
      parts.push_back(absl::StrFormat("TDX module %s", TcbStatusName(module.level->status)));
    }
    const std::string detail = absl::StrFormat("%s (%s)", TcbStatusName(combined), absl::StrJoin(parts, ", "));
    if (combined == TcbStatus::kRevoked) {
      status = Outcome::Fail(reason::kTcbRevoked, detail);
    } else if (!qe_level) {
      // Fail closed: without the QE's status the combination is incomplete
      // and could hide an OutOfDate or Revoked QE.
      status = Outcome::Fail(reason::kTcbStatusIncomplete,
                             absl::StrFormat("%s; the QE's TCB status is not known, so the "
                                             "combined status is incomplete",
                                             detail));
    } else if (combined == TcbStatus::kUpToDate) {
      status = Outcome::Pass(detail);
    } else {
      status = Outcome::Pass(absl::StrFormat(
          "%s; verification accepts it, the appraisal policy decides (claims tcb_status, "
          "advisory_ids)",
          detail));
    }
    // tcb_status / advisory_ids only when every input is known: without
    // the QE's status the combination is incomplete (fail closed).
    if (qe_level) {
      claims["tcb_status"] = std::string(TcbStatusName(combined));
      claims["advisory_ids"] = std::vector<std::string>(advisories.begin(), advisories.end());
    }
    claims["tcb_date"] = l.tcb_date;
    claims["tcb_evaluation_data_number"] = tcb_info->tcb_evaluation_data_number;
    claims["platform_tcb_status"] = std::string(TcbStatusName(l.status));
    if (module.level) claims["tdx_module_tcb_status"] = std::string(TcbStatusName(module.level->status));
  }
  if (qe_level) {
    claims["qe_tcb_status"] = std::string(TcbStatusName(qe_level->status));
    if (qe_identity) claims["qe_tcb_evaluation_data_number"] = qe_identity->tcb_evaluation_data_number;
  }
  Record(d, kCheckTcbStatus, hw, std::move(status));

  if (!col.stale().empty()) {
    d.NotChecked(kCheckCollateralFreshness, hw, reason::kStaleCollateral,
                 absl::StrFormat("stale collateral used within the policy's grace of %s: %s",
                                 absl::FormatDuration(col.grace()), absl::StrJoin(col.stale(), ", ")));
  }

  // The quote is authentic only when its whole signature chain verified
  // and the PCK chain is not known to be revoked.
  const bool authentic = svns_authentic && !revocation_failed;
  if (authentic) {
    d.report_data = Bytes(q.body.report_data.begin(), q.body.report_data.end());
  }
  d.evidence_authentic = authentic;
  d.simulated = pck.ok && pck.simulated;
  d.collateral = col.used();
  d.claims = std::move(claims);
  return d;
}

}  // namespace rp::tdx
