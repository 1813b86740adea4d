// Parser hardening: malformed and hostile documents, and a mutation run over
// a real RIM (the parser must never crash and must keep its invariants).
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim.h"
#include "verifier/nvidia/rim/rim_signature.h"
#include "verifier/nvidia/rim/rim_test_util.h"

namespace rp::nvidia::rim {
namespace {

using ::rp::nvidia::rim::testing::ReadRim;
using ::testing::HasSubstr;

const std::string kZero(96, '0');

std::string Doc(const std::string& payload, const std::string& prolog = "",
                const std::string& root_ns = kSwidNs, const std::string& meta_extra = "") {
  return absl::StrCat(prolog, "<SoftwareIdentity xmlns=\"", root_ns, "\" xmlns:h=\"",
                      kSha384HashNs, "\" name=\"GH100\" tagId=\"ab\" version=\"1.0\">",
                      "<Meta colloquialVersion=\"1.0\"", meta_extra, "/><Payload>", payload,
                      "</Payload></SoftwareIdentity>");
}

std::string Res(const std::string& index, const std::string& attrs = "") {
  return absl::StrCat("<Resource type=\"Measurement\" index=\"", index,
                      "\" active=\"True\" alternatives=\"1\" h:Hash0=\"", kZero,
                      "\" name=\"m\" size=\"48\"", attrs, "/>");
}

struct BadCase {
  std::string name;
  std::string xml;
  std::string want_substr;
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class RimParserRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(RimParserRejects, Malformed) {
  absl::StatusOr<Rim> r = ParseRimUnverified(GetParam().xml);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReasonOf(r.status()), reason::kRimMalformed) << r.status();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(GetParam().want_substr));
  // VerifyRim refuses the same documents the same way.
  absl::StatusOr<RimVerification> v = VerifyRim(GetParam().xml, {}, absl::Now());
  EXPECT_FALSE(v.ok());
}

std::string Deep(int n) {
  std::string open, close;
  for (int i = 0; i < n; ++i) {
    open += "<x>";
    close += "</x>";
  }
  return Doc(Res("0") + "</Payload><Link>" + open + close + "</Link><Payload>");
}

INSTANTIATE_TEST_SUITE_P(
    Table, RimParserRejects,
    ::testing::Values(
        BadCase{"empty", "", "empty"},
        BadCase{"not_xml", "hello", "not well-formed"},
        BadCase{"too_large", std::string(kMaxRimBytes + 1, ' '), "exceeds the limit"},
        BadCase{"internal_dtd_entity",
                Doc(Res("0"), "<!DOCTYPE SoftwareIdentity [<!ENTITY e \"x\">]>"), "DTD"},
        BadCase{"external_entity",
                Doc(Res("0"), "<!DOCTYPE SoftwareIdentity [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"),
                "DTD"},
        BadCase{"billion_laughs",
                Doc(Res("0"),
                    "<!DOCTYPE SoftwareIdentity [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
                    "\"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>"),
                "DTD"},
        BadCase{"undeclared_entity_reference", Doc(Res("0", " x=\"&zz;\"")), "not well-formed"},
        BadCase{"processing_instruction", Doc(Res("0") + "<?evil x?>"),
                "processing instructions"},
        BadCase{"cdata", Doc(Res("0") + "<![CDATA[x]]>"), "CDATA"},
        BadCase{"too_deep", Deep(40), "nesting deeper"},
        BadCase{"wrong_root_namespace", Doc(Res("0"), "", "http://example.com/swid"),
                "root element"},
        BadCase{"no_namespace", absl::StrReplaceAll(Doc(Res("0")), {{kSwidNs, ""}}),
                "root element"},
        BadCase{"duplicate_index", Doc(Res("4") + Res("4")), "duplicate Resource index 4"},
        BadCase{"index_out_of_range", Doc(Res("255")), "Resource index 255"},
        BadCase{"index_not_decimal", Doc(Res("0x1")), "not a small decimal"},
        BadCase{"index_negative", Doc(Res("-1")), "not a small decimal"},
        BadCase{"hash_not_hex", absl::StrReplaceAll(Doc(Res("0")), {{kZero, std::string(96, 'g')}}),
                "not 96 hex"},
        BadCase{"hash_too_short",
                absl::StrReplaceAll(Doc(Res("0")), {{kZero, std::string(64, '0')}}), "not 96 hex"},
        BadCase{"alternatives_more_than_hashes",
                absl::StrReplaceAll(Doc(Res("0")), {{"alternatives=\"1\"", "alternatives=\"2\""}}),
                "1 hash attributes for alternatives=2"},
        BadCase{"hash_in_wrong_namespace",
                absl::StrReplaceAll(Doc(Res("0")),
                                    {{std::string(kSha384HashNs), "http://www.w3.org/2001/04/xmlenc#sha256"}}),
                "hash attributes"},
        BadCase{"active_not_boolean",
                absl::StrReplaceAll(Doc(Res("0")), {{"active=\"True\"", "active=\"yes\""}}),
                "not True/False"},
        BadCase{"size_not_48", absl::StrReplaceAll(Doc(Res("0")), {{"size=\"48\"", "size=\"32\""}}),
                "expected 48"},
        BadCase{"not_a_measurement",
                absl::StrReplaceAll(Doc(Res("0")), {{"type=\"Measurement\"", "type=\"File\""}}),
                "not Measurement"},
        BadCase{"two_meta",
                absl::StrReplaceAll(Doc(Res("0")), {{"<Payload>", "<Meta colloquialVersion=\"2\"/><Payload>"}}),
                "more than one Meta"},
        BadCase{"no_colloquial_version",
                absl::StrReplaceAll(Doc(Res("0")), {{"colloquialVersion", "colloquial"}}),
                "colloquialVersion missing"},
        BadCase{"empty_payload", Doc(""), "no measurements"},
        BadCase{"unknown_element", Doc(Res("0") + "<Evil/>"), "unexpected element"}),
    [](const ::testing::TestParamInfo<BadCase>& i) { return i.param.name; });

TEST(RimParser, MinimalDocumentParses) {
  absl::StatusOr<Rim> r = ParseRimUnverified(Doc(Res("1") + Res("0")));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->measurements.size(), 2u);
  EXPECT_EQ(r->measurements[0].index, 0u);  // sorted
  EXPECT_EQ(r->Find(1)->alternatives.size(), 1u);
  EXPECT_EQ(r->Find(2), nullptr);
}

TEST(RimParser, NoSignatureIsASignatureFailureNotAParseError) {
  absl::StatusOr<RimVerification> v = VerifyRim(Doc(Res("0")), {}, absl::Now());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->signature.reason, reason::kRimSignatureInvalid);
  EXPECT_FALSE(v->ok());
}

// Mutations of a real RIM: byte flips, insertions, deletions, truncations
// and splices. Invariants: no crash; error iff no value; a parsed RIM has
// sorted unique indices within bounds and 48-byte alternatives; VerifyRim on
// a mutated document never reports an authentic RIM unless the mutation left
// the signed content intact.
TEST(RimParser, MutationsNeverCrash) {
  const std::string base =
      ReadRim("store_545.00_testnogpu/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml");
  ASSERT_FALSE(base.empty());
  std::mt19937 rng(20251115);  // fixed seed: reproducible
  const std::string tokens[] = {"<", ">", "/>", "\"", "&", "&amp;", "<!DOCTYPE x>", "<![CDATA[",
                                "index=\"7\"", "active=\"True\"", "alternatives=\"9\"",
                                "ns2:Hash0=\"", "xmlns:ns0=\"x\"", "<?pi?>", "\xff\xfe", "\0"};
  int parsed = 0, authentic = 0;
  constexpr int kRuns = 3000;
  for (int i = 0; i < kRuns; ++i) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 5) {
        case 0:
          s[pos] = static_cast<char>(rng() % 256);
          break;
        case 1:
          s.insert(pos, tokens[rng() % std::size(tokens)]);
          break;
        case 2:
          s.erase(pos, 1 + rng() % 64);
          break;
        case 3:
          s.resize(pos);
          break;
        default: {
          const size_t from = rng() % base.size();
          s.insert(pos, base.substr(from, 1 + rng() % 200));
        }
      }
    }
    absl::StatusOr<Rim> r = ParseRimUnverified(s);
    if (!r.ok()) {
      EXPECT_EQ(ReasonOf(r.status()), reason::kRimMalformed) << r.status();
      continue;
    }
    ++parsed;
    uint32_t last = 0;
    for (size_t k = 0; k < r->measurements.size(); ++k) {
      const RimMeasurement& m = r->measurements[k];
      if (k > 0) {
        EXPECT_GT(m.index, last);
      }
      last = m.index;
      EXPECT_LE(m.index, kMaxRimIndex);
      EXPECT_FALSE(m.alternatives.empty());
      for (const Bytes& b : m.alternatives) EXPECT_EQ(b.size(), 48u);
    }
    if (i % 10 == 0) {  // the xmlsec path too, on a sample
      absl::StatusOr<RimVerification> v =
          VerifyRim(s, {}, testing::At20250115());
      if (v.ok() && v->ok()) {
        ++authentic;
        // Only mutations outside the signed content (e.g. in whitespace of
        // KeyInfo) may keep it authentic; the golden values must be intact.
        absl::StatusOr<Rim> orig = ParseRimUnverified(base);
        ASSERT_TRUE(orig.ok());
        ASSERT_EQ(v->rim.measurements.size(), orig->measurements.size());
        for (size_t k = 0; k < orig->measurements.size(); ++k) {
          EXPECT_EQ(v->rim.measurements[k].alternatives, orig->measurements[k].alternatives);
          EXPECT_EQ(v->rim.measurements[k].active, orig->measurements[k].active);
        }
      }
    }
  }
  RecordProperty("parsed", parsed);
  RecordProperty("authentic", authentic);
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace rp::nvidia::rim
