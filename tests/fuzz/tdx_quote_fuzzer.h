// Invariants of the TDX quote parser, shared by the libFuzzer target
// (tdx_quote_fuzzer.cc) and the mutation replay in tdx_test.
#ifndef RP_TESTS_FUZZ_TDX_QUOTE_FUZZER_H_
#define RP_TESTS_FUZZ_TDX_QUOTE_FUZZER_H_

#include <cstdint>
#include <span>
#include <string>

namespace rp::tdx::fuzz {

// Parses `data` and checks:
//  - error <=> no value; every error carries a stable reason code
//    (QuoteErrorOf != kNone) and the "tdx: quote:" context;
//  - a value => header fields and every TD report body field equal the
//    wire bytes at their documented offsets, version/key type/TEE type/QE
//    vendor are the supported ones, the signed bytes are the quote's
//    prefix, parsing again gives the same value, the claims can be built,
//    and the PCK extensions parser never crashes on the embedded chain.
// Returns "" when all hold, else a description of the first violation.
std::string CheckParseInvariants(std::span<const uint8_t> data);

}  // namespace rp::tdx::fuzz

#endif  // RP_TESTS_FUZZ_TDX_QUOTE_FUZZER_H_
