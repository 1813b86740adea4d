#include "verifier/nvidia/chain.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/common/byte_reader.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/ocsp.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/crypto/x509.h"

namespace rp::nvidia {
namespace {

using crypto::OpensslPtr;

// nvtrust certs/verifier_device_root.pem (= attestation-sdk DEVICE_ROOT_CERT,
// = Trustee nvidia_device_root.pem); tests/data/nvidia/roots/.
constexpr char kDeviceRootPem[] = R"(-----BEGIN CERTIFICATE-----
MIICCzCCAZCgAwIBAgIQLTZwscoQBBHB/sDoKgZbVDAKBggqhkjOPQQDAzA1MSIw
IAYDVQQDDBlOVklESUEgRGV2aWNlIElkZW50aXR5IENBMQ8wDQYDVQQKDAZOVklE
SUEwIBcNMjExMTA1MDAwMDAwWhgPOTk5OTEyMzEyMzU5NTlaMDUxIjAgBgNVBAMM
GU5WSURJQSBEZXZpY2UgSWRlbnRpdHkgQ0ExDzANBgNVBAoMBk5WSURJQTB2MBAG
ByqGSM49AgEGBSuBBAAiA2IABA5MFKM7+KViZljbQSlgfky/RRnEQScW9NDZF8SX
gAW96r6u/Ve8ZggtcYpPi2BS4VFu6KfEIrhN6FcHG7WP05W+oM+hxj7nyA1r1jkB
2Ry70YfThX3Ba1zOryOP+MJ9vaNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B
Af8EBAMCAQYwHQYDVR0OBBYEFFeF/4PyY8xlfWi3Olv0jUrL+0lfMB8GA1UdIwQY
MBaAFFeF/4PyY8xlfWi3Olv0jUrL+0lfMAoGCCqGSM49BAMDA2kAMGYCMQCPeFM3
TASsKQVaT+8S0sO9u97PVGCpE9d/I42IT7k3UUOLSR/qvJynVOD1vQKVXf0CMQC+
EY55WYoDBvs2wPAH1Gw4LbcwUN8QCff8bFmV4ZxjCRr4WXTLFHBKjbfneGSBWwA=
-----END CERTIFICATE-----
)";

// SHA-256 of the root's DER SubjectPublicKeyInfo (openssl x509 -pubkey |
// openssl pkey -pubin -outform der | sha256sum).
constexpr std::array<uint8_t, 32> kDeviceRootSpkiSha256 = {
    0xa9, 0x0c, 0x4e, 0xb5, 0xac, 0xfd, 0x3e, 0x3d, 0x03, 0xa2, 0x5d, 0xb6, 0xa2, 0x6b, 0x84, 0xf7,
    0x20, 0xad, 0x05, 0x03, 0x19, 0x6c, 0x62, 0x7c, 0x21, 0xdd, 0xd4, 0x8d, 0xd8, 0x5b, 0x06, 0xa4};

// DER content of OID 2.16.840.1.101.3.4.2.2 (id-sha384).
constexpr uint8_t kSha384Oid[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};

// --- Minimal bounded DER reader (definite lengths, low tag numbers) ----------

constexpr uint8_t kTagInteger = 0x02;
constexpr uint8_t kTagOctetString = 0x04;
constexpr uint8_t kTagOid = 0x06;
constexpr uint8_t kTagSequence = 0x30;
constexpr uint8_t kTagFwidsBlackwell = 0xA6;  // [6] IMPLICIT SEQUENCE OF (constructed)

bool ReadTlv(ByteReader& r, uint8_t* tag, std::span<const uint8_t>* content) {
  uint8_t first = 0;
  if (!r.ReadU8(tag) || (*tag & 0x1F) == 0x1F || !r.ReadU8(&first)) return false;
  size_t length = first;
  if (first & 0x80) {
    const int n = first & 0x7F;
    if (n == 0 || n > 3) return false;  // indefinite or absurd
    length = 0;
    for (int i = 0; i < n; ++i) {
      uint8_t b = 0;
      if (!r.ReadU8(&b)) return false;
      length = (length << 8) | b;
    }
    if (length < 0x80) return false;  // not minimal (DER)
  }
  return r.ReadBytes(length, content);
}

bool ExpectTlv(ByteReader& r, uint8_t want, std::span<const uint8_t>* content) {
  uint8_t tag = 0;
  return ReadTlv(r, &tag, content) && tag == want;
}

// FWID ::= SEQUENCE { hashAlg OBJECT IDENTIFIER, digest OCTET STRING }
absl::StatusOr<Bytes> ParseFwidSequence(std::span<const uint8_t> seq, std::string_view where) {
  ByteReader r(seq);
  std::span<const uint8_t> oid;
  std::span<const uint8_t> digest;
  if (!ExpectTlv(r, kTagOid, &oid) || !ExpectTlv(r, kTagOctetString, &digest) || !r.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: FWID is not SEQUENCE { OID, OCTET STRING }", where));
  }
  if (!std::equal(oid.begin(), oid.end(), std::begin(kSha384Oid), std::end(kSha384Oid))) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: FWID hash algorithm is not sha384 (OID %s)", where, HexEncode(oid)));
  }
  if (digest.size() != 48) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: FWID digest of %d bytes (48 expected)", where, digest.size()));
  }
  return Bytes(digest.begin(), digest.end());
}

absl::StatusOr<Bytes> HopperFwid(std::span<const uint8_t> ext) {
  constexpr std::string_view kWhere = "leaf extension 2.23.133.5.4.1";
  ByteReader outer(ext);
  std::span<const uint8_t> body;
  if (!ExpectTlv(outer, kTagSequence, &body) || !outer.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not one SEQUENCE", kWhere));
  }
  ByteReader r(body);
  std::span<const uint8_t> version;
  std::span<const uint8_t> spki;
  std::span<const uint8_t> fwid;
  if (!ExpectTlv(r, kTagInteger, &version) || !ExpectTlv(r, kTagSequence, &spki) ||
      !ExpectTlv(r, kTagSequence, &fwid) || !r.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not SEQUENCE { INTEGER, SubjectPublicKeyInfo, FWID }", kWhere));
  }
  return ParseFwidSequence(fwid, kWhere);
}

absl::StatusOr<Bytes> BlackwellFwid(std::span<const uint8_t> ext) {
  constexpr std::string_view kWhere = "leaf extension 2.23.133.5.4.1.1 (DiceTcbInfo)";
  ByteReader outer(ext);
  std::span<const uint8_t> body;
  if (!ExpectTlv(outer, kTagSequence, &body) || !outer.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not one SEQUENCE", kWhere));
  }
  // DiceTcbInfo fields are all OPTIONAL context tags [0]..[9]; find [6].
  ByteReader r(body);
  std::optional<std::span<const uint8_t>> fwids;
  int last_tag_number = -1;
  while (!r.empty()) {
    uint8_t tag = 0;
    std::span<const uint8_t> content;
    if (!ReadTlv(r, &tag, &content) || (tag & 0xC0) != 0x80) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: malformed or non-context-specific field", kWhere));
    }
    const int number = tag & 0x1F;
    if (number <= last_tag_number) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: fields out of order or repeated ([%d])", kWhere, number));
    }
    last_tag_number = number;
    if (number == 6) {
      if (tag != kTagFwidsBlackwell) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: fwids [6] not constructed", kWhere));
      }
      fwids = content;
    }
  }
  if (!fwids) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: no fwids [6]", kWhere));
  }
  ByteReader list(*fwids);
  std::span<const uint8_t> first;
  if (!ExpectTlv(list, kTagSequence, &first)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: fwids is empty", kWhere));
  }
  // Every entry must be well formed, even though fwids[0] is the one used.
  absl::StatusOr<Bytes> result = ParseFwidSequence(first, kWhere);
  if (!result.ok()) return result.status();
  while (!list.empty()) {
    std::span<const uint8_t> next;
    if (!ExpectTlv(list, kTagSequence, &next)) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: malformed fwids entry", kWhere));
    }
    absl::StatusOr<Bytes> other = ParseFwidSequence(next, kWhere);
    if (!other.ok()) return other.status();
  }
  return result;
}

std::string Describe(const absl::Status& s) { return std::string(s.message()); }

CertOcspOutcome Unavailable(CertOcspOutcome o, const GpuOcspPolicy& policy, std::string why) {
  o.status = "unavailable";
  o.reason = "OCSP_UNAVAILABLE";
  o.check = policy.soft_fail_unreachable ? core::CheckStatus::kNotChecked
                                         : core::CheckStatus::kFail;
  o.detail = policy.soft_fail_unreachable
                 ? absl::StrFormat("%s (soft-fail: revocation status unknown)", why)
                 : absl::StrFormat("%s (fail closed)", why);
  return o;
}

CertOcspOutcome CheckOne(const X509* cert, const X509* issuer, size_t index,
                         const GpuOcspSettings& settings, const core::VerifyContext& ctx) {
  CertOcspOutcome o;
  o.index = index;
  o.subject = crypto::SubjectCommonName(cert);
  o.serial_hex = crypto::SerialHex(cert);
  auto request_failed = [&](const absl::Status& s) {
    o.status = "invalid";
    o.reason = "OCSP_REQUEST_FAILED";
    o.check = core::CheckStatus::kFail;
    o.detail = absl::StrFormat("building the request: %s", Describe(s));
    return o;
  };
  // The cache key from the nonce-free certID: a pure function of the two
  // certificates, remembered per pair (crypto::BuildOcspRequest).
  absl::StatusOr<std::string> cache_key = OcspCollateralKey(cert, issuer);
  if (!cache_key.ok()) return request_failed(cache_key.status());
  const std::string& key = *cache_key;

  Bytes response;
  bool fresh = false;
  // The request with a fresh nonce, built only if the responder is asked.
  crypto::OcspRequestOnDemand request(cert, issuer, crypto::OcspRequestSpec{});
  if (ctx.ocsp != nullptr) {
    collateral::GetOptions options;
    options.stale_grace = ctx.collateral_grace;
    collateral::OcspQuery query{key, settings.url, {}, {}};
    query.make_request = [&request] { return request.Build(); };
    absl::StatusOr<std::optional<collateral::OcspFetchResult>> fetched =
        ctx.ocsp->Fetch(query, options);
    if (!request.error().ok()) return request_failed(request.error());
    if (!fetched.ok()) {
      return Unavailable(std::move(o), settings.policy,
                         absl::StrFormat("fetching %s: %s", key, Describe(fetched.status())));
    }
    if (!fetched->has_value()) {
      if (settings.url.empty()) {
        o.status = "not-configured";
        o.reason = "OCSP_NOT_CONFIGURED";
        o.check = core::CheckStatus::kNotChecked;
        o.detail = absl::StrFormat(
            "no OCSP responder URL configured and no response %s in the cache/offline "
            "directory: revocation not checked",
            key);
        return o;
      }
      return Unavailable(std::move(o), settings.policy,
                         absl::StrFormat("no OCSP response for %s from %s", key, settings.url));
    }
    response = std::move((*fetched)->item.data);
    fresh = (*fetched)->answers_this_request;
    o.source = fresh ? "responder" : "cache/offline";
  } else {
    absl::StatusOr<std::optional<Bytes>> offline =
        ctx.collateral != nullptr ? ctx.collateral->Get(key) : std::optional<Bytes>();
    if (!offline.ok()) {
      return Unavailable(std::move(o), settings.policy,
                         absl::StrFormat("collateral %s: %s", key, Describe(offline.status())));
    }
    if (!offline->has_value()) {
      o.status = "not-configured";
      o.reason = "OCSP_NOT_CONFIGURED";
      o.check = core::CheckStatus::kNotChecked;
      o.detail = absl::StrFormat(
          "no OCSP fetcher in this context and no response %s in the collateral: revocation "
          "not checked",
          key);
      return o;
    }
    response = std::move(**offline);
    o.source = "cache/offline";
  }

  o.key = key;
  o.response_sha256 = HexEncode(crypto::Sha256(response));
  std::optional<std::span<const uint8_t>> nonce;
  if (fresh) {
    // A fresh answer is the answer to `sent`, which must exist (fail closed).
    if (!request.sent().has_value()) {
      return request_failed(absl::InternalError("a fresh answer without a request sent"));
    }
    nonce = std::span<const uint8_t>(request.sent()->nonce);
  }
  absl::StatusOr<crypto::OcspResult> r =
      crypto::VerifyOcspResponse(response, cert, issuer, nonce, ctx.at, crypto::OcspVerifyOptions{});
  if (!r.ok()) {
    const std::optional<crypto::OcspError> e = crypto::GetOcspError(r.status());
    if (e == crypto::OcspError::kResponderError) {
      return Unavailable(std::move(o), settings.policy,
                         absl::StrFormat("responder error: %s", Describe(r.status())));
    }
    o.status = "invalid";
    o.reason = e ? std::string(crypto::OcspErrorName(*e)) : "OCSP_MALFORMED";
    o.check = core::CheckStatus::kFail;
    o.detail = absl::StrFormat("response %s (%s) rejected: %s", key, o.source,
                               Describe(r.status()));
    return o;
  }
  o.this_update = r->this_update;
  if (r->next_update != absl::InfinitePast()) o.next_update = r->next_update;
  o.revocation_reason = r->revocation_reason;
  const std::string base = absl::StrFormat("%s (%s, %s, thisUpdate %s)", r->detail, o.source,
                                           r->responder, FormatRfc3339(r->this_update));
  switch (r->status) {
    case crypto::OcspStatus::kGood:
      o.status = "good";
      o.reason = "OK";
      o.check = core::CheckStatus::kPass;
      o.detail = base;
      break;
    case crypto::OcspStatus::kRevoked:
      o.revocation_time = r->revocation_time;
      if (r->revocation_reason == crypto::kCrlReasonCertificateHold) {
        o.status = "hold";
        if (settings.policy.allow_hold) {
          o.reason = "CERT_ON_HOLD_ALLOWED";
          o.check = core::CheckStatus::kNotChecked;
          o.detail = absl::StrFormat("on hold, accepted by policy allow_hold: %s", base);
        } else {
          o.reason = "CERT_ON_HOLD";
          o.check = core::CheckStatus::kFail;
          o.detail = absl::StrFormat("on hold: %s", base);
        }
      } else {
        o.status = "revoked";
        o.reason = "CERT_REVOKED";
        o.check = core::CheckStatus::kFail;
        o.detail = absl::StrFormat("revoked at %s (reason %d): %s",
                                   FormatRfc3339(r->revocation_time), r->revocation_reason, base);
      }
      break;
    case crypto::OcspStatus::kUnknown:
      o.status = "unknown";
      if (settings.policy.allow_unknown) {
        o.reason = "OCSP_UNKNOWN_ALLOWED";
        o.check = core::CheckStatus::kNotChecked;
        o.detail = absl::StrFormat("unknown to the responder, accepted by policy: %s", base);
      } else {
        o.reason = "OCSP_UNKNOWN";
        o.check = core::CheckStatus::kFail;
        o.detail = absl::StrFormat("unknown to the responder: %s", base);
      }
      break;
  }
  return o;
}

}  // namespace

std::optional<GpuArch> ParseArch(std::string_view arch) {
  if (arch == "HOPPER") return GpuArch::kHopper;
  if (arch == "BLACKWELL") return GpuArch::kBlackwell;
  return std::nullopt;
}

std::string_view ArchName(GpuArch arch) {
  return arch == GpuArch::kHopper ? "HOPPER" : "BLACKWELL";
}

std::string_view PinnedDeviceRootPem() { return kDeviceRootPem; }

std::array<uint8_t, 32> PinnedDeviceRootSpkiSha256() { return kDeviceRootSpkiSha256; }

absl::StatusOr<std::vector<OpensslPtr<X509>>> ParseGpuCertChain(std::string_view text) {
  if (text.find("-----BEGIN") != std::string_view::npos) {
    return crypto::ParsePemCertificates(text, kMaxBundleCerts);
  }
  if (text.size() > crypto::kMaxPemBundleBytes * 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("certificate chain of %d bytes is too large", text.size()));
  }
  absl::StatusOr<Bytes> decoded = Base64Decode(text);
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(
        "certificate chain is neither PEM nor base64 of PEM");
  }
  const std::string pem = ToString(*decoded);
  if (pem.find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError("certificate chain (base64) does not contain PEM");
  }
  return crypto::ParsePemCertificates(pem, kMaxBundleCerts);
}

absl::StatusOr<std::optional<LeafFwid>> ExtractLeafFwid(const X509* leaf) {
  absl::StatusOr<std::optional<Bytes>> hopper = crypto::ExtensionValue(leaf, kHopperFwidOid);
  if (!hopper.ok()) return hopper.status();
  absl::StatusOr<std::optional<Bytes>> blackwell =
      crypto::ExtensionValue(leaf, kBlackwellFwidOid);
  if (!blackwell.ok()) return blackwell.status();
  if (hopper->has_value() && blackwell->has_value()) {
    return absl::InvalidArgumentError(
        "leaf carries both FWID extensions 2.23.133.5.4.1 and 2.23.133.5.4.1.1");
  }
  if (hopper->has_value()) {
    absl::StatusOr<Bytes> fwid = HopperFwid(**hopper);
    if (!fwid.ok()) return fwid.status();
    return LeafFwid{GpuArch::kHopper, *std::move(fwid)};
  }
  if (blackwell->has_value()) {
    absl::StatusOr<Bytes> fwid = BlackwellFwid(**blackwell);
    if (!fwid.ok()) return fwid.status();
    return LeafFwid{GpuArch::kBlackwell, *std::move(fwid)};
  }
  return std::optional<LeafFwid>();
}

std::string DecimalSerial(const X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);  // owned by cert
  OpensslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) return "";
  // BN_bn2dec's buffer is released with OPENSSL_free (not an OpensslPtr type).
  std::unique_ptr<char, void (*)(char*)> dec(BN_bn2dec(bn.get()),
                                             [](char* p) { OPENSSL_free(p); });
  return dec == nullptr ? "" : std::string(dec.get());
}

absl::StatusOr<std::string> OcspCollateralKey(const X509* cert, const X509* issuer) {
  return crypto::NvidiaOcspCollateralKey(cert, issuer);
}

namespace {

// The request memo key of CheckOne's inputs (the index aside): "" outside a
// request scope or for a certificate that cannot be encoded.
std::string GpuOcspRequestKey(const X509* cert, const X509* issuer,
                              const GpuOcspSettings& settings, const core::VerifyContext& ctx) {
  if (!crypto::InRequestScope()) return "";
  const Bytes cert_digest = crypto::CertificateDerSha256(cert);
  const Bytes issuer_digest = crypto::CertificateDerSha256(issuer);
  if (cert_digest.empty() || issuer_digest.empty()) return "";
#if defined(__GLIBCXX__) && defined(__x86_64__)
  static_assert(sizeof(GpuOcspSettings) == 40 && sizeof(GpuOcspPolicy) == 3,
                "GpuOcspSettings changed: add the new field to GpuOcspRequestKey");
#endif
  const std::string fields = absl::StrCat(
      "url=", settings.url.size(), ":", settings.url, "|hold=", settings.policy.allow_hold ? 1 : 0,
      "|unknown=", settings.policy.allow_unknown ? 1 : 0,
      "|soft=", settings.policy.soft_fail_unreachable ? 1 : 0, "|at=", absl::ToUnixNanos(ctx.at),
      "|grace=", absl::ToInt64Nanoseconds(ctx.collateral_grace),
      "|src=", reinterpret_cast<uintptr_t>(ctx.collateral),
      "|fetcher=", reinterpret_cast<uintptr_t>(ctx.ocsp));
  const std::span<const uint8_t> parts[] = {
      cert_digest, issuer_digest,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(fields.data()),  // NOLINT
                               fields.size())};
  return crypto::RequestMemoKey("nvidia-gpu-ocsp-v1", parts);
}

}  // namespace

std::vector<CertOcspOutcome> CheckChainOcsp(std::span<const X509* const> path,
                                            const GpuOcspSettings& settings,
                                            const core::VerifyContext& ctx) {
  std::vector<CertOcspOutcome> out;
  if (path.size() < 3) return out;
  // certs[1..n-2]: the leaf is generated by the GPU and has no OCSP entry;
  // the root is the trust anchor. Asked top of the chain first (spec §2.4),
  // reported in chain order.
  for (size_t i = path.size() - 2; i >= 1; --i) {
    // The GPUs of one node share the certificates above their own device
    // certificate: inside one request (crypto::ScopedRequestMemo) a pair's
    // passing outcome is reused for the next GPU, keyed on both certificates'
    // DER digests and every other input of CheckOne. Anything but a pass is
    // checked again for each GPU.
    const std::string memo_key = GpuOcspRequestKey(path[i], path[i + 1], settings, ctx);
    if (std::shared_ptr<const void> hit = crypto::FindInRequest(memo_key)) {
      out.push_back(*static_cast<const CertOcspOutcome*>(hit.get()));
      out.back().index = i;
      continue;
    }
    out.push_back(CheckOne(path[i], path[i + 1], i, settings, ctx));
    if (!memo_key.empty() && out.back().check == core::CheckStatus::kPass) {
      crypto::RememberInRequest(memo_key, std::make_shared<const CertOcspOutcome>(out.back()));
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace rp::nvidia
