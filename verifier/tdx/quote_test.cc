// Quote parser: golden layout against real quotes (every field at its
// documented absolute offset), exact-nesting rules, and a seeded mutation
// run over the real quotes (truncations, bit flips, byte writes) checking
// the parser's invariants (tests/fuzz/tdx_quote_fuzzer.h).
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/tdx_quote_fuzzer.h"
#include "verifier/tdx/layout.h"
#include "verifier/tdx/quote.h"
#include "verifier/tdx/test_util.h"

namespace rp::tdx {
namespace {

std::string Hex(std::span<const uint8_t> b) { return HexEncode(b); }

TEST(TdxQuoteLayout, PhalaV4FieldsAtTheirOffsets) {
  const Bytes raw = test::ReadTdxData("phala_uptodate/quote.bin");
  ASSERT_EQ(raw.size(), 5006u);
  absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(raw);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->version, 4);
  EXPECT_EQ(q->attestation_key_type, 2);
  EXPECT_EQ(q->tee_type, 0x81u);
  EXPECT_EQ(q->body_type, kBodyTypeTd10);
  // Absolute offsets: body at 48 (Intel DCAP API, Appendix A.3).
  const std::span<const uint8_t> r(raw);
  EXPECT_EQ(Hex(q->body.tee_tcb_svn), Hex(r.subspan(48, 16)));
  EXPECT_EQ(Hex(q->body.mrseam), Hex(r.subspan(64, 48)));
  EXPECT_EQ(Hex(q->body.mrtd), Hex(r.subspan(184, 48)));
  EXPECT_EQ(Hex(q->body.rtmr[3]), Hex(r.subspan(520, 48)));
  EXPECT_EQ(Hex(q->body.report_data), Hex(r.subspan(568, 64)));
  EXPECT_EQ(Hex(q->body.mrtd),
            "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b25"
            "38873118b7");
  EXPECT_EQ(q->body.td_attributes, 0x10000000u);
  EXPECT_EQ(q->body.xfam, 0x602e7u);
  EXPECT_FALSE(q->body.tee_tcb_svn2.has_value());
  EXPECT_EQ(q->signed_bytes.size(), 632u);
  // Signature data at 636: signature, key, type 6 (size 4166), QE report.
  EXPECT_EQ(Hex(q->signature), Hex(r.subspan(636, 64)));
  EXPECT_EQ(Hex(q->attestation_key), Hex(r.subspan(700, 64)));
  EXPECT_EQ(Hex(q->qe_report_raw), Hex(r.subspan(770, 384)));
  EXPECT_EQ(q->qe_report.isvprodid, 2);
  EXPECT_EQ(q->qe_report.isvsvn, 6);
  EXPECT_EQ(Hex(q->qe_report.mrsigner),
            "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5");
  EXPECT_EQ(q->qe_auth_data.size(), 32u);
  EXPECT_EQ(q->pck_chain_pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  // The quote buffer carries 70 zero bytes after the signature data.
  EXPECT_EQ(q->zero_padding, 70u);
}

TEST(TdxQuoteLayout, V5Td15FieldsAtTheirOffsets) {
  const Bytes raw = test::ReadTdxData("gotdx_v5/quote.bin");
  absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(raw);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->version, 5);
  EXPECT_EQ(q->body_type, kBodyTypeTd15);
  const std::span<const uint8_t> r(raw);
  // v5: descriptor at 48 (type 3, size 648), body at 54.
  EXPECT_EQ(Hex(r.subspan(48, 6)), "030088020000");
  EXPECT_EQ(Hex(q->body.mrtd), Hex(r.subspan(54 + 136, 48)));
  EXPECT_EQ(Hex(q->body.report_data), Hex(r.subspan(54 + 520, 64)));
  ASSERT_TRUE(q->body.tee_tcb_svn2.has_value());
  EXPECT_EQ(Hex(*q->body.tee_tcb_svn2), Hex(r.subspan(54 + 584, 16)));
  EXPECT_EQ(Hex(*q->body.mrservicetd), Hex(r.subspan(54 + 600, 48)));
  EXPECT_EQ(q->signed_bytes.size(), 48u + 6u + 648u);
  EXPECT_EQ(q->zero_padding, 0u);
}

TEST(TdxQuoteParse, EveryTruncationIsRejected) {
  const Bytes raw = test::ReadTdxData("phala_no_tcb_level/quote.bin");
  ASSERT_TRUE(ParseQuoteUnverified(raw).ok());
  for (size_t n = 0; n < raw.size(); ++n) {
    absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(std::span<const uint8_t>(raw).first(n));
    ASSERT_FALSE(q.ok()) << n;
    ASSERT_EQ(QuoteErrorOf(q.status()), QuoteError::kMalformed) << n << " " << q.status();
  }
}

TEST(TdxQuoteParse, ZeroPaddingAcceptedNonZeroTrailingRejected) {
  Bytes raw = test::ReadTdxData("phala_no_tcb_level/quote.bin");
  raw.push_back(0);
  raw.push_back(0);
  absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(raw);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->zero_padding, 2u);
  raw.push_back(7);
  EXPECT_EQ(QuoteErrorOf(ParseQuoteUnverified(raw).status()), QuoteError::kTrailingBytes);
}

TEST(TdxQuoteParse, ReasonCodesAreStable) {
  EXPECT_EQ(QuoteErrorReason(QuoteError::kMalformed), "QUOTE_MALFORMED");
  EXPECT_EQ(QuoteErrorReason(QuoteError::kUnsupportedVersion), "UNSUPPORTED_QUOTE_VERSION");
  EXPECT_EQ(QuoteErrorReason(QuoteError::kUnsupportedTeeType), "UNSUPPORTED_TEE_TYPE");
  EXPECT_EQ(QuoteErrorReason(QuoteError::kUnsupportedKeyType), "UNSUPPORTED_ATTESTATION_KEY_TYPE");
  EXPECT_EQ(QuoteErrorReason(QuoteError::kUnknownQeVendor), "UNKNOWN_QE_VENDOR");
  EXPECT_EQ(QuoteErrorReason(QuoteError::kUnsupportedCertDataType),
            "UNSUPPORTED_CERTIFICATION_DATA_TYPE");
  EXPECT_EQ(QuoteErrorReason(QuoteError::kTrailingBytes), "QUOTE_TRAILING_BYTES");
  EXPECT_EQ(QuoteErrorOf(absl::InvalidArgumentError("x")), QuoteError::kNone);
}

TEST(TdxQuoteFuzz, RealQuotesSatisfyTheInvariants) {
  for (const char* f : {"phala_uptodate", "phala_no_tcb_level", "gotdx_spr_e4", "gotdx_v5"}) {
    const Bytes raw = test::ReadTdxData(std::string(f) + "/quote.bin");
    ASSERT_FALSE(raw.empty()) << f;
    EXPECT_EQ(fuzz::CheckParseInvariants(raw), "") << f;
  }
}

// A few thousand seeded mutations (deterministic): the parser never crashes
// (ASan/UBSan builds catch memory errors) and its invariants hold.
TEST(TdxQuoteFuzz, SeededMutationsKeepInvariants) {
  std::vector<Bytes> seeds;
  for (const char* f : {"phala_uptodate", "phala_no_tcb_level", "gotdx_spr_e4", "gotdx_v5"}) {
    seeds.push_back(test::ReadTdxData(std::string(f) + "/quote.bin"));
  }
  std::mt19937_64 rng(0x7d75);
  int accepted = 0;
  constexpr int kRuns = 4000;
  for (int i = 0; i < kRuns; ++i) {
    Bytes b = seeds[static_cast<size_t>(i) % seeds.size()];
    const int kind = static_cast<int>(rng() % 5);
    const size_t pos = rng() % b.size();
    switch (kind) {
      case 0: b.resize(pos); break;                                    // truncate
      case 1: b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;  // bit flip
      case 2: b[pos] = static_cast<uint8_t>(rng()); break;             // byte write
      case 3:                                                          // length fields
        for (size_t off : {size_t{632}, size_t{702}, size_t{764}, size_t{766}}) {
          if (off + 1 < b.size() && (rng() & 1)) b[off] = static_cast<uint8_t>(rng());
        }
        break;
      default:                                                         // append
        b.insert(b.end(), static_cast<size_t>(rng() % 8), static_cast<uint8_t>(rng() % 2));
        break;
    }
    const std::string why = fuzz::CheckParseInvariants(b);
    ASSERT_EQ(why, "") << "mutation " << i << " kind " << kind << " at " << pos;
    if (ParseQuoteUnverified(b).ok()) ++accepted;
  }
  // Flips inside signed fields still parse (the signatures catch them).
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, kRuns);
}

}  // namespace
}  // namespace rp::tdx
