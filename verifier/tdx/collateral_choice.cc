#include "verifier/tdx/collateral_choice.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/common/clock.h"

namespace rp::tdx {
namespace {

// Big-endian magnitudes without leading zeros: longer is larger.
int CompareMagnitude(const Bytes& a, const Bytes& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin());
  if (ia == a.end()) return 0;
  return *ia < *ib ? -1 : 1;
}

std::string MagnitudeText(const Bytes& n) {
  if (n.empty()) return "0";
  if (n.size() <= 8) {
    uint64_t v = 0;
    for (uint8_t b : n) v = (v << 8) | b;
    return absl::StrCat(v);
  }
  return "0x" + HexEncode(n);
}

}  // namespace

int CompareFreshness(const Freshness& a, const Freshness& b) {
  if (a.tcb_evaluation_data_number && b.tcb_evaluation_data_number &&
      *a.tcb_evaluation_data_number != *b.tcb_evaluation_data_number) {
    return *a.tcb_evaluation_data_number < *b.tcb_evaluation_data_number ? -1
                                                                         : 1;
  }
  if (a.crl_number && b.crl_number) {
    const int c = CompareMagnitude(*a.crl_number, *b.crl_number);
    if (c != 0) return c;
  }
  if (a.issued == b.issued) return 0;
  return a.issued < b.issued ? -1 : 1;
}

std::string DescribeFreshness(const Freshness& f) {
  std::string s;
  if (f.tcb_evaluation_data_number) {
    s = absl::StrFormat("tcbEvaluationDataNumber %d, issueDate %s",
                        *f.tcb_evaluation_data_number, FormatRfc3339(f.issued));
  } else {
    if (f.crl_number)
      s = absl::StrCat("CRL number ", MagnitudeText(*f.crl_number), ", ");
    absl::StrAppend(&s, "thisUpdate ", FormatRfc3339(f.issued));
  }
  return s;
}

std::optional<Bytes> CrlNumber(const X509_CRL* crl) {
  if (crl == nullptr) return std::nullopt;
  ERR_clear_error();
  int critical = 0;
  crypto::OpensslPtr<ASN1_INTEGER> number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl, NID_crl_number, &critical, nullptr)));
  if (number == nullptr) {
    ERR_clear_error();
    return std::nullopt;
  }
  crypto::OpensslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(number.get(), nullptr));
  if (bn == nullptr || BN_is_negative(bn.get())) {
    ERR_clear_error();
    return std::nullopt;
  }
  Bytes out(static_cast<size_t>(BN_num_bytes(bn.get())));
  BN_bn2bin(bn.get(), out.data());
  return out;
}

Choice ChooseCollateral(const CopyStatus& bundle, const CopyStatus& server) {
  if (!bundle.present && !server.present) return Choice{Chosen::kNone, ""};
  if (!server.present) return Choice{Chosen::kBundle, ""};
  if (!bundle.present) return Choice{Chosen::kServer, ""};
  if (bundle.verified && server.verified) {
    const int c = CompareFreshness(bundle.freshness, server.freshness);
    if (c >= 0) {
      return Choice{
          Chosen::kBundle,
          absl::StrFormat("the bundle's copy (%s) is %s the server's (%s)",
                          DescribeFreshness(bundle.freshness),
                          c == 0 ? "as recent as" : "newer than",
                          DescribeFreshness(server.freshness))};
    }
    return Choice{Chosen::kServer,
                  absl::StrFormat(
                      "the server's copy (%s) is newer than the bundle's (%s), "
                      "which was ignored",
                      DescribeFreshness(server.freshness),
                      DescribeFreshness(bundle.freshness))};
  }
  if (server.verified) {
    return Choice{
        Chosen::kServer,
        absl::StrFormat("the bundle's copy was ignored: %s", bundle.problem)};
  }
  if (bundle.verified) {
    return Choice{
        Chosen::kBundle,
        absl::StrFormat(
            "the server's copy did not verify (%s); the bundle's copy "
            "verified (%s)",
            server.problem, DescribeFreshness(bundle.freshness))};
  }
  return Choice{Chosen::kServer,
                absl::StrFormat("neither copy verified; the bundle's copy: %s",
                                bundle.problem)};
}

}  // namespace rp::tdx
