#include "verifier/tdx/pck_extensions.h"

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/x509.h"

namespace rp::tdx {
namespace {

// ASN1_SEQUENCE_ANY (STACK_OF(ASN1_TYPE)) has no deleter in openssl_ptr.h;
// this local one is the only owner of such stacks (see the TDX report).
struct SequenceDeleter {
  void operator()(ASN1_SEQUENCE_ANY* p) const { sk_ASN1_TYPE_pop_free(p, ASN1_TYPE_free); }
};
using SequencePtr = std::unique_ptr<ASN1_SEQUENCE_ANY, SequenceDeleter>;

constexpr size_t kMaxExtensionBytes = 4096;
constexpr int kMaxEntries = 32;

absl::Status Bad(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("tdx: pck extensions: ", what));
}

// Parses exactly `der` as a DER SEQUENCE into its elements.
absl::StatusOr<SequencePtr> ParseSequence(std::span<const uint8_t> der, const std::string& what) {
  if (der.empty() || der.size() > kMaxExtensionBytes) return Bad(what + ": bad size");
  const unsigned char* p = der.data();
  SequencePtr seq(d2i_ASN1_SEQUENCE_ANY(nullptr, &p, static_cast<long>(der.size())));
  if (seq == nullptr) return Bad(what + ": not a DER SEQUENCE");
  if (p != der.data() + der.size()) return Bad(what + ": trailing bytes");
  if (sk_ASN1_TYPE_num(seq.get()) > kMaxEntries) return Bad(what + ": too many entries");
  return seq;
}

std::span<const uint8_t> StringBytes(const ASN1_STRING* s) {
  return {ASN1_STRING_get0_data(s), static_cast<size_t>(ASN1_STRING_length(s))};
}

std::string OidText(const ASN1_OBJECT* obj) {
  char buf[128];
  const int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return "";
  return std::string(buf, static_cast<size_t>(n));
}

struct Entry {
  std::string oid;
  const ASN1_TYPE* value;  // borrowed from the owning sequence
};

// A SEQUENCE { OID, value } element.
absl::StatusOr<Entry> ReadEntry(const ASN1_TYPE* t, const std::string& ctx,
                                std::vector<SequencePtr>& keep) {
  if (ASN1_TYPE_get(t) != V_ASN1_SEQUENCE) return Bad(ctx + ": entry is not a SEQUENCE");
  absl::StatusOr<SequencePtr> inner = ParseSequence(StringBytes(t->value.sequence), ctx);
  if (!inner.ok()) return inner.status();
  if (sk_ASN1_TYPE_num(inner->get()) != 2) return Bad(ctx + ": entry is not {OID, value}");
  const ASN1_TYPE* oid = sk_ASN1_TYPE_value(inner->get(), 0);
  if (ASN1_TYPE_get(oid) != V_ASN1_OBJECT) return Bad(ctx + ": entry does not start with an OID");
  Entry e{OidText(oid->value.object), sk_ASN1_TYPE_value(inner->get(), 1)};
  if (e.oid.empty()) return Bad(ctx + ": unreadable OID");
  keep.push_back(*std::move(inner));
  return e;
}

template <size_t N>
absl::Status OctetString(const Entry& e, const char* name, std::array<uint8_t, N>* out) {
  if (ASN1_TYPE_get(e.value) != V_ASN1_OCTET_STRING) {
    return Bad(absl::StrFormat("%s (%s) is not an OCTET STRING", name, e.oid));
  }
  std::span<const uint8_t> b = StringBytes(e.value->value.octet_string);
  if (b.size() != N) {
    return Bad(absl::StrFormat("%s (%s) has %d bytes (expected %d)", name, e.oid, b.size(), N));
  }
  std::copy(b.begin(), b.end(), out->begin());
  return absl::OkStatus();
}

absl::StatusOr<long> Integer(const Entry& e, const char* name, int type, long max) {
  if (ASN1_TYPE_get(e.value) != type) {
    return Bad(absl::StrFormat("%s (%s) has the wrong ASN.1 type", name, e.oid));
  }
  int64_t v = 0;
  const int ok = type == V_ASN1_ENUMERATED ? ASN1_ENUMERATED_get_int64(&v, e.value->value.enumerated)
                                           : ASN1_INTEGER_get_int64(&v, e.value->value.integer);
  if (ok != 1 || v < 0 || v > max) {
    return Bad(absl::StrFormat("%s (%s) is out of range 0..%d", name, e.oid, max));
  }
  return static_cast<long>(v);
}

absl::StatusOr<bool> Boolean(const Entry& e, const char* name) {
  if (ASN1_TYPE_get(e.value) != V_ASN1_BOOLEAN) {
    return Bad(absl::StrFormat("%s (%s) is not a BOOLEAN", name, e.oid));
  }
  return e.value->value.boolean != 0;
}

absl::Status ParseTcb(const Entry& tcb, PckExtensions& out) {
  if (ASN1_TYPE_get(tcb.value) != V_ASN1_SEQUENCE) return Bad("TCB (.2) is not a SEQUENCE");
  absl::StatusOr<SequencePtr> seq = ParseSequence(StringBytes(tcb.value->value.sequence), "TCB");
  if (!seq.ok()) return seq.status();
  std::vector<SequencePtr> keep;
  std::set<std::string> seen;
  const std::string prefix = absl::StrCat(kSgxExtensionsOid, ".2.");
  for (int i = 0; i < sk_ASN1_TYPE_num(seq->get()); ++i) {
    absl::StatusOr<Entry> e = ReadEntry(sk_ASN1_TYPE_value(seq->get(), i), "TCB", keep);
    if (!e.ok()) return e.status();
    if (!seen.insert(e->oid).second) return Bad(absl::StrCat("duplicate TCB entry ", e->oid));
    if (e->oid.rfind(prefix, 0) != 0) return Bad(absl::StrCat("unexpected TCB entry ", e->oid));
    const std::string idx = e->oid.substr(prefix.size());
    int n = 0;
    if (!absl::SimpleAtoi(idx, &n) || n < 1 || n > 18 || absl::StrCat(n) != idx) {
      return Bad(absl::StrCat("unexpected TCB entry ", e->oid));
    }
    if (n <= 16) {
      absl::StatusOr<long> v = Integer(*e, "SGX TCB component", V_ASN1_INTEGER, 255);
      if (!v.ok()) return v.status();
      out.cpusvn_components[static_cast<size_t>(n - 1)] = static_cast<uint8_t>(*v);
    } else if (n == 17) {
      absl::StatusOr<long> v = Integer(*e, "PCESVN", V_ASN1_INTEGER, 65535);
      if (!v.ok()) return v.status();
      out.pcesvn = static_cast<uint16_t>(*v);
    } else {
      RETURN_IF_ERROR(OctetString(*e, "CPUSVN", &out.cpusvn));
    }
  }
  if (seen.size() != 18) {
    return Bad(absl::StrFormat("TCB has %d of the 18 entries", seen.size()));
  }
  return absl::OkStatus();
}

absl::Status ParseConfiguration(const Entry& cfg, PckExtensions& out) {
  if (ASN1_TYPE_get(cfg.value) != V_ASN1_SEQUENCE) {
    return Bad("Configuration (.7) is not a SEQUENCE");
  }
  absl::StatusOr<SequencePtr> seq =
      ParseSequence(StringBytes(cfg.value->value.sequence), "Configuration");
  if (!seq.ok()) return seq.status();
  std::vector<SequencePtr> keep;
  const std::string prefix = absl::StrCat(kSgxExtensionsOid, ".7.");
  for (int i = 0; i < sk_ASN1_TYPE_num(seq->get()); ++i) {
    absl::StatusOr<Entry> e = ReadEntry(sk_ASN1_TYPE_value(seq->get(), i), "Configuration", keep);
    if (!e.ok()) return e.status();
    std::optional<bool>* slot = nullptr;
    if (e->oid == prefix + "1") slot = &out.dynamic_platform;
    if (e->oid == prefix + "2") slot = &out.cached_keys;
    if (e->oid == prefix + "3") slot = &out.smt_enabled;
    if (slot == nullptr) return Bad(absl::StrCat("unexpected Configuration entry ", e->oid));
    if (slot->has_value()) return Bad(absl::StrCat("duplicate Configuration entry ", e->oid));
    absl::StatusOr<bool> b = Boolean(*e, "Configuration flag");
    if (!b.ok()) return b.status();
    *slot = *b;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PckExtensions> ParsePckExtensionsDer(std::span<const uint8_t> der) {
  absl::StatusOr<SequencePtr> seq = ParseSequence(der, "SGX extensions");
  if (!seq.ok()) return seq.status();
  PckExtensions out;
  std::vector<SequencePtr> keep;
  std::set<std::string> seen;
  const std::string prefix = absl::StrCat(kSgxExtensionsOid, ".");
  for (int i = 0; i < sk_ASN1_TYPE_num(seq->get()); ++i) {
    absl::StatusOr<Entry> e = ReadEntry(sk_ASN1_TYPE_value(seq->get(), i), "SGX extensions", keep);
    if (!e.ok()) return e.status();
    if (!seen.insert(e->oid).second) return Bad(absl::StrCat("duplicate entry ", e->oid));
    const std::string id = e->oid.rfind(prefix, 0) == 0 ? e->oid.substr(prefix.size()) : "";
    if (id == "1") {
      RETURN_IF_ERROR(OctetString(*e, "PPID", &out.ppid));
    } else if (id == "2") {
      RETURN_IF_ERROR(ParseTcb(*e, out));
    } else if (id == "3") {
      RETURN_IF_ERROR(OctetString(*e, "PCE-ID", &out.pce_id));
    } else if (id == "4") {
      RETURN_IF_ERROR(OctetString(*e, "FMSPC", &out.fmspc));
    } else if (id == "5") {
      absl::StatusOr<long> v = Integer(*e, "SGX Type", V_ASN1_ENUMERATED, 255);
      if (!v.ok()) return v.status();
      out.sgx_type = static_cast<int>(*v);
    } else if (id == "6") {
      std::array<uint8_t, 16> pid{};
      RETURN_IF_ERROR(OctetString(*e, "Platform Instance ID", &pid));
      out.platform_instance_id = pid;
    } else if (id == "7") {
      RETURN_IF_ERROR(ParseConfiguration(*e, out));
    } else {
      return Bad(absl::StrCat("unexpected entry ", e->oid));
    }
  }
  for (const char* required : {"1", "2", "3", "4", "5"}) {
    if (seen.count(prefix + required) == 0) {
      return Bad(absl::StrCat("missing mandatory entry ", prefix, required));
    }
  }
  return out;
}

absl::StatusOr<PckExtensions> ParsePckExtensions(const X509* cert) {
  absl::StatusOr<std::optional<Bytes>> v = crypto::ExtensionValue(cert, kSgxExtensionsOid);
  if (!v.ok()) return Bad(std::string(v.status().message()));
  if (!v->has_value()) return Bad("the certificate has no SGX extensions");
  return ParsePckExtensionsDer(**v);
}

}  // namespace rp::tdx
