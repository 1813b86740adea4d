// Small helpers shared by the libFuzzer targets of tests/fuzz.
#ifndef RP_TESTS_FUZZ_FUZZ_UTIL_H_
#define RP_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

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

}  // namespace rp::fuzz

#endif  // RP_TESTS_FUZZ_FUZZ_UTIL_H_
