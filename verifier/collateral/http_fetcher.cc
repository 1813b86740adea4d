#include "verifier/collateral/http_fetcher.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rp::collateral {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct Transfer {
  HttpResponse response;
  size_t header_bytes = 0;
  size_t limit = 0;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  if (t->response.body.size() + n > t->limit) {
    t->too_large = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  t->response.body.insert(t->response.body.end(), data, data + n);  // NOLINT: curl buffer
  return n;
}

size_t OnHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  std::string_view line(data, n);
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    // A status line starts a new header block (e.g. after a proxy CONNECT
    // or "100 Continue"): forget headers of the earlier block.
    if (absl::StartsWith(std::string(line), "HTTP/")) {
      t->response = HttpResponse{};
      t->header_bytes = 0;
    }
    return n;
  }
  std::string name = absl::AsciiStrToLower(std::string(line.substr(0, colon)));
  std::string value(absl::StripAsciiWhitespace(std::string(line.substr(colon + 1))));
  if (name == "cache-control") {
    t->response.cache_control = value;
  } else if (name == "expires") {
    t->response.expires = value;
  } else if (name == "retry-after") {
    t->response.retry_after = value;
  } else if (name == "date") {
    t->response.date = value;
  }
  if (t->response.headers.size() < kMaxHttpHeaders &&
      t->header_bytes + name.size() + value.size() <= kMaxHttpHeaderBytes) {
    t->header_bytes += name.size() + value.size();
    t->response.headers.emplace_back(std::move(name), std::move(value));
  }
  return n;
}

long Millis(absl::Duration d) {  // NOLINT(google-runtime-int): curl API
  return static_cast<long>(absl::ToInt64Milliseconds(d));  // NOLINT(google-runtime-int)
}

}  // namespace

absl::StatusOr<std::unique_ptr<CurlHttpFetcher>> CurlHttpFetcher::Create(
    const HttpFetcherOptions& options) {
  static std::once_flag once;
  static CURLcode init_rc = CURLE_OK;
  std::call_once(once, [] { init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_rc != CURLE_OK) {
    return absl::InternalError(absl::StrCat("http: curl_global_init: ", curl_easy_strerror(init_rc)));
  }
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.total_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("http: timeouts must be positive");
  }
  if (options.max_response_bytes == 0) {
    return absl::InvalidArgumentError("http: max_response_bytes must be positive");
  }
  return std::unique_ptr<CurlHttpFetcher>(new CurlHttpFetcher(options));
}

std::string HttpResponse::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

absl::StatusOr<HttpResponse> HttpFetcher::Post(const std::string& url, const std::string&,
                                               const Bytes&) const {
  return absl::UnimplementedError(absl::StrCat("http: POST ", url, ": this fetcher only GETs"));
}

absl::StatusOr<HttpResponse> CurlHttpFetcher::Get(const std::string& url) const {
  return Perform(url, nullptr, nullptr);
}

absl::StatusOr<HttpResponse> CurlHttpFetcher::Post(const std::string& url,
                                                   const std::string& content_type,
                                                   const Bytes& body) const {
  return Perform(url, &content_type, &body);
}

absl::StatusOr<HttpResponse> CurlHttpFetcher::Perform(const std::string& url,
                                                      const std::string* content_type,
                                                      const Bytes* body) const {
  const char* method = body == nullptr ? "GET" : "POST";
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return absl::InternalError("http: curl_easy_init failed");
  CURL* c = curl.get();
  Transfer t;
  t.limit = options_.max_response_bytes;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  };
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  if (body == nullptr) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    const std::string header = absl::StrCat("Content-Type: ", *content_type);
    headers.reset(curl_slist_append(nullptr, header.c_str()));
    if (!headers) return absl::InternalError("http: curl_slist_append failed");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, reinterpret_cast<const char*>(body->data()));  // NOLINT
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  // TLS verification stays on: collateral is signed, but a MITM could still
  // feed stale CRLs or withhold items.
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  // "" disables proxies, including *_proxy environment variables.
  curl_easy_setopt(c, CURLOPT_PROXY, options_.proxy.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, Millis(options_.connect_timeout));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, Millis(options_.total_timeout));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(options_.max_response_bytes));
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    const std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return absl::UnavailableError(absl::StrCat("http: ", method, " ", url, ": response over ",
                                                 options_.max_response_bytes, " bytes"));
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return absl::DeadlineExceededError(absl::StrCat("http: ", method, " ", url, ": timed out: ", detail));
    }
    return absl::UnavailableError(absl::StrCat("http: ", method, " ", url, ": ", detail));
  }
  long status = 0;  // NOLINT(google-runtime-int)
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  t.response.status = status;
  return std::move(t.response);
}

}  // namespace rp::collateral
