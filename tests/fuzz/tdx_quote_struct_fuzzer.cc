// Structure-aware libFuzzer target for TDX quotes (verifier/tdx/quote.h
// ParseQuoteUnverified), aimed at the signature data: every input is first
// "repaired" so that its nested length fields are consistent, then checked
// with the same invariants as tdx_quote_fuzzer (tdx_quote_fuzzer.h).
// Repair (identity on a well-formed quote, e.g. the real seed quotes):
//  - v5: the body descriptor's size = the size its body type implies;
//  - signature data length = the bytes after it (unless what follows the
//    declared length is all-zero padding, which is kept);
//  - certification data size (type 6) = what is left of the signature data;
//  - QE authentication data size clamped to what is left;
//  - nested PCK chain size (type 5) = what is left of the QE cert data.
// So insertions and deletions inside the QE report, the auth data or the
// PEM chain reach the parsers behind the length checks instead of stopping
// at the first length mismatch. When the quote parses, the PCK leaf's SGX
// extensions are parsed too (ParsePckExtensions, must not crash).
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "openssl/err.h"
#include "openssl/bio.h"
#include "openssl/pem.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/tdx_quote_fuzzer.h"
#include "verifier/tdx/layout.h"
#include "verifier/tdx/pck_extensions.h"
#include "verifier/tdx/quote.h"

// The invariants (CheckParseInvariants), without that file's entry point.
#define RP_FUZZ_NO_ENTRY
#include "tests/fuzz/tdx_quote_fuzzer.cc"  // NOLINT(bugprone-suspicious-include)
#undef RP_FUZZ_NO_ENTRY

namespace {
using namespace rp::tdx;  // NOLINT(google-build-using-namespace): fuzz entry only

uint32_t Get(const std::vector<uint8_t>& b, size_t off, size_t n) {
  uint32_t v = 0;
  for (size_t i = n; i > 0; --i) v = (v << 8) | b[off + i - 1];
  return v;
}
void Put(std::vector<uint8_t>& b, size_t off, size_t n, uint32_t v) {
  for (size_t i = 0; i < n; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<uint8_t> Repair(const uint8_t* data, size_t size) {
  std::vector<uint8_t> q(data, data + size);
  if (q.size() < kHeaderSize) return q;
  size_t body_off = kHeaderSize;
  size_t body_size = kTd10BodySize;
  if (Get(q, kHeaderVersionOffset, 2) == kQuoteVersion5) {
    if (q.size() < kHeaderSize + kBodyDescriptorSize) return q;
    const uint32_t type = Get(q, kHeaderSize, 2);
    if (type == kBodyTypeTd15) body_size = kTd15BodySize;
    if (type == kBodyTypeTd10 || type == kBodyTypeTd15) Put(q, kHeaderSize + 2, 4, body_size);
    body_off += kBodyDescriptorSize;
  }
  const size_t len_off = body_off + body_size;
  if (q.size() < len_off + 4) return q;
  const size_t tail = q.size() - len_off - 4;
  size_t sig_len = Get(q, len_off, 4);
  bool zero_pad = sig_len <= tail;
  for (size_t i = len_off + 4 + sig_len; zero_pad && i < q.size(); ++i) zero_pad = q[i] == 0;
  if (!zero_pad) sig_len = tail;
  Put(q, len_off, 4, static_cast<uint32_t>(sig_len));
  const size_t sig = len_off + 4;  // signature data: [sig, sig + sig_len)
  const size_t cert_hdr = sig + kEcdsaSignatureSize + kAttestationKeySize;  // type u16, size u32
  if (sig_len < cert_hdr + 6 - sig) return q;
  const size_t cert = cert_hdr + 6;
  const size_t cert_size = sig + sig_len - cert;
  Put(q, cert_hdr + 2, 4, static_cast<uint32_t>(cert_size));
  const size_t auth_hdr = cert + kEnclaveReportSize + kEcdsaSignatureSize;
  if (cert_size < kEnclaveReportSize + kEcdsaSignatureSize + 2) return q;
  const size_t after_auth_hdr = sig + sig_len - (auth_hdr + 2);
  size_t auth = Get(q, auth_hdr, 2);
  if (auth + 6 > after_auth_hdr) {
    auth = after_auth_hdr >= 6 ? after_auth_hdr - 6 : after_auth_hdr;
    Put(q, auth_hdr, 2, static_cast<uint32_t>(auth));
  }
  const size_t pck_hdr = auth_hdr + 2 + auth;  // type u16, size u32
  if (pck_hdr + 6 > sig + sig_len) return q;
  Put(q, pck_hdr + 2, 4, static_cast<uint32_t>(sig + sig_len - (pck_hdr + 6)));
  return q;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxQuoteBytes + 16) return 0;
  const std::vector<uint8_t> q = Repair(data, size);
  const std::string why = rp::tdx::fuzz::CheckParseInvariants(q);
  if (!why.empty()) rp::fuzz::Fail("tdx_quote_struct_fuzzer", why);
  absl::StatusOr<TdxQuote> parsed = ParseQuoteUnverified(q);
  if (parsed.ok() && !parsed->pck_chain_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(parsed->pck_chain_pem.data(),
                               static_cast<int>(parsed->pck_chain_pem.size()));
    if (X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr); leaf != nullptr) {
      (void)ParsePckExtensions(leaf);
      X509_free(leaf);
    }
    BIO_free(bio);
  }
  ERR_clear_error();  // queued OpenSSL errors would make libFuzzer scan for leaks per input
  return 0;
}
