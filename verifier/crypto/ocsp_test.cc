#include "verifier/crypto/ocsp.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/cert_factory.h"
#include "tests/testing/ocsp_responder.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/crypto/x509.h"

namespace rp::crypto {
namespace {

using ::rp::testing::CertSpec;
using ::rp::testing::Issued;
using ::rp::testing::KeyType;
using ::rp::testing::MakeCert;
using ::rp::testing::MakeRoot;
using ::testing::StartsWith;
using ::rp::testing::ocsp::FindOnPath;
using ::rp::testing::ocsp::IndexLine;
using ::rp::testing::ocsp::IndexTime;
using ::rp::testing::ocsp::PostOcsp;
using ::rp::testing::ocsp::Responder;
using ::rp::testing::ocsp::WritePem;

constexpr char kOcspSigningEku[] = "1.3.6.1.5.5.7.3.9";
constexpr char kServerAuthEku[] = "1.3.6.1.5.5.7.3.1";
// Fixed verification time of the in-process (responder-less) tests.
const absl::Time kAt = absl::FromUnixSeconds(1735689600);  // 2025-01-01
const absl::Time kRevokedAt = absl::FromUnixSeconds(1650000000);

CertSpec Spec(const std::string& cn, Bytes serial, bool is_ca = false,
              std::vector<std::string> eku = {}) {
  CertSpec spec;
  spec.common_name = cn;
  spec.serial = std::move(serial);
  spec.is_ca = is_ca;
  spec.extended_key_usage_oids = std::move(eku);
  return spec;
}

// The PKI every test uses: root -> issuing CA -> leaves and responders, plus
// a foreign CA whose OCSP-signing certificate must not be accepted.
struct Pki {
  Issued root, issuer, good, revoked, hold, unknown, delegated, no_eku, server_auth_eku,
      expired_delegated, foreign_root, foreign_delegated, impostor;
};

absl::StatusOr<std::unique_ptr<Pki>> MakePki() {
  auto pki = std::make_unique<Pki>();
  ASSIGN_OR_RETURN(pki->root, MakeRoot(Spec("OCSP Test Root", {0x01}, true), KeyType::kEcP256));
  ASSIGN_OR_RETURN(pki->issuer, MakeCert(Spec("OCSP Test Issuing CA", {0x02}, true),
                                         KeyType::kEcP256, pki->root.cert.get(),
                                         pki->root.key.get()));
  const X509* ic = pki->issuer.cert.get();
  const EVP_PKEY* ik = pki->issuer.key.get();
  ASSIGN_OR_RETURN(pki->good, MakeCert(Spec("OCSP Leaf good", {0x10}), KeyType::kEcP256, ic, ik));
  ASSIGN_OR_RETURN(pki->revoked,
                   MakeCert(Spec("OCSP Leaf revoked", {0x11}), KeyType::kEcP256, ic, ik));
  ASSIGN_OR_RETURN(pki->hold, MakeCert(Spec("OCSP Leaf hold", {0x12}), KeyType::kEcP256, ic, ik));
  ASSIGN_OR_RETURN(pki->unknown,
                   MakeCert(Spec("OCSP Leaf unknown", {0x13}), KeyType::kEcP256, ic, ik));
  ASSIGN_OR_RETURN(pki->delegated, MakeCert(Spec("OCSP Delegated Responder", {0x30}, false,
                                                 {kOcspSigningEku}),
                                            KeyType::kEcP256, ic, ik));
  ASSIGN_OR_RETURN(pki->no_eku,
                   MakeCert(Spec("OCSP Responder without EKU", {0x31}), KeyType::kEcP256, ic, ik));
  ASSIGN_OR_RETURN(pki->server_auth_eku,
                   MakeCert(Spec("OCSP Responder serverAuth", {0x32}, false, {kServerAuthEku}),
                            KeyType::kEcP256, ic, ik));
  CertSpec expired = Spec("OCSP Expired Responder", {0x33}, false, {kOcspSigningEku});
  expired.not_after = kAt - absl::Hours(1);
  ASSIGN_OR_RETURN(pki->expired_delegated, MakeCert(expired, KeyType::kEcP256, ic, ik));
  ASSIGN_OR_RETURN(pki->foreign_root,
                   MakeRoot(Spec("Foreign Root", {0x01}, true), KeyType::kEcP256));
  ASSIGN_OR_RETURN(pki->foreign_delegated,
                   MakeCert(Spec("Foreign OCSP Responder", {0x40}, false, {kOcspSigningEku}),
                            KeyType::kEcP256, pki->foreign_root.cert.get(),
                            pki->foreign_root.key.get()));
  // Self-signed, same subject name as the issuing CA, different key.
  ASSIGN_OR_RETURN(pki->impostor,
                   MakeRoot(Spec("OCSP Test Issuing CA", {0x02}, true), KeyType::kEcP256));
  return pki;
}

// ---------------------------------------------------------------------------
// In-process responses (no responder): one thing changed per row.

struct ResponseSpec {
  const Issued* signer = nullptr;        // default: the issuing CA
  bool include_signer_cert = true;
  bool responder_id_by_key = false;
  const X509* subject = nullptr;         // certID subject; default: good leaf
  int cert_status = V_OCSP_CERTSTATUS_GOOD;
  int reason = -1;
  absl::Time this_update = kAt - absl::Hours(1);
  std::optional<absl::Time> next_update = kAt + absl::Hours(24);
  std::optional<Bytes> nonce;
  bool duplicate_single = false;
};

Bytes ToDer(OCSP_RESPONSE* response) {
  unsigned char* der = nullptr;
  const int len = i2d_OCSP_RESPONSE(response, &der);
  Bytes out;
  if (len > 0 && der != nullptr) {
    out.assign(der, der + len);
  }
  OPENSSL_free(der);
  return out;
}

OpensslPtr<ASN1_GENERALIZEDTIME> GenTime(absl::Time t) {
  return OpensslPtr<ASN1_GENERALIZEDTIME>(
      ASN1_GENERALIZEDTIME_set(nullptr, absl::ToTimeT(t)));
}

absl::StatusOr<Bytes> MakeResponse(const Pki& pki, const ResponseSpec& spec) {
  const Issued& signer = spec.signer != nullptr ? *spec.signer : pki.issuer;
  const X509* subject = spec.subject != nullptr ? spec.subject : pki.good.cert.get();
  OpensslPtr<OCSP_BASICRESP> bs(OCSP_BASICRESP_new());
  OpensslPtr<OCSP_CERTID> id(OCSP_cert_to_id(EVP_sha1(), subject, pki.issuer.cert.get()));
  OpensslPtr<ASN1_GENERALIZEDTIME> this_update = GenTime(spec.this_update);
  OpensslPtr<ASN1_GENERALIZEDTIME> next_update =
      spec.next_update ? GenTime(*spec.next_update) : nullptr;
  OpensslPtr<ASN1_GENERALIZEDTIME> revoked_at = GenTime(kRevokedAt);
  if (bs == nullptr || id == nullptr || this_update == nullptr) {
    return absl::InternalError("alloc");
  }
  for (int i = 0; i < (spec.duplicate_single ? 2 : 1); ++i) {
    if (OCSP_basic_add1_status(
            bs.get(), id.get(), spec.cert_status, spec.reason,
            spec.cert_status == V_OCSP_CERTSTATUS_REVOKED ? revoked_at.get() : nullptr,
            this_update.get(), next_update.get()) == nullptr) {
      return absl::InternalError("OCSP_basic_add1_status");
    }
  }
  if (spec.nonce && OCSP_basic_add1_nonce(bs.get(), const_cast<uint8_t*>(spec.nonce->data()),
                                          static_cast<int>(spec.nonce->size())) != 1) {
    return absl::InternalError("OCSP_basic_add1_nonce");
  }
  unsigned long flags = 0;
  if (!spec.include_signer_cert) {
    flags |= OCSP_NOCERTS;
  }
  if (spec.responder_id_by_key) {
    flags |= OCSP_RESPID_KEY;
  }
  // producedAt is set to the real clock by OpenSSL; the verifier only reports it.
  if (OCSP_basic_sign(bs.get(), signer.cert.get(), signer.key.get(), EVP_sha256(), nullptr,
                      flags) != 1) {
    return absl::InternalError("OCSP_basic_sign");
  }
  OpensslPtr<OCSP_RESPONSE> response(
      OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
  if (response == nullptr) {
    return absl::InternalError("OCSP_response_create");
  }
  return ToDer(response.get());
}

class OcspTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Pki>> pki = MakePki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::move(*pki);
  }
  static void TearDownTestSuite() { pki_.reset(); }
  void SetUp() override { ASSERT_NE(pki_, nullptr); }

  absl::StatusOr<OcspResult> Verify(std::span<const uint8_t> der, const X509* cert,
                                    std::optional<std::span<const uint8_t>> nonce,
                                    absl::Time at = kAt, const OcspVerifyOptions& options = {}) {
    return VerifyOcspResponse(der, cert, pki_->issuer.cert.get(), nonce, at, options);
  }

  static inline std::unique_ptr<Pki> pki_;
};

// The cross-request memo of VerifyOcspResponse (verified_memo.h) answers a
// remembered success only inside the window of its time-dependent checks.
// Cached vs. full verification at every second around every edge: thisUpdate
// - skew, nextUpdate + skew, and a delegated responder's notBefore/notAfter;
// for issuer-signed, delegated and revoked answers, with and without a
// nonce. The memo must give the full verification's result, error and all.
TEST_F(OcspTest, MemoEqualsFullVerificationAroundEveryWindowEdge) {
  CertSpec short_lived = Spec("OCSP Short-lived Responder", {0x34}, false, {kOcspSigningEku});
  short_lived.not_before = kAt - absl::Minutes(30);
  short_lived.not_after = kAt + absl::Hours(2);
  absl::StatusOr<Issued> responder = MakeCert(short_lived, KeyType::kEcP256,
                                              pki_->issuer.cert.get(), pki_->issuer.key.get());
  ASSERT_TRUE(responder.ok()) << responder.status();
  const Bytes nonce = {1, 2, 3, 4, 5, 6, 7, 8};
  struct Row {
    std::string name;
    ResponseSpec spec;
    std::optional<Bytes> expected_nonce;
  };
  std::vector<Row> rows;
  rows.push_back({"issuer-signed good", {}, std::nullopt});
  ResponseSpec delegated;
  delegated.signer = &*responder;
  rows.push_back({"short-lived delegated", delegated, std::nullopt});
  ResponseSpec revoked;
  revoked.subject = pki_->revoked.cert.get();
  revoked.cert_status = V_OCSP_CERTSTATUS_REVOKED;
  revoked.reason = 1;
  rows.push_back({"revoked", revoked, std::nullopt});
  ResponseSpec with_nonce;
  with_nonce.nonce = nonce;
  rows.push_back({"with nonce", with_nonce, nonce});
  ResponseSpec no_next;
  no_next.next_update = std::nullopt;
  rows.push_back({"no nextUpdate", no_next, std::nullopt});

  ConfigureVerifiedMemo(MemoOptions{});
  ClearVerifiedMemo();
  const OcspVerifyOptions options;  // skew 5 min
  OcspVerifyOptions lenient;
  lenient.allow_missing_next_update = true;
  int compared = 0, hits_seen = 0;
  for (const Row& row : rows) {
    absl::StatusOr<Bytes> der = MakeResponse(*pki_, row.spec);
    ASSERT_TRUE(der.ok()) << der.status();
    const X509* subject =
        row.spec.subject != nullptr ? row.spec.subject : pki_->good.cert.get();
    std::vector<absl::Time> edges = {row.spec.this_update - options.skew};
    if (row.spec.next_update) edges.push_back(*row.spec.next_update + options.skew);
    if (row.spec.signer != nullptr) {
      edges.push_back(short_lived.not_before);
      edges.push_back(short_lived.not_after);
    }
    for (const OcspVerifyOptions& opts : {options, lenient}) {
      std::optional<std::span<const uint8_t>> n;
      if (row.expected_nonce) n = std::span<const uint8_t>(*row.expected_nonce);
      // Remember a success first (second sighting admits), at kAt.
      for (int i = 0; i < 3; ++i) {
        (void)VerifyOcspResponse(*der, subject, pki_->issuer.cert.get(), n, kAt, opts);
      }
      for (absl::Time edge : edges) {
        for (int d = -2; d <= 2; ++d) {
          const absl::Time at = edge + absl::Seconds(d);
          // A full run looks up the response signature (kOcspSignature) or,
          // for a delegated responder, first its certificate's signature
          // (kCertSignature); an answer from the windowed memo does neither.
          auto lookups = [] {
            const MemoKindStats a = VerifiedMemoStats(MemoKind::kOcspSignature);
            const MemoKindStats b = VerifiedMemoStats(MemoKind::kCertSignature);
            return a.hits + a.misses + b.hits + b.misses;
          };
          const uint64_t before = lookups();
          absl::StatusOr<OcspResult> cached =
              VerifyOcspResponse(*der, subject, pki_->issuer.cert.get(), n, at, opts);
          const bool from_memo = lookups() == before;
          if (from_memo) ++hits_seen;
          absl::StatusOr<OcspResult> full;
          {
            ScopedMemoBypass bypass;
            full = VerifyOcspResponse(*der, subject, pki_->issuer.cert.get(), n, at, opts);
          }
          const std::string where = absl::StrCat(row.name, " at ", absl::FormatTime(at),
                                                 " (edge ", absl::FormatTime(edge), ")");
          ASSERT_EQ(cached.ok(), full.ok()) << where << ": " << cached.status() << " vs "
                                            << full.status();
          // Only a success is ever answered from the memo.
          if (!full.ok()) {
            EXPECT_FALSE(from_memo) << where;
          }
          if (full.ok()) {
            EXPECT_EQ(cached->status, full->status) << where;
            EXPECT_EQ(cached->reason_code, full->reason_code) << where;
            EXPECT_EQ(cached->responder, full->responder) << where;
            EXPECT_EQ(cached->this_update, full->this_update) << where;
            EXPECT_EQ(cached->next_update, full->next_update) << where;
            EXPECT_EQ(cached->revocation_time, full->revocation_time) << where;
            EXPECT_EQ(cached->revocation_reason, full->revocation_reason) << where;
            EXPECT_EQ(cached->detail, full->detail) << where;
          } else {
            EXPECT_EQ(cached.status(), full.status()) << where;
          }
          ++compared;
        }
      }
    }
  }
  EXPECT_GE(compared, 80);
  EXPECT_GT(hits_seen, 20);  // inside the windows the memo really answered
  std::cout << "[ocsp-memo] " << compared << " cached-vs-full comparisons, " << hits_seen
            << " memo hits\n";
}

TEST_F(OcspTest, BuildRequestWithNonce) {
  absl::StatusOr<OcspRequest> req =
      BuildOcspRequest(pki_->good.cert.get(), pki_->issuer.cert.get(), {});
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->nonce.size(), kOcspNonceBytes);
  EXPECT_EQ(req->serial_hex, SerialHex(pki_->good.cert.get()));
  const ASN1_BIT_STRING* key_bits = X509_get0_pubkey_bitstr(pki_->issuer.cert.get());
  EXPECT_EQ(req->issuer_key_hash,
            Sha256({ASN1_STRING_get0_data(key_bits),
                    static_cast<size_t>(ASN1_STRING_length(key_bits))}));

  const unsigned char* p = req->der.data();
  OpensslPtr<OCSP_REQUEST> parsed(
      d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(req->der.size())));
  ASSERT_NE(parsed, nullptr);
  EXPECT_EQ(p, req->der.data() + req->der.size());
  ASSERT_EQ(OCSP_request_onereq_count(parsed.get()), 1);
  OCSP_CERTID* id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(parsed.get(), 0));
  ASN1_OBJECT* md = nullptr;
  ASN1_INTEGER* serial = nullptr;
  ASSERT_EQ(OCSP_id_get0_info(nullptr, &md, nullptr, &serial, id), 1);
  EXPECT_EQ(OBJ_obj2nid(md), NID_sha1);
  EXPECT_EQ(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(pki_->good.cert.get())), 0);
  OpensslPtr<OCSP_CERTID> want(
      OCSP_cert_to_id(EVP_sha1(), pki_->good.cert.get(), pki_->issuer.cert.get()));
  EXPECT_EQ(OCSP_id_cmp(id, want.get()), 0);

  // The nonce extension wraps the octets in an OCTET STRING (RFC 8954).
  const int idx = OCSP_REQUEST_get_ext_by_NID(parsed.get(), NID_id_pkix_OCSP_Nonce, -1);
  ASSERT_GE(idx, 0);
  ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(parsed.get(), idx));
  const unsigned char* q = ASN1_STRING_get0_data(value);
  OpensslPtr<ASN1_OCTET_STRING> inner(
      d2i_ASN1_OCTET_STRING(nullptr, &q, ASN1_STRING_length(value)));
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(Bytes(ASN1_STRING_get0_data(inner.get()),
                  ASN1_STRING_get0_data(inner.get()) + ASN1_STRING_length(inner.get())),
            req->nonce);

  absl::StatusOr<OcspRequest> again =
      BuildOcspRequest(pki_->good.cert.get(), pki_->issuer.cert.get(), {});
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->nonce, req->nonce);
}

TEST_F(OcspTest, BuildRequestWithoutNonce) {
  absl::StatusOr<OcspRequest> req =
      BuildOcspRequest(pki_->good.cert.get(), pki_->issuer.cert.get(), {.with_nonce = false});
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_TRUE(req->nonce.empty());
  const unsigned char* p = req->der.data();
  OpensslPtr<OCSP_REQUEST> parsed(
      d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(req->der.size())));
  ASSERT_NE(parsed, nullptr);
  EXPECT_LT(OCSP_REQUEST_get_ext_by_NID(parsed.get(), NID_id_pkix_OCSP_Nonce, -1), 0);
}

TEST_F(OcspTest, BuildRequestRejectsNull) {
  EXPECT_EQ(BuildOcspRequest(nullptr, pki_->issuer.cert.get(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildOcspRequest(pki_->good.cert.get(), nullptr, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OcspTest, CacheKeyMatchesOfflineLayout) {
  EXPECT_EQ(OcspCacheKey(Bytes{0xab, 0x01, 0xff}, "1f"), "ab01ff-1f");
  absl::StatusOr<OcspRequest> req =
      BuildOcspRequest(pki_->good.cert.get(), pki_->issuer.cert.get(), {});
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(OcspCacheKey(req->issuer_key_hash, req->serial_hex),
            absl::StrCat(HexEncode(req->issuer_key_hash), "-10"));
}

// The collateral key computed from the two certificates is the one the
// request (with or without a nonce) names; the simulator and the offline
// layout name their files by the request's fields.
TEST_F(OcspTest, CollateralKeyIsTheRequestsKey) {
  for (const bool nonce : {false, true}) {
    absl::StatusOr<OcspRequest> req = BuildOcspRequest(
        pki_->good.cert.get(), pki_->issuer.cert.get(), {.with_nonce = nonce});
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(NvidiaOcspCollateralKey(pki_->good.cert.get(), pki_->issuer.cert.get()).value(),
              absl::StrCat("nvidia/ocsp/", OcspCacheKey(req->issuer_key_hash, req->serial_hex),
                           ".der"));
  }
  // Another issuer key or another serial is another key.
  EXPECT_NE(NvidiaOcspCollateralKey(pki_->good.cert.get(), pki_->issuer.cert.get()).value(),
            NvidiaOcspCollateralKey(pki_->good.cert.get(), pki_->good.cert.get()).value());
  EXPECT_NE(NvidiaOcspCollateralKey(pki_->good.cert.get(), pki_->issuer.cert.get()).value(),
            NvidiaOcspCollateralKey(pki_->issuer.cert.get(), pki_->issuer.cert.get()).value());
  EXPECT_EQ(NvidiaOcspCollateralKey(nullptr, pki_->issuer.cert.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NvidiaOcspCollateralKey(pki_->good.cert.get(), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OcspTest, ErrorCodesSurviveAnnotate) {
  absl::StatusOr<OcspResult> r = Verify(AsBytes("garbage"), pki_->good.cert.get(), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(GetOcspError(r.status()), OcspError::kMalformed);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("OCSP_MALFORMED: "));
  const absl::Status annotated = Annotate(r.status(), "nvidia: gpu ocsp");
  EXPECT_EQ(GetOcspError(annotated), OcspError::kMalformed);
  EXPECT_EQ(GetOcspError(absl::OkStatus()), std::nullopt);
  EXPECT_EQ(GetOcspError(absl::InternalError("OCSP_FOO: bar")), std::nullopt);
  EXPECT_EQ(OcspErrorName(OcspError::kNonceMissing), "OCSP_NONCE_MISSING");
  EXPECT_EQ(OcspErrorName(OcspError::kSignerUnauthorized), "OCSP_SIGNER_UNAUTHORIZED");
}

TEST_F(OcspTest, MalformedInputs) {
  const X509* cert = pki_->good.cert.get();
  EXPECT_EQ(GetOcspError(Verify({}, cert, std::nullopt).status()), OcspError::kMalformed);
  EXPECT_EQ(GetOcspError(Verify(AsBytes("\x30\x03\x0a\x01"), cert, std::nullopt).status()),
            OcspError::kMalformed);
  Bytes huge(kMaxOcspResponseBytes + 1, 0x30);
  EXPECT_EQ(GetOcspError(Verify(huge, cert, std::nullopt).status()), OcspError::kMalformed);

  absl::StatusOr<Bytes> ok = MakeResponse(*pki_, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  Bytes trailing = *ok;
  trailing.push_back(0x00);
  EXPECT_EQ(GetOcspError(Verify(trailing, cert, std::nullopt).status()), OcspError::kMalformed);
  Bytes truncated(ok->begin(), ok->end() - 1);
  EXPECT_EQ(GetOcspError(Verify(truncated, cert, std::nullopt).status()), OcspError::kMalformed);

  // successful but no responseBytes.
  OpensslPtr<OCSP_RESPONSE> empty(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, nullptr));
  EXPECT_EQ(GetOcspError(Verify(ToDer(empty.get()), cert, std::nullopt).status()),
            OcspError::kMalformed);

  EXPECT_EQ(VerifyOcspResponse(*ok, nullptr, pki_->issuer.cert.get(), std::nullopt, kAt, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OcspTest, ResponderErrorStatuses) {
  for (int status : {OCSP_RESPONSE_STATUS_TRYLATER, OCSP_RESPONSE_STATUS_UNAUTHORIZED,
                     OCSP_RESPONSE_STATUS_INTERNALERROR, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST}) {
    OpensslPtr<OCSP_RESPONSE> response(OCSP_response_create(status, nullptr));
    absl::StatusOr<OcspResult> r =
        Verify(ToDer(response.get()), pki_->good.cert.get(), std::nullopt);
    EXPECT_EQ(GetOcspError(r.status()), OcspError::kResponderError) << status;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  }
}

struct Row {
  std::string name;
  std::function<void(ResponseSpec&, const Pki&)> change = [](ResponseSpec&, const Pki&) {};
  // Verification inputs.
  std::optional<Bytes> expected_nonce = std::nullopt;
  absl::Time at = kAt;
  OcspVerifyOptions options = {};
  std::function<const X509*(const Pki&)> verify_cert = [](const Pki& p) {
    return p.good.cert.get();
  };
  // Want either an error code or a reason code.
  std::optional<OcspError> want_error = std::nullopt;
  std::string want_reason = "OK";
  int want_revocation_reason = -1;
  std::string want_responder_prefix = "issuer: ";
};

TEST_F(OcspTest, InProcessResponsesChangeOneThing) {
  const Bytes nonce(kOcspNonceBytes, 0x5a);
  const Bytes other_nonce(kOcspNonceBytes, 0xa5);
  OcspVerifyOptions allow_missing_nonce;
  allow_missing_nonce.allow_missing_nonce = true;
  OcspVerifyOptions allow_missing_next;
  allow_missing_next.allow_missing_next_update = true;
  const std::vector<Row> rows = {
      {.name = "good, issuer-signed, byName"},
      {.name = "good, issuer-signed, byKey, no certs",
       .change = [](ResponseSpec& s, const Pki&) {
         s.responder_id_by_key = true;
         s.include_signer_cert = false;
       }},
      {.name = "good, delegated",
       .change = [](ResponseSpec& s, const Pki& p) { s.signer = &p.delegated; },
       .want_responder_prefix = "delegated: "},
      {.name = "good, delegated, byKey",
       .change = [](ResponseSpec& s, const Pki& p) {
         s.signer = &p.delegated;
         s.responder_id_by_key = true;
       },
       .want_responder_prefix = "delegated: "},
      {.name = "delegated certificate not in the response",
       .change = [](ResponseSpec& s, const Pki& p) {
         s.signer = &p.delegated;
         s.include_signer_cert = false;
       },
       .want_error = OcspError::kSignerUnauthorized},
      {.name = "delegated without EKU",
       .change = [](ResponseSpec& s, const Pki& p) { s.signer = &p.no_eku; },
       .want_error = OcspError::kSignerUnauthorized},
      {.name = "delegated with serverAuth EKU only",
       .change = [](ResponseSpec& s, const Pki& p) { s.signer = &p.server_auth_eku; },
       .want_error = OcspError::kSignerUnauthorized},
      {.name = "delegated, expired at `at`",
       .change = [](ResponseSpec& s, const Pki& p) { s.signer = &p.expired_delegated; },
       .want_error = OcspError::kSignerUnauthorized},
      {.name = "delegated by a foreign CA (with EKU)",
       .change = [](ResponseSpec& s, const Pki& p) { s.signer = &p.foreign_delegated; },
       .want_error = OcspError::kSignerUnauthorized},
      {.name = "foreign CA itself",
       .change = [](ResponseSpec& s, const Pki& p) { s.signer = &p.foreign_root; },
       .want_error = OcspError::kSignerUnauthorized},
      {.name = "impostor with the issuer's name (signature fails with the issuer key)",
       .change = [](ResponseSpec& s, const Pki& p) { s.signer = &p.impostor; },
       .want_error = OcspError::kSignatureInvalid},
      {.name = "revoked without reason",
       .change = [](ResponseSpec& s, const Pki&) { s.cert_status = V_OCSP_CERTSTATUS_REVOKED; },
       .want_reason = "CERT_REVOKED"},
      {.name = "revoked keyCompromise",
       .change = [](ResponseSpec& s, const Pki&) {
         s.cert_status = V_OCSP_CERTSTATUS_REVOKED;
         s.reason = OCSP_REVOKED_STATUS_KEYCOMPROMISE;
       },
       .want_reason = "CERT_REVOKED",
       .want_revocation_reason = 1},
      {.name = "certificateHold",
       .change = [](ResponseSpec& s, const Pki&) {
         s.cert_status = V_OCSP_CERTSTATUS_REVOKED;
         s.reason = OCSP_REVOKED_STATUS_CERTIFICATEHOLD;
       },
       .want_reason = "CERT_ON_HOLD",
       .want_revocation_reason = 6},
      {.name = "unknown",
       .change = [](ResponseSpec& s, const Pki&) { s.cert_status = V_OCSP_CERTSTATUS_UNKNOWN; },
       .want_reason = "OCSP_UNKNOWN"},
      {.name = "certID of another certificate",
       .change = [](ResponseSpec& s, const Pki& p) { s.subject = p.revoked.cert.get(); },
       .want_error = OcspError::kCertIdMismatch},
      {.name = "two single responses for the certificate",
       .change = [](ResponseSpec& s, const Pki&) { s.duplicate_single = true; },
       .want_error = OcspError::kMalformed},
      {.name = "nonce matches",
       .change = [&](ResponseSpec& s, const Pki&) { s.nonce = nonce; },
       .expected_nonce = nonce},
      {.name = "nonce differs",
       .change = [&](ResponseSpec& s, const Pki&) { s.nonce = other_nonce; },
       .expected_nonce = nonce,
       .want_error = OcspError::kNonceMismatch},
      {.name = "nonce missing", .expected_nonce = nonce, .want_error = OcspError::kNonceMissing},
      {.name = "nonce missing, allowed",
       .expected_nonce = nonce,
       .options = allow_missing_nonce},
      {.name = "nonce not requested, response has one",
       .change = [&](ResponseSpec& s, const Pki&) { s.nonce = other_nonce; }},
      {.name = "thisUpdate in the future beyond skew",
       .change = [](ResponseSpec& s, const Pki&) { s.this_update = kAt + absl::Minutes(6); },
       .want_error = OcspError::kNotYetValid},
      {.name = "thisUpdate in the future within skew",
       .change = [](ResponseSpec& s, const Pki&) { s.this_update = kAt + absl::Minutes(4); }},
      {.name = "nextUpdate passed beyond skew",
       .change = [](ResponseSpec& s, const Pki&) {
         s.this_update = kAt - absl::Hours(2);
         s.next_update = kAt - absl::Minutes(6);
       },
       .want_error = OcspError::kStale},
      {.name = "nextUpdate passed within skew",
       .change = [](ResponseSpec& s, const Pki&) {
         s.this_update = kAt - absl::Hours(2);
         s.next_update = kAt - absl::Minutes(4);
       }},
      {.name = "no nextUpdate",
       .change = [](ResponseSpec& s, const Pki&) { s.next_update = std::nullopt; },
       .want_error = OcspError::kStale},
      {.name = "no nextUpdate, allowed",
       .change = [](ResponseSpec& s, const Pki&) { s.next_update = std::nullopt; },
       .options = allow_missing_next},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    ResponseSpec spec;
    row.change(spec, *pki_);
    absl::StatusOr<Bytes> der = MakeResponse(*pki_, spec);
    ASSERT_TRUE(der.ok()) << der.status();
    std::optional<std::span<const uint8_t>> expected;
    if (row.expected_nonce) {
      expected = *row.expected_nonce;
    }
    absl::StatusOr<OcspResult> r =
        Verify(*der, row.verify_cert(*pki_), expected, row.at, row.options);
    if (row.want_error) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(GetOcspError(r.status()), row.want_error) << r.status();
      EXPECT_THAT(std::string(r.status().message()),
                  StartsWith(absl::StrCat(std::string(OcspErrorName(*row.want_error)), ": ")));
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->reason_code, row.want_reason);
    EXPECT_EQ(r->revocation_reason, row.want_revocation_reason);
    EXPECT_THAT(r->responder, StartsWith(row.want_responder_prefix));
    EXPECT_EQ(r->this_update, absl::FromUnixSeconds(absl::ToUnixSeconds(spec.this_update)));
    if (row.want_reason == "CERT_REVOKED" || row.want_reason == "CERT_ON_HOLD") {
      EXPECT_EQ(r->status, OcspStatus::kRevoked);
      EXPECT_EQ(r->revocation_time, kRevokedAt);
    }
  }
}

// ---------------------------------------------------------------------------
// A real `openssl ocsp` responder on loopback (tests/testing/ocsp_responder.h).

struct Fixture {
  std::unique_ptr<Pki> pki;
  std::filesystem::path dir;
  std::unique_ptr<Responder> by_issuer, by_delegated, by_no_eku, by_foreign;

  ~Fixture() {
    // Responders first, then their files.
    by_issuer.reset();
    by_delegated.reset();
    by_no_eku.reset();
    by_foreign.reset();
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

absl::StatusOr<std::unique_ptr<Fixture>> MakeFixture() {
  auto f = std::make_unique<Fixture>();
  ASSIGN_OR_RETURN(f->pki, MakePki());
  // A missing `openssl` is a broken environment, not a reason to skip.
  const std::string openssl = FindOnPath("openssl");
  if (openssl.empty()) {
    return absl::FailedPreconditionError(
        "the `openssl` binary (a project dependency) is not on PATH");
  }
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "rp_ocsp_test_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError("mkdtemp");
  }
  f->dir = tmpl;
  const Pki& p = *f->pki;
  const std::string index = absl::StrCat(
      IndexLine(p.good.cert.get(), ""),
      IndexLine(p.revoked.cert.get(), absl::StrCat(IndexTime(kRevokedAt), ",keyCompromise")),
      IndexLine(p.hold.cert.get(), absl::StrCat(IndexTime(kRevokedAt), ",certificateHold")));
  std::ofstream(f->dir / "index.txt") << index;
  if (!WritePem(f->dir / "issuer.pem", p.issuer.cert.get(), nullptr) ||
      !WritePem(f->dir / "issuer.key", nullptr, p.issuer.key.get()) ||
      !WritePem(f->dir / "delegated.pem", p.delegated.cert.get(), nullptr) ||
      !WritePem(f->dir / "delegated.key", nullptr, p.delegated.key.get()) ||
      !WritePem(f->dir / "noeku.pem", p.no_eku.cert.get(), nullptr) ||
      !WritePem(f->dir / "noeku.key", nullptr, p.no_eku.key.get()) ||
      !WritePem(f->dir / "foreign.pem", p.foreign_delegated.cert.get(), nullptr) ||
      !WritePem(f->dir / "foreign.key", nullptr, p.foreign_delegated.key.get())) {
    return absl::InternalError("writing PEM files");
  }
  auto start = [&](const std::string& signer) {
    return Responder::Start(openssl,
                            {"-index", (f->dir / "index.txt").string(), "-CA",
                             (f->dir / "issuer.pem").string(), "-rsigner",
                             (f->dir / (signer + ".pem")).string(), "-rkey",
                             (f->dir / (signer + ".key")).string(), "-ndays", "1"},
                            f->dir, signer);
  };
  ASSIGN_OR_RETURN(f->by_issuer, start("issuer"));
  ASSIGN_OR_RETURN(f->by_delegated, start("delegated"));
  ASSIGN_OR_RETURN(f->by_no_eku, start("noeku"));
  ASSIGN_OR_RETURN(f->by_foreign, start("foreign"));
  ASSIGN_OR_RETURN(const OcspRequest probe,
                   BuildOcspRequest(p.good.cert.get(), p.issuer.cert.get(), {}));
  for (Responder* r : {f->by_issuer.get(), f->by_delegated.get(), f->by_no_eku.get(),
                       f->by_foreign.get()}) {
    RETURN_IF_ERROR(r->WaitReady(probe.der));
  }
  return f;
}

class OcspResponderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    absl::StatusOr<std::unique_ptr<Fixture>> f = MakeFixture();
    if (f.ok()) {
      fixture_ = std::move(*f);
    } else {
      setup_status_ = f.status();  // reported by every test: never a silent skip
    }
  }
  static void TearDownTestSuite() {
    fixture_.reset();
    curl_global_cleanup();
  }
  void SetUp() override {
    ASSERT_TRUE(setup_status_.ok()) << setup_status_;
    ASSERT_NE(fixture_, nullptr);
  }

  struct Exchange {
    OcspRequest request;
    Bytes response;
  };
  static absl::StatusOr<Exchange> Ask(const Responder& responder, const X509* cert,
                                      bool with_nonce = true) {
    Exchange e;
    ASSIGN_OR_RETURN(e.request, BuildOcspRequest(cert, fixture_->pki->issuer.cert.get(),
                                                 {.with_nonce = with_nonce}));
    ASSIGN_OR_RETURN(e.response, PostOcsp(responder.url(), e.request.der));
    return e;
  }
  static absl::StatusOr<OcspResult> Check(const Exchange& e, const X509* cert, absl::Time at,
                                          const OcspVerifyOptions& options = {}) {
    std::optional<std::span<const uint8_t>> nonce;
    if (!e.request.nonce.empty()) {
      nonce = e.request.nonce;
    }
    return VerifyOcspResponse(e.response, cert, fixture_->pki->issuer.cert.get(), nonce, at,
                              options);
  }
  const Pki& pki() const { return *fixture_->pki; }

  static inline std::unique_ptr<Fixture> fixture_;
  static inline absl::Status setup_status_;
};

// The responder stamps thisUpdate with the real clock, so these tests verify
// at the real time (the library itself never reads the clock).
TEST_F(OcspResponderTest, StatusesFromRealResponder) {
  struct Case {
    std::string name;
    const Responder* responder;
    const X509* cert;
    std::string want_reason;
    int want_revocation_reason;
    std::string want_responder_prefix;
  };
  const std::vector<Case> cases = {
      {"good, issuer-signed", fixture_->by_issuer.get(), pki().good.cert.get(), "OK", -1,
       "issuer: "},
      {"good, delegated", fixture_->by_delegated.get(), pki().good.cert.get(), "OK", -1,
       "delegated: "},
      {"revoked keyCompromise", fixture_->by_issuer.get(), pki().revoked.cert.get(),
       "CERT_REVOKED", 1, "issuer: "},
      {"certificateHold", fixture_->by_issuer.get(), pki().hold.cert.get(), "CERT_ON_HOLD", 6,
       "issuer: "},
      {"certificateHold, delegated", fixture_->by_delegated.get(), pki().hold.cert.get(),
       "CERT_ON_HOLD", 6, "delegated: "},
      {"unknown serial", fixture_->by_issuer.get(), pki().unknown.cert.get(), "OCSP_UNKNOWN", -1,
       "issuer: "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Exchange> e = Ask(*c.responder, c.cert);
    ASSERT_TRUE(e.ok()) << e.status();
    const absl::Time now = absl::Now();
    absl::StatusOr<OcspResult> r = Check(*e, c.cert, now);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->reason_code, c.want_reason);
    EXPECT_EQ(r->revocation_reason, c.want_revocation_reason);
    EXPECT_THAT(r->responder, StartsWith(c.want_responder_prefix));
    EXPECT_LE(r->this_update, now);
    EXPECT_GT(r->next_update, now);
    if (c.want_revocation_reason >= 0) {
      EXPECT_EQ(r->status, OcspStatus::kRevoked);
      EXPECT_EQ(r->revocation_time, kRevokedAt);
    }
  }
}

TEST_F(OcspResponderTest, WrongSignersAreUnauthorized) {
  for (const Responder* responder : {fixture_->by_no_eku.get(), fixture_->by_foreign.get()}) {
    absl::StatusOr<Exchange> e = Ask(*responder, pki().good.cert.get());
    ASSERT_TRUE(e.ok()) << e.status();
    absl::StatusOr<OcspResult> r = Check(*e, pki().good.cert.get(), absl::Now());
    EXPECT_EQ(GetOcspError(r.status()), OcspError::kSignerUnauthorized) << r.status();
    EXPECT_THAT(std::string(r.status().message()), StartsWith("OCSP_SIGNER_UNAUTHORIZED: "));
  }
}

TEST_F(OcspResponderTest, StaleAndNotYetValid) {
  absl::StatusOr<Exchange> e = Ask(*fixture_->by_issuer, pki().good.cert.get());
  ASSERT_TRUE(e.ok()) << e.status();
  // -ndays 1: nextUpdate is a day after thisUpdate.
  EXPECT_EQ(GetOcspError(Check(*e, pki().good.cert.get(), absl::Now() + absl::Hours(48)).status()),
            OcspError::kStale);
  EXPECT_EQ(GetOcspError(Check(*e, pki().good.cert.get(), absl::Now() - absl::Hours(1)).status()),
            OcspError::kNotYetValid);
}

TEST_F(OcspResponderTest, NonceMismatchAndMissing) {
  absl::StatusOr<Exchange> e = Ask(*fixture_->by_issuer, pki().good.cert.get());
  ASSERT_TRUE(e.ok()) << e.status();
  Exchange other = *e;
  other.request.nonce = RandomBytes(kOcspNonceBytes);
  absl::StatusOr<OcspResult> r = Check(other, pki().good.cert.get(), absl::Now());
  EXPECT_EQ(GetOcspError(r.status()), OcspError::kNonceMismatch) << r.status();

  // Sent without a nonce: the responder answers without one.
  absl::StatusOr<Exchange> plain = Ask(*fixture_->by_issuer, pki().good.cert.get(), false);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(Check(*plain, pki().good.cert.get(), absl::Now()).ok());
  Exchange expecting = *plain;
  expecting.request.nonce = RandomBytes(kOcspNonceBytes);
  EXPECT_EQ(GetOcspError(Check(expecting, pki().good.cert.get(), absl::Now()).status()),
            OcspError::kNonceMissing);
  OcspVerifyOptions allow;
  allow.allow_missing_nonce = true;
  EXPECT_TRUE(Check(expecting, pki().good.cert.get(), absl::Now(), allow).ok());
}

TEST_F(OcspResponderTest, CertIdMismatch) {
  absl::StatusOr<Exchange> e = Ask(*fixture_->by_issuer, pki().good.cert.get());
  ASSERT_TRUE(e.ok()) << e.status();
  absl::StatusOr<OcspResult> r = Check(*e, pki().revoked.cert.get(), absl::Now());
  EXPECT_EQ(GetOcspError(r.status()), OcspError::kCertIdMismatch) << r.status();
}

Bytes FlipAt(Bytes der, std::span<const uint8_t> needle, size_t offset_in_needle) {
  const auto it = std::search(der.begin(), der.end(), needle.begin(), needle.end());
  if (it == der.end()) {
    return {};
  }
  *(it + static_cast<std::ptrdiff_t>(offset_in_needle)) ^= 0x01;
  return der;
}

TEST_F(OcspResponderTest, TamperedAndGarbage) {
  for (const Responder* responder : {fixture_->by_issuer.get(), fixture_->by_delegated.get()}) {
    absl::StatusOr<Exchange> e = Ask(*responder, pki().good.cert.get());
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_TRUE(Check(*e, pki().good.cert.get(), absl::Now()).ok());

    // A byte inside tbsResponseData (the echoed nonce).
    Exchange tampered = *e;
    tampered.response = FlipAt(e->response, e->request.nonce, 0);
    ASSERT_FALSE(tampered.response.empty());
    EXPECT_EQ(GetOcspError(Check(tampered, pki().good.cert.get(), absl::Now()).status()),
              OcspError::kSignatureInvalid);

    // The last byte of the signature value.
    const unsigned char* p = e->response.data();
    OpensslPtr<OCSP_RESPONSE> parsed(
        d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(e->response.size())));
    ASSERT_NE(parsed, nullptr);
    OpensslPtr<OCSP_BASICRESP> basic(OCSP_response_get1_basic(parsed.get()));
    ASSERT_NE(basic, nullptr);
    const ASN1_OCTET_STRING* sig = OCSP_resp_get0_signature(basic.get());
    const std::span<const uint8_t> sig_bytes(ASN1_STRING_get0_data(sig),
                                             static_cast<size_t>(ASN1_STRING_length(sig)));
    tampered.response = FlipAt(e->response, sig_bytes, sig_bytes.size() - 1);
    ASSERT_FALSE(tampered.response.empty());
    const std::optional<OcspError> err =
        GetOcspError(Check(tampered, pki().good.cert.get(), absl::Now()).status());
    EXPECT_TRUE(err == OcspError::kSignatureInvalid || err == OcspError::kMalformed)
        << (err ? std::string(OcspErrorName(*err)) : "none");
  }
  Exchange garbage;
  garbage.response = Bytes(200, 0x42);
  EXPECT_EQ(GetOcspError(Check(garbage, pki().good.cert.get(), absl::Now()).status()),
            OcspError::kMalformed);
}

}  // namespace
}  // namespace rp::crypto
