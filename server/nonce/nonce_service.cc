#include "server/nonce/nonce_service.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/common/byte_reader.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"

namespace rp::nonce {
namespace {

using attestation::v1::Challenge;

// Domain separation: this MAC key must never authenticate anything else.
constexpr std::string_view kMacLabel = "rp-challenge-v1";
constexpr size_t kEncodedBytes = kNonceBytes + 8 + 8 + kMacBytes;  // 80
constexpr size_t kEncodedChars = (kEncodedBytes * 8 + 5) / 6;  // 107, unpadded
// A key file is a few dozen bytes; refuse to slurp anything large.
constexpr size_t kMaxKeyFileBytes = 4096;

void AppendU64Be(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<uint8_t>((v >> shift) & 0xff));
  }
}

bool ReadI64Be(ByteReader& reader, int64_t* out) {
  uint32_t hi = 0;
  uint32_t lo = 0;
  if (!reader.ReadU32Be(&hi) || !reader.ReadU32Be(&lo)) {
    return false;
  }
  // Two's complement reinterpretation, well defined since C++20.
  *out = static_cast<int64_t>((static_cast<uint64_t>(hi) << 32) | lo);
  return true;
}

ChallengeCheck Verdict(ChallengeOutcome outcome, std::string detail) {
  return ChallengeCheck{outcome, std::string(ChallengeReason(outcome)),
                        std::move(detail)};
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::string_view ChallengeReason(ChallengeOutcome outcome) {
  switch (outcome) {
    case ChallengeOutcome::kOk:
      return "OK";
    case ChallengeOutcome::kInvalid:
      return "NONCE_INVALID";
    case ChallengeOutcome::kExpired:
      return "NONCE_EXPIRED";
    case ChallengeOutcome::kReplayed:
      return "NONCE_REPLAYED";
    case ChallengeOutcome::kStoreError:
      return "NONCE_STORE_UNAVAILABLE";
  }
  return "NONCE_INVALID";
}

absl::StatusOr<std::unique_ptr<NonceService>> NonceService::Create(
    Bytes hmac_key, absl::Duration lifetime, Clock& clock,
    ReplayStore& replay_store) {
  if (hmac_key.size() < kMinHmacKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("nonce service: hmac key is %d bytes, need at least %d",
                        hmac_key.size(), kMinHmacKeyBytes));
  }
  const int64_t seconds = absl::ToInt64Seconds(lifetime);
  if (seconds < 1 || lifetime > kMaxLifetime) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nonce service: lifetime ", absl::FormatDuration(lifetime),
        " is outside [1s, ", absl::FormatDuration(kMaxLifetime), "]"));
  }
  return std::unique_ptr<NonceService>(
      new NonceService(std::move(hmac_key), seconds, clock, replay_store));
}

Bytes NonceService::Mac(std::span<const uint8_t> nonce, int64_t iat,
                        int64_t exp) const {
  Bytes input;
  input.reserve(kMacLabel.size() + nonce.size() + 16);
  const auto label = AsBytes(kMacLabel);
  input.insert(input.end(), label.begin(), label.end());
  input.insert(input.end(), nonce.begin(), nonce.end());
  AppendU64Be(input, static_cast<uint64_t>(iat));
  AppendU64Be(input, static_cast<uint64_t>(exp));
  return crypto::HmacSha256(hmac_key_, input);
}

Challenge NonceService::Issue() const {
  const Bytes nonce = crypto::RandomBytes(kNonceBytes);
  const int64_t iat = absl::ToUnixSeconds(clock_.Now());
  const int64_t exp = iat + lifetime_seconds_;
  Challenge challenge;
  challenge.set_nonce(ToString(nonce));
  challenge.set_issued_at(iat);
  challenge.set_expires_at(exp);
  challenge.set_mac(ToString(Mac(nonce, iat, exp)));
  return challenge;
}

ChallengeCheck NonceService::CheckStateless(const Challenge& challenge,
                                            absl::Time now) const {
  const std::span<const uint8_t> nonce = AsBytes(challenge.nonce());
  const std::span<const uint8_t> mac = AsBytes(challenge.mac());
  if (nonce.size() != kNonceBytes) {
    return Verdict(ChallengeOutcome::kInvalid,
                   absl::StrFormat("nonce is %d bytes, expected %d",
                                   nonce.size(), kNonceBytes));
  }
  if (mac.size() != kMacBytes) {
    return Verdict(
        ChallengeOutcome::kInvalid,
        absl::StrFormat("mac is %d bytes, expected %d", mac.size(), kMacBytes));
  }
  const int64_t iat = challenge.issued_at();
  const int64_t exp = challenge.expires_at();
  // Constant time so that a client cannot learn the MAC byte by byte.
  if (!crypto::ConstantTimeEquals(Mac(nonce, iat, exp), mac)) {
    return Verdict(ChallengeOutcome::kInvalid,
                   "mac does not match (not issued by this service)");
  }
  // From here the fields were issued by a holder of the key; the checks
  // below guard against a key shared with a misconfigured replica.
  // With exp > iat, the unsigned difference is exact (no signed overflow).
  if (exp <= iat ||
      static_cast<uint64_t>(exp) - static_cast<uint64_t>(iat) >
          static_cast<uint64_t>(absl::ToInt64Seconds(kMaxLifetime))) {
    return Verdict(
        ChallengeOutcome::kInvalid,
        absl::StrFormat(
            "lifetime exp - iat (%d - %d) is outside (0, %d] seconds", exp, iat,
            absl::ToInt64Seconds(kMaxLifetime)));
  }
  const absl::Time issued = absl::FromUnixSeconds(iat);
  const absl::Time expires = absl::FromUnixSeconds(exp);
  if (issued > now + kMaxClockSkew) {
    return Verdict(
        ChallengeOutcome::kInvalid,
        absl::StrCat("issued at ", FormatTime(issued), ", in the future (now ",
                     FormatTime(now), ", allowed skew ",
                     absl::FormatDuration(kMaxClockSkew), ")"));
  }
  if (now >= expires) {
    return Verdict(ChallengeOutcome::kExpired,
                   absl::StrCat("expired at ", FormatTime(expires), " (now ",
                                FormatTime(now), ")"));
  }
  return Verdict(ChallengeOutcome::kOk, "");
}

ChallengeCheck NonceService::Consume(const Challenge& challenge) const {
  const absl::Time now = clock_.Now();
  ChallengeCheck check = CheckStateless(challenge, now);
  if (!check.ok()) {
    return check;
  }
  const absl::Time expires = absl::FromUnixSeconds(challenge.expires_at());
  absl::StatusOr<bool> first_use =
      replay_store_.MarkUsed(AsBytes(challenge.nonce()), expires);
  if (!first_use.ok()) {
    // The challenge may have expired between our check and the store's.
    if (clock_.Now() >= expires) {
      return Verdict(ChallengeOutcome::kExpired,
                     absl::StrCat("expired at ", FormatTime(expires)));
    }
    // Fail closed: without the store we cannot rule out a replay, and a
    // nonce the store could not record could be replayed later.
    ChallengeCheck failed = Verdict(
        ChallengeOutcome::kStoreError,
        absl::StrCat("replay store: ", first_use.status().ToString()));
    failed.store_code = first_use.status().code();
    return failed;
  }
  if (!*first_use) {
    return Verdict(ChallengeOutcome::kReplayed,
                   absl::StrCat("nonce ", HexEncode(AsBytes(challenge.nonce())),
                                " was already used"));
  }
  return check;
}

std::string EncodeChallenge(const Challenge& challenge) {
  Bytes out;
  out.reserve(kEncodedBytes);
  const auto nonce = AsBytes(challenge.nonce());
  const auto mac = AsBytes(challenge.mac());
  out.insert(out.end(), nonce.begin(), nonce.end());
  AppendU64Be(out, static_cast<uint64_t>(challenge.issued_at()));
  AppendU64Be(out, static_cast<uint64_t>(challenge.expires_at()));
  out.insert(out.end(), mac.begin(), mac.end());
  return Base64UrlEncode(out);
}

absl::StatusOr<Challenge> DecodeChallenge(std::string_view text) {
  if (text.size() != kEncodedChars) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "challenge: %d characters, expected %d", text.size(), kEncodedChars));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsBase64UrlChar(text[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "challenge: character at %d is not unpadded base64url", i));
    }
  }
  absl::StatusOr<Bytes> raw = Base64Decode(text);
  if (!raw.ok()) {
    return Annotate(raw.status(), "challenge");
  }
  ByteReader reader(*raw);
  std::span<const uint8_t> nonce;
  std::span<const uint8_t> mac;
  int64_t iat = 0;
  int64_t exp = 0;
  if (!reader.ReadBytes(kNonceBytes, &nonce) || !ReadI64Be(reader, &iat) ||
      !ReadI64Be(reader, &exp) || !reader.ReadBytes(kMacBytes, &mac) ||
      !reader.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("challenge: %d bytes after decoding, expected %d",
                        raw->size(), kEncodedBytes));
  }
  Challenge challenge;
  challenge.set_nonce(ToString(nonce));
  challenge.set_issued_at(iat);
  challenge.set_expires_at(exp);
  challenge.set_mac(ToString(mac));
  return challenge;
}

absl::StatusOr<Bytes> LoadOrGenerateHmacKey(std::string_view path) {
  if (path.empty()) {
    return crypto::RandomBytes(kMinHmacKeyBytes);
  }
  const std::string context = absl::StrCat("hmac key file ", std::string(path));
  std::ifstream in(std::string(path), std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(context, ": cannot open"));
  }
  std::string content;
  content.resize(kMaxKeyFileBytes + 1);
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(context, ": read error"));
  }
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: larger than %d bytes", context, kMaxKeyFileBytes));
  }
  // Hex if the whole (trimmed) file is hex digits; otherwise raw bytes. A raw
  // random key of >= 32 bytes is all-hex with negligible probability.
  const absl::string_view stripped = absl::StripAsciiWhitespace(content);
  const std::string_view trimmed(stripped.data(), stripped.size());
  const bool all_hex =
      !trimmed.empty() &&
      std::all_of(trimmed.begin(), trimmed.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      });
  Bytes key;
  if (all_hex && trimmed.size() >= 2 * kMinHmacKeyBytes) {
    absl::StatusOr<Bytes> decoded = HexDecode(trimmed);
    if (!decoded.ok()) {
      return Annotate(decoded.status(), context);
    }
    key = *std::move(decoded);
  } else if (all_hex) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d hex digits, need at least %d (%d bytes)", context,
        trimmed.size(), 2 * kMinHmacKeyBytes, kMinHmacKeyBytes));
  } else {
    key.assign(content.begin(), content.end());
  }
  if (key.size() < kMinHmacKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d bytes, need at least %d", context, key.size(),
                        kMinHmacKeyBytes));
  }
  return key;
}

}  // namespace rp::nonce
