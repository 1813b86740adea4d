// HttpOcspFetcher against a real `openssl ocsp` responder and the loopback
// test server: POST, cache (memory, disk in the offline layout), offline
// reuse, coalescing, dead responders and non-OCSP bodies.
#include "verifier/collateral/ocsp_fetcher.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/cert_factory.h"
#include "tests/testing/ocsp_responder.h"
#include "verifier/collateral/collateral_test_util.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/testing_http_server.h"
#include "verifier/common/clock.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/ocsp.h"

namespace rp::collateral {
namespace {

using ::rp::testing::CertSpec;
using ::rp::testing::Issued;
using ::rp::testing::KeyType;
using ::rp::testing::MakeCert;
using ::rp::testing::MakeRoot;
namespace ocsp_testing = ::rp::testing::ocsp;
using ::testing::HasSubstr;

CertSpec Spec(const std::string& cn, Bytes serial, bool is_ca) {
  CertSpec spec;
  spec.common_name = cn;
  spec.serial = std::move(serial);
  spec.is_ca = is_ca;
  return spec;
}

struct World {
  Issued root, issuer, leaf;
  std::filesystem::path dir;
  std::unique_ptr<ocsp_testing::Responder> responder;
  ~World() {
    responder.reset();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

absl::StatusOr<std::unique_ptr<World>> MakeWorld() {
  auto w = std::make_unique<World>();
  ASSIGN_OR_RETURN(w->root, MakeRoot(Spec("Fetcher Test Root", {0x01}, true), KeyType::kEcP256));
  ASSIGN_OR_RETURN(w->issuer, MakeCert(Spec("Fetcher Test CA", {0x02}, true), KeyType::kEcP256,
                                       w->root.cert.get(), w->root.key.get()));
  ASSIGN_OR_RETURN(w->leaf, MakeCert(Spec("Fetcher Test Leaf", {0x10}, false), KeyType::kEcP256,
                                     w->issuer.cert.get(), w->issuer.key.get()));
  const std::string openssl = ocsp_testing::FindOnPath("openssl");
  if (openssl.empty()) return absl::FailedPreconditionError("`openssl` is not on PATH");
  w->dir = testing::FreshTempDir("ocsp_responder");
  std::ofstream(w->dir / "index.txt") << ocsp_testing::IndexLine(w->leaf.cert.get(), "");
  if (!ocsp_testing::WritePem(w->dir / "issuer.pem", w->issuer.cert.get(), nullptr) ||
      !ocsp_testing::WritePem(w->dir / "issuer.key", nullptr, w->issuer.key.get())) {
    return absl::InternalError("writing PEM files");
  }
  ASSIGN_OR_RETURN(w->responder,
                   ocsp_testing::Responder::Start(
                       openssl,
                       {"-index", (w->dir / "index.txt").string(), "-CA",
                        (w->dir / "issuer.pem").string(), "-rsigner",
                        (w->dir / "issuer.pem").string(), "-rkey",
                        (w->dir / "issuer.key").string(), "-ndays", "1"},
                       w->dir, "issuer"));
  ASSIGN_OR_RETURN(crypto::OcspRequest probe,
                   crypto::BuildOcspRequest(w->leaf.cert.get(), w->issuer.cert.get(), {}));
  RETURN_IF_ERROR(w->responder->WaitReady(probe.der));
  return w;
}

std::string KeyFor(const crypto::OcspRequest& r) {
  return absl::StrCat("nvidia/ocsp/", crypto::OcspCacheKey(r.issuer_key_hash, r.serial_hex),
                      ".der");
}

class OcspFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<CurlHttpFetcher>> f = CurlHttpFetcher::Create({});
    ASSERT_TRUE(f.ok()) << f.status();
    http_ = std::move(*f);
  }
  std::unique_ptr<HttpOcspFetcher> MakeFetcher(const std::string& disk_dir,
                                               std::shared_ptr<const CollateralSource> offline,
                                               const HttpFetcher* http) {
    OcspFetcherOptions options;
    options.cache.disk_dir = disk_dir;
    auto f = HttpOcspFetcher::Create(options, std::move(offline), http, clock_, observer_);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(*f) : nullptr;
  }

  const Clock& clock_ = Clock::Real();
  CountingObserver observer_;
  std::unique_ptr<CurlHttpFetcher> http_;
};

TEST_F(OcspFetcherTest, RealResponderAnswersThenCacheAndOfflineServe) {
  absl::StatusOr<std::unique_ptr<World>> world = MakeWorld();
  ASSERT_TRUE(world.ok()) << world.status();
  World& w = **world;
  const std::string disk = testing::FreshTempDir("ocsp_disk");
  auto fetcher = MakeFetcher(disk, nullptr, http_.get());
  ASSERT_NE(fetcher, nullptr);

  absl::StatusOr<crypto::OcspRequest> req =
      crypto::BuildOcspRequest(w.leaf.cert.get(), w.issuer.cert.get(), {.with_nonce = true});
  ASSERT_TRUE(req.ok()) << req.status();
  const OcspQuery query{KeyFor(*req), w.responder->url(), req->der, {}};
  absl::StatusOr<std::optional<OcspFetchResult>> first = fetcher->Fetch(query, {});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_TRUE((*first)->answers_this_request);
  // The answer to our request echoes our nonce and verifies.
  absl::StatusOr<crypto::OcspResult> verified = crypto::VerifyOcspResponse(
      (*first)->item.data, w.leaf.cert.get(), w.issuer.cert.get(),
      std::span<const uint8_t>(req->nonce), absl::Now(), {});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->reason_code, "OK");
  // Freshness comes from the response's nextUpdate (-ndays 1).
  EXPECT_GT((*first)->item.fresh_until, absl::Now() + absl::Hours(23));
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(disk) / query.key));

  // The responder goes away: a new request for the same certificate is
  // answered from the cache, as an earlier answer (nonce not applicable).
  w.responder.reset();
  absl::StatusOr<crypto::OcspRequest> req2 =
      crypto::BuildOcspRequest(w.leaf.cert.get(), w.issuer.cert.get(), {.with_nonce = true});
  ASSERT_TRUE(req2.ok());
  absl::StatusOr<std::optional<OcspFetchResult>> second =
      fetcher->Fetch(OcspQuery{KeyFor(*req2), query.url, req2->der, {}}, {});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->has_value());
  EXPECT_FALSE((*second)->answers_this_request);
  EXPECT_EQ((*second)->item.data, (*first)->item.data);

  // The warmed disk cache is an offline bundle: a fetcher without network
  // and with the directory as its offline source serves the same bytes.
  auto offline_only =
      MakeFetcher("", std::make_shared<OfflineDirectorySource>(disk), /*http=*/nullptr);
  absl::StatusOr<std::optional<OcspFetchResult>> third =
      offline_only->Fetch(OcspQuery{query.key, "", req2->der, {}}, {});
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_TRUE(third->has_value());
  EXPECT_FALSE((*third)->answers_this_request);
  EXPECT_EQ((*third)->item.data, (*first)->item.data);
  EXPECT_GE(observer_.Count("fetch/ocsp/ok"), 1);
}

// A query may carry a builder instead of DER (OcspQuery::make_request): it
// is called once when the responder is asked, never when the cache answers,
// and a builder error is the fetch's error (nothing is POSTed, nothing cached).
TEST_F(OcspFetcherTest, RequestBuilderRunsOnlyWhenTheResponderIsAsked) {
  absl::StatusOr<std::unique_ptr<World>> world = MakeWorld();
  ASSERT_TRUE(world.ok()) << world.status();
  World& w = **world;
  auto fetcher = MakeFetcher("", nullptr, http_.get());
  ASSERT_NE(fetcher, nullptr);
  absl::StatusOr<crypto::OcspRequest> id =
      crypto::BuildOcspRequest(w.leaf.cert.get(), w.issuer.cert.get(), {.with_nonce = false});
  ASSERT_TRUE(id.ok()) << id.status();

  int built = 0;
  Bytes nonce;
  OcspQuery query{KeyFor(*id), w.responder->url(), {}, {}};
  query.make_request = [&]() -> absl::StatusOr<Bytes> {
    ++built;
    absl::StatusOr<crypto::OcspRequest> r =
        crypto::BuildOcspRequest(w.leaf.cert.get(), w.issuer.cert.get(), {.with_nonce = true});
    if (!r.ok()) return r.status();
    nonce = r->nonce;
    return r->der;
  };
  absl::StatusOr<std::optional<OcspFetchResult>> first = fetcher->Fetch(query, {});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_TRUE((*first)->answers_this_request);
  EXPECT_EQ(built, 1);
  // The answer echoes the nonce of the request the builder made.
  absl::StatusOr<crypto::OcspResult> verified = crypto::VerifyOcspResponse(
      (*first)->item.data, w.leaf.cert.get(), w.issuer.cert.get(),
      std::span<const uint8_t>(nonce), absl::Now(), {});
  ASSERT_TRUE(verified.ok()) << verified.status();

  // Served from the cache: no request is built.
  absl::StatusOr<std::optional<OcspFetchResult>> second = fetcher->Fetch(query, {});
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_FALSE((*second)->answers_this_request);
  EXPECT_EQ(built, 1);

  // A failing builder fails the fetch; an empty query without a builder too.
  auto fresh = MakeFetcher("", nullptr, http_.get());
  OcspQuery failing{query.key, query.url, {}, {}};
  failing.make_request = []() -> absl::StatusOr<Bytes> {
    return absl::InternalError("no entropy");
  };
  absl::StatusOr<std::optional<OcspFetchResult>> bad = fresh->Fetch(failing, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no entropy"), std::string_view::npos) << bad.status();
  auto fresh2 = MakeFetcher("", nullptr, http_.get());
  EXPECT_EQ(fresh2->Fetch(OcspQuery{query.key, query.url, {}, {}}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OcspFetcherTest, NothingWithoutUrlOrOfflineCopy) {
  auto fetcher = MakeFetcher("", nullptr, http_.get());
  absl::StatusOr<std::optional<OcspFetchResult>> r =
      fetcher->Fetch(OcspQuery{"nvidia/ocsp/aa-01.der", "", Bytes{0x30, 0x00}, {}}, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_value());
}

TEST_F(OcspFetcherTest, RejectsBadKeysAndUrls) {
  auto fetcher = MakeFetcher("", nullptr, http_.get());
  EXPECT_EQ(fetcher->Fetch(OcspQuery{"amd/Milan/crl.der", "", {}, {}}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fetcher->Fetch(OcspQuery{"nvidia/ocsp/../x.der", "", {}, {}}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      fetcher->Fetch(OcspQuery{"nvidia/ocsp/aa-01.der", "ftp://x/", {}, {}}, {}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(OcspFetcherTest, DeadResponderIsUnavailableAndNegativeCached) {
  absl::StatusOr<std::unique_ptr<testing::TestingHttpServer>> server =
      testing::TestingHttpServer::Start();
  ASSERT_TRUE(server.ok());
  const std::string url = (*server)->base_url() + "/";
  (*server)->Stop();  // nothing listens there any more
  auto fetcher = MakeFetcher("", nullptr, http_.get());
  const OcspQuery q{"nvidia/ocsp/aa-01.der", url, Bytes{0x30, 0x00}, {}};
  absl::StatusOr<std::optional<OcspFetchResult>> r = fetcher->Fetch(q, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  // Within the negative TTL the failure is answered without a request.
  const int64_t errors = observer_.Count("fetch/ocsp/error");
  r = fetcher->Fetch(q, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(observer_.Count("fetch/ocsp/error"), errors);
}

TEST_F(OcspFetcherTest, NonOcspBodyIsNotCached) {
  absl::StatusOr<std::unique_ptr<testing::TestingHttpServer>> server =
      testing::TestingHttpServer::Start();
  ASSERT_TRUE(server.ok());
  testing::TestResponse portal;
  portal.body = "<html>captive portal</html>";
  (*server)->SetResponse("/", portal);
  auto fetcher = MakeFetcher("", nullptr, http_.get());
  absl::StatusOr<std::optional<OcspFetchResult>> r =
      fetcher->Fetch(OcspQuery{"nvidia/ocsp/aa-01.der", (*server)->base_url() + "/", {0x30}, {}}, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not an OCSP response"));
}

TEST_F(OcspFetcherTest, ConcurrentMissesMakeOnePost) {
  // A real response to replay from the loopback server, slowly.
  absl::StatusOr<std::unique_ptr<World>> world = MakeWorld();
  ASSERT_TRUE(world.ok()) << world.status();
  World& w = **world;
  absl::StatusOr<crypto::OcspRequest> req =
      crypto::BuildOcspRequest(w.leaf.cert.get(), w.issuer.cert.get(), {.with_nonce = false});
  ASSERT_TRUE(req.ok());
  absl::StatusOr<Bytes> canned = ocsp_testing::PostOcsp(w.responder->url(), req->der);
  ASSERT_TRUE(canned.ok()) << canned.status();

  absl::StatusOr<std::unique_ptr<testing::TestingHttpServer>> server =
      testing::TestingHttpServer::Start(32);
  ASSERT_TRUE(server.ok());
  testing::TestResponse slow;
  slow.body = ToString(*canned);
  slow.content_type = "application/ocsp-response";
  slow.delay = absl::Milliseconds(300);
  (*server)->SetResponse("/ocsp", slow);
  auto fetcher = MakeFetcher("", nullptr, http_.get());
  const OcspQuery q{KeyFor(*req), (*server)->base_url() + "/ocsp", req->der, {}};
  std::atomic<int> ok{0}, answered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<std::optional<OcspFetchResult>> r = fetcher->Fetch(q, {});
      if (r.ok() && r->has_value()) {
        ++ok;
        if ((*r)->answers_this_request) ++answered;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(answered.load(), 1);
  EXPECT_EQ((*server)->RequestCount("/ocsp"), 1);
}

}  // namespace
}  // namespace rp::collateral
