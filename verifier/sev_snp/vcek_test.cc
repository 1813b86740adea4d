#include "verifier/sev_snp/vcek.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/cert_factory.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/golden_samples.h"
#include "verifier/sev_snp/test_util.h"

namespace rp::sev_snp {
namespace {

Bytes H(std::string_view hex) { return HexDecode(hex).value(); }

TEST(SplIntegerTest, DecodesDerIntegers) {
  EXPECT_EQ(DecodeSplInteger(H("020100")).value(), 0);
  EXPECT_EQ(DecodeSplInteger(H("02017f")).value(), 127);
  EXPECT_EQ(DecodeSplInteger(H("02020080")).value(), 128);
  EXPECT_EQ(DecodeSplInteger(H("020200db")).value(),
            219);  // Oak Milan ucodeSPL
  EXPECT_EQ(DecodeSplInteger(H("020200ff")).value(), 255);
}

TEST(SplIntegerTest, RejectsMalformed) {
  for (const char* bad : {
           "",            // empty
           "02",          // no length
           "0201",        // no content
           "020180",      // negative (-128)
           "0202007f",    // non-minimal
           "02020100",    // 256
           "0203000100",  // three bytes
           "0200",        // zero-length INTEGER
           "0401db",      // OCTET STRING, not INTEGER
           "02010000",    // trailing byte
           "020200",      // length past the end
           "0281020000",  // non-minimal long-form length
       }) {
    EXPECT_FALSE(DecodeSplInteger(H(bad)).ok()) << bad;
  }
}

TEST(Ia5StringTest, DecodesAndRejects) {
  EXPECT_EQ(DecodeIa5String(H("16054d696c616e")).value(), "Milan");
  EXPECT_EQ(DecodeIa5String(H("1600")).value(), "");
  EXPECT_FALSE(DecodeIa5String(H("0c054d696c616e")).ok());  // UTF8String
  EXPECT_FALSE(DecodeIa5String(H("16024d00")).ok());        // NUL
  EXPECT_FALSE(DecodeIa5String(H("16064d696c616e")).ok());  // short
  EXPECT_FALSE(DecodeIa5String(H("16044d696c616e")).ok());  // trailing
}

TEST(HwIdTest, DecidesByLengthNotFirstByte) {
  // A raw 64-byte ID that happens to start like a DER OCTET STRING header.
  Bytes raw64(64, 0x11);
  raw64[0] = 0x04;
  raw64[1] = 0x40;
  absl::StatusOr<HwId> a = DecodeHwId(raw64);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->encoding, HwIdEncoding::kRaw);
  EXPECT_EQ(a->id, raw64);
  // Raw 8-byte Turin ID starting with 0x02 (snpguest would misread it).
  Bytes raw8 = H("0208aabbccddeeff");
  absl::StatusOr<HwId> b = DecodeHwId(raw8);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->encoding, HwIdEncoding::kRaw);
  EXPECT_EQ(b->id, raw8);
  // DER OCTET STRING forms.
  Bytes der64 = {0x04, 0x40};
  der64.insert(der64.end(), 64, 0x22);
  absl::StatusOr<HwId> c = DecodeHwId(der64);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->encoding, HwIdEncoding::kOctetString);
  EXPECT_EQ(c->id, Bytes(64, 0x22));
  absl::StatusOr<HwId> d = DecodeHwId(H("04083b42092f69c656d3"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->id, H("3b42092f69c656d3"));
  EXPECT_EQ(d->encoding, HwIdEncoding::kOctetString);
}

TEST(HwIdTest, RejectsOtherSizes) {
  EXPECT_FALSE(DecodeHwId(Bytes(63, 1)).ok());
  EXPECT_FALSE(DecodeHwId(Bytes(65, 1)).ok());
  EXPECT_FALSE(DecodeHwId(Bytes()).ok());
  EXPECT_FALSE(DecodeHwId(H("0403aabbcc")).ok());            // 3 bytes inside
  EXPECT_FALSE(DecodeHwId(H("04093b42092f69c656d3")).ok());  // length past end
  Bytes der64_trailing = {0x04, 0x40};
  der64_trailing.insert(der64_trailing.end(), 65, 0x22);
  EXPECT_FALSE(DecodeHwId(der64_trailing).ok());
}

TEST(KdsExtensionsTest, LookupErrorsAndMalformedValuesNameTheExtension) {
  auto bad_spl =
      [](std::string_view oid) -> absl::StatusOr<std::optional<Bytes>> {
    if (oid == kOidTeeSpl) return std::optional<Bytes>(H("0203000100"));
    return std::optional<Bytes>();
  };
  absl::StatusOr<KdsExtensions> r = ParseKdsExtensions(bad_spl);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("teeSPL"), std::string_view::npos)
      << r.status();
  auto failing = [](std::string_view) -> absl::StatusOr<std::optional<Bytes>> {
    return absl::InvalidArgumentError("extension occurs twice");
  };
  EXPECT_FALSE(ParseKdsExtensions(failing).ok());
  auto empty = [](std::string_view) -> absl::StatusOr<std::optional<Bytes>> {
    return std::optional<Bytes>();
  };
  absl::StatusOr<KdsExtensions> none = ParseKdsExtensions(empty);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, KdsExtensions{});
  EXPECT_EQ(EndorsedTcb(*none, Product::kMilan), std::nullopt);
}

void ExpectMatchesExpected(const KdsExtensions& ext, const nlohmann::json& want,
                           const std::string& where) {
  auto spl = [&](const char* key, const std::optional<uint8_t>& got) {
    if (want.contains(key)) {
      ASSERT_TRUE(got.has_value()) << where << " " << key;
      EXPECT_EQ(*got, want[key].get<int>()) << where << " " << key;
    } else {
      EXPECT_FALSE(got.has_value()) << where << " " << key;
    }
  };
  EXPECT_EQ(ext.struct_version, want["structVersion"].get<int>()) << where;
  EXPECT_EQ(ext.product_name, want["productName"].get<std::string>()) << where;
  spl("blSPL", ext.bl_spl);
  spl("teeSPL", ext.tee_spl);
  spl("snpSPL", ext.snp_spl);
  spl("spl4", ext.spl4);
  spl("spl5", ext.spl5);
  spl("spl6", ext.spl6);
  spl("spl7", ext.spl7);
  spl("ucodeSPL", ext.ucode_spl);
  spl("fmcSPL", ext.fmc_spl);
  if (want.contains("hwID")) {
    ASSERT_TRUE(ext.hw_id.has_value()) << where;
    EXPECT_EQ(HexEncode(*ext.hw_id), want["hwID"]) << where;
    EXPECT_EQ(ext.hw_id_encoding, want["hwID_encoding"] == "raw"
                                      ? HwIdEncoding::kRaw
                                      : HwIdEncoding::kOctetString);
  } else {
    EXPECT_FALSE(ext.hw_id.has_value()) << where;
  }
  if (want.contains("cspID")) {
    EXPECT_EQ(ext.csp_id, want["cspID"].get<std::string>()) << where;
  } else {
    EXPECT_FALSE(ext.csp_id.has_value()) << where;
  }
}

TEST(KdsExtensionsTest, RealCertificatesMatchExpectedJson) {
  std::vector<std::pair<std::string, std::string>> certs;  // folder, cert
  for (const auto& s : test::GoldenSamples())
    certs.emplace_back(s.folder, s.cert);
  certs.emplace_back("turin_vcek_only_virtee", "vcek.der");
  for (const auto& [folder, file] : certs) {
    absl::StatusOr<crypto::OpensslPtr<X509>> cert =
        crypto::ParseDerCertificate(test::ReadSnpData(folder + "/" + file));
    ASSERT_TRUE(cert.ok()) << folder << ": " << cert.status();
    absl::StatusOr<KdsExtensions> ext = ParseKdsExtensions(cert->get());
    ASSERT_TRUE(ext.ok()) << folder << ": " << ext.status();
    nlohmann::json all = nlohmann::json::parse(
        ToString(test::ReadSnpData(folder + "/expected.json")));
    const nlohmann::json& entry = all.is_array() ? all[0] : all;
    nlohmann::json want = entry.contains("certificate")
                              ? entry["certificate"]["kds_extensions"]
                              : entry["kds_extensions"];
    // turin_vcek_only_virtee names the extensions by OID suffix.
    const std::pair<const char*, const char*> by_oid[] = {
        {"1", "structVersion"}, {"2", "productName"}, {"3.1", "blSPL"},
        {"3.2", "teeSPL"},      {"3.3", "snpSPL"},    {"3.4", "spl4"},
        {"3.5", "spl5"},        {"3.6", "spl6"},      {"3.7", "spl7"},
        {"3.8", "ucodeSPL"},    {"3.9", "fmcSPL"}};
    for (const auto& [oid, name] : by_oid) {
      if (want.contains(oid)) {
        want[name] = want[oid];
        want.erase(oid);
      }
    }
    ExpectMatchesExpected(*ext, want, folder);
  }
}

// The two tampered trustee VCEKs: both hwID encodings parse (the chain
// failure is tested in verifier_negative_test.cc).
TEST(KdsExtensionsTest, BothHwIdEncodingsOfNegativeVceks) {
  Bytes want_id(64);
  for (size_t i = 0; i < want_id.size(); ++i)
    want_id[i] = static_cast<uint8_t>(i);
  struct Row {
    const char* file;
    HwIdEncoding encoding;
    int ucode;
  };
  for (const Row& row :
       {Row{"negative/vcek_badsig_raw_hwid.der", HwIdEncoding::kRaw, 169},
        Row{"negative/vcek_badsig_octetstring_hwid.der",
            HwIdEncoding::kOctetString, 30}}) {
    absl::StatusOr<crypto::OpensslPtr<X509>> cert =
        crypto::ParseDerCertificate(test::ReadSnpData(row.file));
    ASSERT_TRUE(cert.ok()) << row.file << ": " << cert.status();
    absl::StatusOr<KdsExtensions> ext = ParseKdsExtensions(cert->get());
    ASSERT_TRUE(ext.ok()) << row.file << ": " << ext.status();
    EXPECT_EQ(ext->hw_id, want_id) << row.file;
    EXPECT_EQ(ext->hw_id_encoding, row.encoding) << row.file;
    EXPECT_EQ(ext->ucode_spl, row.ucode) << row.file;  // raw one: 02 02 00 A9
  }
}

TEST(KdsExtensionsTest, EndorsedTcbPerProduct) {
  KdsExtensions ext;
  ext.bl_spl = 1;
  ext.tee_spl = 2;
  ext.snp_spl = 3;
  ext.ucode_spl = 4;
  EXPECT_EQ(EndorsedTcb(ext, Product::kMilan),
            (TcbParts{std::nullopt, 1, 2, 3, 4}));
  EXPECT_EQ(EndorsedTcb(ext, Product::kTurin),
            std::nullopt);  // fmcSPL required
  ext.fmc_spl = 5;
  EXPECT_EQ(EndorsedTcb(ext, Product::kTurin), (TcbParts{5, 1, 2, 3, 4}));
  EXPECT_EQ(EndorsedTcb(ext, Product::kUnknown), std::nullopt);
}

TEST(KdsExtensionsTest, DuplicateExtensionIsAnError) {
  testing::CertSpec spec;
  spec.common_name = "SEV-VCEK";
  spec.extensions = {{std::string(kOidBlSpl), H("020101"), false},
                     {std::string(kOidBlSpl), H("020102"), false}};
  absl::StatusOr<testing::Issued> cert =
      testing::MakeRoot(spec, testing::KeyType::kEcP384);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_FALSE(ParseKdsExtensions(cert->cert.get()).ok());
}

}  // namespace
}  // namespace rp::sev_snp
