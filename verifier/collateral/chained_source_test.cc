#include "verifier/collateral/chained_source.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "verifier/collateral/collateral_test_util.h"

namespace rp::collateral {
namespace {

class FixedSource : public CollateralSource {
 public:
  FixedSource(std::string name, absl::StatusOr<std::optional<Bytes>> answer)
      : name_(std::move(name)), answer_(std::move(answer)) {}
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view) const override {
    ++calls_;
    return answer_;
  }
  std::string Describe() const override { return name_; }
  mutable int calls_ = 0;

 private:
  std::string name_;
  absl::StatusOr<std::optional<Bytes>> answer_;
};

std::shared_ptr<FixedSource> Hit(std::string name, Bytes b) {
  return std::make_shared<FixedSource>(std::move(name), std::optional<Bytes>(std::move(b)));
}
std::shared_ptr<FixedSource> Miss(std::string name) {
  return std::make_shared<FixedSource>(std::move(name), std::optional<Bytes>());
}
std::shared_ptr<FixedSource> Fail(std::string name, absl::Status s) {
  return std::make_shared<FixedSource>(std::move(name), std::move(s));
}

TEST(ChainedSourceTest, FirstHitWinsAndErrorsAreSkipped) {
  auto a = Fail("a", absl::UnavailableError("down"));
  auto b = Miss("b");
  auto c = Hit("c", Bytes{1, 2});
  auto d = Hit("d", Bytes{9});
  auto chain = *ChainedSource::Create({a, b, c, d});
  auto item = chain->GetItem("k", GetOptions{});
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ((*item)->data, (Bytes{1, 2}));
  EXPECT_EQ((*item)->source, "c");
  EXPECT_EQ(d->calls_, 0);
}

TEST(ChainedSourceTest, AllFailingIsUnavailableWithEveryError) {
  auto chain = *ChainedSource::Create({Fail("offline", absl::InternalError("disk on fire")),
                                       Miss("mirror"),
                                       Fail("amd-kds", absl::UnavailableError("HTTP 503"))});
  auto got = chain->Get("amd/Milan/crl.der");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  const std::string msg(got.status().message());
  EXPECT_NE(msg.find("offline: INTERNAL: disk on fire"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mirror: not found"), std::string::npos) << msg;
  EXPECT_NE(msg.find("amd-kds: UNAVAILABLE: HTTP 503"), std::string::npos) << msg;
}

TEST(ChainedSourceTest, AllNotFoundIsNullopt) {
  auto chain = *ChainedSource::Create({Miss("a"), Miss("b")});
  auto got = chain->Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

TEST(ChainedSourceTest, InvalidKeyStaysInvalid) {
  auto chain = *ChainedSource::Create({Fail("a", absl::InvalidArgumentError("bad key")),
                                       Miss("b")});
  EXPECT_EQ(chain->Get("k").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ChainedSource::Create({}).ok());
}

TEST(ChainedSourceTest, OfflineThenOfflineRealData) {
  auto chain = *ChainedSource::Create(
      {std::make_shared<EmptySource>(),
       std::make_shared<OfflineDirectorySource>(testing::OfflineDir())});
  auto got = chain->Get("amd/Milan/cert_chain.pem");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->has_value());
}

}  // namespace
}  // namespace rp::collateral
