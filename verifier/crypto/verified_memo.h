// Verified-object memo: the results of pure, deterministic crypto work that
// repeats across requests from the same platform (issue 16).
//
// Every request re-presents the same PCK / VCEK / GPU certificate chains,
// CRLs, TCB info, QE identity and OCSP responses until that collateral's
// next update. This memo remembers, keyed by the SHA-256 of the *complete*
// inputs (never by a name or an id the attester chooses):
//
//   certificate       DER bytes -> the parsed X509 (shared, never mutated)
//   pem_certificates  PEM text -> its parsed certificates
//   signature         (key, hash, signature, SHA-256 of message) -> verified
//   chain             (leaf, intermediates, roots, options) -> the verified
//                     path and the window of times at which it verifies
//   crl               CRL bytes (DER or PEM) -> the parsed X509_CRL (shared)
//   crl_signature     (CRL DER, issuer key) -> the CRL's signature verified
//   cert_signature    (certificate DER, issuer key) -> signature verified
//   ocsp_signature    (BasicOCSPResponse DER, signer key) -> verified
//   document          (domain, document bytes) -> what a pure function of
//                     the bytes produced: a RIM's XML parse, signature
//                     structure and XML-DSig under its own embedded leaf
//                     key; an OCSP response parsed to its BasicOCSPResponse;
//                     TDX QVL collateral, TCB info, QE identity parsed
//
// Exactness, by construction: parsing and signature verification are pure
// functions of their inputs, so a remembered success is the answer a full
// run gives at any time. Only successes are remembered: a failure is always
// recomputed, with its full error. A chain is time-dependent only through
// the validity windows of the certificates on its path, so a remembered
// chain answers only (a) when no two input certificates share a subject
// name (the path OpenSSL builds is then forced) and (b) at a time inside the
// intersection of the path certificates' windows (notBefore <= t <
// notAfter, X509_cmp_time's rule at second resolution); anywhere else the
// full verification runs. CRL and OCSP freshness (thisUpdate/nextUpdate),
// revocation lookups, issuer-name and delegation checks are always
// recomputed by their callers: only the signature under them is memoised.
//
// Bounded: each kind is an LRU with an entry cap and a byte cap, and a
// doorkeeper admits a key only on its second sighting, so inputs seen once
// (every quote's own signature, an attacker's fresh certificates) never
// displace the collateral that every request shares. Thread-safe.
//
// Tests compare cached and uncached results with ScopedMemoBypass.
#ifndef RP_VERIFIER_CRYPTO_VERIFIED_MEMO_H_
#define RP_VERIFIER_CRYPTO_VERIFIED_MEMO_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace rp::crypto {

enum class MemoKind {
  kCertificate = 0,
  kPemCertificates,
  kSignature,
  kChain,
  kCrlSignature,
  kCertSignature,
  kOcspSignature,
  kDocument,
  kCrl,
};
inline constexpr int kMemoKindCount = 9;
std::string_view MemoKindName(MemoKind kind);

struct MemoOptions {
  bool enabled = true;
  size_t max_entries = 4096;          // per kind
  uint64_t max_bytes = 32ull << 20;   // per kind (estimated resident size)
  size_t doorkeeper_entries = 16384;  // per kind: keys seen once (32 bytes each)
};

struct MemoKindStats {
  uint64_t hits = 0;
  uint64_t misses = 0;     // lookups that ran the full verification
  uint64_t admitted = 0;   // entries stored (second sighting of a success)
  uint64_t evictions = 0;  // entries dropped by the LRU caps
  size_t entries = 0;
  uint64_t bytes = 0;
};

// Replaces the options, empties the memo and zeroes its counters (the
// server calls it once at start-up). The default is enabled.
void ConfigureVerifiedMemo(const MemoOptions& options);
MemoOptions VerifiedMemoOptions();
MemoKindStats VerifiedMemoStats(MemoKind kind);
// Empties every kind (counters are kept).
void ClearVerifiedMemo();
// The [notBefore, notAfter) windows (time_t) of the remembered chains: the
// edges a cached-vs-uncached test must probe.
std::vector<std::pair<int64_t, int64_t>> VerifiedMemoChainWindows();
// The [from, until] windows (time_t) of the OCSP answers remembered across
// requests (VerifyOcspResponse), for the same tests. At most 4096 distinct
// windows are kept; emptied by ConfigureVerifiedMemo and ClearVerifiedMemo.
std::vector<std::pair<int64_t, int64_t>> VerifiedMemoOcspWindows();

// Documents (kDocument), for this layer and the verifiers above it. The key is
// SHA-256 over `domain` (one per value type, so a key never names two types)
// and the complete bytes; "" when the memo is off on this thread (then Find
// finds nothing and Remember stores nothing). Store only what a successful
// verification produced; values are shared and never mutated.
std::string DocumentMemoKey(std::string_view domain, std::span<const uint8_t> bytes);
std::shared_ptr<const void> FindVerifiedDocument(const std::string& key);
void RememberVerifiedDocument(const std::string& key, std::shared_ptr<const void> value,
                              uint64_t cost);

// A pure parse of `text` (same text => same value), remembered as a document
// under `domain` (one domain per T). Only successes are remembered; a hit
// returns a copy of the remembered value.
template <typename T, typename Parse>
absl::StatusOr<T> MemoizedParse(std::string_view domain, std::string_view text, Parse parse) {
  const std::string key = DocumentMemoKey(
      domain, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  if (std::shared_ptr<const void> hit = FindVerifiedDocument(key)) {
    return *static_cast<const T*>(hit.get());
  }
  absl::StatusOr<T> parsed = parse(text);
  if (parsed.ok() && !key.empty()) {
    RememberVerifiedDocument(key, std::make_shared<const T>(*parsed), 4 * text.size());
  }
  return parsed;
}

// Request scope (appraisal::Engine::Run opens one per appraisal). While
// alive on this thread, functions that are pure in *all* their inputs,
// the verification time included, remember their results (successes and
// failures alike) for the rest of the request: an 8-GPU node presents the
// same driver and VBIOS RIMs and the same upper device-chain certificates
// eight times, so their OCSP answers are checked once per request. Nothing
// outlives the scope; at most kMaxRequestMemoEntries are kept. Bypassed
// with the memo (ScopedMemoBypass, MemoOptions::enabled).
inline constexpr size_t kMaxRequestMemoEntries = 4096;
class ScopedRequestMemo {
 public:
  ScopedRequestMemo();
  ~ScopedRequestMemo();
  ScopedRequestMemo(const ScopedRequestMemo&) = delete;
  ScopedRequestMemo& operator=(const ScopedRequestMemo&) = delete;

  struct State;

 private:
  std::unique_ptr<State> state_;
  State* previous_;
};
// True inside a ScopedRequestMemo with the memo on for this thread.
bool InRequestScope();
// "" when no request scope is active (or the memo is off on this thread).
std::string RequestMemoKey(std::string_view domain, std::span<const std::span<const uint8_t>> parts);
std::shared_ptr<const void> FindInRequest(const std::string& key);
void RememberInRequest(const std::string& key, std::shared_ptr<const void> value);

// While alive, this thread neither reads nor writes the memo: every call
// runs in full (the reference for cached-vs-uncached tests).
class ScopedMemoBypass {
 public:
  ScopedMemoBypass();
  ~ScopedMemoBypass();
  ScopedMemoBypass(const ScopedMemoBypass&) = delete;
  ScopedMemoBypass& operator=(const ScopedMemoBypass&) = delete;

 private:
  bool previous_;
};

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_VERIFIED_MEMO_H_
