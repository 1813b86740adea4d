// Structure-aware libFuzzer target for NVIDIA SPDM GET_MEASUREMENTS reports
// (verifier/nvidia/spdm.h ParseGpuReportUnverified), with a custom mutator
// (LLVMFuzzerCustomMutator) that keeps the TLV / length fields consistent:
// it decodes the input into request | response header | measurement blocks
// (index, spec, DMTF value type, value) | nonce | opaque fields (type,
// value) | signature, mutates one element (a block's or an opaque field's
// value through libFuzzer's own byte mutator, a header byte, an index or
// type, insert / drop / duplicate a block or field, the request or nonce)
// and re-encodes with NumberOfBlocks, MeasurementRecordLength, every
// MeasurementSize / DMTF value size, OpaqueLength and every field length
// recomputed. One mutation in eight is plain byte mutation (so the length
// checks themselves stay covered). Invariants: those of spdm_report_fuzzer
// (CheckSpdmParseInvariants, linked from spdm_report_fuzzer.cc's source).
// Seeds: the real Hopper / Blackwell reports (tests/data/nvidia).
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "verifier/nvidia/spdm.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

// The invariants (CheckSpdmParseInvariants), without that file's entry point.
#define RP_FUZZ_NO_ENTRY
#include "tests/fuzz/spdm_report_fuzzer.cc"  // NOLINT(bugprone-suspicious-include)
#undef RP_FUZZ_NO_ENTRY

namespace {
using Bytes = std::vector<uint8_t>;

struct Block {
  uint8_t index = 1, spec = 1, value_type = 0;
  Bytes value;
};
struct Field {
  uint16_t type = 0;
  Bytes value;
};
struct Report {
  Bytes request;  // 37 bytes
  uint8_t rsp[4] = {0x11, 0x60, 0, 0};  // version, code, param1, param2
  std::vector<Block> blocks;
  Bytes nonce;  // 32
  std::vector<Field> fields;
  Bytes signature;  // 96
};

constexpr size_t kReq = rp::nvidia::kSpdmRequestSize;
constexpr size_t kSig = rp::nvidia::kSignatureSize;

uint32_t Le(const uint8_t* p, size_t n) {
  uint32_t v = 0;
  for (size_t i = n; i > 0; --i) v = (v << 8) | p[i - 1];
  return v;
}
void PutLe(Bytes& out, uint32_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Lenient: only the lengths must agree (values may be anything).
std::optional<Report> Decode(const uint8_t* d, size_t n) {
  if (n < kReq + 8 + 32 + 2 + kSig) return std::nullopt;
  Report r;
  r.request.assign(d, d + kReq);
  size_t at = kReq;
  std::memcpy(r.rsp, d + at, 4);
  const uint8_t count = d[at + 4];
  const uint32_t record_len = Le(d + at + 5, 3);
  at += 8;
  if (record_len > n - at) return std::nullopt;
  const size_t record_end = at + record_len;
  for (int i = 0; i < count; ++i) {
    if (record_end - at < 7) return std::nullopt;
    Block b;
    b.index = d[at];
    b.spec = d[at + 1];
    const uint16_t size = static_cast<uint16_t>(Le(d + at + 2, 2));
    b.value_type = d[at + 4];
    const uint16_t vsize = static_cast<uint16_t>(Le(d + at + 5, 2));
    if (size != vsize + 3u || record_end - at - 4 < size) return std::nullopt;
    b.value.assign(d + at + 7, d + at + 7 + vsize);
    r.blocks.push_back(std::move(b));
    at += 4 + size;
  }
  if (at != record_end || n - at < 32 + 2 + kSig) return std::nullopt;
  r.nonce.assign(d + at, d + at + 32);
  at += 32;
  const uint16_t opaque_len = static_cast<uint16_t>(Le(d + at, 2));
  at += 2;
  if (n - at != opaque_len + kSig) return std::nullopt;
  const size_t opaque_end = at + opaque_len;
  while (at < opaque_end) {
    if (opaque_end - at < 4) return std::nullopt;
    Field f;
    f.type = static_cast<uint16_t>(Le(d + at, 2));
    const uint16_t len = static_cast<uint16_t>(Le(d + at + 2, 2));
    if (opaque_end - at - 4 < len) return std::nullopt;
    f.value.assign(d + at + 4, d + at + 4 + len);
    r.fields.push_back(std::move(f));
    at += 4 + len;
  }
  r.signature.assign(d + at, d + n);
  return r;
}

Bytes Encode(const Report& r) {
  Bytes out = r.request;
  out.insert(out.end(), r.rsp, r.rsp + 4);
  out.push_back(static_cast<uint8_t>(r.blocks.size()));
  Bytes record;
  for (const Block& b : r.blocks) {
    record.push_back(b.index);
    record.push_back(b.spec);
    PutLe(record, static_cast<uint32_t>(b.value.size() + 3), 2);
    record.push_back(b.value_type);
    PutLe(record, static_cast<uint32_t>(b.value.size()), 2);
    record.insert(record.end(), b.value.begin(), b.value.end());
  }
  PutLe(out, static_cast<uint32_t>(record.size()), 3);
  out.insert(out.end(), record.begin(), record.end());
  out.insert(out.end(), r.nonce.begin(), r.nonce.end());
  Bytes opaque;
  for (const Field& f : r.fields) {
    PutLe(opaque, f.type, 2);
    PutLe(opaque, static_cast<uint32_t>(f.value.size()), 2);
    opaque.insert(opaque.end(), f.value.begin(), f.value.end());
  }
  PutLe(out, static_cast<uint32_t>(opaque.size()), 2);
  out.insert(out.end(), opaque.begin(), opaque.end());
  out.insert(out.end(), r.signature.begin(), r.signature.end());
  return out;
}

// libFuzzer's byte mutator on a value, capped.
void MutateValue(Bytes& v, size_t cap) {
  const size_t old = v.size();
  v.resize(std::max<size_t>(cap, old + 1));
  const size_t n = LLVMFuzzerMutate(v.data(), old, v.size());
  v.resize(std::min(n, cap));
}
}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  std::minstd_rand rng(seed);
  std::optional<Report> r = Decode(data, size);
  if (!r || rng() % 8 == 0) return LLVMFuzzerMutate(data, size, max_size);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  switch (pick(10)) {
    case 0: case 1:  // a block's value
      if (!r->blocks.empty()) MutateValue(r->blocks[pick(r->blocks.size())].value, 256);
      break;
    case 2: {  // a block's index / spec / value type
      if (r->blocks.empty()) break;
      Block& b = r->blocks[pick(r->blocks.size())];
      const uint8_t v = static_cast<uint8_t>(rng());
      (pick(3) == 0 ? b.index : pick(2) == 0 ? b.spec : b.value_type) = v;
      break;
    }
    case 3:  // drop / duplicate / add a block
      if (!r->blocks.empty() && pick(3) == 0) {
        r->blocks.erase(r->blocks.begin() + static_cast<std::ptrdiff_t>(pick(r->blocks.size())));
      } else if (!r->blocks.empty() && pick(2) == 0) {
        r->blocks.push_back(r->blocks[pick(r->blocks.size())]);
      } else if (r->blocks.size() < 255) {
        Block b;
        b.index = static_cast<uint8_t>(rng());
        b.value.assign(pick(2) == 0 ? 48 : pick(64), static_cast<uint8_t>(rng()));
        r->blocks.push_back(std::move(b));
      }
      break;
    case 4: case 5:  // an opaque field's value
      if (!r->fields.empty()) MutateValue(r->fields[pick(r->fields.size())].value, 1024);
      break;
    case 6: {  // an opaque field's type, or drop / duplicate / add a field
      const size_t k = pick(4);
      if (!r->fields.empty() && k == 0) {
        r->fields[pick(r->fields.size())].type = static_cast<uint16_t>(pick(2) ? pick(40) : rng());
      } else if (!r->fields.empty() && k == 1) {
        r->fields.erase(r->fields.begin() + static_cast<std::ptrdiff_t>(pick(r->fields.size())));
      } else if (!r->fields.empty() && k == 2) {
        r->fields.push_back(r->fields[pick(r->fields.size())]);
      } else {
        Field f;
        f.type = static_cast<uint16_t>(pick(40));
        f.value.assign(pick(16), static_cast<uint8_t>(rng()));
        r->fields.push_back(std::move(f));
      }
      break;
    }
    case 7:  // response header byte
      r->rsp[pick(4)] = static_cast<uint8_t>(pick(2) ? rng() : r->rsp[pick(4)] ^ (1u << pick(8)));
      break;
    case 8:  // request bytes (version, code, params, nonce, slot)
      r->request[pick(r->request.size())] = static_cast<uint8_t>(rng());
      break;
    default:  // swap two blocks / fields (order matters for duplicates)
      if (r->blocks.size() > 1) std::swap(r->blocks[pick(r->blocks.size())], r->blocks[0]);
      if (r->fields.size() > 1) std::swap(r->fields[pick(r->fields.size())], r->fields[0]);
      break;
  }
  Bytes out = Encode(*r);
  if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string why =
      rp::nvidia::fuzz::CheckSpdmParseInvariants(std::span<const uint8_t>(data, size));
  if (!why.empty()) rp::fuzz::Fail("spdm_struct_fuzzer", why);
  return 0;
}
