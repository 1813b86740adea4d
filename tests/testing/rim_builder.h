// Writes and signs NVIDIA-style SWID RIM XML (specs/nvidia-gpu.md §3.1) with
// xmlsec1, under a test RIM signing hierarchy made with cert_factory.h
// (root → CA → L3 → L4 signer, P-384). For one-flip negative tests and for
// simulation; never used by a verifier. Not thread-safe per object; the
// functions themselves share no state.
#ifndef RP_TESTS_TESTING_RIM_BUILDER_H_
#define RP_TESTS_TESTING_RIM_BUILDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/cert_factory.h"
#include "verifier/common/encoding.h"
#include "verifier/nvidia/rim/rim.h"
#include "verifier/nvidia/rim/rim_signature.h"

namespace rp::testing {

// What goes into <SoftwareIdentity>. Defaults look like a GH100 VBIOS RIM.
struct RimContent {
  std::string name = "GH100";
  std::string tag_id = "0123456789abcdef";
  std::string version = "1.0";
  std::string colloquial_version = "96.00.5E.00.01";
  std::string product = "GH100";
  std::string firmware_manufacturer_id = "5703";
  std::vector<nvidia::rim::RimMeasurement> measurements;  // written in this order
};

// Content of a parsed RIM (to re-sign real golden values under a test key).
RimContent ContentFromRim(const nvidia::rim::Rim& rim);

// 64 Resources (indices 0..63), the given ones active with their digests,
// all others inactive with a zero digest — the layout of NVIDIA's RIMs.
RimContent MakeRimContent(std::string colloquial_version,
                          const std::vector<nvidia::rim::RimMeasurement>& active);

// Unsigned SWID XML in NVIDIA's layout (namespaces as in §3.1).
std::string RimXmlUnsigned(const RimContent& content);

struct RimSignOptions {
  std::string c14n_alg = nvidia::rim::kC14n11Alg;
  std::string signature_alg = nvidia::rim::kEcdsaSha384Alg;
  std::string digest_alg = nvidia::rim::kSha384DigestAlg;
  std::string reference_uri = "";
  std::vector<std::string> transforms = {nvidia::rim::kEnvelopedAlg, nvidia::rim::kC14n11Alg};
  // Append a copy of the finished Signature element (two signatures).
  bool second_signature = false;
  // After signing, change the first active measurement's Hash0 (one hex digit).
  bool tamper_after_signing = false;
};

// Signs `unsigned_xml` (enveloped, ds: prefix) with `key` and appends
// KeyInfo/X509Data with `certs` (leaf first) after signing. Supported
// algorithm URIs: c14n11, exc-c14n, c14n 1.0; ecdsa-sha256/384; sha256/384.
absl::StatusOr<std::string> SignRimXml(std::string_view unsigned_xml, const EVP_PKEY* key,
                                       const std::vector<const X509*>& certs,
                                       const RimSignOptions& options = {});

struct RimHierarchySpec {
  absl::Time not_before = absl::FromUnixSeconds(1600000000);  // 2020-09-13
  absl::Time not_after = absl::FromUnixSeconds(2500000000);   // 2049-03-22
  // Leaf (L4) validity, defaults to the above when unset.
  std::optional<absl::Time> leaf_not_after;
  // AIA OCSP URL put in CA, L3 and L4 ("" = no AIA).
  std::string ocsp_url;
  std::string name_prefix = "Test";
};

// root → "… Reference Value GH100 CA" → "… Reference Value L3 GH100 001" →
// "… HCC RIM L4 Signer", all P-384, serials 1..4.
struct RimSigningHierarchy {
  Issued root, ca, l3, l4;
  std::vector<const X509*> Chain() const;  // l4, l3, ca, root (NVIDIA embeds the root too)
  std::string RootPem() const;
  // A RimTrustConfig trusting only this root (not NVIDIA's).
  nvidia::rim::RimTrustConfig TrustOnlyThis() const;
};

absl::StatusOr<RimSigningHierarchy> MakeRimSigningHierarchy(const RimHierarchySpec& spec = {});

// DER extnValue of an AuthorityInfoAccess extension (OID 1.3.6.1.5.5.7.1.1)
// with one id-ad-ocsp URI, for CertSpec::extensions.
Bytes AiaOcspExtensionValue(const std::string& url);

// Convenience: content → signed XML with the hierarchy's L4 key and chain.
absl::StatusOr<std::string> BuildSignedRim(const RimContent& content,
                                           const RimSigningHierarchy& h,
                                           const RimSignOptions& options = {});

}  // namespace rp::testing

#endif  // RP_TESTS_TESTING_RIM_BUILDER_H_
