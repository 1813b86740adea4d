#include "verifier/nvidia/rim/xmlsec_init.h"

#include <mutex>
#include <string>

#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/xmlsec.h>

#include "absl/strings/str_cat.h"
#include "verifier/nvidia/rim/xml_doc.h"

namespace rp::nvidia::rim::internal {
namespace {

constexpr size_t kMaxErrorText = 2048;

thread_local std::string t_errors;  // NOLINT: per-thread error sink

void ErrorCallback(const char* /*file*/, int /*line*/, const char* func,
                   const char* error_object, const char* error_subject, int reason,
                   const char* msg) {
  if (t_errors.size() >= kMaxErrorText) return;
  if (!t_errors.empty()) t_errors += "; ";
  absl::StrAppend(&t_errors, func != nullptr ? func : "?", ": ",
                  error_subject != nullptr ? error_subject : "",
                  error_object != nullptr ? absl::StrCat(" (", error_object, ")") : "",
                  " reason=", reason, msg != nullptr ? absl::StrCat(" ", msg) : "");
  if (t_errors.size() > kMaxErrorText) t_errors.resize(kMaxErrorText);
}

}  // namespace

absl::Status EnsureXmlsecInitialized() {
  static std::once_flag once;
  static absl::Status* status = nullptr;  // leaked on purpose: lives for the process
  std::call_once(once, [] {
    EnsureLibxmlInitialized();
    if (xmlSecInit() < 0) {
      status = new absl::Status(absl::InternalError("xmlSecInit failed"));
      return;
    }
    if (xmlSecCheckVersion() != 1) {
      status = new absl::Status(absl::InternalError("xmlsec1 library version mismatch"));
      return;
    }
    if (xmlSecCryptoAppInit(nullptr) < 0 || xmlSecCryptoInit() < 0) {
      status = new absl::Status(absl::InternalError(
          absl::StrCat("xmlsec1 OpenSSL backend init failed: ", TakeXmlsecErrors())));
      return;
    }
    // Last: the init functions reset the callback to the stderr default.
    xmlSecErrorsSetCallback(&ErrorCallback);
    status = new absl::Status();
  });
  return *status;
}

std::string TakeXmlsecErrors() {
  std::string out;
  out.swap(t_errors);
  return out;
}

}  // namespace rp::nvidia::rim::internal
