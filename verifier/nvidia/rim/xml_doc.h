// Internal: the one safe libxml2 entry point shared by the parser and the
// signature verifier, so both read the very same tree.
#ifndef RP_VERIFIER_NVIDIA_RIM_XML_DOC_H_
#define RP_VERIFIER_NVIDIA_RIM_XML_DOC_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <libxml/tree.h>

#include "absl/status/statusor.h"
#include "verifier/nvidia/rim/rim.h"

namespace rp::nvidia::rim::internal {

struct XmlDocDeleter {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocDeleter>;

// libxml2's global init, once (std::call_once), before any parse.
void EnsureLibxmlInitialized();

// Parses with XML_PARSE_NONET (no DTD load, no entity substitution), then
// rejects DTDs, entity references, processing instructions, XInclude nodes,
// too deep / too many nodes. Errors: "RIM_MALFORMED: ...".
absl::StatusOr<XmlDocPtr> ParseXmlSafely(std::string_view xml);

// True when `node` is an element named `local` in namespace `ns` (exact).
bool IsElement(const xmlNode* node, const char* ns, const char* local);
// Element children of `node`, in order.
std::vector<xmlNode*> ElementChildren(const xmlNode* node);
// Attribute value in namespace `ns` (nullptr: no namespace); nullopt-like
// empty + found flag.
bool GetAttr(const xmlNode* node, const char* ns, const char* name, std::string* out);

// The Rim content of a parsed document (what ParseRimUnverified returns).
absl::StatusOr<Rim> RimFromDoc(const xmlDoc* doc);

}  // namespace rp::nvidia::rim::internal

#endif  // RP_VERIFIER_NVIDIA_RIM_XML_DOC_H_
