// The verified-object memo (verified_memo.h): a hit gives exactly what the
// full computation gives, at every time around every validity edge; only
// successes are remembered; the doorkeeper and the caps bound it.
#include "verifier/crypto/verified_memo.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/testing/cert_factory.h"
#include "verifier/crypto/crl.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/verified_memo_internal.h"
#include "verifier/crypto/x509.h"

namespace rp::crypto {
namespace {

using ::rp::testing::CertSpec;
using ::rp::testing::Issued;
using ::rp::testing::KeyType;

class MemoTest : public ::testing::Test {
 protected:
  void SetUp() override { ConfigureVerifiedMemo(MemoOptions{}); }
  void TearDown() override { ConfigureVerifiedMemo(MemoOptions{}); }
};

CertSpec Spec(const std::string& cn, int64_t nb, int64_t na, bool ca) {
  CertSpec s;
  s.common_name = cn;
  s.not_before = absl::FromUnixSeconds(nb);
  s.not_after = absl::FromUnixSeconds(na);
  s.is_ca = ca;
  return s;
}

// What a chain verification says, in a comparable form.
std::string Outcome(const absl::StatusOr<ChainResult>& r) {
  if (!r.ok()) return absl::StrCat("status ", r.status().ToString());
  std::string out = absl::StrCat("error ", static_cast<int>(r->error), " path");
  for (const X509* c : r->path) out += " " + SubjectCommonName(c);
  return out;
}

TEST_F(MemoTest, ParsedCertificateIsSharedAfterTheSecondSighting) {
  Issued root = testing::MakeRoot(Spec("Root", 1600000000, 2500000000, true), KeyType::kEcP384)
                    .value();
  const Bytes der = CertificateDer(root.cert.get());
  const MemoKindStats before = VerifiedMemoStats(MemoKind::kCertificate);
  auto a = ParseDerCertificate(der).value();  // miss, doorkeeper
  auto b = ParseDerCertificate(der).value();  // miss, admitted
  auto c = ParseDerCertificate(der).value();  // hit
  const MemoKindStats after = VerifiedMemoStats(MemoKind::kCertificate);
  EXPECT_EQ(after.hits - before.hits, 1u);
  EXPECT_EQ(after.misses - before.misses, 2u);
  EXPECT_EQ(after.admitted - before.admitted, 1u);
  EXPECT_NE(a.get(), b.get());
  EXPECT_EQ(b.get(), c.get());  // the shared object, a new reference
  EXPECT_EQ(X509_cmp(a.get(), c.get()), 0);
  // Trailing bytes after a remembered DER are still refused.
  Bytes longer = der;
  longer.push_back(0);
  EXPECT_FALSE(ParseDerCertificate(longer).ok());
  // Bypass: a fresh parse.
  ScopedMemoBypass bypass;
  auto d = ParseDerCertificate(der).value();
  EXPECT_NE(d.get(), c.get());
}

// Memo keys name a certificate by the SHA-256 of its DER. A certificate the
// parse memo shares carries that digest; any other is encoded and hashed.
// Either way it is the digest of exactly its own DER.
TEST_F(MemoTest, CertificateDigestIsTheDigestOfItsDer) {
  Issued root = testing::MakeRoot(Spec("Root", 1600000000, 2500000000, true), KeyType::kEcP384)
                    .value();
  Issued other = testing::MakeRoot(Spec("Other", 1600000000, 2500000000, true), KeyType::kEcP384)
                     .value();
  const Bytes der = CertificateDer(root.cert.get());
  auto digest_of = [](const X509* c) {
    std::array<uint8_t, 32> d{};
    EXPECT_TRUE(memo_internal::CertificateDigest(c, d));
    return Bytes(d.begin(), d.end());
  };
  EXPECT_EQ(digest_of(root.cert.get()), Sha256(der));  // never in the memo
  EXPECT_EQ(digest_of(other.cert.get()), Sha256(CertificateDer(other.cert.get())));
  EXPECT_NE(digest_of(root.cert.get()), digest_of(other.cert.get()));
  for (int i = 0; i < 3; ++i) {  // admitted on the second sighting, then shared
    auto parsed = ParseDerCertificate(der).value();
    EXPECT_EQ(digest_of(parsed.get()), Sha256(der)) << i;
  }
  const std::string pem = CertificatePem(other.cert.get()) + CertificatePem(root.cert.get());
  for (int i = 0; i < 3; ++i) {
    auto certs = ParsePemCertificates(pem, 2).value();
    EXPECT_EQ(digest_of(certs[0].get()), Sha256(CertificateDer(other.cert.get()))) << i;
    EXPECT_EQ(digest_of(certs[1].get()), Sha256(der)) << i;
  }
  EXPECT_GE(VerifiedMemoStats(MemoKind::kPemCertificates).hits, 1u);
  std::array<uint8_t, 32> d{};
  EXPECT_FALSE(memo_internal::CertificateDigest(nullptr, d));
}

// A certificate shared through the memo carries its key's identity, which
// KeyBuilder::Key then uses instead of encoding the key again: the memo key
// must be the same either way (else a pinned and an unpinned copy of one key
// would miss each other), and different keys must still differ.
TEST_F(MemoTest, PinnedKeyIdentityGivesTheSameKeyAsEncodingIt) {
  auto key_of = [](const EVP_PKEY* k) {
    return memo_internal::KeyBuilder(MemoKind::kSignature).Text("t").Key(k).Finish();
  };
  std::vector<std::string> seen;
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048}) {
    Issued root =
        testing::MakeRoot(Spec("Root", 1600000000, 2500000000, true), type).value();
    const Bytes der = CertificateDer(root.cert.get());
    const std::string unpinned = key_of(PublicKey(root.cert.get()));
    ASSERT_EQ(unpinned.size(), 32u);
    // Parsed three times: admitted (and pinned) on the second sighting, then
    // the memo's shared object, whose key has its identity attached.
    for (int i = 0; i < 3; ++i) {
      auto parsed = ParseDerCertificate(der).value();
      EXPECT_EQ(key_of(PublicKey(parsed.get())), unpinned) << static_cast<int>(type) << " " << i;
    }
    seen.push_back(unpinned);
  }
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_NE(seen[1], seen[2]);
  EXPECT_NE(seen[0], seen[2]);
  EXPECT_GE(VerifiedMemoStats(MemoKind::kCertificate).hits, 1u);
  EXPECT_EQ(key_of(nullptr), "");
}

TEST_F(MemoTest, PemBundleHitKeepsTheCountLimit) {
  Issued root = testing::MakeRoot(Spec("Root", 1600000000, 2500000000, true), KeyType::kEcP256)
                    .value();
  Issued leaf = testing::MakeCert(Spec("Leaf", 1600000000, 2500000000, false), KeyType::kEcP256,
                                  root.cert.get(), root.key.get())
                    .value();
  const std::string pem = CertificatePem(leaf.cert.get()) + CertificatePem(root.cert.get());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(ParsePemCertificates(pem, 2).value().size(), 2u);
  }
  EXPECT_GE(VerifiedMemoStats(MemoKind::kPemCertificates).hits, 1u);
  const auto too_many = ParsePemCertificates(pem, 1);
  ASSERT_FALSE(too_many.ok());
  ScopedMemoBypass bypass;
  const auto reference = ParsePemCertificates(pem, 1);
  ASSERT_FALSE(reference.ok());
  EXPECT_EQ(too_many.status(), reference.status());
}

// Property: for a 3-certificate chain with staggered windows, the memoised
// verification equals the full one at every second around every edge, in
// both orders (the memo primed at a valid time, then asked everywhere).
TEST_F(MemoTest, ChainHitEqualsFullVerificationAroundEveryWindowEdge) {
  const int64_t r_nb = 1600000000, r_na = 2400000000;
  const int64_t i_nb = 1650000000, i_na = 2300000000;
  const int64_t l_nb = 1700000000, l_na = 1800000000;
  Issued root = testing::MakeRoot(Spec("Root", r_nb, r_na, true), KeyType::kEcP384).value();
  Issued inter = testing::MakeCert(Spec("Inter", i_nb, i_na, true), KeyType::kEcP384,
                                   root.cert.get(), root.key.get())
                     .value();
  Issued leaf = testing::MakeCert(Spec("Leaf", l_nb, l_na, false), KeyType::kEcP256,
                                  inter.cert.get(), inter.key.get())
                    .value();
  const X509* inters[] = {inter.cert.get()};
  const X509* roots[] = {root.cert.get()};
  std::vector<int64_t> times;
  for (int64_t edge : {r_nb, r_na, i_nb, i_na, l_nb, l_na}) {
    for (int64_t d : {-1, 0, 1}) times.push_back(edge + d);
  }
  uint64_t hits = 0;
  for (size_t expected_length : {size_t{0}, size_t{3}, size_t{2}}) {
    ConfigureVerifiedMemo(MemoOptions{});
    ChainOptions o;
    o.expected_length = expected_length;
    // Prime: seen twice at a valid time -> admitted.
    o.at = absl::FromUnixSeconds(1750000000);
    for (int i = 0; i < 2; ++i) {
      (void)VerifyChain(leaf.cert.get(), inters, roots, o);
    }
    for (int64_t t : times) {
      o.at = absl::FromUnixSeconds(t) + absl::Milliseconds(500);
      const std::string memo = Outcome(VerifyChain(leaf.cert.get(), inters, roots, o));
      std::string full;
      {
        ScopedMemoBypass bypass;
        full = Outcome(VerifyChain(leaf.cert.get(), inters, roots, o));
      }
      EXPECT_EQ(memo, full) << "t=" << t << " expected_length=" << expected_length;
    }
    const uint64_t h = VerifiedMemoStats(MemoKind::kChain).hits;
    // A verifying shape is remembered and answers inside the window: the
    // probes notBefore, notBefore+1 and notAfter-1 of the leaf, whose window
    // is the innermost; the wrong shape is never remembered.
    if (expected_length == 2) {
      EXPECT_EQ(h, 0u);
    } else {
      EXPECT_EQ(h, 3u) << expected_length;
    }
    hits += h;
  }
  EXPECT_EQ(hits, 6u);
  // A different root set is a different key: no answer carried over.
  Issued other = testing::MakeRoot(Spec("Other", r_nb, r_na, true), KeyType::kEcP384).value();
  const X509* other_roots[] = {other.cert.get()};
  ChainOptions o;
  o.at = absl::FromUnixSeconds(1750000000);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(VerifyChain(leaf.cert.get(), inters, other_roots, o)->ok());
  }
}

TEST_F(MemoTest, ChainWithTwoCandidateIssuersIsNeverRemembered) {
  Issued root = testing::MakeRoot(Spec("Root", 1600000000, 2400000000, true), KeyType::kEcP384)
                    .value();
  // A second root with the same subject name: the path is not forced.
  Issued twin = testing::MakeRoot(Spec("Root", 1600000000, 1700000000, true), KeyType::kEcP384)
                    .value();
  Issued leaf = testing::MakeCert(Spec("Leaf", 1600000000, 2400000000, false), KeyType::kEcP256,
                                  root.cert.get(), root.key.get())
                    .value();
  const X509* roots[] = {twin.cert.get(), root.cert.get()};
  ChainOptions o;
  o.at = absl::FromUnixSeconds(1750000000);
  const MemoKindStats before = VerifiedMemoStats(MemoKind::kChain);
  for (int i = 0; i < 3; ++i) {
    const std::string memo = Outcome(VerifyChain(leaf.cert.get(), {}, roots, o));
    ScopedMemoBypass bypass;
    EXPECT_EQ(memo, Outcome(VerifyChain(leaf.cert.get(), {}, roots, o)));
  }
  const MemoKindStats after = VerifiedMemoStats(MemoKind::kChain);
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);  // not even looked up
}

// A presented chain that ends with the trusted root (GPU and RIM chains do):
// the same certificate in both lists is one candidate, so it is remembered.
TEST_F(MemoTest, ChainPresentingItsRootIsRemembered) {
  Issued root = testing::MakeRoot(Spec("Root", 1600000000, 2400000000, true), KeyType::kEcP384)
                    .value();
  Issued leaf = testing::MakeCert(Spec("Leaf", 1600000000, 2400000000, false), KeyType::kEcP256,
                                  root.cert.get(), root.key.get())
                    .value();
  // A separately parsed copy of the root: another object, the same bytes.
  auto copy = ParseDerCertificate(CertificateDer(root.cert.get())).value();
  const X509* inters[] = {copy.get()};
  const X509* roots[] = {root.cert.get()};
  ChainOptions o;
  o.at = absl::FromUnixSeconds(1750000000);
  o.expected_length = 2;
  for (int i = 0; i < 3; ++i) {
    const std::string memo = Outcome(VerifyChain(leaf.cert.get(), inters, roots, o));
    ScopedMemoBypass bypass;
    EXPECT_EQ(memo, Outcome(VerifyChain(leaf.cert.get(), inters, roots, o)));
  }
  EXPECT_EQ(VerifiedMemoStats(MemoKind::kChain).hits, 1u);
}

TEST_F(MemoTest, SignatureSuccessesOnlyAndExactInputs) {
  auto key = GenerateEcKey("P-384").value();
  const Bytes msg = {1, 2, 3, 4};
  const Bytes sig = SignEcdsaP1363(key.get(), msg, true).value();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(VerifyEcdsaP1363(key.get(), msg, sig, HashAlg::kSha384).ok());
  }
  EXPECT_EQ(VerifiedMemoStats(MemoKind::kSignature).hits, 1u);
  // Every one-bit change still fails, every time (failures are not kept).
  Bytes bad = sig;
  bad[10] ^= 1;
  Bytes other_msg = msg;
  other_msg[0] ^= 1;
  auto other_key = GenerateEcKey("P-384").value();
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(VerifyEcdsaP1363(key.get(), msg, bad, HashAlg::kSha384).ok());
    EXPECT_FALSE(VerifyEcdsaP1363(key.get(), other_msg, sig, HashAlg::kSha384).ok());
    EXPECT_FALSE(VerifyEcdsaP1363(other_key.get(), msg, sig, HashAlg::kSha384).ok());
    EXPECT_FALSE(VerifyEcdsaP1363(key.get(), msg, sig, HashAlg::kSha256).ok());
  }
  EXPECT_EQ(VerifiedMemoStats(MemoKind::kSignature).hits, 1u);
}

TEST_F(MemoTest, CrlSignatureMemoKeepsDatesAndIssuerChecks) {
  Issued root = testing::MakeRoot(Spec("Root", 1600000000, 2400000000, true), KeyType::kEcP384)
                    .value();
  Issued other = testing::MakeRoot(Spec("Other", 1600000000, 2400000000, true), KeyType::kEcP384)
                     .value();
  testing::CrlSpec spec;
  spec.this_update = absl::FromUnixSeconds(1700000000);
  spec.next_update = absl::FromUnixSeconds(1800000000);
  auto crl = testing::MakeCrl(spec, root.cert.get(), root.key.get()).value();
  for (int64_t t : {1699999999, 1700000000, 1750000000, 1800000000, 1800000001, 1750000000}) {
    const CrlCheck memo = CheckCrl(crl.get(), root.cert.get(), root.cert.get(),
                                   absl::FromUnixSeconds(t));
    ScopedMemoBypass bypass;
    const CrlCheck full = CheckCrl(crl.get(), root.cert.get(), root.cert.get(),
                                   absl::FromUnixSeconds(t));
    EXPECT_EQ(memo.outcome, full.outcome) << t;
    EXPECT_EQ(memo.detail, full.detail) << t;
  }
  EXPECT_GE(VerifiedMemoStats(MemoKind::kCrlSignature).hits, 1u);
  // Another issuer key never rides on the remembered success.
  EXPECT_EQ(CheckCrl(crl.get(), other.cert.get(), other.cert.get(),
                     absl::FromUnixSeconds(1750000000))
                .outcome,
            CrlOutcome::kBadSignature);
}

TEST_F(MemoTest, DisabledMeansNoLookups) {
  MemoOptions off;
  off.enabled = false;
  ConfigureVerifiedMemo(off);
  auto key = GenerateEcKey("P-256").value();
  const Bytes msg = {9};
  const Bytes sig = SignEcdsaP1363(key.get(), msg, false).value();
  const MemoKindStats before = VerifiedMemoStats(MemoKind::kSignature);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(VerifyEcdsaP1363(key.get(), msg, sig, HashAlg::kSha256).ok());
  const MemoKindStats after = VerifiedMemoStats(MemoKind::kSignature);
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.entries, 0u);
}

TEST_F(MemoTest, EntryCapEvictsLeastRecentlyUsed) {
  MemoOptions small;
  small.max_entries = 2;
  ConfigureVerifiedMemo(small);
  auto key = GenerateEcKey("P-256").value();
  for (uint8_t m = 0; m < 5; ++m) {
    const Bytes msg = {m};
    const Bytes sig = SignEcdsaP1363(key.get(), msg, false).value();
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(VerifyEcdsaP1363(key.get(), msg, sig, HashAlg::kSha256).ok());
  }
  const MemoKindStats s = VerifiedMemoStats(MemoKind::kSignature);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.evictions, 3u);
}

TEST_F(MemoTest, SeenOnceNeverAdmitted) {
  auto key = GenerateEcKey("P-256").value();
  for (uint8_t m = 0; m < 50; ++m) {
    const Bytes msg = {m, 1};
    const Bytes sig = SignEcdsaP1363(key.get(), msg, false).value();
    ASSERT_TRUE(VerifyEcdsaP1363(key.get(), msg, sig, HashAlg::kSha256).ok());
  }
  EXPECT_EQ(VerifiedMemoStats(MemoKind::kSignature).entries, 0u);
}

}  // namespace
}  // namespace rp::crypto
