#include "admission/initdata.h"

#include <zlib.h>

#include <string>

#include "gtest/gtest.h"
#include "verifier/crypto/digest.h"

namespace rp::admission {
namespace {

std::string Gzip(const std::string& text) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&zs, text.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));  // NOLINT: zlib API
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());  // NOLINT: zlib API
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Annotation(const std::string& toml) { return Base64Encode(AsBytes(Gzip(toml))); }

constexpr char kToml[] =
    "algorithm = \"sha384\"\n"
    "version = \"0.1.0\"\n"
    "\n"
    "[data]\n"
    "\"aa.toml\" = '''\n"
    "algorithm = \"sha512\"\n"  // inside [data]: not the top-level key
    "'''\n";

TEST(Initdata, DigestsByTheDeclaredAlgorithm) {
  const Initdata id = DecodeInitdataAnnotation(Annotation(kToml), {});
  ASSERT_TRUE(id.ok) << id.reason << " " << id.detail;
  EXPECT_EQ(id.algorithm, "sha384");
  EXPECT_EQ(id.digest, crypto::Sha384(AsBytes(kToml)));
  EXPECT_EQ(id.tdx_mrconfigid, id.digest);  // 48 bytes as they are
  EXPECT_EQ(id.snp_host_data, Bytes(id.digest.begin(), id.digest.begin() + 32));  // truncated

  std::string sha256 = kToml;
  sha256.replace(sha256.find("sha384"), 6, "sha256");
  const Initdata s = DecodeInitdataAnnotation(Annotation(sha256), {});
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.snp_host_data, crypto::Sha256(AsBytes(sha256)));
  Bytes padded = crypto::Sha256(AsBytes(sha256));
  padded.resize(48, 0);
  EXPECT_EQ(s.tdx_mrconfigid, padded);  // zero-padded
}

// Known answer shared with admission/testdata/make_fixtures.py (Python
// gzip + hashlib).
TEST(Initdata, AgreesWithTheFixtureGenerator) {
  const std::string toml =
      "algorithm = \"sha384\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n"
      "[token_configs]\n[token_configs.kbs]\nurl = \"https://kbs.confidential.svc:8080\"\n'''\n"
      "\"cdh.toml\" = '''\nsocket = \"unix:///run/confidential-containers/cdh.sock\"\n[kbc]\n"
      "name = \"cc_kbc\"\nurl = \"https://kbs.confidential.svc:8080\"\n'''\n";
  const Initdata id = DecodeInitdataAnnotation(Annotation(toml), {});
  ASSERT_TRUE(id.ok);
  EXPECT_EQ(HexEncode(id.tdx_mrconfigid),
            "056ac2feddb7929e0b806e5555851868f701e37efb6e8f41b0603b16511638979fe7236cc2648cc745f2"
            "dfb5ab221e80");
}

TEST(Initdata, RefusesWhatItCannotReadStrictly) {
  struct Case {
    std::string annotation;
    const char* reason;
  };
  const std::string big(70 * 1024, 'x');
  const Case cases[] = {
      {"not base64 !!", kInitdataMalformed},
      {Base64Encode(AsBytes(std::string("plain text, not gzip"))), kInitdataMalformed},
      {Annotation("version = \"0.1.0\"\n"), kInitdataMalformed},                 // no algorithm
      {Annotation("algorithm = \"sha384\"\n"), kInitdataMalformed},              // no version
      {Annotation("algorithm = \"md5\"\nversion = \"0.1.0\"\n"), kInitdataAlgorithmUnsupported},
      {Annotation("algorithm = \"sha384\"\nversion = \"9.9\"\n"), kInitdataVersionUnsupported},
      {Annotation("algorithm = \"sha384\"\nalgorithm = \"sha256\"\nversion = \"0.1.0\"\n"),
       kInitdataMalformed},                                                      // twice
      {Annotation("algorithm = \"sha\\u0033\"\nversion = \"0.1.0\"\n"), kInitdataMalformed},
      {Annotation("algorithm = \"\"\"sha384\"\"\"\nversion = \"0.1.0\"\n"), kInitdataMalformed},
      {Annotation("algorithm = \"sha384\" x\nversion = \"0.1.0\"\n"), kInitdataMalformed},
      {Annotation("other = 1\nalgorithm = \"sha384\"\nversion = \"0.1.0\"\n"), kInitdataMalformed},
      {Annotation("data.x = \"1\"\nalgorithm = \"sha384\"\nversion = \"0.1.0\"\n"),
       kInitdataMalformed},
      {Annotation("algorithm = \"sha384\"\nversion = \"0.1.0\"\n# " + big), kInitdataTooLarge},
      {Annotation(std::string("algorithm = \"sha384\"\nversion = \"0.1.0\"\n#\xff\n")),
       kInitdataMalformed},                                                      // not UTF-8
  };
  for (const Case& c : cases) {
    const Initdata id = DecodeInitdataAnnotation(c.annotation, {});
    EXPECT_FALSE(id.ok) << c.annotation.substr(0, 40);
    EXPECT_EQ(id.reason, c.reason) << id.detail;
  }
  InitdataLimits small;
  small.max_annotation_bytes = 16;
  EXPECT_EQ(DecodeInitdataAnnotation(Annotation(kToml), small).reason, kInitdataTooLarge);
  // Comments, CRLF and literal strings are fine.
  const Initdata crlf = DecodeInitdataAnnotation(
      Annotation("# CoCo initdata\r\nalgorithm = 'sha512' # the digest\r\nversion='0.1.0'\r\n"),
      {});
  EXPECT_TRUE(crlf.ok) << crlf.detail;
  EXPECT_EQ(crlf.algorithm, "sha512");
}

TEST(Initdata, GunzipIsBounded) {
  const std::string zeros(1 << 20, '\0');  // compresses to ~1 KiB
  const std::string gz = Gzip(zeros);
  EXPECT_LT(gz.size(), 4096u);
  EXPECT_EQ(Gunzip(AsBytes(gz), 64 * 1024).status().code(), absl::StatusCode::kResourceExhausted);
  auto whole = Gunzip(AsBytes(gz), 1 << 20);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, zeros);
  EXPECT_FALSE(Gunzip(AsBytes(gz.substr(0, gz.size() / 2)), 1 << 20).ok());  // truncated
  EXPECT_FALSE(Gunzip(AsBytes(gz + "junk"), 1 << 20).ok());                    // trailing data
}

}  // namespace
}  // namespace rp::admission
