#include "server/nonce/nonce_service.h"

#include <fstream>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"

namespace rp::nonce {
namespace {

using attestation::v1::Challenge;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

Bytes TestKey() {
  Bytes key(32);
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<uint8_t>(i);
  }
  return key;
}

// Records calls and answers with a preset result.
class FakeReplayStore : public ReplayStore {
 public:
  absl::StatusOr<bool> MarkUsed(std::span<const uint8_t> /*nonce*/,
                                absl::Time expires_at) override {
    ++calls;
    last_expiry = expires_at;
    return result;
  }
  int calls = 0;
  absl::Time last_expiry;
  absl::StatusOr<bool> result = true;
};

struct Fixture {
  FakeClock clock{kT0};
  InMemoryReplayStore store{100, clock};
  std::unique_ptr<NonceService> service =
      NonceService::Create(TestKey(), absl::Minutes(5), clock, store).value();
};

TEST(NonceServiceTest, CreateValidatesKeyAndLifetime) {
  FakeClock clock(kT0);
  InMemoryReplayStore store(10, clock);
  EXPECT_EQ(NonceService::Create(Bytes(31, 7), absl::Minutes(5), clock, store)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NonceService::Create(TestKey(), absl::ZeroDuration(), clock, store)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NonceService::Create(TestKey(), absl::Hours(25), clock, store)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      NonceService::Create(Bytes(64, 7), absl::Seconds(1), clock, store).ok());
}

TEST(NonceServiceTest, IssueShape) {
  Fixture f;
  const Challenge a = f.service->Issue();
  const Challenge b = f.service->Issue();
  EXPECT_EQ(a.nonce().size(), kNonceBytes);
  EXPECT_EQ(a.mac().size(), kMacBytes);
  EXPECT_EQ(a.issued_at(), absl::ToUnixSeconds(kT0));
  EXPECT_EQ(a.expires_at(), absl::ToUnixSeconds(kT0) + 300);
  EXPECT_NE(a.nonce(), b.nonce());
}

TEST(NonceServiceTest, ConsumeOnceThenReplayed) {
  Fixture f;
  const Challenge c = f.service->Issue();
  f.clock.Advance(absl::Seconds(299));
  ChallengeCheck first = f.service->Consume(c);
  EXPECT_TRUE(first.ok()) << first.reason << ": " << first.detail;
  EXPECT_EQ(first.reason, "OK");
  ChallengeCheck second = f.service->Consume(c);
  EXPECT_EQ(second.outcome, ChallengeOutcome::kReplayed);
  EXPECT_EQ(second.reason, "NONCE_REPLAYED");
}

TEST(NonceServiceTest, ExpiredAtExactlyExp) {
  Fixture f;
  const Challenge c = f.service->Issue();
  f.clock.Advance(absl::Seconds(300));
  ChallengeCheck check = f.service->Consume(c);
  EXPECT_EQ(check.outcome, ChallengeOutcome::kExpired);
  EXPECT_EQ(check.reason, "NONCE_EXPIRED");
}

// Golden vector (computed independently with Python's hmac module) fixing
// the MAC layout: "rp-challenge-v1" || nonce || iat BE64 || exp BE64.
TEST(NonceServiceTest, MacLayoutGolden) {
  FakeClock clock(kT0 + absl::Seconds(100));
  FakeReplayStore store;
  auto service =
      NonceService::Create(TestKey(), absl::Minutes(5), clock, store).value();
  Bytes nonce(32);
  for (size_t i = 0; i < nonce.size(); ++i) {
    nonce[i] = static_cast<uint8_t>(0x20 + i);
  }
  Challenge c;
  c.set_nonce(ToString(nonce));
  c.set_issued_at(1'700'000'000);
  c.set_expires_at(1'700'000'300);
  c.set_mac(ToString(
      HexDecode(
          "3b35617933a1fef7aab2fc2c9a6eb707fd00b2eeb13a9d66d51eb3a9eb3aa906")
          .value()));
  ChallengeCheck check = service->Consume(c);
  EXPECT_TRUE(check.ok()) << check.detail;
  EXPECT_EQ(store.last_expiry, absl::FromUnixSeconds(1'700'000'300));
  EXPECT_EQ(EncodeChallenge(c),
            "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8AAAAAZVPxAAAAAABlU_"
            "IsOzVheTOh_veqsvwsmm63B_"
            "0Asu6xOp1m1R6zqes6qQY");
}

// Start from a valid challenge, change one thing per row.
struct Mutation {
  std::string name;
  std::function<void(Challenge&)> mutate;
};

TEST(NonceServiceTest, TamperedChallengesAreInvalidAndNeverReachTheStore) {
  const std::vector<Mutation> rows = {
      {"nonce bit", [](Challenge& c) { c.mutable_nonce()->at(0) ^= 1; }},
      {"nonce short", [](Challenge& c) { c.mutable_nonce()->pop_back(); }},
      {"nonce long", [](Challenge& c) { c.mutable_nonce()->push_back('x'); }},
      {"nonce empty", [](Challenge& c) { c.clear_nonce(); }},
      {"iat", [](Challenge& c) { c.set_issued_at(c.issued_at() - 1); }},
      {"exp extended",
       [](Challenge& c) { c.set_expires_at(c.expires_at() + 3600); }},
      {"mac bit",
       [](Challenge& c) {
         c.mutable_mac()->at(31) ^= static_cast<char>(0x40);
       }},
      {"mac short", [](Challenge& c) { c.mutable_mac()->pop_back(); }},
      {"mac empty", [](Challenge& c) { c.clear_mac(); }},
  };
  for (const Mutation& row : rows) {
    FakeClock clock(kT0);
    FakeReplayStore store;
    auto service =
        NonceService::Create(TestKey(), absl::Minutes(5), clock, store).value();
    Challenge c = service->Issue();
    row.mutate(c);
    ChallengeCheck check = service->Consume(c);
    EXPECT_EQ(check.outcome, ChallengeOutcome::kInvalid) << row.name;
    EXPECT_EQ(check.reason, "NONCE_INVALID") << row.name;
    EXPECT_EQ(store.calls, 0) << row.name;
  }
}

TEST(NonceServiceTest, WrongKeyIsInvalid) {
  Fixture f;
  FakeReplayStore store;
  Bytes other_key = TestKey();
  other_key[0] ^= 1;
  auto other =
      NonceService::Create(other_key, absl::Minutes(5), f.clock, store).value();
  EXPECT_EQ(other->Consume(f.service->Issue()).outcome,
            ChallengeOutcome::kInvalid);
  EXPECT_EQ(store.calls, 0);
}

TEST(NonceServiceTest, ExpiredNeverReachesTheStore) {
  FakeClock clock(kT0);
  FakeReplayStore store;
  auto service =
      NonceService::Create(TestKey(), absl::Minutes(5), clock, store).value();
  const Challenge c = service->Issue();
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(service->Consume(c).outcome, ChallengeOutcome::kExpired);
  EXPECT_EQ(store.calls, 0);
}

TEST(NonceServiceTest, IssuedInTheFutureBeyondSkewIsInvalid) {
  FakeClock clock(kT0);
  FakeReplayStore store;
  auto checker =
      NonceService::Create(TestKey(), absl::Minutes(5), clock, store).value();

  // A replica whose clock runs ahead, sharing the key.
  FakeClock ahead(kT0 + absl::Seconds(60));
  auto issuer =
      NonceService::Create(TestKey(), absl::Minutes(5), ahead, store).value();
  EXPECT_TRUE(checker->Consume(issuer->Issue()).ok());

  ahead.Set(kT0 + absl::Seconds(61));
  ChallengeCheck check = checker->Consume(issuer->Issue());
  EXPECT_EQ(check.outcome, ChallengeOutcome::kInvalid);
  EXPECT_NE(check.detail.find("future"), std::string::npos) << check.detail;
}

TEST(NonceServiceTest, OtherLifetimeWithGoodMacIsAccepted) {
  Fixture f;
  FakeReplayStore store;
  auto long_lived =
      NonceService::Create(TestKey(), absl::Minutes(10), f.clock, store)
          .value();
  const Challenge c = long_lived->Issue();
  f.clock.Advance(absl::Minutes(7));
  EXPECT_TRUE(f.service->Consume(c).ok());
}

TEST(NonceServiceTest, StoreFailureFailsClosed) {
  FakeClock clock(kT0);
  FakeReplayStore store;
  store.result = absl::UnavailableError("redis down");
  auto service =
      NonceService::Create(TestKey(), absl::Minutes(5), clock, store).value();
  ChallengeCheck check = service->Consume(service->Issue());
  EXPECT_EQ(check.outcome, ChallengeOutcome::kStoreError);
  EXPECT_EQ(check.reason, "NONCE_STORE_UNAVAILABLE");
  EXPECT_NE(check.detail.find("redis down"), std::string::npos);
  EXPECT_EQ(store.calls, 1);
}

TEST(NonceServiceTest, FullInMemoryStoreFailsClosed) {
  FakeClock clock(kT0);
  InMemoryReplayStore store(1, clock);
  auto service =
      NonceService::Create(TestKey(), absl::Minutes(5), clock, store).value();
  EXPECT_TRUE(service->Consume(service->Issue()).ok());
  EXPECT_EQ(service->Consume(service->Issue()).outcome,
            ChallengeOutcome::kStoreError);
}

TEST(ChallengeCodecTest, RoundTrip) {
  Fixture f;
  const Challenge c = f.service->Issue();
  const std::string text = EncodeChallenge(c);
  EXPECT_EQ(text.size(), 107u);
  absl::StatusOr<Challenge> decoded = DecodeChallenge(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->SerializeAsString(), c.SerializeAsString());
  EXPECT_TRUE(f.service->Consume(*decoded).ok());
}

TEST(ChallengeCodecTest, NegativeTimesRoundTrip) {
  Challenge c;
  c.set_nonce(std::string(32, 'n'));
  c.set_issued_at(-5);
  c.set_expires_at(INT64_MAX);
  c.set_mac(std::string(32, 'm'));
  absl::StatusOr<Challenge> decoded = DecodeChallenge(EncodeChallenge(c));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->issued_at(), -5);
  EXPECT_EQ(decoded->expires_at(), INT64_MAX);
}

TEST(ChallengeCodecTest, StrictDecoding) {
  Fixture f;
  const std::string good = EncodeChallenge(f.service->Issue());
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"empty", ""},
      {"one short", good.substr(0, good.size() - 1)},
      {"one long", good + "A"},
      {"padding", good.substr(0, good.size() - 1) + "="},
      {"standard alphabet", good.substr(0, good.size() - 1) + "+"},
      {"whitespace", good.substr(0, 50) + " " + good.substr(51)},
      // 107 characters carry 642 bits; the last 2 must be zero ('B' = 000001).
      {"non-canonical tail", good.substr(0, good.size() - 1) + "B"},
  };
  for (const auto& [name, text] : rows) {
    EXPECT_FALSE(DecodeChallenge(text).ok()) << name;
  }
}

std::string WriteTempFile(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(HmacKeyTest, EmptyPathGeneratesRandomKey) {
  absl::StatusOr<Bytes> a = LoadOrGenerateHmacKey("");
  absl::StatusOr<Bytes> b = LoadOrGenerateHmacKey("");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
}

TEST(HmacKeyTest, HexFile) {
  const std::string hex(64, 'a');
  absl::StatusOr<Bytes> key =
      LoadOrGenerateHmacKey(WriteTempFile("hex.key", "  " + hex + "\n"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, Bytes(32, 0xaa));
}

TEST(HmacKeyTest, RawFile) {
  std::string raw(40, '\0');
  raw[3] = 'z';
  absl::StatusOr<Bytes> key =
      LoadOrGenerateHmacKey(WriteTempFile("raw.key", raw));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->size(), 40u);
  EXPECT_EQ((*key)[3], 'z');
}

TEST(HmacKeyTest, Errors) {
  EXPECT_EQ(
      LoadOrGenerateHmacKey(WriteTempFile("short.key", std::string(31, 'q')))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      LoadOrGenerateHmacKey(WriteTempFile("shorthex.key", std::string(62, 'a')))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      LoadOrGenerateHmacKey(WriteTempFile("oddhex.key", std::string(65, 'a')))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      LoadOrGenerateHmacKey(WriteTempFile("big.key", std::string(5000, 'q')))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadOrGenerateHmacKey(::testing::TempDir() + "/does-not-exist.key")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rp::nonce
