// OCSP for RIM signing chains against REAL `openssl ocsp` responders on
// loopback (one per issuer: root, CA, L3), with a simulated RIM hierarchy
// whose certificates carry AIA OCSP URLs pointing at them. Responses are
// fetched through collateral::HttpOcspFetcher (POST, cache, nonce).
#include "verifier/nvidia/rim/rim_ocsp.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/cert_factory.h"
#include "tests/testing/ocsp_responder.h"
#include "tests/testing/rim_builder.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/common/clock.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/ocsp.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/rim/appraise.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim_signature.h"
#include "verifier/nvidia/rim/rim_source.h"
#include "verifier/nvidia/rim/rim_test_util.h"

namespace rp::nvidia::rim {
namespace {

using ::rp::nvidia::rim::testing::MapSource;
using ::rp::nvidia::rim::testing::Outcome;
using ::rp::testing::CertSpec;
using ::rp::testing::Issued;
using ::rp::testing::KeyType;
using ::rp::testing::ocsp::FindOnPath;
using ::rp::testing::ocsp::IndexTime;
using ::rp::testing::ocsp::Responder;
using ::rp::testing::ocsp::WritePem;
using ::testing::HasSubstr;

const absl::Time kRevokedAt = absl::FromUnixSeconds(1650000000);

// Simulated RIM hierarchy root → CA → L3 → {L4 good, revoked, hold, unknown},
// each non-root certificate with an AIA pointing at its issuer's responder.
struct Pki {
  std::filesystem::path dir;
  Issued root, ca, l3;
  Issued l4_good, l4_revoked, l4_hold, l4_unknown;
  std::unique_ptr<Responder> by_root, by_ca, by_l3;
  ~Pki() {
    by_root.reset();
    by_ca.reset();
    by_l3.reset();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

CertSpec Spec(const std::string& cn, uint8_t serial, bool ca, const std::string& ocsp_url) {
  CertSpec s;
  s.common_name = cn;
  s.serial = {serial};
  s.is_ca = ca;
  if (!ocsp_url.empty()) {
    s.extensions.push_back({"1.3.6.1.5.5.7.1.1", rp::testing::AiaOcspExtensionValue(ocsp_url)});
  }
  return s;
}

absl::StatusOr<std::unique_ptr<Responder>> StartFor(const std::string& openssl, const Pki& p,
                                                    const std::string& name, const Issued& issuer,
                                                    const std::string& index) {
  std::ofstream(p.dir / (name + ".idx")) << index;
  if (!WritePem(p.dir / (name + ".pem"), issuer.cert.get(), nullptr) ||
      !WritePem(p.dir / (name + ".key"), nullptr, issuer.key.get())) {
    return absl::InternalError("writing PEM");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Responder> r,
                   Responder::Start(openssl,
                                    {"-index", (p.dir / (name + ".idx")).string(), "-CA",
                                     (p.dir / (name + ".pem")).string(), "-rsigner",
                                     (p.dir / (name + ".pem")).string(), "-rkey",
                                     (p.dir / (name + ".key")).string(), "-ndays", "1"},
                                    p.dir, name));
  // The responder's URL (IPv4 loopback if it answers, else IPv6) is known
  // once it answers a real request. Its subjects may not be issued yet (their
  // AIA needs this URL), so the probe asks about the issuer itself: any
  // answer, even "unknown", shows the responder serves.
  ASSIGN_OR_RETURN(crypto::OcspRequest probe,
                   crypto::BuildOcspRequest(issuer.cert.get(), issuer.cert.get(), {}));
  RETURN_IF_ERROR(r->WaitReady(probe.der));
  return r;
}

absl::StatusOr<std::unique_ptr<Pki>> MakePki() {
  auto p = std::make_unique<Pki>();
  const std::string openssl = FindOnPath("openssl");
  if (openssl.empty()) return absl::FailedPreconditionError("`openssl` not on PATH");
  std::string tmpl = (std::filesystem::temp_directory_path() / "rp_rim_ocsp_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp");
  p->dir = tmpl;
  ASSIGN_OR_RETURN(p->root, rp::testing::MakeRoot(Spec("Sim CoRIM signing Root CA", 1, true, ""),
                                                  KeyType::kEcP384));
  // Issuance order follows the responders: a certificate's AIA needs its
  // issuer's responder URL; a responder needs its subjects' serials only.
  ASSIGN_OR_RETURN(p->by_root,
                   StartFor(openssl, *p, "root", p->root,
                            // CA (serial 02) good.
                            "V\t491231235959Z\t\t02\tunknown\t/CN=Sim Reference Value CA\n"));
  ASSIGN_OR_RETURN(p->ca, rp::testing::MakeCert(
                              Spec("Sim Reference Value CA", 2, true, p->by_root->url()),
                              KeyType::kEcP384, p->root.cert.get(), p->root.key.get()));
  ASSIGN_OR_RETURN(p->by_ca,
                   StartFor(openssl, *p, "ca", p->ca,
                            "V\t491231235959Z\t\t03\tunknown\t/CN=Sim Reference Value L3\n"));
  ASSIGN_OR_RETURN(p->l3, rp::testing::MakeCert(
                              Spec("Sim Reference Value L3", 3, true, p->by_ca->url()),
                              KeyType::kEcP384, p->ca.cert.get(), p->ca.key.get()));
  // L3's responder knows L4 serials 40 (good), 41 (revoked), 42 (hold); 43 is unknown.
  const std::string revoked = absl::StrCat(IndexTime(kRevokedAt), ",keyCompromise");
  const std::string hold = absl::StrCat(IndexTime(kRevokedAt), ",certificateHold");
  const std::string l3_index = absl::StrCat(
      "V\t491231235959Z\t\t40\tunknown\t/CN=Sim L4 good\n",
      "R\t491231235959Z\t", revoked, "\t41\tunknown\t/CN=Sim L4 revoked\n",
      "R\t491231235959Z\t", hold, "\t42\tunknown\t/CN=Sim L4 hold\n");
  ASSIGN_OR_RETURN(p->by_l3, StartFor(openssl, *p, "l3", p->l3, l3_index));
  const std::string l3_url = p->by_l3->url();
  ASSIGN_OR_RETURN(p->l4_good, rp::testing::MakeCert(Spec("Sim L4 good", 0x40, false, l3_url),
                                                     KeyType::kEcP384, p->l3.cert.get(), p->l3.key.get()));
  ASSIGN_OR_RETURN(p->l4_revoked, rp::testing::MakeCert(Spec("Sim L4 revoked", 0x41, false, l3_url),
                                                        KeyType::kEcP384, p->l3.cert.get(), p->l3.key.get()));
  ASSIGN_OR_RETURN(p->l4_hold, rp::testing::MakeCert(Spec("Sim L4 hold", 0x42, false, l3_url),
                                                     KeyType::kEcP384, p->l3.cert.get(), p->l3.key.get()));
  ASSIGN_OR_RETURN(p->l4_unknown, rp::testing::MakeCert(Spec("Sim L4 unknown", 0x43, false, l3_url),
                                                        KeyType::kEcP384, p->l3.cert.get(), p->l3.key.get()));
  return p;
}

class RimOcspResponderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Pki>> p = MakePki();
    if (p.ok()) {
      pki_ = std::move(*p);
    } else {
      setup_ = p.status();  // reported by every test: never a silent skip
    }
  }
  static void TearDownTestSuite() { pki_.reset(); }
  void SetUp() override {
    ASSERT_TRUE(setup_.ok()) << setup_;
    auto http = collateral::CurlHttpFetcher::Create({});
    ASSERT_TRUE(http.ok());
    http_ = std::move(*http);
    collateral::OcspFetcherOptions o;
    o.limits.rate_per_second = 0;
    auto f = collateral::HttpOcspFetcher::Create(o, nullptr, http_.get(), Clock::Real());
    ASSERT_TRUE(f.ok()) << f.status();
    fetcher_ = std::move(*f);
  }

  // A verified path leaf..root for `leaf` (signature and chain checked by
  // VerifyRim on a builder RIM, exactly as in production).
  std::vector<crypto::OpensslPtr<X509>> PathFor(const Issued& leaf) {
    const rp::testing::RimContent content = rp::testing::MakeRimContent("1.0", {});
    absl::StatusOr<std::string> xml = rp::testing::SignRimXml(
        rp::testing::RimXmlUnsigned(content), leaf.key.get(),
        {leaf.cert.get(), pki_->l3.cert.get(), pki_->ca.cert.get()});
    EXPECT_TRUE(xml.ok()) << xml.status();
    absl::StatusOr<RimVerification> v = VerifyRim(*xml, Trust(), absl::Now());
    EXPECT_TRUE(v.ok() && v->ok());
    return v.ok() ? std::move(v->path) : std::vector<crypto::OpensslPtr<X509>>{};
  }
  static RimTrustConfig Trust() {
    RimTrustConfig t;
    t.trust_nvidia_root = false;
    t.extra_root_pems = {crypto::CertificatePem(pki_->root.cert.get())};
    return t;
  }
  // The responders stamp thisUpdate with the real clock: verify at real time.
  ChainOcspResult Check(const Issued& leaf, const RimTrustConfig& trust) {
    return CheckRimChainOcsp(PathFor(leaf), trust, {absl::Now(), fetcher_.get(), nullptr, {}});
  }

  static inline std::unique_ptr<Pki> pki_;
  static inline absl::Status setup_;
  std::unique_ptr<collateral::CurlHttpFetcher> http_;
  std::unique_ptr<collateral::HttpOcspFetcher> fetcher_;
};

std::string S(core::CheckStatus s) { return std::string(core::CheckStatusName(s)); }

TEST_F(RimOcspResponderTest, AllGood) {
  ChainOcspResult r = Check(pki_->l4_good, Trust());
  EXPECT_EQ(S(r.status) + "/" + r.reason, "pass/OK") << r.detail;
  ASSERT_EQ(r.certs.size(), 3u);
  EXPECT_EQ(r.certs[0].subject, "Sim Reference Value CA");  // top down
  EXPECT_EQ(r.certs[2].subject, "Sim L4 good");
  for (const CertOcspResult& c : r.certs) {
    EXPECT_EQ(c.ocsp_status, "good") << c.detail;
    EXPECT_THAT(c.key, ::testing::StartsWith("nvidia/ocsp/"));
  }
}

TEST_F(RimOcspResponderTest, Revoked) {
  ChainOcspResult r = Check(pki_->l4_revoked, Trust());
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/CERT_REVOKED") << r.detail;
  EXPECT_EQ(r.certs[2].revocation_reason, 1);  // keyCompromise
}

TEST_F(RimOcspResponderTest, HoldForbiddenByDefaultAllowedByKnob) {
  ChainOcspResult r = Check(pki_->l4_hold, Trust());
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/CERT_ON_HOLD") << r.detail;
  RimTrustConfig allow = Trust();
  allow.allow_hold = true;
  r = Check(pki_->l4_hold, allow);
  EXPECT_EQ(S(r.status) + "/" + r.reason, "not-checked/CERT_ON_HOLD") << r.detail;
  // allow_hold does not make a real revocation acceptable.
  r = Check(pki_->l4_revoked, allow);
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/CERT_REVOKED") << r.detail;
}

TEST_F(RimOcspResponderTest, UnknownForbiddenByDefaultAllowedByKnob) {
  ChainOcspResult r = Check(pki_->l4_unknown, Trust());
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/OCSP_UNKNOWN") << r.detail;
  RimTrustConfig allow = Trust();
  allow.allow_unknown = true;
  r = Check(pki_->l4_unknown, allow);
  EXPECT_EQ(S(r.status) + "/" + r.reason, "not-checked/OCSP_UNKNOWN") << r.detail;
}

TEST_F(RimOcspResponderTest, ResponderDownFailsClosedUnlessSoftFail) {
  RimTrustConfig down = Trust();
  down.ocsp_url_override = "http://127.0.0.1:1/";  // nothing listens on port 1
  ChainOcspResult r = Check(pki_->l4_good, down);
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/OCSP_UNAVAILABLE") << r.detail;
  down.soft_fail_unreachable = true;
  r = Check(pki_->l4_good, down);
  EXPECT_EQ(S(r.status) + "/" + r.reason, "not-checked/OCSP_UNAVAILABLE") << r.detail;
  // Soft-fail never hides a revocation the responder does report.
  RimTrustConfig soft = Trust();
  soft.soft_fail_unreachable = true;
  r = Check(pki_->l4_revoked, soft);
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/CERT_REVOKED") << r.detail;
}

TEST_F(RimOcspResponderTest, WrongResponderIsNotTrusted) {
  // Every certificate asked at the L3 responder: its answers for CA and L3
  // are signed by L3, which is not their issuer → not authorized.
  RimTrustConfig wrong = Trust();
  wrong.ocsp_url_override = pki_->by_l3->url();
  ChainOcspResult r = Check(pki_->l4_good, wrong);
  EXPECT_EQ(S(r.status), "fail") << r.detail;
  EXPECT_EQ(r.certs[0].ocsp_status, "invalid") << r.certs[0].detail;
  EXPECT_EQ(r.certs[2].ocsp_status, "good") << r.certs[2].detail;
}

// A request that cannot be built fails that certificate (and so the chain):
// never a pass, never a skip that a soft-fail policy could relax. With a
// verified chain BuildOcspRequest cannot fail short of an OpenSSL failure,
// so the test reaches the branch through the API with a path whose root is
// missing (null): the CA certificate has no issuer to build a request with.
TEST_F(RimOcspResponderTest, RequestThatCannotBeBuiltFails) {
  std::vector<crypto::OpensslPtr<X509>> path = PathFor(pki_->l4_good);
  ASSERT_EQ(path.size(), 4u);
  path.back().reset();
  RimTrustConfig soft = Trust();
  soft.soft_fail_unreachable = true;
  ChainOcspResult r = CheckRimChainOcsp(path, soft, {absl::Now(), nullptr, nullptr, {}});
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/OCSP_REQUEST_FAILED") << r.detail;
  ASSERT_EQ(r.certs.size(), 3u);
  EXPECT_EQ(r.certs[0].ocsp_status, "invalid");
  EXPECT_EQ(r.certs[0].reason, "OCSP_REQUEST_FAILED");
  EXPECT_EQ(r.certs[1].reason, reason::kOcspNotConfigured);
}

TEST_F(RimOcspResponderTest, NoFetcherIsNotConfiguredNeverPass) {
  ChainOcspResult r =
      CheckRimChainOcsp(PathFor(pki_->l4_good), Trust(), {absl::Now(), nullptr, nullptr, {}});
  EXPECT_EQ(S(r.status) + "/" + r.reason, "not-checked/OCSP_NOT_CONFIGURED");
}

// Issue 10: a fetcher but no responder to ask (no AIA, no override) and
// nothing stored is "not configured", never a pass (before: fail
// OCSP_UNAVAILABLE, which soft-fail could relax like an outage).
TEST_F(RimOcspResponderTest, FetcherWithoutResponderUrlIsNotConfiguredNeverPass) {
  absl::StatusOr<rp::testing::RimSigningHierarchy> h = rp::testing::MakeRimSigningHierarchy();
  ASSERT_TRUE(h.ok()) << h.status();  // no AIA anywhere
  absl::StatusOr<std::string> xml =
      rp::testing::BuildSignedRim(rp::testing::MakeRimContent("1.0", {}), *h);
  ASSERT_TRUE(xml.ok()) << xml.status();
  const RimTrustConfig trust = h->TrustOnlyThis();
  absl::StatusOr<RimVerification> v = VerifyRim(*xml, trust, absl::Now());
  ASSERT_TRUE(v.ok() && v->ok());
  ChainOcspResult r = CheckRimChainOcsp(v->path, trust, {absl::Now(), fetcher_.get(), nullptr, {}});
  EXPECT_EQ(S(r.status) + "/" + r.reason, "not-checked/OCSP_NOT_CONFIGURED") << r.detail;
  ASSERT_EQ(r.certs.size(), 3u);
  for (const CertOcspResult& c : r.certs) EXPECT_EQ(c.ocsp_status, "not-checked") << c.detail;
  RimTrustConfig soft = trust;
  soft.soft_fail_unreachable = true;
  soft.allow_unknown = true;
  soft.allow_hold = true;
  r = CheckRimChainOcsp(v->path, soft, {absl::Now(), fetcher_.get(), nullptr, {}});
  EXPECT_EQ(S(r.status) + "/" + r.reason, "not-checked/OCSP_NOT_CONFIGURED") << r.detail;
}

TEST_F(RimOcspResponderTest, OfflineResponsesFromCollateral) {
  // Answers fetched once, then served from the collateral under their keys
  // without a fetcher (offline bundle): verified without a nonce.
  ChainOcspResult live = Check(pki_->l4_revoked, Trust());
  ASSERT_EQ(live.certs.size(), 3u);
  MapSource offline;
  std::vector<crypto::OpensslPtr<X509>> path = PathFor(pki_->l4_revoked);
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    absl::StatusOr<crypto::OcspRequest> req =
        crypto::BuildOcspRequest(path[i].get(), path[i + 1].get(), {.with_nonce = false});
    ASSERT_TRUE(req.ok());
    collateral::OcspQuery q;
    q.key = absl::StrCat("nvidia/ocsp/", crypto::OcspCacheKey(req->issuer_key_hash, req->serial_hex), ".der");
    q.url = i == 0 ? pki_->by_l3->url() : (i == 1 ? pki_->by_ca->url() : pki_->by_root->url());
    q.request_der = req->der;
    auto got = fetcher_->Fetch(q, {});
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
    offline.Put(q.key, ToString((*got)->item.data));
  }
  ChainOcspResult r = CheckRimChainOcsp(path, Trust(), {absl::Now(), nullptr, &offline, {}});
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/CERT_REVOKED") << r.detail;
  EXPECT_EQ(r.certs[0].ocsp_status, "good");
}

TEST_F(RimOcspResponderTest, AppraisalWiresOcspIntoChecks) {
  auto sign = [&](const Issued& leaf, const std::string& version) {
    rp::testing::RimContent c = rp::testing::MakeRimContent(version, {});
    absl::StatusOr<std::string> xml = rp::testing::SignRimXml(
        rp::testing::RimXmlUnsigned(c), leaf.key.get(),
        {leaf.cert.get(), pki_->l3.cert.get(), pki_->ca.cert.get()});
    EXPECT_TRUE(xml.ok());
    return *xml;
  };
  MapSource src;
  src.Put(RimCollateralKey("NV_GPU_DRIVER_GH100_570.00"), sign(pki_->l4_good, "570.00"));
  src.Put(RimCollateralKey("NV_GPU_VBIOS_1010_0200_882_9600AA0001"),
          sign(pki_->l4_hold, "96.00.AA.00.01"));
  RimInputs in;
  in.driver_version = "570.00";
  in.vbios_version = "96.00.AA.00.01";
  in.project = "1010";
  in.project_sku = "0200";
  in.chip_sku = "882";
  in.nvdec0_enabled = false;
  core::DeviceResult out;
  ASSERT_TRUE(
      AppraiseGpuMeasurements(in, Trust(), {absl::Now(), &src, fetcher_.get()}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.driver_rim.ocsp"), "pass/OK");
  EXPECT_EQ(Outcome(out, "nvidia.vbios_rim.ocsp"), "fail/CERT_ON_HOLD");
  EXPECT_EQ(out.claims["vbios_rim"]["ocsp_status"], "revoked");
  EXPECT_EQ(out.claims["vbios_rim"]["ocsp"][2]["revocation_reason"], 6);
  size_t ocsp_refs = 0;
  for (const core::CollateralRef& c : out.collateral) ocsp_refs += c.kind == "ocsp" ? 1 : 0;
  EXPECT_EQ(ocsp_refs, 6u);  // 3 per chain
}

// Real NVIDIA RIM certificates carry AIA http://ocsp.ndis.nvidia.com; the
// query goes there unless overridden (no network: a recording fetcher).
class RecordingFetcher : public collateral::OcspFetcher {
 public:
  absl::StatusOr<std::optional<collateral::OcspFetchResult>> Fetch(
      const collateral::OcspQuery& q, const collateral::GetOptions&) const override {
    urls.push_back(q.url);
    keys.push_back(q.key);
    return absl::UnavailableError("offline test");
  }
  mutable std::vector<std::string> urls, keys;
};

TEST(RimOcspAia, RealNvidiaChainUsesItsAiaUrl) {
  absl::StatusOr<RimVerification> v = VerifyRim(
      testing::ReadRim("store_545.00_testnogpu/NV_GPU_DRIVER_GH100_545.00.xml"), {},
      testing::At20250115());
  ASSERT_TRUE(v.ok() && v->ok());
  RecordingFetcher rec;
  ChainOcspResult r = CheckRimChainOcsp(v->path, {}, {testing::At20250115(), &rec, nullptr, {}});
  EXPECT_EQ(S(r.status) + "/" + r.reason, "fail/OCSP_UNAVAILABLE");
  ASSERT_EQ(rec.urls.size(), 3u);
  for (const std::string& u : rec.urls) EXPECT_EQ(u, "http://ocsp.ndis.nvidia.com");
  EXPECT_EQ(r.certs[0].subject, "NVIDIA Reference Value GH100 CA");
  EXPECT_EQ(r.certs[2].subject, "HCC RIM L4 Signer");
  RimTrustConfig override_url;
  override_url.ocsp_url_override = "http://127.0.0.1:9/ocsp";
  RecordingFetcher rec2;
  CheckRimChainOcsp(v->path, override_url, {testing::At20250115(), &rec2, nullptr, {}});
  ASSERT_EQ(rec2.urls.size(), 3u);
  EXPECT_EQ(rec2.urls[0], "http://127.0.0.1:9/ocsp");
}

}  // namespace
}  // namespace rp::nvidia::rim
