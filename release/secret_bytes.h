// SecretBytes: an owned byte buffer for key material and released secrets
// that is wiped (OPENSSL_cleanse) when it is destroyed or overwritten.
//
// Contract: the buffer never grows after construction (no push_back/append),
// so no reallocation leaves an unwiped copy behind; Truncate() wipes the tail
// it drops. Copying is disabled (a copy is one more place to wipe); moves hand
// the one buffer over. Not thread-safe (a value type, like std::vector).
// Header-only so every layer (stores, JWE, CLI) can use it without a library.
#ifndef RP_RELEASE_SECRET_BYTES_H_
#define RP_RELEASE_SECRET_BYTES_H_

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace rp::release {

class SecretBytes {
 public:
  SecretBytes() = default;
  // Takes ownership of `bytes` (no copy is made).
  explicit SecretBytes(std::vector<uint8_t>&& bytes) : bytes_(std::move(bytes)) {}
  // Copies `bytes`; the caller remains responsible for wiping its source.
  explicit SecretBytes(std::span<const uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}
  // `n` zero bytes, to be filled through data().
  static SecretBytes Zeroed(size_t n) { return SecretBytes(std::vector<uint8_t>(n, 0)); }
  explicit SecretBytes(size_t n) : bytes_(n, 0) {}
  // Copies [first, last) (the caller wipes its source).
  template <typename It>
  SecretBytes(It first, It last) : bytes_(first, last) {}

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) { other.Wipe(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      Wipe();
      bytes_ = std::move(other.bytes_);
      other.Wipe();
    }
    return *this;
  }
  ~SecretBytes() { Wipe(); }

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  std::span<const uint8_t> span() const { return bytes_; }
  // Read-only views convert implicitly (APIs taking std::span<const uint8_t>).
  operator std::span<const uint8_t>() const { return bytes_; }  // NOLINT: implicit view
  const uint8_t* begin() const { return bytes_.data(); }
  const uint8_t* end() const { return bytes_.data() + bytes_.size(); }
  uint8_t& operator[](size_t i) { return bytes_[i]; }
  const uint8_t& operator[](size_t i) const { return bytes_[i]; }
  // Shrink only (growing could reallocate and leave an unwiped copy).
  void resize(size_t n) { Truncate(n); }
  std::span<uint8_t> mutable_span() { return bytes_; }
  // A view as characters (e.g. a PIN); valid while this object lives.
  std::string_view AsStringView() const {
    return {reinterpret_cast<const char*>(bytes_.data()),  // NOLINT: byte view of own storage
            bytes_.size()};
  }

  // Shrinks to `n` bytes (no-op if already shorter), wiping the dropped tail.
  // Shrinking a vector never reallocates, so no copy is left behind.
  void Truncate(size_t n) {
    if (n >= bytes_.size()) return;
    OPENSSL_cleanse(bytes_.data() + n, bytes_.size() - n);
    bytes_.resize(n);
  }

  // Wipes and empties the buffer (also done by the destructor).
  void Wipe() {
    if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
    bytes_.clear();
  }

 private:
  std::vector<uint8_t> bytes_;
};

inline SecretBytes ToSecretBytes(std::span<const uint8_t> bytes) { return SecretBytes(bytes); }

// Wipes the contents now, in place (size unchanged, all zero): for a buffer
// that must stay alive but whose secret is no longer needed.
inline void Cleanse(SecretBytes& bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

}  // namespace rp::release

#endif  // RP_RELEASE_SECRET_BYTES_H_
