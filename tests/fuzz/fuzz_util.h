// Small helpers shared by the libFuzzer targets of tests/fuzz.
#ifndef RP_TESTS_FUZZ_FUZZ_UTIL_H_
#define RP_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "openssl/err.h"

namespace rp::fuzz {

// A violated invariant: print and abort (libFuzzer records it as a crash).
[[noreturn]] inline void Fail(const char* target, std::string_view what) {
  std::fprintf(stderr, "%s invariant violated: %.*s\n", target, static_cast<int>(what.size()),
               what.data());
  std::abort();
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};  // NOLINT: fuzz input as text
}

// Frees the errors OpenSSL queued while handling one input. Otherwise an
// input ends with more mallocs than frees and libFuzzer runs a full
// LeakSanitizer scan after it (measured: ~100 instead of ~3000 exec/s).
struct ClearOpensslErrors {
  ClearOpensslErrors() = default;
  ClearOpensslErrors(const ClearOpensslErrors&) = delete;
  ClearOpensslErrors& operator=(const ClearOpensslErrors&) = delete;
  ~ClearOpensslErrors() { ERR_clear_error(); }
};

}  // namespace rp::fuzz

#endif  // RP_TESTS_FUZZ_FUZZ_UTIL_H_
