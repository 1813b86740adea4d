#include "verifier/nvidia/rim/rim_signature.h"

#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <libxml/tree.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/rim/nvidia_corim_root.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/xml_doc.h"
#include "verifier/nvidia/rim/xmlsec_init.h"

namespace rp::nvidia::rim {
namespace {

using crypto::OpensslPtr;
using internal::ElementChildren;
using internal::GetAttr;
using internal::IsElement;

StepOutcome Ok(std::string detail = "") { return {reason::kOk, std::move(detail)}; }
StepOutcome Bad(const char* code, std::string detail) { return {code, std::move(detail)}; }

const char* AsChar(const xmlChar* s) {
  return reinterpret_cast<const char*>(s);  // NOLINT: libxml2 strings are UTF-8 bytes
}

std::string NodeText(const xmlNode* node) {
  std::string out;
  for (const xmlNode* c = node->children; c != nullptr; c = c->next) {
    if (c->type == XML_TEXT_NODE && c->content != nullptr) out += AsChar(c->content);
  }
  return out;
}

void CollectSignatures(xmlNode* node, std::vector<xmlNode*>* out) {
  // Iterative: depth is bounded by the parser, but no recursion anyway.
  std::vector<xmlNode*> stack = {node};
  while (!stack.empty()) {
    xmlNode* n = stack.back();
    stack.pop_back();
    if (IsElement(n, kXmlDsigNs, "Signature")) out->push_back(n);
    for (xmlNode* c = n->children; c != nullptr; c = c->next) {
      if (c->type == XML_ELEMENT_NODE) stack.push_back(c);
    }
  }
}

std::string AlgorithmOf(const xmlNode* node) {
  std::string alg;
  GetAttr(node, nullptr, "Algorithm", &alg);
  return alg;
}

// What the structural check hands on to the crypto steps.
struct SignatureParts {
  xmlNode* signature = nullptr;
  std::vector<OpensslPtr<X509>> certs;
};

// What the memo keeps of a RIM whose XML-DSig verified (never mutated).
struct SignedRimDocument {
  Rim rim;
  StepOutcome signature;
  std::vector<OpensslPtr<X509>> certs;  // X509Data in document order
};

// Shape and algorithms of the one Signature (spec §3.1 recommendation). On
// failure `outcome` is set and the return value is false.
bool CheckSignatureStructure(xmlDoc* doc, SignatureParts* parts, StepOutcome* outcome) {
  xmlNode* root = xmlDocGetRootElement(doc);
  std::vector<xmlNode*> sigs;
  CollectSignatures(root, &sigs);
  if (sigs.empty()) {
    *outcome = Bad(reason::kRimSignatureInvalid, "the RIM has no ds:Signature");
    return false;
  }
  if (sigs.size() != 1) {
    *outcome = Bad(reason::kRimSignatureInvalid,
                   absl::StrCat("exactly one ds:Signature expected, found ", sigs.size()));
    return false;
  }
  xmlNode* sig = sigs[0];
  if (sig->parent != root) {
    *outcome = Bad(reason::kRimSignatureInvalid,
                   "ds:Signature is not a child of SoftwareIdentity (not enveloped)");
    return false;
  }
  const std::vector<xmlNode*> parts_of_sig = ElementChildren(sig);
  if (parts_of_sig.size() != 3 || !IsElement(parts_of_sig[0], kXmlDsigNs, "SignedInfo") ||
      !IsElement(parts_of_sig[1], kXmlDsigNs, "SignatureValue") ||
      !IsElement(parts_of_sig[2], kXmlDsigNs, "KeyInfo")) {
    *outcome = Bad(reason::kRimSignatureInvalid,
                   "ds:Signature must hold exactly SignedInfo, SignatureValue, KeyInfo "
                   "(no ds:Object)");
    return false;
  }
  const std::vector<xmlNode*> si = ElementChildren(parts_of_sig[0]);
  if (si.size() < 3 || !IsElement(si[0], kXmlDsigNs, "CanonicalizationMethod") ||
      !IsElement(si[1], kXmlDsigNs, "SignatureMethod")) {
    *outcome = Bad(reason::kRimSignatureInvalid,
                   "SignedInfo must be CanonicalizationMethod, SignatureMethod, Reference");
    return false;
  }
  if (si.size() != 3 || !IsElement(si[2], kXmlDsigNs, "Reference")) {
    *outcome = Bad(reason::kRimSignatureInvalid,
                   absl::StrCat("exactly one Reference expected in SignedInfo, found ",
                                si.size() - 2, " element(s)"));
    return false;
  }
  if (const std::string c14n = AlgorithmOf(si[0]);
      c14n != kC14n11Alg || !ElementChildren(si[0]).empty()) {
    *outcome = Bad(reason::kRimAlgorithmUnsupported,
                   absl::StrCat("CanonicalizationMethod '", c14n, "', only ", kC14n11Alg));
    return false;
  }
  if (const std::string sm = AlgorithmOf(si[1]);
      sm != kEcdsaSha384Alg || !ElementChildren(si[1]).empty()) {
    *outcome = Bad(reason::kRimAlgorithmUnsupported,
                   absl::StrCat("SignatureMethod '", sm, "', only ", kEcdsaSha384Alg));
    return false;
  }
  const xmlNode* ref = si[2];
  std::string uri;
  if (!GetAttr(ref, nullptr, "URI", &uri) || !uri.empty()) {
    // Only the whole document may be signed: a partial reference would let
    // unsigned content (e.g. a second Payload) sit next to signed content.
    *outcome = Bad(reason::kRimSignatureInvalid,
                   absl::StrCat("Reference URI must be \"\" (whole document), got ",
                                GetAttr(ref, nullptr, "URI", &uri) ? "\"" + uri + "\""
                                                                   : "no URI"));
    return false;
  }
  const std::vector<xmlNode*> rc = ElementChildren(ref);
  if (rc.size() != 3 || !IsElement(rc[0], kXmlDsigNs, "Transforms") ||
      !IsElement(rc[1], kXmlDsigNs, "DigestMethod") ||
      !IsElement(rc[2], kXmlDsigNs, "DigestValue")) {
    *outcome = Bad(reason::kRimSignatureInvalid,
                   "Reference must hold exactly Transforms, DigestMethod, DigestValue");
    return false;
  }
  const std::vector<xmlNode*> transforms = ElementChildren(rc[0]);
  const bool transforms_ok =
      transforms.size() == 2 && IsElement(transforms[0], kXmlDsigNs, "Transform") &&
      IsElement(transforms[1], kXmlDsigNs, "Transform") &&
      AlgorithmOf(transforms[0]) == kEnvelopedAlg && AlgorithmOf(transforms[1]) == kC14n11Alg &&
      ElementChildren(transforms[0]).empty() && ElementChildren(transforms[1]).empty();
  if (!transforms_ok) {
    std::string got;
    for (const xmlNode* t : transforms) absl::StrAppend(&got, got.empty() ? "" : ", ", AlgorithmOf(t));
    *outcome = Bad(reason::kRimAlgorithmUnsupported,
                   absl::StrCat("Reference transforms must be exactly [enveloped-signature, "
                                "xml-c14n11], got [",
                                got, "]"));
    return false;
  }
  if (const std::string dm = AlgorithmOf(rc[1]); dm != kSha384DigestAlg) {
    *outcome = Bad(reason::kRimAlgorithmUnsupported,
                   absl::StrCat("DigestMethod '", dm, "', only ", kSha384DigestAlg));
    return false;
  }
  // KeyInfo: one X509Data; its X509Certificate elements, leaf first.
  const std::vector<xmlNode*> ki = ElementChildren(parts_of_sig[2]);
  if (ki.size() != 1 || !IsElement(ki[0], kXmlDsigNs, "X509Data")) {
    *outcome = Bad(reason::kRimSignatureInvalid, "KeyInfo must hold exactly one X509Data");
    return false;
  }
  for (const xmlNode* c : ElementChildren(ki[0])) {
    if (!IsElement(c, kXmlDsigNs, "X509Certificate")) continue;
    if (parts->certs.size() >= kMaxRimCertificates) {
      *outcome = Bad(reason::kRimSignatureInvalid,
                     absl::StrCat("more than ", kMaxRimCertificates, " certificates"));
      return false;
    }
    absl::StatusOr<Bytes> der = Base64Decode(NodeText(c));
    if (!der.ok()) {
      *outcome = Bad(reason::kRimSignatureInvalid,
                     absl::StrCat("X509Certificate #", parts->certs.size(), " is not base64"));
      return false;
    }
    absl::StatusOr<OpensslPtr<X509>> cert = crypto::ParseDerCertificate(*der);
    if (!cert.ok()) {
      *outcome = Bad(reason::kRimSignatureInvalid,
                     absl::StrCat("X509Certificate #", parts->certs.size(), ": ",
                                  cert.status().message()));
      return false;
    }
    parts->certs.push_back(*std::move(cert));
  }
  if (parts->certs.empty()) {
    *outcome = Bad(reason::kRimSignatureInvalid, "X509Data holds no certificate");
    return false;
  }
  parts->signature = sig;
  return true;
}

bool SelfIssued(const X509* cert) {
  return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0;
}

OpensslPtr<X509> UpRef(const X509* cert) {
  X509* c = const_cast<X509*>(cert);  // NOLINT: reference count only
  X509_up_ref(c);
  return OpensslPtr<X509>(c);
}

StepOutcome CheckChain(const std::vector<OpensslPtr<X509>>& certs,
                       const std::vector<OpensslPtr<X509>>& roots, const RimTrustConfig& trust,
                       absl::Time at, RimVerification* out) {
  const X509* leaf = certs[0].get();
  // The leaf must be an end-entity signing certificate.
  if (X509_check_ca(const_cast<X509*>(leaf)) != 0) {  // NOLINT: caches extensions only
    return Bad(reason::kRimChainInvalid, "the signing certificate is a CA certificate");
  }
  if ((X509_get_extension_flags(const_cast<X509*>(leaf)) & EXFLAG_KUSAGE) != 0 &&  // NOLINT
      (X509_get_key_usage(const_cast<X509*>(leaf)) & KU_DIGITAL_SIGNATURE) == 0) {  // NOLINT
    return Bad(reason::kRimChainInvalid, "the signing certificate lacks digitalSignature");
  }
  // Embedded self-issued certificates (NVIDIA ships a copy of the root)
  // are dropped: only `roots` are trust anchors.
  std::vector<const X509*> intermediates;
  for (size_t i = 1; i < certs.size(); ++i) {
    if (!SelfIssued(certs[i].get())) intermediates.push_back(certs[i].get());
  }
  std::vector<const X509*> anchors;
  for (const auto& r : roots) anchors.push_back(r.get());
  if (anchors.empty()) return Bad(reason::kRimChainInvalid, "no trusted RIM root configured");
  crypto::ChainOptions options;
  options.at = at;
  options.expected_length = trust.expected_chain_length;
  absl::StatusOr<crypto::ChainResult> result =
      crypto::VerifyChain(leaf, intermediates, anchors, options);
  if (!result.ok()) return Bad(reason::kRimChainInvalid, std::string(result.status().message()));
  switch (result->error) {
    case crypto::ChainError::kNone:
      break;
    case crypto::ChainError::kExpired: {
      // Authentic but expired? Re-check just before the first expiry.
      crypto::ChainOptions before = options;
      before.at = out->chain_not_after - absl::Seconds(1);
      absl::StatusOr<crypto::ChainResult> then =
          crypto::VerifyChain(leaf, intermediates, anchors, before);
      out->expired_but_otherwise_valid = then.ok() && then->ok();
      return Bad(reason::kRimSignerExpired,
                 absl::StrCat("expired at ", absl::FormatTime(at), ": ", result->detail));
    }
    case crypto::ChainError::kNotYetValid:
      return Bad(reason::kRimChainInvalid, absl::StrCat("not yet valid: ", result->detail));
    case crypto::ChainError::kUntrustedRoot:
      return Bad(reason::kRimChainInvalid,
                 absl::StrCat("does not chain to a trusted RIM root: ", result->detail));
    default:
      return Bad(reason::kRimChainInvalid, result->detail);
  }
  for (const X509* c : result->path) out->path.push_back(UpRef(c));
  out->nvidia_root = trust.trust_nvidia_root && !roots.empty() && !result->path.empty() &&
                     X509_cmp(result->path.back(), roots[0].get()) == 0;
  return Ok(absl::StrCat("path of ", result->path.size(), " to '",
                         crypto::SubjectCommonName(result->path.back()), "'"));
}

struct XmlSecKeyDeleter {
  void operator()(xmlSecKey* k) const { xmlSecKeyDestroy(k); }
};
struct XmlSecDSigCtxDeleter {
  void operator()(xmlSecDSigCtx* c) const { xmlSecDSigCtxDestroy(c); }
};

// Requires a P-384 EC key: ecdsa-sha384 with NVIDIA's P-384 signers.
bool IsP384(const EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) return false;
  return std::strcmp(group, SN_secp384r1) == 0;
}

StepOutcome CheckXmlSignature(xmlNode* signature, const X509* leaf) {
  if (absl::Status s = internal::EnsureXmlsecInitialized(); !s.ok()) {
    return Bad(reason::kRimSignatureInvalid, std::string(s.message()));
  }
  internal::TakeXmlsecErrors();
  ERR_clear_error();
  const EVP_PKEY* leaf_key = crypto::PublicKey(leaf);
  if (!IsP384(leaf_key)) {
    return Bad(reason::kRimAlgorithmUnsupported, "the signing key is not an EC P-384 key");
  }
  // The key xmlsec1 uses is exactly the validated leaf's (own reference).
  EVP_PKEY* evp = crypto::MutableKey(leaf_key);
  if (EVP_PKEY_up_ref(evp) != 1) return Bad(reason::kRimSignatureInvalid, "EVP_PKEY_up_ref");
  xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(evp);
  if (data == nullptr) {
    EVP_PKEY_free(evp);
    return Bad(reason::kRimSignatureInvalid,
               absl::StrCat("xmlSecOpenSSLEvpKeyAdopt: ", internal::TakeXmlsecErrors()));
  }
  std::unique_ptr<xmlSecKey, XmlSecKeyDeleter> key(xmlSecKeyCreate());
  if (key == nullptr || xmlSecKeySetValue(key.get(), data) < 0) {
    xmlSecKeyDataDestroy(data);
    return Bad(reason::kRimSignatureInvalid, "xmlSecKeySetValue failed");
  }
  // No keys manager: xmlsec1 has no certificate store and cannot pick a key
  // from KeyInfo; signKey being set, KeyInfo is not read at all.
  std::unique_ptr<xmlSecDSigCtx, XmlSecDSigCtxDeleter> ctx(xmlSecDSigCtxCreate(nullptr));
  if (ctx == nullptr) return Bad(reason::kRimSignatureInvalid, "xmlSecDSigCtxCreate failed");
  ctx->signKey = key.release();  // owned by ctx from here
  ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
  ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
  if (xmlSecDSigCtxEnableSignatureTransform(ctx.get(), xmlSecTransformInclC14N11Id) < 0 ||
      xmlSecDSigCtxEnableSignatureTransform(ctx.get(), xmlSecTransformEcdsaSha384Id) < 0 ||
      xmlSecDSigCtxEnableReferenceTransform(ctx.get(), xmlSecTransformEnvelopedId) < 0 ||
      xmlSecDSigCtxEnableReferenceTransform(ctx.get(), xmlSecTransformInclC14N11Id) < 0 ||
      xmlSecDSigCtxEnableReferenceTransform(ctx.get(), xmlSecTransformSha384Id) < 0) {
    return Bad(reason::kRimSignatureInvalid, "cannot restrict xmlsec1 transforms");
  }
  if (xmlSecDSigCtxVerify(ctx.get(), signature) < 0) {
    return Bad(reason::kRimSignatureInvalid,
               absl::StrCat("xmlsec1 could not process the signature: ",
                            internal::TakeXmlsecErrors(), " ", crypto::OpensslErrorString()));
  }
  if (ctx->status == xmlSecDSigStatusSucceeded) return Ok("ecdsa-sha384 over c14n11, sha384");
  // Which part failed: a Reference digest (content edited after signing) or
  // the signature over SignedInfo.
  for (xmlSecSize i = 0; i < xmlSecPtrListGetSize(&ctx->signedInfoReferences); ++i) {
    auto* ref = static_cast<xmlSecDSigReferenceCtxPtr>(
        xmlSecPtrListGetItem(&ctx->signedInfoReferences, i));
    if (ref != nullptr && ref->status != xmlSecDSigStatusSucceeded) {
      internal::TakeXmlsecErrors();
      return Bad(reason::kRimDigestMismatch,
                 "the SHA-384 digest of the document does not match DigestValue "
                 "(content changed after signing)");
    }
  }
  internal::TakeXmlsecErrors();
  return Bad(reason::kRimSignatureInvalid,
             "the ECDSA signature over SignedInfo does not verify with the signing "
             "certificate's key");
}

}  // namespace

absl::StatusOr<std::vector<OpensslPtr<X509>>> TrustedRimRoots(const RimTrustConfig& trust) {
  std::vector<OpensslPtr<X509>> roots;
  if (trust.trust_nvidia_root) {
    ASSIGN_OR_RETURN(auto pinned, crypto::ParsePemCertificates(kNvidiaCorimSigningRootPem, 1));
    roots.push_back(std::move(pinned[0]));
  }
  for (const std::string& pem : trust.extra_root_pems) {
    ASSIGN_OR_RETURN(auto extra, crypto::ParsePemCertificates(pem, 4));
    for (auto& c : extra) roots.push_back(std::move(c));
  }
  return roots;
}

absl::StatusOr<RimVerification> VerifyRim(std::string_view xml, const RimTrustConfig& trust,
                                          absl::Time at) {
  RimVerification out;
  std::vector<OpensslPtr<X509>> certs;
  // Verified-object memo (verifier/crypto/verified_memo.h): parsing, the
  // signature's structure and the XML-DSig check under the document's own
  // leaf key are a pure function of the bytes, so a document whose
  // signature verified once is not parsed or verified again. The chain, its
  // time and its roots are checked below on every call.
  // Keyed on SHA-256(xml), which the caller's collateral record needs too:
  // the document is hashed once per call.
  out.xml_sha256 = crypto::Sha256(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(xml.data()), xml.size()));
  const std::string memo_key = crypto::DocumentMemoKey("nvidia-rim-xmldsig-sha256-v2", out.xml_sha256);
  if (std::shared_ptr<const void> hit = crypto::FindVerifiedDocument(memo_key)) {
    const auto* doc = static_cast<const SignedRimDocument*>(hit.get());
    out.rim = doc->rim;
    out.signature = doc->signature;
    for (const auto& c : doc->certs) {
      if (X509_up_ref(c.get()) != 1) return absl::InternalError("nvidia rim: X509_up_ref");
      certs.emplace_back(c.get());
    }
  } else {
    ASSIGN_OR_RETURN(internal::XmlDocPtr doc, internal::ParseXmlSafely(xml));
    ASSIGN_OR_RETURN(out.rim, internal::RimFromDoc(doc.get()));
    SignatureParts parts;
    if (!CheckSignatureStructure(doc.get(), &parts, &out.signature)) {
      out.chain = Bad(reason::kPrerequisiteFailed, "no usable signature");
      return out;
    }
    out.signature = CheckXmlSignature(parts.signature, parts.certs[0].get());
    certs = std::move(parts.certs);
    if (out.signature.ok() && !memo_key.empty()) {
      auto remembered = std::make_shared<SignedRimDocument>();
      remembered->rim = out.rim;
      remembered->signature = out.signature;
      for (const auto& c : certs) {
        if (X509_up_ref(c.get()) != 1) return absl::InternalError("nvidia rim: X509_up_ref");
        remembered->certs.emplace_back(c.get());
      }
      crypto::RememberVerifiedDocument(memo_key, std::move(remembered), 4 * xml.size());
    }
  }
  const X509* leaf = certs[0].get();
  out.signer = crypto::SubjectCommonName(leaf);
  out.signer_serial = crypto::SerialHex(leaf);
  out.signer_not_after = crypto::NotAfter(leaf);
  out.chain_not_after = absl::InfiniteFuture();
  for (const auto& c : certs) out.chain_not_after = std::min(out.chain_not_after, crypto::NotAfter(c.get()));
  absl::StatusOr<std::vector<OpensslPtr<X509>>> roots = TrustedRimRoots(trust);
  if (!roots.ok()) {
    return Annotate(roots.status(), "nvidia rim: trusted roots");  // configuration error
  }
  out.chain = CheckChain(certs, *roots, trust, at, &out);
  out.embedded_certs = std::move(certs);
  return out;
}

}  // namespace rp::nvidia::rim
