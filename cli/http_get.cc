#include "cli/http_get.h"

#include <curl/curl.h>

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rp::cli {
namespace {
struct Sink {
  std::string data;
  size_t max;
  bool overflow = false;
};
size_t Write(char* ptr, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  size_t len = size * n;
  if (s->data.size() + len > s->max) {
    s->overflow = true;
    return 0;
  }
  s->data.append(ptr, len);
  return len;
}
struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
}  // namespace

absl::StatusOr<std::string> HttpGet(const std::string& url, size_t max_bytes,
                                    absl::Duration timeout) {
  absl::StatusOr<HttpResponse> r = HttpGetResponse(url, max_bytes, timeout);
  if (!r.ok()) return r.status();
  if (r->status != 200) return absl::UnavailableError(absl::StrCat(url, ": HTTP ", r->status));
  return std::move(r->body);
}

absl::StatusOr<HttpResponse> HttpGetResponse(const std::string& url, size_t max_bytes,
                                             absl::Duration timeout, const std::string& ca_file) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");
  Sink sink{"", max_bytes};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_file.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &Write);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &sink);
  CURLcode rc = curl_easy_perform(curl.get());
  if (sink.overflow) {
    return absl::ResourceExhaustedError(absl::StrCat(url, ": response over ", max_bytes, " bytes"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(url, ": ", curl_easy_strerror(rc)));
  }
  HttpResponse out;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &out.status);
  out.body = std::move(sink.data);
  return out;
}

}  // namespace rp::cli
