// The Intel SGX Root CA, copied verbatim from the last certificate of the
// issuer chains in tests/data/tdx/*/collateral.json (see PROVENANCE.md; it
// is public, https://certificates.trustedservices.intel.com/). SPKI pin:
//   openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum
// checked against the PEM text by roots_test (verifier_golden_test.cc).
#include "verifier/tdx/roots.h"

#include <utility>

namespace rp::tdx {
namespace {

// subject=CN = Intel SGX Root CA, O = Intel Corporation, L = Santa Clara,
// ST = CA, C = US; serial=22650CD65A9D3489F383B49552BF501B392706AC
constexpr char kIntelSgxRootCaPem[] = R"PEM(-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
)PEM";

}  // namespace

std::string_view IntelSgxRootCaPem() { return kIntelSgxRootCaPem; }

std::array<uint8_t, 32> IntelSgxRootCaSpkiSha256() {
  // a0af031289f5d5d4132f9186068a7fc13628633ba235777472e29b6b6c67a49e
  return {0xa0, 0xaf, 0x03, 0x12, 0x89, 0xf5, 0xd5, 0xd4, 0x13, 0x2f, 0x91,
          0x86, 0x06, 0x8a, 0x7f, 0xc1, 0x36, 0x28, 0x63, 0x3b, 0xa2, 0x35,
          0x77, 0x74, 0x72, 0xe2, 0x9b, 0x6b, 0x6c, 0x67, 0xa4, 0x9e};
}

TdxTrustConfig TdxTrustConfig::Default() {
  TdxTrustConfig c;
  c.intel_root_pems.emplace_back(IntelSgxRootCaPem());
  return c;
}

TdxTrustConfig TdxTrustConfig::ForTest(std::vector<std::string> root_pems) {
  TdxTrustConfig c;
  c.intel_root_pems = std::move(root_pems);
  c.allow_unpinned_roots_for_test = true;
  return c;
}

}  // namespace rp::tdx
