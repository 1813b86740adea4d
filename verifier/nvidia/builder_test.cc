// The GPU evidence builder (tests/testing/gpu_evidence_builder.*) emits what
// it says: its reports parse to the fields it was given, the real report's
// layout is reproduced byte for byte, and its chains carry the FWID the
// verifier extracts.
#include "tests/testing/gpu_evidence_builder.h"

#include "gtest/gtest.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/chain.h"
#include "verifier/nvidia/spdm.h"
#include "verifier/nvidia/test_util.h"

namespace rp::nvidia {
namespace {

using testing::GpuReportBuilder;

TEST(GpuReportBuilder, DefaultReportParsesToItsFields) {
  GpuReportBuilder b;
  auto key = testing::MakeKey(testing::KeyType::kEcP384);
  ASSERT_TRUE(key.ok());
  auto bytes = b.BuildSigned(key->get());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto r = ParseGpuReportUnverified(*bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->requester_nonce, b.nonce);
  EXPECT_EQ(r->responder_nonce, b.responder_nonce);
  EXPECT_EQ(r->blocks, b.blocks);
  EXPECT_EQ(r->opaque.fields, b.opaque);
  EXPECT_EQ(r->opaque.driver_version, "550.90.07");
  EXPECT_EQ(r->opaque.vbios_version, "96.00.9F.00.01");
  EXPECT_EQ(r->opaque.project, "1010");
  EXPECT_EQ(r->opaque.project_sku_mod, "");
  const std::span<const uint8_t> sig(r->signature);
  EXPECT_TRUE(crypto::VerifyEcdsaRaw(key->get(), r->SignedBytes(), sig.first(48), sig.subspan(48),
                                     crypto::Endian::kBig, crypto::HashAlg::kSha384)
                  .ok());
}

// The builder reproduces a real report exactly from its parsed fields, so
// the layout it writes is NVIDIA's (signature aside).
TEST(GpuReportBuilder, ReproducesRealReportLayout) {
  const Bytes real = test::ReadHexReport("hopper/h100_drv550.90.07_vbios96009F0001_report.hex");
  auto r = ParseGpuReportUnverified(real);
  ASSERT_TRUE(r.ok());
  GpuReportBuilder b;
  b.request_param2 = r->request_param2;
  b.nonce = r->requester_nonce;
  b.blocks = r->blocks;
  b.responder_nonce = r->responder_nonce;
  b.opaque = r->opaque.fields;
  const Bytes unsigned_bytes = b.BuildUnsigned();
  ASSERT_EQ(unsigned_bytes.size(), real.size() - kSignatureSize);
  EXPECT_TRUE(std::equal(unsigned_bytes.begin(), unsigned_bytes.end(), real.begin()));
}

TEST(GpuChainBuilder, ChainsCarryTheirFwid) {
  for (GpuArch arch : {GpuArch::kHopper, GpuArch::kBlackwell}) {
    testing::GpuPkiOptions o;
    o.arch = arch;
    auto pki = testing::MakeGpuTestPki(o);
    ASSERT_TRUE(pki.ok()) << pki.status();
    testing::GpuDeviceOptions d;
    d.fwid = Bytes(48, 0x42);
    auto dev = testing::MakeGpuTestDevice(*pki, d);
    ASSERT_TRUE(dev.ok()) << dev.status();
    auto certs = ParseGpuCertChain(testing::GpuChainPem(*pki, *dev));
    ASSERT_TRUE(certs.ok());
    ASSERT_EQ(certs->size(), 5u);
    auto fwid = ExtractLeafFwid((*certs)[0].get());
    ASSERT_TRUE(fwid.ok()) << fwid.status();
    ASSERT_TRUE(fwid->has_value());
    EXPECT_EQ((*fwid)->format, arch);
    EXPECT_EQ((*fwid)->fwid, d.fwid);
    EXPECT_EQ(crypto::SubjectCommonName((*certs)[1].get()),
              testing::ChipName(arch) + " A01 GSP BROM");
    EXPECT_EQ(DecimalSerial((*certs)[0].get()), "1405234081");
  }
}

TEST(GpuChainBuilder, MalformedFwidExtensionsAreRejected) {
  auto pki = testing::MakeGpuTestPki({});
  ASSERT_TRUE(pki.ok());
  // A Blackwell extension whose fwids entry uses SHA-256's OID.
  Bytes ext = testing::BlackwellFwidExtension("GB100 A01 GSP", Bytes(48, 1));
  const Bytes sha384_tail = {0x04, 0x02, 0x02};
  auto it = std::search(ext.begin(), ext.end(), sha384_tail.begin(), sha384_tail.end());
  ASSERT_NE(it, ext.end());
  it[2] = 0x01;  // id-sha256
  testing::CertSpec spec;
  spec.common_name = "GB100 A01 GSP FMC LF";
  spec.extensions.push_back({kBlackwellFwidOid, ext, false});
  auto leaf = testing::MakeCert(spec, testing::KeyType::kEcP384, pki->root.cert.get(),
                                pki->root.key.get());
  ASSERT_TRUE(leaf.ok());
  auto fwid = ExtractLeafFwid(leaf->cert.get());
  EXPECT_FALSE(fwid.ok());
  // Truncated Hopper extension.
  testing::CertSpec spec2;
  spec2.extensions.push_back({kHopperFwidOid, Bytes{0x30, 0x05, 0x02, 0x01, 0x01}, false});
  auto leaf2 = testing::MakeCert(spec2, testing::KeyType::kEcP384, pki->root.cert.get(),
                                 pki->root.key.get());
  ASSERT_TRUE(leaf2.ok());
  EXPECT_FALSE(ExtractLeafFwid(leaf2->cert.get()).ok());
}

}  // namespace
}  // namespace rp::nvidia
