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
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <openssl/pem.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/testing/gpu_evidence_builder.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/crypto/ocsp.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/test_util.h"
#include "verifier/nvidia/verifier.h"

namespace rp::nvidia {
namespace {

using core::CheckStatus;
using core::DeviceResult;
using crypto::OpensslPtr;
using testing::GpuTestDevice;
using testing::GpuTestPki;

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

size_t CurlWrite(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<Bytes*>(user);
  const size_t n = size * count;
  if (out->size() + n > crypto::kMaxOcspResponseBytes) return 0;  // size cap
  out->insert(out->end(), data, data + n);
  return n;
}

// RFC 6960 Appendix A.1 POST with timeouts and a size cap.
absl::StatusOr<Bytes> PostOcsp(const std::string& url, std::span<const uint8_t> der) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("curl_easy_init");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, "Content-Type: application/ocsp-request"), curl_slist_free_all);
  headers.reset(curl_slist_append(headers.release(), "Connection: close"));
  Bytes body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(curl.get(), CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, der.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(der.size()));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &CurlWrite);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("POST ", url, ": ", curl_easy_strerror(rc)));
  }
  long http = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &http);
  if (http != 200) return absl::UnavailableError(absl::StrCat("POST ", url, ": HTTP ", http));
  return body;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// One `openssl ocsp` process (as in verifier/crypto/ocsp_test.cc). Killed by
// the destructor, and by PR_SET_PDEATHSIG should the test crash.
class Responder {
 public:
  static absl::StatusOr<std::unique_ptr<Responder>> Start(const std::string& openssl,
                                                          std::vector<std::string> args,
                                                          const std::filesystem::path& dir,
                                                          const std::string& name) {
    const std::string out_path = (dir / (name + ".out")).string();
    const std::string err_path = (dir / (name + ".err")).string();
    args.insert(args.begin(), {openssl, "ocsp"});
    for (const char* a : {"-port", "0", "-ignore_err"}) args.emplace_back(a);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(125);
      execv(argv[0], argv.data());
      _exit(127);
    }
    std::unique_ptr<Responder> r(new Responder(pid));
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) {
        r->pid_ = -1;
        return absl::InternalError(
            absl::StrCat("openssl ocsp (", name, ") exited: ", ReadAll(err_path)));
      }
      const std::string out = ReadAll(out_path);
      const size_t accept = out.find("ACCEPT ");
      const size_t end = accept == std::string::npos ? accept : out.find(' ', accept + 7);
      if (end != std::string::npos) {
        const std::string addr = out.substr(accept + 7, end - accept - 7);
        if (!absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &r->port_) || r->port_ <= 0) {
          return absl::InternalError(absl::StrCat("cannot parse '", out, "'"));
        }
        r->deadline_ = deadline;
        return r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return absl::DeadlineExceededError(absl::StrCat("openssl ocsp (", name, ") not ready"));
  }

  ~Responder() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // Readiness with a real request (OpenSSL 3.0's responder stops serving
  // after a bare connect without a request).
  absl::Status WaitReady(std::span<const uint8_t> probe) {
    absl::Status last = absl::DeadlineExceededError("not tried");
    while (absl::Now() < deadline_) {
      for (const char* host : {"127.0.0.1", "[::1]"}) {
        const std::string url = absl::StrCat("http://", host, ":", port_, "/");
        absl::StatusOr<Bytes> answer = PostOcsp(url, probe);
        if (answer.ok()) {
          url_ = url;
          return absl::OkStatus();
        }
        last = answer.status();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return last;
  }
  const std::string& url() const { return url_; }

 private:
  explicit Responder(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  int port_ = 0;
  absl::Time deadline_;
  std::string url_;
};

bool WritePem(const std::filesystem::path& path, const X509* cert, const EVP_PKEY* key) {
  OpensslPtr<BIO> bio(BIO_new_file(path.c_str(), "w"));
  if (bio == nullptr) return false;
  if (cert != nullptr && PEM_write_bio_X509(bio.get(), cert) != 1) return false;
  return key == nullptr ||
         PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
}

std::string IndexTime(absl::Time t) {
  return absl::FormatTime("%y%m%d%H%M%SZ", t, absl::UTCTimeZone());
}

// One line of an `openssl ca` index (serial: upper-case, even length).
std::string IndexLine(const X509* cert, const std::string& revocation) {
  std::string serial = crypto::SerialHex(cert);
  if (serial.size() % 2 != 0) serial.insert(serial.begin(), '0');
  for (char& c : serial) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // Device certificates run to 9999: beyond the two-digit index year, and
  // the expiry column does not matter to the responder.
  return absl::StrCat(revocation.empty() ? "V" : "R", "\t", "491231235959Z", "\t", revocation,
                      "\t", serial, "\tunknown\t/CN=", crypto::SubjectCommonName(cert), "\n");
}

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
    absl::StatusOr<Bytes> body = PostOcsp(url, query.request_der);
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
  std::ofstream(f->dir / "root_index.txt") << IndexLine(f->pki.identity.cert.get(), "");
  std::ofstream(f->dir / "identity_index.txt") << IndexLine(f->pki.provisioner.cert.get(), "");
  std::ofstream(f->dir / "provisioner_index.txt")
      << IndexLine(f->good.brom.cert.get(), "")
      << IndexLine(f->revoked.brom.cert.get(), revoked_at + ",keyCompromise")
      << IndexLine(f->hold.brom.cert.get(), revoked_at + ",certificateHold");
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
    core::VerifyContext ctx{absl::Now(), source != nullptr ? source : &empty_,
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
