// Bounded reader over untrusted bytes. Every read checks what remains and
// advances; nothing is ever read past the end. Wire formats are decoded only
// through this class (no casts onto structs).
#ifndef RP_VERIFIER_COMMON_BYTE_READER_H_
#define RP_VERIFIER_COMMON_BYTE_READER_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace rp {

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}

  [[nodiscard]] bool ReadU8(uint8_t* out);
  [[nodiscard]] bool ReadU16Le(uint16_t* out);
  [[nodiscard]] bool ReadU16Be(uint16_t* out);
  [[nodiscard]] bool ReadU24Le(uint32_t* out);
  [[nodiscard]] bool ReadU32Le(uint32_t* out);
  [[nodiscard]] bool ReadU32Be(uint32_t* out);
  [[nodiscard]] bool ReadU64Le(uint64_t* out);
  // Points `out` at the next n bytes (borrowed from the underlying buffer).
  [[nodiscard]] bool ReadBytes(size_t n, std::span<const uint8_t>* out);
  [[nodiscard]] bool Skip(size_t n);

  size_t remaining() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  // Bytes consumed so far, for error messages with offsets.
  size_t offset() const { return consumed_; }

 private:
  std::span<const uint8_t> data_;
  size_t consumed_ = 0;
};

}  // namespace rp

#endif  // RP_VERIFIER_COMMON_BYTE_READER_H_
