// SecretBytes: a byte vector whose storage is wiped (OPENSSL_cleanse) before
// it is returned to the heap — on destruction, on reallocation when it grows,
// and on assignment over it. For keys, shared secrets and released plaintext.
//
// Wiping happens in the allocator, so every buffer the vector ever owned is
// cleansed, including the old one left behind by a growth. What it cannot
// cover: copies the caller makes into other containers (std::string, Bytes),
// and bytes past size() after a shrink stay until the buffer is freed.
// Header-only on purpose (used by jwe and the secret stores).
#ifndef RP_RELEASE_SECRET_BYTES_H_
#define RP_RELEASE_SECRET_BYTES_H_

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <vector>

namespace rp::release {

template <typename T>
struct CleansingAllocator {
  using value_type = T;

  CleansingAllocator() noexcept = default;
  template <typename U>
  CleansingAllocator(const CleansingAllocator<U>& /*other*/) noexcept {
  }  // NOLINT: rebind

  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (p != nullptr) {
      OPENSSL_cleanse(p, n * sizeof(T));
    }
    ::operator delete(p);
  }

  template <typename U>
  bool operator==(const CleansingAllocator<U>& /*other*/) const noexcept {
    return true;
  }
};

using SecretBytes = std::vector<uint8_t, CleansingAllocator<uint8_t>>;

inline SecretBytes ToSecretBytes(std::span<const uint8_t> bytes) {
  return SecretBytes(bytes.begin(), bytes.end());
}

// Wipes the contents now (size unchanged, all zero) — for a buffer that must
// stay alive but whose secret is no longer needed.
inline void Cleanse(SecretBytes& bytes) {
  if (!bytes.empty()) {
    OPENSSL_cleanse(bytes.data(), bytes.size());
  }
}

}  // namespace rp::release

#endif  // RP_RELEASE_SECRET_BYTES_H_
