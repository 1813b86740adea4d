// OCSP for the GPU device chain against REAL `openssl ocsp` responders on
// loopback, serving a simulated GPU hierarchy (root -> Identity ->
// Provisioner ICA -> BROM -> FMC leaf). One responder per issuing CA, each
// signing with the CA's own key, as RFC 6960 §4.2.2.2 allows. A test-only
// OcspFetcher POSTs each request (libcurl) to the responder of its issuer.
//
// Scenarios: good, revoked, on hold (accepted only when the policy allows),
// unknown, a responder that signs for another CA, responder down (fails
// closed unless soft-fail, which is a warning), and offline/cached responses.
// The responders stamp thisUpdate with the real clock, so verification runs
// at the real time here (the library itself never reads a clock).
#include <curl/curl.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/gpu_evidence_builder.h"
#include "tests/testing/ocsp_responder.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/crypto/ocsp.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/test_util.h"
#include "verifier/nvidia/verifier.h"

namespace rp::nvidia {
namespace {

using core::CheckStatus;
using core::DeviceResult;
using testing::GpuTestDevice;
using testing::GpuTestPki;

using ::rp::testing::ocsp::FindOnPath;
using ::rp::testing::ocsp::IndexLine;
using ::rp::testing::ocsp::IndexTime;
using ::rp::testing::ocsp::PostOcsp;
using ::rp::testing::ocsp::Responder;
using ::rp::testing::ocsp::WritePem;

// Device certificates run to 9999: beyond the two-digit index year, and the
// expiry column does not matter to the responder.
constexpr absl::string_view kIndexExpiry = "491231235959Z";

// Routes each query to the responder of its issuer (the issuer key hash in
// the key "nvidia/ocsp/<issuer-sha256>-<serial>.der"); `down` makes every
// fetch fail like an unreachable responder.
class LoopbackFetcher : public collateral::OcspFetcher {
 public:
  absl::StatusOr<std::optional<collateral::OcspFetchResult>> Fetch(
      const collateral::OcspQuery& query, const collateral::GetOptions&) const override {
    ++calls;
    if (query.url.empty()) return std::optional<collateral::OcspFetchResult>();
    if (down) return absl::UnavailableError("connect: connection refused (responder down)");
    const std::string prefix = query.key.substr(0, query.key.find('-'));
    auto it = routes.find(prefix);
    const std::string url = override_url.empty() ? (it == routes.end() ? "" : it->second)
                                                 : override_url;
    if (url.empty()) return absl::NotFoundError("no route for " + query.key);
    absl::StatusOr<Bytes> der = query.RequestDer();
    if (!der.ok()) return der.status();
    absl::StatusOr<Bytes> body = PostOcsp(url, *der);
    if (!body.ok()) return body.status();
    collateral::OcspFetchResult r;
    r.item.data = *std::move(body);
    r.item.source = "loopback " + url;
    r.answers_this_request = true;
    fetched[query.key] = r.item.data;
    return std::optional<collateral::OcspFetchResult>(std::move(r));
  }
  std::map<std::string, std::string> routes;  // "nvidia/ocsp/<issuer hash>" -> URL
  std::string override_url;
  bool down = false;
  mutable int calls = 0;
  mutable std::map<std::string, Bytes> fetched;
};

struct Fixture {
  GpuTestPki pki;
  GpuTestDevice good, revoked, hold, unknown;
  std::filesystem::path dir;
  std::unique_ptr<Responder> by_root, by_identity, by_provisioner;

  ~Fixture() {
    by_root.reset();
    by_identity.reset();
    by_provisioner.reset();
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

absl::StatusOr<std::unique_ptr<Fixture>> MakeFixture() {
  auto f = std::make_unique<Fixture>();
  absl::StatusOr<GpuTestPki> pki = testing::MakeGpuTestPki({});
  if (!pki.ok()) return pki.status();
  f->pki = *std::move(pki);
  auto device = [&](uint8_t n) -> absl::StatusOr<GpuTestDevice> {
    testing::GpuDeviceOptions o;
    o.brom_serial = {0x41, 0xE2, 0x3D, n};
    o.leaf_serial = {0x53, 0xC2, 0x2B, n};
    return testing::MakeGpuTestDevice(f->pki, o);
  };
  for (auto [dev, n] : std::vector<std::pair<GpuTestDevice*, uint8_t>>{
           {&f->good, 1}, {&f->revoked, 2}, {&f->hold, 3}, {&f->unknown, 4}}) {
    absl::StatusOr<GpuTestDevice> d = device(n);
    if (!d.ok()) return d.status();
    *dev = *std::move(d);
  }
  const std::string openssl = FindOnPath("openssl");
  if (openssl.empty()) {
    return absl::FailedPreconditionError("the `openssl` binary is not on PATH");
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "rp_gpu_ocsp_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp");
  f->dir = tmpl;
  const std::string revoked_at = IndexTime(absl::FromUnixSeconds(1700000000));
  // Root answers for the Identity CA, Identity for the Provisioner ICA,
  // Provisioner for the BROMs (the unknown device's BROM is not listed).
  std::ofstream(f->dir / "root_index.txt")
      << IndexLine(f->pki.identity.cert.get(), "", kIndexExpiry);
  std::ofstream(f->dir / "identity_index.txt")
      << IndexLine(f->pki.provisioner.cert.get(), "", kIndexExpiry);
  std::ofstream(f->dir / "provisioner_index.txt")
      << IndexLine(f->good.brom.cert.get(), "", kIndexExpiry)
      << IndexLine(f->revoked.brom.cert.get(), revoked_at + ",keyCompromise", kIndexExpiry)
      << IndexLine(f->hold.brom.cert.get(), revoked_at + ",certificateHold", kIndexExpiry);
  for (const auto& [name, issued] : std::vector<std::pair<std::string, const testing::Issued*>>{
           {"root", &f->pki.root}, {"identity", &f->pki.identity},
           {"provisioner", &f->pki.provisioner}}) {
    if (!WritePem(f->dir / (name + ".pem"), issued->cert.get(), nullptr) ||
        !WritePem(f->dir / (name + ".key"), nullptr, issued->key.get())) {
      return absl::InternalError("writing PEM files");
    }
  }
  auto start = [&](const std::string& name) {
    return Responder::Start(openssl,
                            {"-index", (f->dir / (name + "_index.txt")).string(), "-CA",
                             (f->dir / (name + ".pem")).string(), "-rsigner",
                             (f->dir / (name + ".pem")).string(), "-rkey",
                             (f->dir / (name + ".key")).string(), "-ndays", "1"},
                            f->dir, name);
  };
  absl::StatusOr<std::unique_ptr<Responder>> r = start("root");
  if (!r.ok()) return r.status();
  f->by_root = *std::move(r);
  r = start("identity");
  if (!r.ok()) return r.status();
  f->by_identity = *std::move(r);
  r = start("provisioner");
  if (!r.ok()) return r.status();
  f->by_provisioner = *std::move(r);
  for (auto [responder, cert, issuer] :
       std::vector<std::tuple<Responder*, const X509*, const X509*>>{
           {f->by_root.get(), f->pki.identity.cert.get(), f->pki.root.cert.get()},
           {f->by_identity.get(), f->pki.provisioner.cert.get(), f->pki.identity.cert.get()},
           {f->by_provisioner.get(), f->good.brom.cert.get(), f->pki.provisioner.cert.get()}}) {
    absl::StatusOr<crypto::OcspRequest> probe = crypto::BuildOcspRequest(cert, issuer, {});
    if (!probe.ok()) return probe.status();
    if (absl::Status s = responder->WaitReady(probe->der); !s.ok()) return s;
  }
  return f;
}

class GpuOcspTest : public ::testing::Test {
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
    const Fixture& f = *fixture_;
    auto route = [&](const X509* cert, const X509* issuer, const Responder& r) {
      absl::StatusOr<std::string> key = OcspCollateralKey(cert, issuer);
      ASSERT_TRUE(key.ok());
      fetcher_.routes[key->substr(0, key->find('-'))] = r.url();
    };
    route(f.pki.identity.cert.get(), f.pki.root.cert.get(), *f.by_root);
    route(f.pki.provisioner.cert.get(), f.pki.identity.cert.get(), *f.by_identity);
    route(f.good.brom.cert.get(), f.pki.provisioner.cert.get(), *f.by_provisioner);
  }

  static std::unique_ptr<NvidiaVerifier> MakeVerifier(const GpuOcspPolicy& policy,
                                                      std::string url = "http://ocsp.test/") {
    NvidiaTrustConfig c = NvidiaTrustConfig::ForTest(fixture_->pki.RootPem());
    c.ocsp_url = std::move(url);
    c.ocsp_policy = policy;
    auto v = NvidiaVerifier::Create(c);
    return v.ok() ? *std::move(v) : nullptr;
  }

  DeviceResult Verify(const GpuTestDevice& dev, const GpuOcspPolicy& policy,
                      const collateral::OcspFetcher* fetcher,
                      const collateral::CollateralSource* source = nullptr) {
    testing::GpuReportBuilder builder;
    absl::StatusOr<Bytes> report = builder.BuildSigned(dev.leaf.key.get());
    EXPECT_TRUE(report.ok());
    attestation::v1::EvidenceBundle b;
    b.mutable_nvidia()->set_arch("HOPPER");
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(ToString(*report));
    e->set_certificate(testing::GpuChainPem(fixture_->pki, dev));
    std::unique_ptr<NvidiaVerifier> v = MakeVerifier(policy);
    EXPECT_NE(v, nullptr);
    core::VerifyContext ctx{at_.value_or(absl::Now()), source != nullptr ? source : &empty_,
                            Bytes(builder.nonce.begin(), builder.nonce.end())};
    ctx.ocsp = fetcher;
    auto results = v->Verify(b, ctx);
    EXPECT_TRUE(results.ok()) << results.status();
    return results.ok() ? (*results)[0] : DeviceResult();
  }

  static void Expect(const DeviceResult& d, CheckStatus status, const std::string& reason) {
    const core::Check* c = test::FindCheck(d, kCheckCertOcsp);
    ASSERT_NE(c, nullptr) << test::DescribeChecks(d);
    EXPECT_EQ(c->status, status) << c->detail;
    EXPECT_EQ(c->reason, reason) << c->detail;
    EXPECT_EQ(test::FindCheck(d, kCheckCertChain)->status, CheckStatus::kPass);
  }

  static std::vector<std::string> Statuses(const DeviceResult& d) {
    std::vector<std::string> out;
    for (const auto& o : d.claims["ocsp"]) out.push_back(o["status"].get<std::string>());
    return out;
  }

  LoopbackFetcher fetcher_;
  test::MapSource empty_;
  std::optional<absl::Time> at_;  // the verification time; unset: now
  static inline std::unique_ptr<Fixture> fixture_;
  static inline absl::Status setup_status_;
};

TEST_F(GpuOcspTest, AllGood) {
  const DeviceResult d = Verify(fixture_->good, {}, &fetcher_);
  Expect(d, CheckStatus::kPass, "OK");
  EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);
  EXPECT_EQ(Statuses(d), (std::vector<std::string>{"good", "good", "good"}));
  EXPECT_EQ(fetcher_.calls, 3);
  // Chain order: BROM, Provisioner ICA, Identity.
  EXPECT_EQ(d.claims["ocsp"][0]["subject"], "GH100 A01 GSP BROM");
  EXPECT_EQ(d.claims["ocsp"][2]["subject"], "NVIDIA GH100 Identity");
  EXPECT_EQ(d.claims["ocsp"][0]["source"], "responder");
}

TEST_F(GpuOcspTest, RevokedFailsWhateverThePolicy) {
  Expect(Verify(fixture_->revoked, {}, &fetcher_), CheckStatus::kFail, reason::kCertRevoked);
  const DeviceResult d = Verify(fixture_->revoked, {true, true, true}, &fetcher_);
  Expect(d, CheckStatus::kFail, reason::kCertRevoked);
  EXPECT_EQ(Statuses(d), (std::vector<std::string>{"revoked", "good", "good"}));
  EXPECT_EQ(d.claims["ocsp"][0]["revocation_reason"], 1);
}

TEST_F(GpuOcspTest, HoldAcceptedOnlyWhenPolicyAllows) {
  Expect(Verify(fixture_->hold, {}, &fetcher_), CheckStatus::kFail, reason::kCertOnHold);
  GpuOcspPolicy allow;
  allow.allow_hold = true;
  const DeviceResult d = Verify(fixture_->hold, allow, &fetcher_);
  Expect(d, CheckStatus::kNotChecked, reason::kCertOnHoldAllowed);  // a warning
  EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);
  EXPECT_EQ(Statuses(d)[0], "hold");
}

TEST_F(GpuOcspTest, UnknownFailsUnlessAllowed) {
  Expect(Verify(fixture_->unknown, {}, &fetcher_), CheckStatus::kFail, reason::kOcspUnknown);
  GpuOcspPolicy allow;
  allow.allow_unknown = true;
  Expect(Verify(fixture_->unknown, allow, &fetcher_), CheckStatus::kNotChecked,
         reason::kOcspUnknownAllowed);
}

TEST_F(GpuOcspTest, ResponderSigningForAnotherCaIsRejected) {
  // Every request goes to the root's responder: for the BROM and the
  // Provisioner ICA it is not the issuer, so its answers are unauthorized.
  fetcher_.override_url = fixture_->by_root->url();
  const DeviceResult d = Verify(fixture_->good, {true, true, true}, &fetcher_);
  Expect(d, CheckStatus::kFail, "OCSP_SIGNER_UNAUTHORIZED");
  EXPECT_EQ(Statuses(d), (std::vector<std::string>{"invalid", "invalid", "good"}));
}

TEST_F(GpuOcspTest, ResponderDownFailsClosedUnlessSoftFail) {
  fetcher_.down = true;
  Expect(Verify(fixture_->good, {}, &fetcher_), CheckStatus::kFail, reason::kOcspUnavailable);
  GpuOcspPolicy soft;
  soft.soft_fail_unreachable = true;
  const DeviceResult d = Verify(fixture_->good, soft, &fetcher_);
  Expect(d, CheckStatus::kNotChecked, reason::kOcspUnavailable);  // a warning
  EXPECT_FALSE(d.HasFailure());
  EXPECT_EQ(Statuses(d), (std::vector<std::string>{"unavailable", "unavailable", "unavailable"}));
}

TEST_F(GpuOcspTest, ResponderPortClosedIsUnavailable) {
  fetcher_.override_url = "http://127.0.0.1:1/";
  Expect(Verify(fixture_->good, {}, &fetcher_), CheckStatus::kFail, reason::kOcspUnavailable);
}

TEST_F(GpuOcspTest, NoFetcherNoCollateralIsNotConfigured) {
  Expect(Verify(fixture_->good, {}, nullptr), CheckStatus::kNotChecked,
         reason::kOcspNotConfigured);
}

// Issue 10: no responder URL configured (a fetcher, but nothing to ask and
// nothing stored): not-checked OCSP_NOT_CONFIGURED, whatever the OCSP
// relaxations; never a pass.
TEST_F(GpuOcspTest, FetcherWithoutResponderUrlIsNotConfiguredNeverPass) {
  for (const GpuOcspPolicy& policy : {GpuOcspPolicy{}, GpuOcspPolicy{true, true, true}}) {
    testing::GpuReportBuilder builder;
    absl::StatusOr<Bytes> report = builder.BuildSigned(fixture_->good.leaf.key.get());
    ASSERT_TRUE(report.ok());
    attestation::v1::EvidenceBundle b;
    b.mutable_nvidia()->set_arch("HOPPER");
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(ToString(*report));
    e->set_certificate(testing::GpuChainPem(fixture_->pki, fixture_->good));
    std::unique_ptr<NvidiaVerifier> v = MakeVerifier(policy, /*url=*/"");
    ASSERT_NE(v, nullptr);
    core::VerifyContext ctx{absl::Now(), &empty_, Bytes(builder.nonce.begin(), builder.nonce.end())};
    ctx.ocsp = &fetcher_;
    auto results = v->Verify(b, ctx);
    ASSERT_TRUE(results.ok()) << results.status();
    const DeviceResult& d = (*results)[0];
    Expect(d, CheckStatus::kNotChecked, reason::kOcspNotConfigured);
    EXPECT_EQ(Statuses(d),
              (std::vector<std::string>{"not-configured", "not-configured", "not-configured"}));
    EXPECT_TRUE(fetcher_.fetched.empty());  // nothing was asked
  }
}

// The GPUs of one node share the certificates above their BROM: inside one
// request the second GPU reuses the first one's passing answers for those,
// and only those. Its own BROM is always asked; a failing outcome is never
// reused; another policy is another key; outside a request nothing is.
TEST_F(GpuOcspTest, OneRequestAsksOncePerSharedCertificate) {
  at_ = absl::Now();
  const DeviceResult revoked_alone = Verify(fixture_->revoked, {}, &fetcher_);
  ASSERT_EQ(fetcher_.calls, 3);
  {
    const crypto::ScopedRequestMemo request;
    const DeviceResult good = Verify(fixture_->good, {}, &fetcher_);
    Expect(good, CheckStatus::kPass, "OK");
    EXPECT_EQ(fetcher_.calls, 3 + 3);
    const DeviceResult revoked = Verify(fixture_->revoked, {}, &fetcher_);
    EXPECT_EQ(fetcher_.calls, 3 + 3 + 1);  // its own BROM only
    Expect(revoked, CheckStatus::kFail, "CERT_REVOKED");
    EXPECT_EQ(Statuses(revoked), Statuses(revoked_alone));
    // The answers' times are the responders' clock when each was signed (a
    // real `openssl ocsp`, -ndays 1): the two runs' fresh answers may fall
    // in different seconds. Everything else is compared exactly, and the
    // times are each run's own, one day apart, no later than the test's now.
    const absl::Time signed_by = absl::Now();
    auto times_apart = [&](nlohmann::json ocsp) {
      for (nlohmann::json& o : ocsp) {
        absl::Time this_update, next_update;
        std::string err;
        EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, o["this_update"].get<std::string>(),
                                    &this_update, &err)) << err;
        EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, o["next_update"].get<std::string>(),
                                    &next_update, &err)) << err;
        EXPECT_EQ(next_update - this_update, absl::Hours(24)) << o.dump();
        EXPECT_LE(this_update, signed_by) << o.dump();
        EXPECT_GE(this_update, *at_ - absl::Seconds(1)) << o.dump();
        o.erase("this_update");
        o.erase("next_update");
      }
      return ocsp;
    };
    EXPECT_EQ(times_apart(revoked.claims["ocsp"]), times_apart(revoked_alone.claims["ocsp"]));
    // The revoked BROM's outcome is not reused: asked again.
    (void)Verify(fixture_->revoked, {}, &fetcher_);
    EXPECT_EQ(fetcher_.calls, 3 + 3 + 1 + 1);
    // Another policy: every certificate asked again.
    (void)Verify(fixture_->good, {.allow_hold = true}, &fetcher_);
    EXPECT_EQ(fetcher_.calls, 3 + 3 + 1 + 1 + 3);
  }
  // No request scope: every certificate of every GPU.
  (void)Verify(fixture_->good, {}, &fetcher_);
  (void)Verify(fixture_->good, {}, &fetcher_);
  EXPECT_EQ(fetcher_.calls, 3 + 3 + 1 + 1 + 3 + 6);
}

TEST_F(GpuOcspTest, OfflineResponsesFromCollateral) {
  // Fetch once through the responders, then serve the same responses from
  // the offline directory layout with no fetcher (no nonce to check).
  ASSERT_EQ(test::FindCheck(Verify(fixture_->good, {}, &fetcher_), kCheckCertOcsp)->status,
            CheckStatus::kPass);
  ASSERT_EQ(fetcher_.fetched.size(), 3u);
  test::MapSource offline;
  for (const auto& [key, der] : fetcher_.fetched) offline.Put(key, der);
  DeviceResult d = Verify(fixture_->good, {}, nullptr, &offline);
  Expect(d, CheckStatus::kPass, "OK");
  EXPECT_EQ(d.claims["ocsp"][1]["source"], "cache/offline");
  // A tampered stored response is rejected, not ignored.
  test::MapSource tampered;
  for (auto [key, der] : fetcher_.fetched) {
    der[der.size() / 4] ^= 0x01;  // inside tbsResponseData
    tampered.Put(key, der);
  }
  d = Verify(fixture_->good, {true, true, true}, nullptr, &tampered);
  const core::Check* c = test::FindCheck(d, kCheckCertOcsp);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, CheckStatus::kFail) << c->detail;
  EXPECT_EQ(c->reason.rfind("OCSP_", 0), 0u) << c->reason;
  // Another device's responses do not answer for this device's BROM.
  d = Verify(fixture_->revoked, {}, nullptr, &offline);
  EXPECT_NE(test::FindCheck(d, kCheckCertOcsp)->status, CheckStatus::kPass);
}

}  // namespace
}  // namespace rp::nvidia
