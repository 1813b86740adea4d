#include "verifier/nvidia/rim/rim.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <set>
#include <utility>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/status_macros.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/xml_doc.h"

namespace rp::nvidia::rim {
namespace internal {
namespace {

absl::Status Malformed(absl::string_view what) {
  return ReasonError(absl::StatusCode::kInvalidArgument, reason::kRimMalformed, what);
}

const char* AsChar(const xmlChar* s) {
  return reinterpret_cast<const char*>(s);  // NOLINT: libxml2 strings are UTF-8 bytes
}

struct ParserCtxtDeleter {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

}  // namespace

void EnsureLibxmlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

absl::StatusOr<XmlDocPtr> ParseXmlSafely(std::string_view xml) {
  EnsureLibxmlInitialized();
  if (xml.empty()) return Malformed("empty document");
  if (xml.size() > kMaxRimBytes) {
    return Malformed(absl::StrCat("document of ", xml.size(), " bytes exceeds the limit of ",
                                  kMaxRimBytes));
  }
  std::unique_ptr<xmlParserCtxt, ParserCtxtDeleter> ctxt(
      xmlCreateMemoryParserCtxt(xml.data(), static_cast<int>(xml.size())));
  if (ctxt == nullptr) return absl::InternalError("xmlCreateMemoryParserCtxt failed");
  // NONET: never touch the network. No NOENT / DTDLOAD / DTDATTR / DTDVALID /
  // XINCLUDE / HUGE: entities stay unexpanded, no external subset is read,
  // and libxml2's default depth and size limits stay on.
  xmlCtxtUseOptions(ctxt.get(), XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  // The context copied these from libxml2's process-wide defaults, which
  // another library in the process could have changed: force them off.
  ctxt->replaceEntities = 0;
  ctxt->loadsubset = 0;
  ctxt->validate = 0;
  const int rc = xmlParseDocument(ctxt.get());
  XmlDocPtr doc(ctxt->myDoc);
  ctxt->myDoc = nullptr;
  if (rc != 0 || !ctxt->wellFormed || doc == nullptr) {
    const xmlError* err = xmlCtxtGetLastError(ctxt.get());
    std::string msg = err != nullptr && err->message != nullptr ? err->message : "parse error";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Malformed(absl::StrCat("not well-formed XML: ", msg,
                                  err != nullptr ? absl::StrCat(" (line ", err->line, ")") : ""));
  }
  if (doc->intSubset != nullptr || doc->extSubset != nullptr) {
    return Malformed("a DTD is not allowed");
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (root == nullptr) return Malformed("no root element");
  // Walk every node (iteratively) for depth, count and node kinds.
  size_t count = 0;
  std::vector<std::pair<const xmlNode*, int>> stack;
  for (const xmlNode* n = doc->children; n != nullptr; n = n->next) stack.emplace_back(n, 1);
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (++count > kMaxXmlNodes) {
      return Malformed(absl::StrCat("more than ", kMaxXmlNodes, " nodes"));
    }
    if (depth > kMaxXmlDepth) {
      return Malformed(absl::StrCat("nesting deeper than ", kMaxXmlDepth));
    }
    switch (node->type) {
      case XML_ELEMENT_NODE:
      case XML_TEXT_NODE:
      case XML_COMMENT_NODE:
        break;
      case XML_CDATA_SECTION_NODE:
        return Malformed("CDATA sections are not allowed");
      case XML_ENTITY_REF_NODE:
      case XML_ENTITY_NODE:
      case XML_ENTITY_DECL:
        return Malformed("entities are not allowed");
      case XML_PI_NODE:
        return Malformed("processing instructions are not allowed");
      default:
        return Malformed(absl::StrCat("unexpected node type ", static_cast<int>(node->type)));
    }
    if (node->type == XML_ELEMENT_NODE) {
      for (const xmlAttr* a = node->properties; a != nullptr; a = a->next) {
        for (const xmlNode* v = a->children; v != nullptr; v = v->next) {
          if (v->type != XML_TEXT_NODE) return Malformed("entity reference in an attribute");
        }
      }
      for (const xmlNode* c = node->children; c != nullptr; c = c->next) {
        stack.emplace_back(c, depth + 1);
      }
    }
  }
  return doc;
}

bool IsElement(const xmlNode* node, const char* ns, const char* local) {
  if (node == nullptr || node->type != XML_ELEMENT_NODE) return false;
  if (std::strcmp(AsChar(node->name), local) != 0) return false;
  if (ns == nullptr) return node->ns == nullptr;
  return node->ns != nullptr && node->ns->href != nullptr &&
         std::strcmp(AsChar(node->ns->href), ns) == 0;
}

std::vector<xmlNode*> ElementChildren(const xmlNode* node) {
  std::vector<xmlNode*> out;
  for (xmlNode* c = node->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) out.push_back(c);
  }
  return out;
}

bool GetAttr(const xmlNode* node, const char* ns, const char* name, std::string* out) {
  for (const xmlAttr* a = node->properties; a != nullptr; a = a->next) {
    if (std::strcmp(AsChar(a->name), name) != 0) continue;
    const bool ns_ok = ns == nullptr ? a->ns == nullptr
                                     : (a->ns != nullptr && a->ns->href != nullptr &&
                                        std::strcmp(AsChar(a->ns->href), ns) == 0);
    if (!ns_ok) continue;
    out->clear();
    for (const xmlNode* v = a->children; v != nullptr; v = v->next) {
      if (v->type == XML_TEXT_NODE && v->content != nullptr) out->append(AsChar(v->content));
    }
    return true;
  }
  return false;
}

namespace {

absl::StatusOr<std::string> RequiredAttr(const xmlNode* node, const char* ns, const char* name,
                                         absl::string_view where) {
  std::string v;
  if (!GetAttr(node, ns, name, &v)) {
    return Malformed(absl::StrCat(where, ": attribute ", name, " missing"));
  }
  return v;
}

std::string OptionalAttr(const xmlNode* node, const char* ns, const char* name) {
  std::string v;
  GetAttr(node, ns, name, &v);
  return v;
}

absl::StatusOr<uint32_t> ParseDecimal(absl::string_view s, absl::string_view what) {
  uint32_t v = 0;
  if (s.empty() || s.size() > 9 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(s, &v)) {
    return Malformed(absl::StrCat(what, " '", s, "' is not a small decimal integer"));
  }
  return v;
}

absl::StatusOr<RimMeasurement> ParseResource(const xmlNode* res) {
  ASSIGN_OR_RETURN(std::string type, RequiredAttr(res, nullptr, "type", "Resource"));
  if (type != "Measurement") {
    return Malformed(absl::StrCat("Resource type '", type, "' is not Measurement"));
  }
  RimMeasurement m;
  ASSIGN_OR_RETURN(std::string index, RequiredAttr(res, nullptr, "index", "Resource"));
  ASSIGN_OR_RETURN(m.index, ParseDecimal(index, "Resource index"));
  if (m.index > kMaxRimIndex) {
    return Malformed(absl::StrCat("Resource index ", m.index, " > ", kMaxRimIndex));
  }
  const std::string where = absl::StrCat("Resource index ", m.index);
  m.name = OptionalAttr(res, nullptr, "name");
  ASSIGN_OR_RETURN(std::string active, RequiredAttr(res, nullptr, "active", where));
  const std::string active_lc = absl::AsciiStrToLower(active);
  if (active_lc == "true") {
    m.active = true;
  } else if (active_lc == "false") {
    m.active = false;
  } else {
    return Malformed(absl::StrCat(where, ": active='", active, "' is not True/False"));
  }
  ASSIGN_OR_RETURN(std::string alts_s, RequiredAttr(res, nullptr, "alternatives", where));
  ASSIGN_OR_RETURN(uint32_t alts, ParseDecimal(alts_s, absl::StrCat(where, " alternatives")));
  if (alts < 1 || alts > kMaxAlternatives) {
    return Malformed(absl::StrCat(where, ": alternatives=", alts, " not in 1..",
                                  kMaxAlternatives));
  }
  // size is the digest length in bytes; only SHA-384 (48) is defined.
  std::string size;
  if (GetAttr(res, nullptr, "size", &size) && size != "48") {
    return Malformed(absl::StrCat(where, ": size='", size, "', expected 48 (SHA-384)"));
  }
  // Exactly Hash0..Hash{alts-1} in the SHA-384 namespace, nothing else there.
  size_t hash_attrs = 0;
  for (const xmlAttr* a = res->properties; a != nullptr; a = a->next) {
    if (a->ns != nullptr && a->ns->href != nullptr &&
        std::strcmp(AsChar(a->ns->href), kSha384HashNs) == 0) {
      ++hash_attrs;
    }
  }
  if (hash_attrs != alts) {
    return Malformed(absl::StrCat(where, ": ", hash_attrs, " hash attributes for alternatives=",
                                  alts));
  }
  for (uint32_t k = 0; k < alts; ++k) {
    const std::string attr = absl::StrCat("Hash", k);
    ASSIGN_OR_RETURN(std::string hex, RequiredAttr(res, kSha384HashNs, attr.c_str(), where));
    absl::StatusOr<Bytes> digest = HexDecode(hex);
    if (!digest.ok() || digest->size() != kSha384Bytes) {
      return Malformed(absl::StrCat(where, ": ", attr, " is not 96 hex characters"));
    }
    m.alternatives.push_back(*std::move(digest));
  }
  return m;
}

}  // namespace

absl::StatusOr<Rim> RimFromDoc(const xmlDoc* doc) {
  const xmlNode* root = xmlDocGetRootElement(const_cast<xmlDoc*>(doc));  // NOLINT: read only
  if (!IsElement(root, kSwidNs, "SoftwareIdentity")) {
    return Malformed("root element is not {" + std::string(kSwidNs) + "}SoftwareIdentity");
  }
  Rim rim;
  ASSIGN_OR_RETURN(rim.tag_id, RequiredAttr(root, nullptr, "tagId", "SoftwareIdentity"));
  ASSIGN_OR_RETURN(rim.name, RequiredAttr(root, nullptr, "name", "SoftwareIdentity"));
  rim.version = OptionalAttr(root, nullptr, "version");
  rim.tag_version = OptionalAttr(root, nullptr, "tagVersion");
  const xmlNode* meta = nullptr;
  const xmlNode* payload = nullptr;
  for (const xmlNode* child : ElementChildren(root)) {
    if (IsElement(child, kSwidNs, "Meta")) {
      if (meta != nullptr) return Malformed("more than one Meta element");
      meta = child;
    } else if (IsElement(child, kSwidNs, "Payload")) {
      if (payload != nullptr) return Malformed("more than one Payload element");
      payload = child;
    } else if (IsElement(child, kSwidNs, "Entity") || IsElement(child, kSwidNs, "Link") ||
               IsElement(child, kXmlDsigNs, "Signature")) {
      continue;  // Signature: rim_signature.cc
    } else {
      return Malformed(absl::StrCat("unexpected element '", AsChar(child->name),
                                    "' under SoftwareIdentity"));
    }
  }
  if (meta == nullptr) return Malformed("no Meta element");
  if (payload == nullptr) return Malformed("no Payload element");
  ASSIGN_OR_RETURN(rim.colloquial_version,
                   RequiredAttr(meta, nullptr, "colloquialVersion", "Meta"));
  rim.edition = OptionalAttr(meta, nullptr, "edition");
  rim.product = OptionalAttr(meta, nullptr, "product");
  rim.revision = OptionalAttr(meta, nullptr, "revision");
  rim.payload_type = OptionalAttr(meta, nullptr, "PayloadType");
  rim.firmware_manufacturer = OptionalAttr(meta, kTcgRimNs, "FirmwareManufacturer");
  rim.firmware_manufacturer_id = OptionalAttr(meta, kTcgRimNs, "FirmwareManufacturerId");
  rim.platform_manufacturer_id = OptionalAttr(meta, kTcgRimNs, "PlatformManufacturerId");
  rim.platform_model = OptionalAttr(meta, kTcgRimNs, "PlatformModel");
  rim.binding_spec = OptionalAttr(meta, kTcgRimNs, "BindingSpec");
  rim.binding_spec_version = OptionalAttr(meta, kTcgRimNs, "BindingSpecVersion");

  std::set<uint32_t> seen;
  for (const xmlNode* res : ElementChildren(payload)) {
    if (!IsElement(res, kSwidNs, "Resource")) {
      return Malformed(absl::StrCat("unexpected element '", AsChar(res->name), "' in Payload"));
    }
    if (rim.measurements.size() >= kMaxRimResources) {
      return Malformed(absl::StrCat("more than ", kMaxRimResources, " resources"));
    }
    ASSIGN_OR_RETURN(RimMeasurement m, ParseResource(res));
    // Duplicate indices would make "which golden value applies" ambiguous.
    if (!seen.insert(m.index).second) {
      return Malformed(absl::StrCat("duplicate Resource index ", m.index));
    }
    rim.measurements.push_back(std::move(m));
  }
  if (rim.measurements.empty()) return Malformed("Payload has no measurements");
  std::sort(rim.measurements.begin(), rim.measurements.end(),
            [](const RimMeasurement& a, const RimMeasurement& b) { return a.index < b.index; });
  return rim;
}

}  // namespace internal

const RimMeasurement* Rim::Find(uint32_t index) const {
  auto it = std::lower_bound(
      measurements.begin(), measurements.end(), index,
      [](const RimMeasurement& m, uint32_t i) { return m.index < i; });
  return it != measurements.end() && it->index == index ? &*it : nullptr;
}

std::vector<uint32_t> Rim::ActiveIndices() const {
  std::vector<uint32_t> out;
  for (const RimMeasurement& m : measurements) {
    if (m.active) out.push_back(m.index);
  }
  return out;
}

absl::StatusOr<Rim> ParseRimUnverified(std::string_view xml) {
  ASSIGN_OR_RETURN(internal::XmlDocPtr doc, internal::ParseXmlSafely(xml));
  return internal::RimFromDoc(doc.get());
}

}  // namespace rp::nvidia::rim
