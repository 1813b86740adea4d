#include "verifier/crypto/openssl_error.h"

#include <cstddef>
#include <string>

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace rp::crypto {
namespace {

int AppendError(const char* str, size_t len, void* u) {
  auto* out = static_cast<std::string*>(u);
  std::string line(str, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.pop_back();
  }
  if (!out->empty()) {
    out->append("; ");
  }
  out->append(line);
  return 1;
}

}  // namespace

std::string OpensslErrorString() {
  std::string out;
  // ERR_print_errors_cb drains the queue as it prints.
  ERR_print_errors_cb(AppendError, &out);
  return out;
}

std::string WithOpensslErrors(absl::string_view message) {
  std::string errors = OpensslErrorString();
  if (errors.empty()) return std::string(message);
  return absl::StrCat(message, " (", errors, ")");
}

}  // namespace rp::crypto
