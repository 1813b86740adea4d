// Which copy of a TDX collateral item to use when the bundle carries one
// and the server (QVL JSON / offline directory / cache / PCS) holds one too.
//
// The server's view wins (issue 10): a bundle copy is only a hint. It is
// used only when it verified (TCB info / QE identity: issuer chain to the
// pinned root, signature, id/version, validity window; CRLs: signature by
// their issuer and current) and is not older than the server's verified
// copy. TCB info and QE identity are ordered by tcbEvaluationDataNumber,
// then issueDate; CRLs by CRL number when both carry one, then thisUpdate.
// Pure decision logic: the caller verifies each copy and hands in what it
// found.
#ifndef RP_VERIFIER_TDX_COLLATERAL_CHOICE_H_
#define RP_VERIFIER_TDX_COLLATERAL_CHOICE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::tdx {

// How recent one verified copy is. Signed JSON sets
// tcb_evaluation_data_number; CRLs set crl_number when they carry one.
struct Freshness {
  std::optional<int64_t> tcb_evaluation_data_number;
  std::optional<Bytes> crl_number;  // big-endian magnitude, no leading zeros
  absl::Time issued = absl::InfinitePast();  // issueDate / thisUpdate
};

// <0 when a is older than b, 0 when equally recent, >0 when newer.
// tcbEvaluationDataNumber first (when both have it), else the CRL number
// (when both have it); equal (or not comparable) -> the issue time.
int CompareFreshness(const Freshness& a, const Freshness& b);
// "tcbEvaluationDataNumber 17, issued 2025-06-19T10:16:03Z" /
// "CRL number 1, thisUpdate ...".
std::string DescribeFreshness(const Freshness& f);

// The CRL number extension of `crl` (nullopt when absent or unreadable).
std::optional<Bytes> CrlNumber(const X509_CRL* crl);

// One copy of an item as the caller found it.
struct CopyStatus {
  bool present = false;
  bool verified = false;  // usable (see the file comment)
  Freshness freshness;    // meaningful when verified
  std::string problem;    // why it is not usable (present && !verified)

  static CopyStatus Absent() { return CopyStatus{}; }
  static CopyStatus Verified(Freshness f) {
    return CopyStatus{true, true, std::move(f), ""};
  }
  static CopyStatus Unusable(std::string why) {
    return CopyStatus{true, false, {}, std::move(why)};
  }
};

enum class Chosen { kNone, kBundle, kServer };

struct Choice {
  Chosen chosen = Chosen::kNone;
  // Why, for check details and the token's collateral list; empty when
  // only one copy existed (nothing to choose).
  std::string why;
};

// The rules, in order:
//  - neither present: kNone;
//  - only one present: that one (if it did not verify, the caller reports
//    its failure; a bundle copy then never hides anything);
//  - both verified: the bundle's if it is not older than the server's,
//    else the server's;
//  - only one verified: that one;
//  - neither verified: the server's (its failure is what is reported).
Choice ChooseCollateral(const CopyStatus& bundle, const CopyStatus& server);

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_COLLATERAL_CHOICE_H_
