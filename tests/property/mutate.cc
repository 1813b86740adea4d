#include "tests/property/mutate.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/reflection.h"
#include "nlohmann/json.hpp"

namespace rp::property {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using attestation::v1::EvidenceBundle;

// One step into the message tree: a field, and for repeated fields the
// element index (-1 = the whole field).
struct Step {
  const FieldDescriptor* field;
  int index = -1;
};
using Path = std::vector<Step>;

std::string PathString(const Path& path) {
  std::string out;
  for (const Step& s : path) {
    if (!out.empty()) out += ".";
    out += s.field->name();
    if (s.index >= 0) absl::StrAppend(&out, "[", s.index, "]");
  }
  return out;
}

uint64_t Fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The message that holds the last step of `path` (creating parents).
Message* MutableParent(Message* root, const Path& path) {
  Message* m = root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const Reflection* r = m->GetReflection();
    m = path[i].field->is_repeated() ? r->MutableRepeatedMessage(m, path[i].field, path[i].index)
                                     : r->MutableMessage(m, path[i].field);
  }
  return m;
}

// The message that holds the last step of `path`, or nullptr when a parent
// is absent (unset message, index out of range).
const Message* ConstParent(const Message& root, const Path& path) {
  const Message* m = &root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const Reflection* r = m->GetReflection();
    const FieldDescriptor* f = path[i].field;
    if (f->is_repeated()) {
      if (path[i].index >= r->FieldSize(*m, f)) return nullptr;
      m = &r->GetRepeatedMessage(*m, f, path[i].index);
    } else {
      if (!r->HasField(*m, f)) return nullptr;
      m = &r->GetMessage(*m, f);
    }
  }
  return m;
}

bool IsStringLike(const FieldDescriptor* f) {
  return f->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
}
bool IsBytes(const FieldDescriptor* f) { return f->type() == FieldDescriptor::TYPE_BYTES; }

// Enum-like string fields: values the schema documents, tried as
// replacements (an attester chooses these freely).
const std::map<std::string, std::vector<std::string>>& Alternatives() {
  static const auto* m = new std::map<std::string, std::vector<std::string>>{
      {"attestation.v1.EvidenceBundle.binding", {"attest-v1", "nonce", "none", "ATTEST-V1"}},
      {"attestation.v1.NvidiaEvidence.arch", {"HOPPER", "BLACKWELL", "hopper", "AMPERE"}},
      {"attestation.v1.Jwk.kty", {"EC", "RSA", "OKP", "oct"}},
      {"attestation.v1.Jwk.crv", {"P-256", "P-384", "P-521", "Ed25519"}},
  };
  return *m;
}

std::vector<std::pair<size_t, size_t>> PemBlocks(const std::string& v) {
  std::vector<std::pair<size_t, size_t>> out;  // [begin, end) of each block incl. armor
  size_t pos = 0;
  while (true) {
    const size_t b = v.find("-----BEGIN ", pos);
    if (b == std::string::npos) break;
    const size_t e0 = v.find("-----END ", b);
    if (e0 == std::string::npos) break;
    size_t e = v.find("-----", e0 + 9);
    if (e == std::string::npos) break;
    e += 5;
    if (e < v.size() && v[e] == '\n') ++e;
    out.emplace_back(b, e);
    pos = e;
  }
  return out;
}

bool IsHex(const std::string& v) {
  if (v.size() < 2 || v.size() % 2 != 0) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

class Enumerator {
 public:
  Enumerator(const std::string& name, const EvidenceBundle& intact, const EnumerateOptions& opts,
             const std::function<void(Mutant&&)>& visit)
      : name_(name), intact_(intact), opts_(opts), visit_(visit) {
    seen_.insert(intact.SerializeAsString());
  }

  size_t Run() {
    VisitMessage(intact_, {});
    return count_;
  }

 private:
  std::mt19937_64 Rng(const Path& path, const std::string& kind) const {
    return std::mt19937_64(Fnv1a(kind, Fnv1a(PathString(path), Fnv1a(name_))));
  }

  std::string RandomBytes(std::mt19937_64& rng, size_t n, bool bytes_field) const {
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string s(n, '\0');
    for (char& c : s) {
      const uint64_t r = rng();
      c = bytes_field ? static_cast<char>(r & 0xff) : kAlphabet[r % 64];
    }
    return s;
  }

  // Applies `edit` to a copy of the intact bundle at `path` and emits it.
  // `attribute` adjusts the device attribution (see Mutant).
  void Emit(const Path& path, const std::string& kind,
            const std::function<void(Message* parent)>& edit,
            const std::function<void(Mutant&)>& attribute = nullptr) {
    Mutant m;
    m.bundle = intact_;
    edit(MutableParent(&m.bundle, path));
    std::string wire = m.bundle.SerializeAsString();
    if (!seen_.insert(std::move(wire)).second) return;  // same as intact or earlier mutant
    m.path = PathString(path);
    m.kind = kind;
    DefaultAttribution(m);
    // Another vector's CPU report / quote (or the whole CPU evidence, or
    // everything): that CPU is not the intact bundle's device.
    if (absl::StartsWith(kind, "swap:")) {
      const std::string& top = path.front().field->name();
      const bool cpu_part = top == "sev_snp" || top == "tdx";
      if (cpu_part && (path.size() == 1 || path[1].field->name() == "report" ||
                       path[1].field->name() == "quote")) {
        m.cpu_foreign = true;
      }
      if (top == "nvidia" && path.size() == 1) {
        std::fill(m.gpu_origin.begin(), m.gpu_origin.end(), "");
        std::fill(m.switch_origin.begin(), m.switch_origin.end(), "");
      }
      // Another device's SPDM report in element i (its certificate chain
      // swapped alone keeps the device: that is ours with a foreign chain).
      if (top == "nvidia" && path.size() == 3 && path[1].index >= 0 &&
          path[2].field->name() == "evidence") {
        if (std::vector<std::string>* o = DeviceList(m, Path{path[0], Step{path[1].field, -1}})) {
          if (static_cast<size_t>(path[1].index) < o->size()) {
            (*o)[static_cast<size_t>(path[1].index)] = "";
          }
        }
      }
    }
    if (attribute) attribute(m);
    ++count_;
    visit_(std::move(m));
  }

  // Identity when the lists kept their size, else nothing is attributed.
  void DefaultAttribution(Mutant& m) const {
    auto identity = [](const char* prefix, int intact_n, int n) {
      std::vector<std::string> o(static_cast<size_t>(n));
      if (intact_n == n) {
        for (int i = 0; i < n; ++i) o[static_cast<size_t>(i)] = absl::StrCat(prefix, i);
      }
      return o;
    };
    m.gpu_origin = identity("gpu", intact_.nvidia().evidence_list_size(),
                            m.bundle.nvidia().evidence_list_size());
    m.switch_origin = identity("switch", intact_.nvidia().switch_evidence_list_size(),
                               m.bundle.nvidia().switch_evidence_list_size());
  }

  // The origin list for the NVIDIA device list `field` names (nullptr for
  // any other field), and the device-name prefix of that list.
  static const char* DevicePrefix(const Path& path) {
    if (path.size() != 2 || path[0].field->name() != "nvidia") return nullptr;
    if (path[1].field->name() == "evidence_list") return "gpu";
    if (path[1].field->name() == "switch_evidence_list") return "switch";
    return nullptr;
  }
  std::vector<std::string>* DeviceList(Mutant& m, const Path& path) const {
    const char* prefix = DevicePrefix(path);
    if (prefix == nullptr) return nullptr;
    return std::string(prefix) == "gpu" ? &m.gpu_origin : &m.switch_origin;
  }

  void VisitMessage(const Message& msg, const Path& prefix) {
    const auto* d = msg.GetDescriptor();
    const Reflection* r = msg.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      Path path = prefix;
      path.push_back(Step{f, -1});
      if (f->is_map()) continue;  // none in EvidenceBundle today
      if (f->is_repeated()) {
        VisitRepeated(msg, path);
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const bool has = r->HasField(msg, f);
        if (has) {
          Emit(path, "clear", [f](Message* p) { p->GetReflection()->ClearField(p, f); });
          Emit(path, "empty", [f](Message* p) { p->GetReflection()->MutableMessage(p, f)->Clear(); });
        }
        Swaps(path);
        if (has) VisitMessage(r->GetMessage(msg, f), path);
      } else {
        VisitScalar(msg, path);
      }
    }
  }

  void VisitRepeated(const Message& msg, Path path) {
    const FieldDescriptor* f = path.back().field;
    const Reflection* r = msg.GetReflection();
    const int n = r->FieldSize(msg, f);
    auto list_edit = [&](const std::string& kind, std::vector<int> order) {
      // `order`: new list as indices into the old one.
      Emit(
          path, kind,
          [f, order](Message* p) {
            const Reflection* pr = p->GetReflection();
            std::vector<std::unique_ptr<Message>> old;
            const int on = pr->FieldSize(*p, f);
            if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
              for (int k = 0; k < on; ++k) {
                old.emplace_back(pr->GetRepeatedMessage(*p, f, k).New());
                old.back()->CopyFrom(pr->GetRepeatedMessage(*p, f, k));
              }
              pr->ClearField(p, f);
              for (int k : order) pr->AddMessage(p, f)->CopyFrom(*old[static_cast<size_t>(k)]);
            } else {
              // Scalar lists: round-trip through a copy of the parent.
              std::unique_ptr<Message> copy(p->New());
              copy->CopyFrom(*p);
              pr->ClearField(p, f);
              for (int k : order) {
                CopyScalarElement(*copy, f, k, p);
              }
            }
          },
          [this, order, path](Mutant& m) {
            if (std::vector<std::string>* o = DeviceList(m, path)) {
              o->clear();
              for (int k : order) o->push_back(absl::StrCat(DevicePrefix(path), k));
            }
          });
    };
    if (n > 0) list_edit("clear", {});
    for (int i = 0; i < n; ++i) {
      std::vector<int> order;
      for (int k = 0; k < n; ++k) {
        if (k != i) order.push_back(k);
      }
      list_edit(absl::StrCat("drop[", i, "]"), order);
    }
    for (int i = 0; i < n; ++i) {
      std::vector<int> order;
      for (int k = 0; k < n; ++k) {
        order.push_back(k);
        if (k == i) order.push_back(k);
      }
      list_edit(absl::StrCat("dup[", i, "]"), order);
    }
    for (int i = 0; i < n; ++i) {
      for (int j = i + 1; j < n; ++j) {
        if (n > 4 && j != i + 1 && !(i == 0 && j == n - 1)) continue;
        std::vector<int> order;
        for (int k = 0; k < n; ++k) order.push_back(k == i ? j : (k == j ? i : k));
        list_edit(absl::StrCat("swap[", i, ",", j, "]"), order);
      }
    }
    Swaps(path);  // the whole list from another vector
    for (int i = 0; i < n; ++i) {
      Path ep = path;
      ep.back().index = i;
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Emit(ep, "empty", [f, i](Message* p) {
          p->GetReflection()->MutableRepeatedMessage(p, f, i)->Clear();
        });
        Swaps(ep);
        MoveToSiblingLists(msg, path, i);
        VisitMessage(r->GetRepeatedMessage(msg, f, i), ep);
      } else {
        VisitScalar(msg, ep);
      }
    }
  }

  // Element i of the repeated message field `path` moved to the end of
  // every other repeated field of the same message type in the same parent
  // (e.g. a GPU report filed under switch_evidence_list).
  void MoveToSiblingLists(const Message& msg, const Path& path, int i) {
    const FieldDescriptor* f = path.back().field;
    const auto* d = msg.GetDescriptor();
    for (int k = 0; k < d->field_count(); ++k) {
      const FieldDescriptor* g = d->field(k);
      if (g == f || !g->is_repeated() || g->is_map() ||
          g->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || g->message_type() != f->message_type()) {
        continue;
      }
      Path ep = path;
      ep.back().index = i;
      Path gpath = path;
      gpath.back() = Step{g, -1};
      Emit(
          ep, absl::StrCat("move_to:", g->name()),
          [f, g, i](Message* p) {
            const Reflection* r = p->GetReflection();
            std::unique_ptr<Message> moved(r->GetRepeatedMessage(*p, f, i).New());
            moved->CopyFrom(r->GetRepeatedMessage(*p, f, i));
            for (int k2 = i; k2 + 1 < r->FieldSize(*p, f); ++k2) r->SwapElements(p, f, k2, k2 + 1);
            r->RemoveLast(p, f);
            r->AddMessage(p, g)->CopyFrom(*moved);
          },
          [this, path, gpath, i](Mutant& m) {
            std::vector<std::string>* from = DeviceList(m, path);
            std::vector<std::string>* to = DeviceList(m, gpath);
            if (from == nullptr || to == nullptr) return;
            const int n = static_cast<int>(from->size()) + 1;  // the intact size
            const int tn = static_cast<int>(to->size()) - 1;
            from->clear();
            for (int e = 0; e < n; ++e) {
              if (e != i) from->push_back(absl::StrCat(DevicePrefix(path), e));
            }
            to->clear();
            for (int e = 0; e < tn; ++e) to->push_back(absl::StrCat(DevicePrefix(gpath), e));
            to->push_back(absl::StrCat(DevicePrefix(path), i));
          });
    }
  }

  static void CopyScalarElement(const Message& from, const FieldDescriptor* f, int k, Message* to) {
    const Reflection* fr = from.GetReflection();
    const Reflection* tr = to->GetReflection();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        tr->AddString(to, f, fr->GetRepeatedString(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        tr->AddInt32(to, f, fr->GetRepeatedInt32(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        tr->AddInt64(to, f, fr->GetRepeatedInt64(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        tr->AddUInt32(to, f, fr->GetRepeatedUInt32(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        tr->AddUInt64(to, f, fr->GetRepeatedUInt64(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        tr->AddBool(to, f, fr->GetRepeatedBool(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        tr->AddEnumValue(to, f, fr->GetRepeatedEnumValue(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        tr->AddDouble(to, f, fr->GetRepeatedDouble(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        tr->AddFloat(to, f, fr->GetRepeatedFloat(from, f, k));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
  }

  // The same field from every donor ("cross-vector swap"); an absent donor
  // field replaces ours by absence (already covered by "clear").
  void Swaps(const Path& path) {
    const Step& last = path.back();
    const FieldDescriptor* f = last.field;
    for (const Donor& donor : opts_.donors) {
      if (donor.name == name_ || donor.bundle == nullptr) continue;
      const Message* dp = ConstParent(*donor.bundle, path);
      if (dp == nullptr) continue;
      const Reflection* dr = dp->GetReflection();
      if (f->is_repeated() && last.index >= 0) {
        // One element: the donor's element at the same index (or its last).
        const int dn = dr->FieldSize(*dp, f);
        if (dn == 0 || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
        const Message& src = dr->GetRepeatedMessage(*dp, f, std::min(last.index, dn - 1));
        const int i = last.index;
        Emit(path, "swap:" + donor.name,
             [&src, f, i](Message* p) {
               p->GetReflection()->MutableRepeatedMessage(p, f, i)->CopyFrom(src);
             },
             [i, path, this](Mutant& m) {
               if (path.size() != 2) return;
               if (std::vector<std::string>* o =
                       DeviceList(m, Path{path[0], Step{path[1].field, -1}})) {
                 if (static_cast<size_t>(i) < o->size()) (*o)[static_cast<size_t>(i)] = "";
               }
             });
        continue;
      }
      if (f->is_repeated()) {
        if (dr->FieldSize(*dp, f) == 0) continue;
        Emit(path, "swap:" + donor.name,
             [dp, f](Message* p) {
               const Reflection* pr = p->GetReflection();
               pr->ClearField(p, f);
               const Reflection* sr = dp->GetReflection();
               for (int k = 0; k < sr->FieldSize(*dp, f); ++k) {
                 if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
                   pr->AddMessage(p, f)->CopyFrom(sr->GetRepeatedMessage(*dp, f, k));
                 } else {
                   CopyScalarElement(*dp, f, k, p);
                 }
               }
             },
             [this, path](Mutant& m) {
               if (std::vector<std::string>* o = DeviceList(m, path)) {
                 std::fill(o->begin(), o->end(), "");
               }
             });
        continue;
      }
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        if (!dr->HasField(*dp, f)) continue;
        const Message& src = dr->GetMessage(*dp, f);
        Emit(path, "swap:" + donor.name, [&src, f](Message* p) {
          p->GetReflection()->MutableMessage(p, f)->CopyFrom(src);
        });
        continue;
      }
      // Singular scalar: proto3 without presence; an empty donor value is
      // "clear", which is enumerated anyway.
      if (IsStringLike(f)) {
        const std::string v = dr->GetString(*dp, f);
        if (v.empty()) continue;
        Emit(path, "swap:" + donor.name,
             [f, v](Message* p) { p->GetReflection()->SetString(p, f, v); });
      } else {
        Emit(path, "swap:" + donor.name, [f, dp](Message* p) {
          const Reflection* sr = dp->GetReflection();
          const Reflection* pr = p->GetReflection();
          switch (f->cpp_type()) {
            case FieldDescriptor::CPPTYPE_INT32: pr->SetInt32(p, f, sr->GetInt32(*dp, f)); break;
            case FieldDescriptor::CPPTYPE_INT64: pr->SetInt64(p, f, sr->GetInt64(*dp, f)); break;
            case FieldDescriptor::CPPTYPE_UINT32: pr->SetUInt32(p, f, sr->GetUInt32(*dp, f)); break;
            case FieldDescriptor::CPPTYPE_UINT64: pr->SetUInt64(p, f, sr->GetUInt64(*dp, f)); break;
            case FieldDescriptor::CPPTYPE_BOOL: pr->SetBool(p, f, sr->GetBool(*dp, f)); break;
            case FieldDescriptor::CPPTYPE_ENUM:
              pr->SetEnumValue(p, f, sr->GetEnumValue(*dp, f));
              break;
            case FieldDescriptor::CPPTYPE_DOUBLE: pr->SetDouble(p, f, sr->GetDouble(*dp, f)); break;
            case FieldDescriptor::CPPTYPE_FLOAT: pr->SetFloat(p, f, sr->GetFloat(*dp, f)); break;
            default: break;
          }
        });
      }
    }
  }

  void SetStringAt(Message* p, const Step& s, const std::string& v) {
    const Reflection* pr = p->GetReflection();
    if (s.index >= 0) {
      pr->SetRepeatedString(p, s.field, s.index, v);
    } else {
      pr->SetString(p, s.field, v);
    }
  }

  void VisitScalar(const Message& msg, const Path& path) {
    const Step s = path.back();
    const FieldDescriptor* f = s.field;
    const Reflection* r = msg.GetReflection();
    if (IsStringLike(f)) {
      const std::string v = s.index >= 0 ? r->GetRepeatedString(msg, f, s.index) : r->GetString(msg, f);
      VisitString(path, v);
      if (s.index < 0) {
        Swaps(path);
        // The value filed under an empty sibling field of the same type
        // (e.g. a VCEK sent as the VLEK).
        const auto* d = msg.GetDescriptor();
        for (int k = 0; k < d->field_count() && !v.empty(); ++k) {
          const FieldDescriptor* g = d->field(k);
          if (g == f || g->is_repeated() || g->type() != f->type() || !r->GetString(msg, g).empty()) {
            continue;
          }
          Emit(path, absl::StrCat("move_to:", g->name()), [f, g, v](Message* p) {
            p->GetReflection()->SetString(p, g, v);
            p->GetReflection()->SetString(p, f, "");
          });
        }
      }
      return;
    }
    // Numbers, bools, enums (none in EvidenceBundle today): default and a
    // changed value.
    if (s.index >= 0) return;  // element edits of numeric lists: list ops only
    Emit(path, "clear", [f](Message* p) { p->GetReflection()->ClearField(p, f); });
    Emit(path, "change", [f](Message* p) {
      const Reflection* pr = p->GetReflection();
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32: pr->SetInt32(p, f, pr->GetInt32(*p, f) + 1); break;
        case FieldDescriptor::CPPTYPE_INT64: pr->SetInt64(p, f, pr->GetInt64(*p, f) + 1); break;
        case FieldDescriptor::CPPTYPE_UINT32: pr->SetUInt32(p, f, pr->GetUInt32(*p, f) + 1); break;
        case FieldDescriptor::CPPTYPE_UINT64: pr->SetUInt64(p, f, pr->GetUInt64(*p, f) + 1); break;
        case FieldDescriptor::CPPTYPE_BOOL: pr->SetBool(p, f, !pr->GetBool(*p, f)); break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const auto* e = f->enum_type();
          const int idx = pr->GetEnum(*p, f)->index();
          pr->SetEnum(p, f, e->value((idx + 1) % e->value_count()));
          break;
        }
        case FieldDescriptor::CPPTYPE_DOUBLE: pr->SetDouble(p, f, pr->GetDouble(*p, f) + 1); break;
        case FieldDescriptor::CPPTYPE_FLOAT: pr->SetFloat(p, f, pr->GetFloat(*p, f) + 1); break;
        default: break;
      }
    });
    Swaps(path);
  }

  void VisitString(const Path& path, const std::string& v) {
    const Step s = path.back();
    const bool bytes = IsBytes(s.field);
    auto set = [this, s](std::string nv) {
      return [this, s, nv = std::move(nv)](Message* p) { SetStringAt(p, s, nv); };
    };
    const size_t n = v.size();
    if (n == 0) {
      auto rng = Rng(path, "set_garbage");
      Emit(path, "set_garbage", set(RandomBytes(rng, 64, bytes)));
    } else {
      Emit(path, "clear", set(""));
      Emit(path, "trunc_half", set(v.substr(0, n / 2)));
      Emit(path, "trunc_minus1", set(v.substr(0, n - 1)));
      auto rng = Rng(path, "garbage");
      Emit(path, "garbage", set(RandomBytes(rng, n, bytes)));
      const std::pair<const char*, size_t> flips[] = {
          {"flip_start", 0}, {"flip_mid", n / 2}, {"flip_end", n - 1}};
      for (const auto& [kind, pos] : flips) {
        if (!bytes && static_cast<unsigned char>(v[pos]) >= 0x80) continue;  // keep UTF-8
        std::string w = v;
        w[pos] = static_cast<char>(w[pos] ^ 0x01);
        Emit(path, kind, set(w));
      }
      // Format-aware edits for text that holds PEM, JSON or hex.
      const auto blocks = PemBlocks(v);
      if (!blocks.empty()) {
        if (blocks.size() > 1) {
          for (size_t k = 0; k < blocks.size(); ++k) {
            std::string w = v;
            w.erase(blocks[k].first, blocks[k].second - blocks[k].first);
            Emit(path, absl::StrCat("pem_drop[", k, "]"), set(w));
          }
          std::string rev;
          for (size_t k = blocks.size(); k-- > 0;) {
            rev += v.substr(blocks[k].first, blocks[k].second - blocks[k].first);
          }
          Emit(path, "pem_reverse", set(rev));
          Emit(path, "pem_first_only",
               set(v.substr(blocks[0].first, blocks[0].second - blocks[0].first)));
        }
        // Keep the armor, garbage the first certificate's base64 body.
        const size_t body = v.find('\n', blocks[0].first);
        const size_t end = v.find("-----END ", blocks[0].first);
        if (body != std::string::npos && end != std::string::npos && body + 1 < end) {
          std::string w = v;
          auto prng = Rng(path, "pem_body_garbage");
          for (size_t k = body + 1; k < end; ++k) {
            if (w[k] != '\n' && w[k] != '\r' && w[k] != '=') w[k] = RandomBytes(prng, 1, false)[0];
          }
          Emit(path, "pem_body_garbage", set(w));
        }
      }
      const size_t first = v.find_first_not_of(" \t\r\n");
      if (first != std::string::npos && v[first] == '{') {
        nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
        if (j.is_object()) {
          Emit(path, "json_empty", set("{}"));
          Emit(path, "json_reformat", set(j.dump(1)));
          for (auto it = j.begin(); it != j.end(); ++it) {
            nlohmann::json w = j;
            w.erase(it.key());
            Emit(path, absl::StrCat("json_drop[", it.key(), "]"), set(w.dump()));
          }
        }
      }
      if (!bytes && IsHex(v)) {
        std::string w = v;
        const size_t mid = n / 2;
        w[mid] = w[mid] == '0' ? '1' : '0';
        Emit(path, "hex_flip_mid", set(w));
        auto hrng = Rng(path, "hex_garbage");
        std::string g(n, '0');
        for (char& c : g) c = "0123456789abcdef"[hrng() % 16];
        Emit(path, "hex_garbage", set(g));
      }
    }
    auto alt = Alternatives().find(s.field->full_name());
    if (alt != Alternatives().end()) {
      for (const std::string& a : alt->second) Emit(path, "set:" + a, set(a));
    }
  }

  const std::string& name_;
  const EvidenceBundle& intact_;
  const EnumerateOptions& opts_;
  const std::function<void(Mutant&&)>& visit_;
  std::set<std::string> seen_;
  size_t count_ = 0;
};

}  // namespace

size_t EnumerateMutants(const std::string& bundle_name, const EvidenceBundle& intact,
                        const EnumerateOptions& options,
                        const std::function<void(Mutant&&)>& visit) {
  Enumerator e(bundle_name, intact, options, visit);
  return e.Run();
}

std::string NormalizePath(const std::string& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '[') {
      const size_t close = path.find(']', i);
      if (close != std::string::npos) {
        out += "[]";
        i = close;
        continue;
      }
    }
    out += path[i];
  }
  return out;
}

}  // namespace rp::property
