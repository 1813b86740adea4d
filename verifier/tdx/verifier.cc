#include "verifier/tdx/verifier.h"

#include <openssl/err.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
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
#include "verifier/crypto/x509.h"
#include "verifier/tdx/checks.h"
#include "verifier/tdx/claims.h"
#include "verifier/tdx/collateral.h"
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
  std::string origin;
};

// Finds each collateral item: the bundle's TdxCollateral first, then the
// QVL collateral JSON intel/collateral/<fmspc>.json from ctx.collateral,
// then the individual offline items. Remembers stale items actually used.
class Collateral {
 public:
  explicit Collateral(const core::VerifyContext& ctx)
      : source_(*ctx.collateral), grace_(ctx.collateral_grace) {}

  // Loads the QVL JSON for `fmspc` if the source has it. Errors: the
  // source failed (returned to the caller) or the JSON is malformed.
  absl::Status LoadQvl(const std::string& fmspc) {
    if (fmspc.empty()) return absl::OkStatus();
    const std::string key = QvlCollateralKey(fmspc);
    absl::StatusOr<std::optional<std::string>> fetched = Fetch(key);
    if (!fetched.ok() && fetched.status().code() == absl::StatusCode::kFailedPrecondition) {
      // Stale beyond the grace: every item it would have supplied fails
      // closed (see Get).
      qvl_refused_ = Annotate(fetched.status(), key);
      return absl::OkStatus();
    }
    if (!fetched.ok()) return fetched.status();
    std::optional<std::string> text = *std::move(fetched);
    if (!text) return absl::OkStatus();
    absl::StatusOr<QvlCollateral> qvl = ParseQvlCollateral(*text);
    if (!qvl.ok()) {
      qvl_error_ = absl::StrFormat("collateral %s: %s", key, qvl.status().message());
      return absl::OkStatus();
    }
    qvl_ = *std::move(qvl);
    qvl_key_ = key;
    return absl::OkStatus();
  }

  // nullopt: not found anywhere. Error status: source failure
  // (FAILED_PRECONDITION = stale beyond grace).
  absl::StatusOr<std::optional<Piece>> Get(std::string QvlCollateral::*field,
                                           const std::string& bundle_value,
                                           const std::string& bundle_name,
                                           const std::string& offline_key) {
    if (!bundle_value.empty()) {
      return Used(bundle_name, Piece{bundle_value, "bundle " + bundle_name}, "bundle");
    }
    if (qvl_ && !((*qvl_).*field).empty()) {
      return Used(bundle_name,
                  Piece{(*qvl_).*field,
                        absl::StrFormat("collateral %s (%s)", qvl_key_, bundle_name)},
                  qvl_key_);
    }
    if (!qvl_refused_.ok()) return qvl_refused_;
    if (offline_key.empty()) return std::optional<Piece>();
    ASSIGN_OR_RETURN(std::optional<std::string> text, Fetch(offline_key));
    if (!text) return std::optional<Piece>();
    return Used(bundle_name,
                Piece{*std::move(text), absl::StrFormat("collateral %s", offline_key)},
                offline_key);
  }

  // Every item handed out, for the token's collateral list.
  const std::vector<core::CollateralRef>& used() const { return used_; }

  const std::vector<std::string>& stale() const { return stale_; }
  absl::Duration grace() const { return grace_; }
  std::string Describe() const {
    std::string s = source_.Describe();
    if (!qvl_error_.empty()) s += absl::StrFormat(" (ignored %s)", qvl_error_);
    return s;
  }

 private:
  absl::StatusOr<std::optional<std::string>> Fetch(const std::string& key) {
    collateral::GetOptions options;
    options.stale_grace = grace_;
    absl::StatusOr<std::optional<collateral::CollateralItem>> item = source_.GetItem(key, options);
    if (!item.ok()) return item.status();
    if (!item->has_value()) return std::optional<std::string>();
    if ((*item)->stale) {
      std::string when;
      if ((*item)->fresh_until != absl::InfiniteFuture()) {
        when = absl::StrFormat(" (fresh until %s)", FormatRfc3339((*item)->fresh_until));
      }
      stale_.push_back(key + when);
    }
    return std::optional<std::string>(ToString((*item)->data));
  }

  const collateral::CollateralSource& source_;
  const absl::Duration grace_;
  std::optional<QvlCollateral> qvl_;
  std::string qvl_key_;
  std::string qvl_error_;
  absl::Status qvl_refused_;
  std::vector<std::string> stale_;
  std::vector<core::CollateralRef> used_;

  std::optional<Piece> Used(const std::string& kind, Piece piece, const std::string& id) {
    core::CollateralRef ref;
    ref.kind = kind;
    ref.id = id;
    ref.sha256 = HexEncode(crypto::Sha256(AsBytes(piece.data)));
    // CRLs (hex DER in QVL JSON, DER offline) and signed JSON name their
    // own next update.
    Bytes bytes(piece.data.begin(), piece.data.end());
    std::string key = id;
    if (absl::StrContains(kind, "crl") && !absl::StrContains(kind, "issuer_chain")) {
      absl::StatusOr<Bytes> der = HexDecode(piece.data);
      if (der.ok()) bytes = *std::move(der);
      key = "intel/" + kind + ".der";
    } else if (kind == "tcb_info" || kind == "qe_identity") {
      key = "intel/" + kind + ".json";
    }
    absl::StatusOr<std::optional<absl::Time>> next = collateral::ContentExpiry(key, bytes);
    if (next.ok() && next->has_value()) ref.next_update = FormatRfc3339(**next);
    ref.source = piece.origin;
    used_.push_back(std::move(ref));
    return piece;
  }
};

// A collateral lookup that did not yield the item, as an outcome; nullopt
// when the item was found. Source failures other than staleness are
// returned as errors (retryable: the evidence was not judged).
absl::StatusOr<std::optional<Outcome>> Missing(
    const absl::StatusOr<std::optional<Piece>>& piece, const std::string& what,
    const Collateral& c, bool fail_closed, const char* missing_reason) {
  if (!piece.ok()) {
    if (piece.status().code() == absl::StatusCode::kFailedPrecondition) {
      return Outcome::Fail(reason::kCollateralStaleBeyondGrace,
                           absl::StrFormat("%s is stale beyond the policy's grace of %s and was "
                                           "not used (fail closed): %s",
                                           what, absl::FormatDuration(c.grace()),
                                           piece.status().message()));
    }
    return Annotate(piece.status(), absl::StrCat("tdx: collateral ", what));
  }
  if (piece->has_value()) return std::optional<Outcome>();
  const std::string detail =
      absl::StrFormat("no %s in the bundle or in %s", what, c.Describe());
  return fail_closed ? Outcome::Fail(missing_reason, detail)
                     : Outcome::NotChecked(missing_reason, detail);
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

// Checks `subject` against the CRL in `crl_text` issued by `issuer`.
Outcome RunCrl(const Piece& piece, const X509* issuer, const X509* subject, absl::Time at,
               const char* revoked_reason, const std::string& what) {
  absl::StatusOr<Bytes> der = DecodeCrlField(piece.data);
  absl::StatusOr<OpensslPtr<X509_CRL>> crl =
      der.ok() ? crypto::ParseCrl(*der) : absl::StatusOr<OpensslPtr<X509_CRL>>(der.status());
  if (!crl.ok()) {
    return Outcome::Fail(reason::kCrlMalformed,
                         absl::StrFormat("%s (%s): %s", what, piece.origin, crl.status().message()));
  }
  const crypto::CrlCheck c = crypto::CheckCrl(crl->get(), issuer, subject, at);
  const std::string where = absl::StrFormat("%s (%s)", what, piece.origin);
  switch (c.outcome) {
    case crypto::CrlOutcome::kNotRevoked:
      return Outcome::Pass(absl::StrFormat("%s: \"%s\" serial %s not revoked (CRL %s -> %s)", where,
                                           crypto::SubjectCommonName(subject),
                                           crypto::SerialHex(subject), FormatRfc3339(c.this_update),
                                           FormatRfc3339(c.next_update)));
    case crypto::CrlOutcome::kRevoked:
      return Outcome::Fail(revoked_reason,
                           absl::StrFormat("%s: \"%s\" serial %s revoked at %s", where,
                                           crypto::SubjectCommonName(subject),
                                           crypto::SerialHex(subject),
                                           FormatRfc3339(c.revocation_time)));
    case crypto::CrlOutcome::kBadSignature:
      return Outcome::Fail(reason::kCrlSignatureInvalid, absl::StrFormat("%s: %s", where, c.detail));
    case crypto::CrlOutcome::kWrongIssuer:
      return Outcome::Fail(reason::kCrlIssuerMismatch, absl::StrFormat("%s: %s", where, c.detail));
    case crypto::CrlOutcome::kNotYetValid:
    case crypto::CrlOutcome::kExpired:
      return Outcome::Fail(reason::kCrlNotCurrent,
                           absl::StrFormat("%s at %s: %s", where, FormatRfc3339(at), c.detail));
  }
  return Outcome::Fail(reason::kCrlMalformed, where);
}

// --- Signed collateral (TCB info, QE identity) -------------------------------

struct SignedCollateral {
  std::string text;
  Bytes signature;
  std::string chain_pem;
  std::string origin;
};

struct SignedCodes {
  const char* what;
  const char* missing;
  const char* malformed;
  const char* signature_invalid;
  const char* expired;
  const char* not_yet_valid;
  const char* unsupported;
  bool fail_closed;
};

// Resolves text + signature + issuer chain. For PCS bodies ({"tcbInfo":
// ..., "signature": ...}) the signed text is cut out byte-exactly.
absl::StatusOr<std::variant<SignedCollateral, Outcome>> ResolveSigned(
    Collateral& c, std::string QvlCollateral::*text_field,
    std::string QvlCollateral::*sig_field, std::string QvlCollateral::*chain_field,
    const std::string& bundle_text, const std::string& bundle_sig,
    const std::string& bundle_chain, const std::string& name, const std::string& body_key,
    const std::string& offline_key, const std::string& offline_chain_key,
    const SignedCodes& codes) {
  absl::StatusOr<std::optional<Piece>> text =
      c.Get(text_field, bundle_text, name, offline_key);
  ASSIGN_OR_RETURN(std::optional<Outcome> missing,
                   Missing(text, codes.what, c, codes.fail_closed, codes.missing));
  if (missing) return *missing;
  SignedCollateral s;
  s.origin = (*text)->origin;
  const bool from_offline_body = (*text)->origin == absl::StrFormat("collateral %s", offline_key);
  if (from_offline_body) {
    absl::StatusOr<SignedJson> signed_json = ExtractSignedJson((*text)->data, body_key);
    if (!signed_json.ok()) {
      return Outcome::Fail(codes.malformed,
                           absl::StrFormat("%s: %s", s.origin, signed_json.status().message()));
    }
    s.text = std::move(signed_json->text);
    s.signature = std::move(signed_json->signature);
  } else {
    s.text = (*text)->data;
    absl::StatusOr<std::optional<Piece>> sig = c.Get(sig_field, bundle_sig, name + "_signature", "");
    ASSIGN_OR_RETURN(std::optional<Outcome> no_sig,
                     Missing(sig, std::string(codes.what) + " signature", c, codes.fail_closed,
                             codes.missing));
    if (no_sig) return *no_sig;
    absl::StatusOr<Bytes> raw = HexDecode((*sig)->data);
    if (!raw.ok() || raw->size() != 64) {
      return Outcome::Fail(codes.malformed,
                           absl::StrFormat("%s: signature is not 64 bytes of hex r||s", (*sig)->origin));
    }
    s.signature = *std::move(raw);
  }
  absl::StatusOr<std::optional<Piece>> chain =
      c.Get(chain_field, bundle_chain, name + "_issuer_chain", offline_chain_key);
  ASSIGN_OR_RETURN(std::optional<Outcome> no_chain,
                   Missing(chain, std::string(codes.what) + " issuer chain", c, codes.fail_closed,
                           codes.missing));
  if (no_chain) return *no_chain;
  s.chain_pem = (*chain)->data;
  return s;
}

struct SignedRun {
  Outcome outcome;
  bool ok = false;
  std::string text;  // the verified JSON text (when ok)
};

// Chain of the TCB signing certificate to the anchors, root CA CRL on it,
// then the ECDSA signature over the exact text.
SignedRun VerifySigned(const SignedCollateral& s, const Anchors& anchors,
                       const std::optional<Piece>& root_crl, absl::Time at,
                       const SignedCodes& codes) {
  SignedRun run;
  ChainRun chain = RunChain(s.chain_pem, anchors, at, kSigningChainLength,
                            absl::StrFormat("%s issuer chain (%s)", codes.what, s.origin),
                            reason::kTcbSigningChainInvalid, reason::kTcbSigningChainInvalid,
                            reason::kTcbSigningChainInvalid, reason::kTcbSigningChainInvalid,
                            reason::kTcbSigningChainInvalid, kTcbSigningCn);
  if (!chain.ok) {
    run.outcome = chain.outcome;
    return run;
  }
  std::string crl_note = "root CA CRL not available: TCB signing certificate revocation NOT checked";
  if (root_crl) {
    Outcome crl = RunCrl(*root_crl, chain.root, chain.leaf, at, reason::kTcbSigningCertRevoked,
                         "root CA CRL");
    if (!crl.passed()) {
      run.outcome = std::move(crl);
      return run;
    }
    crl_note = "TCB signing certificate not revoked";
  }
  ERR_clear_error();
  absl::Status sig = crypto::VerifyEcdsaP1363(crypto::PublicKey(chain.leaf), AsBytes(s.text),
                                              s.signature, crypto::HashAlg::kSha256);
  if (!sig.ok()) {
    run.outcome = Outcome::Fail(codes.signature_invalid,
                                absl::StrFormat("%s (%s) signature by \"%s\": %s", codes.what,
                                                s.origin, crypto::SubjectCommonName(chain.leaf),
                                                sig.message()));
    return run;
  }
  run.ok = true;
  run.text = s.text;
  run.outcome = Outcome::Pass(absl::StrFormat("%s (%s) signed by \"%s\"%s; %s", codes.what, s.origin,
                                              crypto::SubjectCommonName(chain.leaf),
                                              chain.simulated ? " (SIMULATION root)" : "", crl_note));
  return run;
}

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

constexpr SignedCodes kQeIdentityCodes = {
    "QE identity",
    reason::kQeIdentityMissing,
    reason::kQeIdentityMalformed,
    reason::kQeIdentitySignatureInvalid,
    reason::kQeIdentityExpired,
    reason::kQeIdentityNotYetValid,
    reason::kQeIdentityUnsupported,
    /*fail_closed=*/false,
};
constexpr SignedCodes kTcbInfoCodes = {
    "TCB info",
    reason::kCollateralMissing,
    reason::kTcbInfoMalformed,
    reason::kTcbInfoSignatureInvalid,
    reason::kTcbInfoExpired,
    reason::kTcbInfoNotYetValid,
    reason::kTcbInfoUnsupported,
    /*fail_closed=*/true,
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
    absl::StatusOr<PckExtensions> e = ParsePckExtensions(pck.owned.front().get());
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

  // Root CA CRL (used for the PCK CA and the TCB signing certificate).
  absl::StatusOr<std::optional<Piece>> root_crl_piece =
      col.Get(&QvlCollateral::root_ca_crl, b.root_ca_crl(), "root_ca_crl", RootCaCrlKey());
  ASSIGN_OR_RETURN(std::optional<Outcome> root_crl_missing,
                   Missing(root_crl_piece, "root CA CRL", col, false, reason::kCollateralMissing));
  std::optional<Piece> root_crl;
  if (!root_crl_missing) root_crl = **root_crl_piece;

  Record(d, kCheckPckChain, hw, pck.outcome);

  // Revocation of the PCK CA (root CA CRL) and of the PCK leaf (PCK CRL).
  Outcome revocation = Skipped("the PCK chain did not verify");
  if (pck.ok) {
    absl::StatusOr<std::optional<Piece>> pck_crl_piece = col.Get(
        &QvlCollateral::pck_crl, b.pck_crl(), "pck_crl", ca.empty() ? "" : PckCrlKey(ca));
    ASSIGN_OR_RETURN(std::optional<Outcome> pck_crl_missing,
                     Missing(pck_crl_piece, absl::StrFormat("PCK CRL (%s CA)", ca.empty() ? "unknown" : ca),
                             col, false, reason::kCollateralMissing));
    std::vector<std::string> passed;
    std::optional<Outcome> failed;
    std::vector<Outcome> missing;
    if (root_crl) {
      Outcome o = RunCrl(*root_crl, pck.root, pck.intermediate, ctx.at, reason::kPckCaRevoked,
                         "root CA CRL");
      if (o.passed()) passed.push_back(o.detail); else failed = o;
    } else {
      missing.push_back(*root_crl_missing);
    }
    if (!failed) {
      if (!pck_crl_missing) {
        Outcome o = RunCrl(**pck_crl_piece, pck.intermediate, pck.leaf, ctx.at, reason::kPckRevoked,
                           "PCK CRL");
        if (o.passed()) passed.push_back(o.detail); else failed = o;
      } else {
        missing.push_back(*pck_crl_missing);
      }
    }
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

  // Step 6: QE identity.
  std::optional<IsvTcbLevel> qe_level;
  std::optional<QeIdentity> qe_identity;
  {
    ASSIGN_OR_RETURN(auto resolved,
                     ResolveSigned(col, &QvlCollateral::qe_identity, &QvlCollateral::qe_identity_signature,
                                   &QvlCollateral::qe_identity_issuer_chain, b.qe_identity(),
                                   b.qe_identity_signature(), b.qe_identity_issuer_chain(),
                                   "qe_identity", "enclaveIdentity", QeIdentityKey(),
                                   QeIdentityIssuerChainKey(), kQeIdentityCodes));
    Outcome coll;
    if (std::holds_alternative<Outcome>(resolved)) {
      coll = std::get<Outcome>(resolved);
    } else {
      SignedRun run = VerifySigned(std::get<SignedCollateral>(resolved), anchors, root_crl, ctx.at,
                                   kQeIdentityCodes);
      coll = run.outcome;
      if (run.ok) {
        absl::StatusOr<QeIdentity> id = ParseQeIdentity(run.text);
        if (!id.ok()) {
          coll = Outcome::Fail(reason::kQeIdentityMalformed, std::string(id.status().message()));
        } else if (id->id != "TD_QE" || id->version != kQeIdentityVersion) {
          coll = Outcome::Fail(reason::kQeIdentityUnsupported,
                               absl::StrFormat("QE identity id \"%s\" version %d (expected TD_QE "
                                               "version 2)",
                                               id->id, id->version));
        } else {
          Outcome dates = CheckDates(*id, ctx.at, kQeIdentityCodes);
          if (!dates.passed()) {
            coll = dates;
          } else {
            qe_identity = *std::move(id);
            coll.detail += absl::StrFormat("; valid %s -> %s, tcbEvaluationDataNumber %d",
                                           FormatRfc3339(qe_identity->issue_date),
                                           FormatRfc3339(qe_identity->next_update),
                                           qe_identity->tcb_evaluation_data_number);
          }
        }
      }
    }
    Record(d, kCheckQeIdentityCollateral, hw, std::move(coll));
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
  std::optional<TcbInfo> tcb_info;
  {
    Outcome coll;
    if (!ext) {
      coll = Skipped("no PCK certificate extensions: FMSPC unknown");
    } else {
      ASSIGN_OR_RETURN(auto resolved,
                       ResolveSigned(col, &QvlCollateral::tcb_info, &QvlCollateral::tcb_info_signature,
                                     &QvlCollateral::tcb_info_issuer_chain, b.tcb_info(),
                                     b.tcb_info_signature(), b.tcb_info_issuer_chain(), "tcb_info",
                                     "tcbInfo", TcbInfoKey(fmspc), TcbInfoIssuerChainKey(fmspc),
                                     kTcbInfoCodes));
      if (std::holds_alternative<Outcome>(resolved)) {
        coll = std::get<Outcome>(resolved);
      } else {
        SignedRun run = VerifySigned(std::get<SignedCollateral>(resolved), anchors, root_crl,
                                     ctx.at, kTcbInfoCodes);
        coll = run.outcome;
        if (run.ok) {
          absl::StatusOr<TcbInfo> info = ParseTcbInfo(run.text);
          if (!info.ok()) {
            coll = Outcome::Fail(reason::kTcbInfoMalformed, std::string(info.status().message()));
          } else if (info->id != "TDX" || info->version != kTcbInfoVersion ||
                     info->tcb_type != kTcbType) {
            coll = Outcome::Fail(reason::kTcbInfoUnsupported,
                                 absl::StrFormat("TCB info id \"%s\" version %d tcbType %d "
                                                 "(expected TDX version 3 tcbType 0)",
                                                 info->id, info->version, info->tcb_type));
          } else {
            Outcome dates = CheckDates(*info, ctx.at, kTcbInfoCodes);
            if (!dates.passed()) {
              coll = dates;
            } else {
              tcb_info = *std::move(info);
              coll.detail += absl::StrFormat("; valid %s -> %s, tcbEvaluationDataNumber %d",
                                             FormatRfc3339(tcb_info->issue_date),
                                             FormatRfc3339(tcb_info->next_update),
                                             tcb_info->tcb_evaluation_data_number);
            }
          }
        }
      }
    }
    Record(d, kCheckTcbInfoCollateral, hw, std::move(coll));
  }

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
      parts.push_back("QE status unknown (QE identity not verified)");
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
      status = Outcome::NotChecked(reason::kQeIdentityMissing,
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

  if (svns_authentic && !revocation_failed) {
    d.report_data = Bytes(q.body.report_data.begin(), q.body.report_data.end());
  }
  d.simulated = pck.ok && pck.simulated;
  d.collateral = col.used();
  d.claims = std::move(claims);
  return d;
}

}  // namespace rp::tdx
