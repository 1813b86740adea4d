#include "verifier/common/byte_reader.h"

namespace rp {

bool ByteReader::ReadBytes(size_t n, std::span<const uint8_t>* out) {
  if (n > data_.size()) return false;
  *out = data_.first(n);
  data_ = data_.subspan(n);
  consumed_ += n;
  return true;
}

bool ByteReader::Skip(size_t n) {
  std::span<const uint8_t> ignored;
  return ReadBytes(n, &ignored);
}

bool ByteReader::ReadU8(uint8_t* out) {
  std::span<const uint8_t> b;
  if (!ReadBytes(1, &b)) return false;
  *out = b[0];
  return true;
}

namespace {
uint64_t Le(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (size_t i = b.size(); i > 0; --i) v = (v << 8) | b[i - 1];
  return v;
}
uint64_t Be(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (uint8_t x : b) v = (v << 8) | x;
  return v;
}
}  // namespace

bool ByteReader::ReadU16Le(uint16_t* out) {
  std::span<const uint8_t> b;
  if (!ReadBytes(2, &b)) return false;
  *out = static_cast<uint16_t>(Le(b));
  return true;
}
bool ByteReader::ReadU16Be(uint16_t* out) {
  std::span<const uint8_t> b;
  if (!ReadBytes(2, &b)) return false;
  *out = static_cast<uint16_t>(Be(b));
  return true;
}
bool ByteReader::ReadU24Le(uint32_t* out) {
  std::span<const uint8_t> b;
  if (!ReadBytes(3, &b)) return false;
  *out = static_cast<uint32_t>(Le(b));
  return true;
}
bool ByteReader::ReadU32Le(uint32_t* out) {
  std::span<const uint8_t> b;
  if (!ReadBytes(4, &b)) return false;
  *out = static_cast<uint32_t>(Le(b));
  return true;
}
bool ByteReader::ReadU32Be(uint32_t* out) {
  std::span<const uint8_t> b;
  if (!ReadBytes(4, &b)) return false;
  *out = static_cast<uint32_t>(Be(b));
  return true;
}
bool ByteReader::ReadU64Le(uint64_t* out) {
  std::span<const uint8_t> b;
  if (!ReadBytes(8, &b)) return false;
  *out = Le(b);
  return true;
}

}  // namespace rp
