#include "admission/initdata.h"

#include <zlib.h>

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/jcs.h"
#include "verifier/crypto/digest.h"

namespace rp::admission {
namespace {

Initdata Refuse(const char* reason, std::string detail) {
  Initdata out;
  out.reason = reason;
  out.detail = std::move(detail);
  return out;
}

Bytes Adjust(const Bytes& digest, size_t size) {
  Bytes out(digest.begin(), digest.begin() + static_cast<std::ptrdiff_t>(std::min(size, digest.size())));
  out.resize(size, 0);
  return out;
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  return s;
}
std::string_view Trim(std::string_view s) {
  s = TrimLeft(s);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

bool IsBareKeyChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

}  // namespace

absl::StatusOr<std::string> Gunzip(std::span<const uint8_t> gz, size_t max_out) {
  z_stream zs{};
  // 16 + MAX_WBITS: gzip framing only (no zlib, no raw deflate).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("gunzip: inflateInit2 failed");
  }
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};
  // zlib's API takes a non-const input pointer but does not write through it.
  zs.next_in = const_cast<Bytef*>(gz.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  zs.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  std::array<char, 16384> buf{};
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());  // NOLINT: zlib byte buffer
    zs.avail_out = static_cast<uInt>(buf.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t produced = buf.size() - zs.avail_out;
    if (out.size() + produced > max_out) {
      return absl::ResourceExhaustedError(
          absl::StrCat("gunzip: more than ", max_out, " bytes decompressed"));
    }
    out.append(buf.data(), produced);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("gunzip: not valid gzip data (", zs.msg != nullptr ? zs.msg : "error", ")"));
    }
    if (zs.avail_in == 0 && produced == 0) {
      return absl::InvalidArgumentError("gunzip: truncated gzip data");
    }
  }
  if (zs.avail_in != 0) {
    return absl::InvalidArgumentError("gunzip: data after the gzip member");
  }
  return out;
}

absl::StatusOr<InitdataHeader> ParseInitdataHeader(std::string_view toml) {
  InitdataHeader h;
  bool have_algorithm = false, have_version = false;
  size_t line_no = 0;
  while (!toml.empty()) {
    ++line_no;
    const size_t nl = toml.find('\n');
    std::string_view line = toml.substr(0, nl);
    toml = nl == std::string_view::npos ? std::string_view() : toml.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') break;  // the first table: the top level ends here
    const auto bad = [&](std::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("initdata TOML line ", line_no, ": ", std::string(what),
                       " (the top level may hold only algorithm = \"...\" and version = \"...\")"));
    };
    size_t i = 0;
    while (i < line.size() && IsBareKeyChar(line[i])) ++i;
    const std::string_view key = line.substr(0, i);
    if (key != "algorithm" && key != "version") return bad("unsupported top-level key");
    std::string_view rest = TrimLeft(line.substr(i));
    if (rest.empty() || rest.front() != '=') return bad("expected '='");
    rest = TrimLeft(rest.substr(1));
    if (rest.size() < 2 || (rest.front() != '"' && rest.front() != '\'')) {
      return bad("expected a string");
    }
    const char quote = rest.front();
    if (rest.size() >= 3 && rest[1] == quote && rest[2] == quote) {
      return bad("multi-line strings are not accepted here");
    }
    const size_t close = rest.find(quote, 1);
    if (close == std::string_view::npos) return bad("unterminated string");
    const std::string_view value = rest.substr(1, close - 1);
    for (const char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F || (quote == '"' && c == '\\')) {
        return bad("escape or control character in the value");
      }
    }
    std::string_view after = TrimLeft(rest.substr(close + 1));
    if (!after.empty() && after.front() != '#') return bad("trailing content");
    bool& seen = key == "algorithm" ? have_algorithm : have_version;
    if (seen) return bad("key given twice");
    seen = true;
    (key == "algorithm" ? h.algorithm : h.version) = std::string(value);
  }
  if (!have_algorithm) return absl::InvalidArgumentError("initdata TOML: no top-level algorithm");
  if (!have_version) return absl::InvalidArgumentError("initdata TOML: no top-level version");
  return h;
}

Initdata DecodeInitdataAnnotation(std::string_view annotation, const InitdataLimits& limits) {
  if (annotation.size() > limits.max_annotation_bytes) {
    return Refuse(kInitdataTooLarge, absl::StrCat("annotation is ", annotation.size(),
                                                  " bytes, at most ", limits.max_annotation_bytes));
  }
  // Standard base64 (kata strips whitespace first; Base64Decode ignores it).
  absl::StatusOr<Bytes> gz = Base64Decode(annotation);
  if (!gz.ok() || gz->empty()) return Refuse(kInitdataMalformed, "annotation is not base64");
  absl::StatusOr<std::string> toml = Gunzip(*gz, limits.max_toml_bytes);
  if (!toml.ok()) {
    return Refuse(toml.status().code() == absl::StatusCode::kResourceExhausted ? kInitdataTooLarge
                                                                                : kInitdataMalformed,
                  std::string(toml.status().message()));
  }
  if (!IsValidUtf8(*toml)) return Refuse(kInitdataMalformed, "initdata TOML is not UTF-8");
  absl::StatusOr<InitdataHeader> header = ParseInitdataHeader(*toml);
  if (!header.ok()) return Refuse(kInitdataMalformed, std::string(header.status().message()));
  if (header->version != "0.1.0") {
    return Refuse(kInitdataVersionUnsupported,
                  absl::StrCat("initdata version '", header->version.substr(0, 16),
                               "' (supported: 0.1.0)"));
  }
  Initdata out;
  const std::span<const uint8_t> bytes = AsBytes(*toml);
  if (header->algorithm == "sha256") {
    out.digest = crypto::Sha256(bytes);
  } else if (header->algorithm == "sha384") {
    out.digest = crypto::Sha384(bytes);
  } else if (header->algorithm == "sha512") {
    out.digest = crypto::Sha512(bytes);
  } else {
    return Refuse(kInitdataAlgorithmUnsupported,
                  absl::StrCat("initdata algorithm '", header->algorithm.substr(0, 16),
                               "' (supported: sha256, sha384, sha512)"));
  }
  out.ok = true;
  out.algorithm = header->algorithm;
  out.version = header->version;
  out.snp_host_data = Adjust(out.digest, 32);
  out.tdx_mrconfigid = Adjust(out.digest, 48);
  return out;
}

}  // namespace rp::admission
