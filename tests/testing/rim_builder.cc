#include "tests/testing/rim_builder.h"

#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/templates.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/rim/xmlsec_init.h"

namespace rp::testing {
namespace {

using nvidia::rim::RimMeasurement;

constexpr char kExcC14nAlg[] = "http://www.w3.org/2001/10/xml-exc-c14n#";
constexpr char kC14n10Alg[] = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
constexpr char kEcdsaSha256Alg[] = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
constexpr char kSha256Alg[] = "http://www.w3.org/2001/04/xmlenc#sha256";

const xmlChar* X(const char* s) { return reinterpret_cast<const xmlChar*>(s); }  // NOLINT

absl::StatusOr<xmlSecTransformId> TransformFor(const std::string& uri) {
  if (uri == nvidia::rim::kC14n11Alg) return xmlSecTransformInclC14N11Id;
  if (uri == kExcC14nAlg) return xmlSecTransformExclC14NId;
  if (uri == kC14n10Alg) return xmlSecTransformInclC14NId;
  if (uri == nvidia::rim::kEnvelopedAlg) return xmlSecTransformEnvelopedId;
  if (uri == nvidia::rim::kEcdsaSha384Alg) return xmlSecTransformEcdsaSha384Id;
  if (uri == kEcdsaSha256Alg) return xmlSecTransformEcdsaSha256Id;
  if (uri == nvidia::rim::kSha384DigestAlg) return xmlSecTransformSha384Id;
  if (uri == kSha256Alg) return xmlSecTransformSha256Id;
  return absl::InvalidArgumentError("rim_builder: unsupported algorithm " + uri);
}

struct DocDeleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxDeleter {
  void operator()(xmlSecDSigCtx* c) const { xmlSecDSigCtxDestroy(c); }
};

std::string Wrap64(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i += 64) out += s.substr(i, 64) + "\n";
  return out;
}

// DER length prefix.
Bytes DerLen(size_t n) {
  if (n < 128) return {static_cast<uint8_t>(n)};
  if (n < 256) return {0x81, static_cast<uint8_t>(n)};
  return {0x82, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n & 0xff)};
}
Bytes Tlv(uint8_t tag, const Bytes& v) {
  Bytes out = {tag};
  Bytes l = DerLen(v.size());
  out.insert(out.end(), l.begin(), l.end());
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

// AuthorityInfoAccess with one id-ad-ocsp URI.
Bytes AiaOcsp(const std::string& url) {
  const Bytes oid = {0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01};
  Bytes desc = oid;
  Bytes uri = Tlv(0x86, Bytes(url.begin(), url.end()));
  desc.insert(desc.end(), uri.begin(), uri.end());
  return Tlv(0x30, Tlv(0x30, desc));
}

}  // namespace

RimContent ContentFromRim(const nvidia::rim::Rim& rim) {
  RimContent c;
  c.name = rim.name;
  c.tag_id = rim.tag_id;
  c.version = rim.version;
  c.colloquial_version = rim.colloquial_version;
  c.product = rim.product;
  c.firmware_manufacturer_id = rim.firmware_manufacturer_id;
  c.measurements = rim.measurements;
  return c;
}

RimContent MakeRimContent(std::string colloquial_version,
                          const std::vector<RimMeasurement>& active) {
  RimContent c;
  c.colloquial_version = std::move(colloquial_version);
  for (uint32_t i = 0; i < 64; ++i) {
    RimMeasurement m;
    m.index = i;
    m.name = absl::StrCat("Measurement_", i);
    m.alternatives = {Bytes(48, 0)};
    for (const RimMeasurement& a : active) {
      if (a.index == i) {
        m = a;
        if (m.name.empty()) m.name = absl::StrCat("Measurement_", i);
      }
    }
    c.measurements.push_back(std::move(m));
  }
  return c;
}

std::string RimXmlUnsigned(const RimContent& c) {
  std::string x = absl::StrCat(
      "<SoftwareIdentity xmlns=\"", nvidia::rim::kSwidNs, "\" xmlns:ns0=\"", nvidia::rim::kSwidNs,
      "\" xmlns:ns2=\"", nvidia::rim::kSha384HashNs,
      "\" corpus=\"false\" name=\"", c.name, "\" patch=\"false\" supplemental=\"false\" tagId=\"",
      c.tag_id, "\" version=\"", c.version, "\" tagVersion=\"0\">\n",
      "    <ns0:Entity name=\"NVIDIA Corporation\" role=\"softwareCreator tagCreator\"/>\n",
      "    <ns0:Meta xmlns:ns1=\"", nvidia::rim::kTcgRimNs, "\" colloquialVersion=\"",
      c.colloquial_version, "\" edition=\"GPU\" product=\"", c.product,
      "\" revision=\"r1\" PayloadType=\"direct\" ns1:BindingSpec=\"RIMIM\" "
      "ns1:BindingSpecVersion=\"1.01\" ns1:PlatformManufacturerId=\"5703\" "
      "ns1:PlatformManufacturerStr=\"NVIDIA Corporation\" ns1:PlatformModel=\"",
      c.product, "\" ns1:FirmwareManufacturer=\"NVIDIA Corporation\" ns1:FirmwareManufacturerId=\"",
      c.firmware_manufacturer_id, "\"/>\n    <ns0:Payload>\n");
  for (const RimMeasurement& m : c.measurements) {
    absl::StrAppend(&x, "        <ns0:Resource type=\"Measurement\" index=\"", m.index,
                    "\" active=\"", m.active ? "True" : "False", "\" alternatives=\"",
                    m.alternatives.size(), "\"");
    for (size_t k = 0; k < m.alternatives.size(); ++k) {
      absl::StrAppend(&x, " ns2:Hash", k, "=\"", HexEncode(m.alternatives[k]), "\"");
    }
    absl::StrAppend(&x, " name=\"", m.name, "\" size=\"48\"/>\n");
  }
  absl::StrAppend(&x, "    </ns0:Payload>\n</SoftwareIdentity>\n");
  return x;
}

absl::StatusOr<std::string> SignRimXml(std::string_view unsigned_xml, const EVP_PKEY* key,
                                       const std::vector<const X509*>& certs,
                                       const RimSignOptions& o) {
  RETURN_IF_ERROR(nvidia::rim::internal::EnsureXmlsecInitialized());
  std::unique_ptr<xmlDoc, DocDeleter> doc(xmlReadMemory(
      unsigned_xml.data(), static_cast<int>(unsigned_xml.size()), "rim.xml", nullptr,
      XML_PARSE_NONET));
  if (doc == nullptr) return absl::InvalidArgumentError("rim_builder: unsigned XML does not parse");
  xmlNode* root = xmlDocGetRootElement(doc.get());
  ASSIGN_OR_RETURN(xmlSecTransformId c14n, TransformFor(o.c14n_alg));
  ASSIGN_OR_RETURN(xmlSecTransformId sig_alg, TransformFor(o.signature_alg));
  ASSIGN_OR_RETURN(xmlSecTransformId digest, TransformFor(o.digest_alg));
  xmlNode* sig = xmlSecTmplSignatureCreateNsPref(doc.get(), c14n, sig_alg, nullptr, X("ds"));
  if (sig == nullptr) return absl::InternalError("xmlSecTmplSignatureCreateNsPref");
  xmlAddChild(root, sig);
  xmlNode* ref = xmlSecTmplSignatureAddReference(sig, digest, nullptr,
                                                 X(o.reference_uri.c_str()), nullptr);
  if (ref == nullptr) return absl::InternalError("xmlSecTmplSignatureAddReference");
  for (const std::string& t : o.transforms) {
    ASSIGN_OR_RETURN(xmlSecTransformId id, TransformFor(t));
    if (xmlSecTmplReferenceAddTransform(ref, id) == nullptr) {
      return absl::InternalError("xmlSecTmplReferenceAddTransform");
    }
  }
  EVP_PKEY* evp = crypto::MutableKey(key);
  EVP_PKEY_up_ref(evp);
  xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(evp);
  if (data == nullptr) {
    EVP_PKEY_free(evp);
    return absl::InternalError("xmlSecOpenSSLEvpKeyAdopt");
  }
  xmlSecKeyPtr sk = xmlSecKeyCreate();
  if (sk == nullptr || xmlSecKeySetValue(sk, data) < 0) {
    xmlSecKeyDataDestroy(data);
    if (sk != nullptr) xmlSecKeyDestroy(sk);
    return absl::InternalError("xmlSecKeySetValue");
  }
  std::unique_ptr<xmlSecDSigCtx, CtxDeleter> ctx(xmlSecDSigCtxCreate(nullptr));
  if (ctx == nullptr) {
    xmlSecKeyDestroy(sk);
    return absl::InternalError("xmlSecDSigCtxCreate");
  }
  ctx->signKey = sk;
  if (xmlSecDSigCtxSign(ctx.get(), sig) < 0) {
    return absl::InternalError(absl::StrCat("xmlSecDSigCtxSign: ",
                                            nvidia::rim::internal::TakeXmlsecErrors()));
  }
  // KeyInfo is outside the signed content (enveloped), so it is added after.
  xmlNs* ds = xmlSearchNsByHref(doc.get(), sig, X(nvidia::rim::kXmlDsigNs));
  xmlNode* key_info = xmlNewChild(sig, ds, X("KeyInfo"), nullptr);
  xmlNode* x509_data = xmlNewChild(key_info, ds, X("X509Data"), nullptr);
  for (const X509* c : certs) {
    const std::string b64 = Wrap64(Base64Encode(crypto::CertificateDer(c)));
    xmlNewTextChild(x509_data, ds, X("X509Certificate"), X(b64.c_str()));
  }
  if (o.second_signature) {
    xmlNode* copy = xmlDocCopyNode(sig, doc.get(), 1);
    xmlAddChild(root, copy);
  }
  if (o.tamper_after_signing) {
    bool done = false;
    for (xmlNode* n = root->children; n != nullptr && !done; n = n->next) {
      if (n->type != XML_ELEMENT_NODE || std::strcmp(reinterpret_cast<const char*>(n->name), "Payload") != 0) continue;  // NOLINT
      for (xmlNode* r = n->children; r != nullptr && !done; r = r->next) {
        if (r->type != XML_ELEMENT_NODE) continue;
        xmlChar* active = xmlGetProp(r, X("active"));
        const bool is_active = active != nullptr && std::strcmp(reinterpret_cast<char*>(active), "True") == 0;  // NOLINT
        xmlFree(active);
        if (!is_active) continue;
        xmlChar* h = xmlGetNsProp(r, X("Hash0"), X(nvidia::rim::kSha384HashNs));
        if (h == nullptr) continue;
        std::string v = reinterpret_cast<char*>(h);  // NOLINT
        xmlFree(h);
        v[0] = v[0] == '0' ? '1' : '0';
        xmlSetNsProp(r, xmlSearchNsByHref(doc.get(), r, X(nvidia::rim::kSha384HashNs)),
                     X("Hash0"), X(v.c_str()));
        done = true;
      }
    }
    if (!done) return absl::InvalidArgumentError("rim_builder: nothing active to tamper with");
  }
  xmlChar* buf = nullptr;
  int size = 0;
  xmlDocDumpMemory(doc.get(), &buf, &size);
  if (buf == nullptr) return absl::InternalError("xmlDocDumpMemory");
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(size));  // NOLINT
  xmlFree(buf);
  return out;
}

Bytes AiaOcspExtensionValue(const std::string& url) { return AiaOcsp(url); }

std::vector<const X509*> RimSigningHierarchy::Chain() const {
  return {l4.cert.get(), l3.cert.get(), ca.cert.get(), root.cert.get()};
}

std::string RimSigningHierarchy::RootPem() const { return crypto::CertificatePem(root.cert.get()); }

nvidia::rim::RimTrustConfig RimSigningHierarchy::TrustOnlyThis() const {
  nvidia::rim::RimTrustConfig t;
  t.trust_nvidia_root = false;
  t.extra_root_pems = {RootPem()};
  return t;
}

absl::StatusOr<RimSigningHierarchy> MakeRimSigningHierarchy(const RimHierarchySpec& spec) {
  RimSigningHierarchy h;
  auto base = [&](const std::string& cn, uint8_t serial, bool ca) {
    CertSpec s;
    s.common_name = absl::StrCat(spec.name_prefix, " ", cn);
    s.subject_extra = {{"O", "NVIDIA Corporation"}, {"C", "US"}};
    s.serial = {serial};
    s.not_before = spec.not_before;
    s.not_after = spec.not_after;
    s.is_ca = ca;
    if (!spec.ocsp_url.empty() && serial != 1) {
      s.extensions.push_back({"1.3.6.1.5.5.7.1.1", AiaOcsp(spec.ocsp_url), false});
    }
    return s;
  };
  ASSIGN_OR_RETURN(h.root, MakeRoot(base("CoRIM signing Root CA", 1, true), KeyType::kEcP384));
  ASSIGN_OR_RETURN(h.ca, MakeCert(base("Reference Value GH100 CA", 2, true), KeyType::kEcP384,
                                  h.root.cert.get(), h.root.key.get()));
  ASSIGN_OR_RETURN(h.l3, MakeCert(base("Reference Value L3 GH100 001", 3, true), KeyType::kEcP384,
                                  h.ca.cert.get(), h.ca.key.get()));
  CertSpec leaf = base("HCC RIM L4 Signer", 4, false);
  if (spec.leaf_not_after.has_value()) leaf.not_after = *spec.leaf_not_after;
  ASSIGN_OR_RETURN(h.l4, MakeCert(leaf, KeyType::kEcP384, h.l3.cert.get(), h.l3.key.get()));
  return h;
}

absl::StatusOr<std::string> BuildSignedRim(const RimContent& content,
                                           const RimSigningHierarchy& h,
                                           const RimSignOptions& options) {
  return SignRimXml(RimXmlUnsigned(content), h.l4.key.get(), h.Chain(), options);
}

}  // namespace rp::testing
