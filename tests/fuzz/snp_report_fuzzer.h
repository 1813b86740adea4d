// Invariants of the SEV-SNP report parser, shared by the libFuzzer target
// (snp_report_fuzzer.cc) and the corpus/mutation replay in sev_snp_test.
#ifndef RP_TESTS_FUZZ_SNP_REPORT_FUZZER_H_
#define RP_TESTS_FUZZ_SNP_REPORT_FUZZER_H_

#include <cstdint>
#include <span>
#include <string>

namespace rp::sev_snp::fuzz {

// Parses `data` and checks:
//  - error  <=> no value, and every error carries a stable reason code
//    (ReportErrorOf != kNone) with the "sev_snp: report:" context;
//  - a value => the input is exactly 0x4A0 bytes, every decoded field equals
//    the bytes at its ABI offset, every must-be-zero range is zero, parsing
//    again gives the same value, and the claims can be built;
//  - size != 0x4A0 => REPORT_TRUNCATED / REPORT_TRAILING_BYTES.
// Returns "" when all hold, else a description of the first violation.
std::string CheckParseInvariants(std::span<const uint8_t> data);

}  // namespace rp::sev_snp::fuzz

#endif  // RP_TESTS_FUZZ_SNP_REPORT_FUZZER_H_
