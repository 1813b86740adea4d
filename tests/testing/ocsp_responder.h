// Test-only: a real `openssl ocsp` responder process on loopback, a
// bounded OCSP POST client, and the index.txt / PEM files it needs. Shared by
// the crypto, collateral and NVIDIA OCSP tests.
#ifndef RP_TESTS_TESTING_OCSP_RESPONDER_H_
#define RP_TESTS_TESTING_OCSP_RESPONDER_H_

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
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <openssl/pem.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/ocsp.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/crypto/x509.h"

namespace rp::testing::ocsp {

using ::rp::crypto::kMaxOcspResponseBytes;
using ::rp::crypto::NotAfter;
using ::rp::crypto::OpensslPtr;
using ::rp::crypto::SerialHex;
using ::rp::crypto::SubjectCommonName;

inline std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) {
      continue;
    }
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// One `openssl ocsp` responder process. The destructor kills it (and the
// child dies with this process through PR_SET_PDEATHSIG should the test
// crash), so no responder outlives the test.
class Responder {
 public:
  static absl::StatusOr<std::unique_ptr<Responder>> Start(const std::string& openssl,
                                                          std::vector<std::string> args,
                                                          const std::filesystem::path& dir,
                                                          const std::string& name) {
    const std::string out_path = (dir / (name + ".out")).string();
    const std::string err_path = (dir / (name + ".err")).string();
    args.insert(args.begin(), {openssl, "ocsp"});
    // `-port 0` lets the kernel choose; the responder prints "ACCEPT
    // [::]:<port> PID=<pid>", so there is no pick-then-bind race.
    for (const char* a : {"-port", "0", "-ignore_err"}) {
      args.emplace_back(a);
    }
    std::vector<char*> argv;
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      return absl::InternalError(absl::StrCat("fork: ", errno));
    }
    if (pid == 0) {
      // Child: async-signal-safe calls only.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) {
        _exit(126);
      }
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
        _exit(125);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    std::unique_ptr<Responder> responder(new Responder(pid));
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      int wstatus = 0;
      if (waitpid(pid, &wstatus, WNOHANG) == pid) {
        responder->pid_ = -1;
        return absl::InternalError(absl::StrCat("openssl ocsp (", name, ") exited early: ",
                                                ReadFile(err_path)));
      }
      const std::string out = ReadFile(out_path);
      const size_t accept = out.find("ACCEPT ");
      const size_t end = accept == std::string::npos ? accept : out.find(' ', accept + 7);
      if (end != std::string::npos) {
        // Printed once the socket listens. Which loopback address answers
        // is decided by WaitReady.
        const std::string addr = out.substr(accept + 7, end - accept - 7);
        if (!absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &responder->port_) ||
            responder->port_ <= 0) {
          return absl::InternalError(absl::StrCat("cannot parse '", out, "'"));
        }
        responder->deadline_ = deadline;
        return responder;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return absl::DeadlineExceededError(absl::StrCat("openssl ocsp (", name,
                                                    ") not ready after 10 s: ",
                                                    ReadFile(err_path)));
  }

  ~Responder() {
    if (pid_ <= 0) {
      return;
    }
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // Bounded readiness check (same 10 s budget as Start) with a real OCSP
  // request: OpenSSL 3.0's responder stops serving after a client connects
  // and closes without sending a request, so a bare TCP connect cannot be
  // used as the probe.
  absl::Status WaitReady(std::span<const uint8_t> probe_der);

  const std::string& url() const { return url_; }

 private:
  explicit Responder(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  int port_ = 0;
  absl::Time deadline_;
  std::string url_;
};

inline size_t CurlWrite(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<Bytes*>(user);
  const size_t n = size * count;
  if (out->size() + n > kMaxOcspResponseBytes) {
    return 0;  // aborts the transfer: response size cap
  }
  out->insert(out->end(), data, data + n);
  return n;
}

// POST as RFC 6960 Appendix A.1 with a 5 s timeout and a size cap.
inline absl::StatusOr<Bytes> PostOcsp(const std::string& url, std::span<const uint8_t> der) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) {
    return absl::InternalError("curl_easy_init");
  }
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
  if (http != 200) {
    return absl::UnavailableError(absl::StrCat("POST ", url, ": HTTP ", http));
  }
  return body;
}

inline absl::Status Responder::WaitReady(std::span<const uint8_t> probe_der) {
  absl::Status last = absl::DeadlineExceededError("not tried");
  while (absl::Now() < deadline_) {
    for (const char* host : {"127.0.0.1", "[::1]"}) {
      const std::string url = absl::StrCat("http://", host, ":", port_, "/");
      absl::StatusOr<Bytes> answer = PostOcsp(url, probe_der);
      if (answer.ok()) {
        url_ = url;
        return absl::OkStatus();
      }
      last = answer.status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("responder on port ", port_, " not ready after 10 s: ", last.message()));
}

inline bool WritePem(const std::filesystem::path& path, const X509* cert, const EVP_PKEY* key) {
  OpensslPtr<BIO> bio(BIO_new_file(path.c_str(), "w"));
  if (bio == nullptr) {
    return false;
  }
  if (cert != nullptr && PEM_write_bio_X509(bio.get(), cert) != 1) {
    return false;
  }
  return key == nullptr || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                                     nullptr, nullptr) == 1;
}

inline std::string IndexTime(absl::Time t) {
  return absl::FormatTime("%y%m%d%H%M%SZ", t, absl::UTCTimeZone());
}

// One line of an `openssl ca` index.txt. The serial column is what the
// responder looks up: BN_bn2hex, i.e. upper-case, two digits per byte.
// `expiry` is the expiry column as written (YYMMDDHHMMSSZ); empty (the
// default) writes the certificate's notAfter. Certificates valid beyond the
// two-digit index year (e.g. to 9999) pass a fixed value such as
// "491231235959Z"; `openssl ocsp` does not read the column.
inline std::string IndexLine(const X509* cert, const std::string& revocation,
                             absl::string_view expiry = {}) {
  std::string serial = SerialHex(cert);
  if (serial.size() % 2 != 0) {
    serial.insert(serial.begin(), '0');
  }
  std::transform(serial.begin(), serial.end(), serial.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return absl::StrCat(revocation.empty() ? "V" : "R", "\t",
                      expiry.empty() ? IndexTime(NotAfter(cert)) : std::string(expiry), "\t",
                      revocation, "\t", serial, "\tunknown\t/CN=", SubjectCommonName(cert), "\n");
}

}  // namespace rp::testing::ocsp

#endif  // RP_TESTS_TESTING_OCSP_RESPONDER_H_
