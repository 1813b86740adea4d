// Debian 12's Abseil (20220623) has its own absl::string_view, a type apart
// from std::string_view; absl's string functions (StrCat, StartsWith,
// StrSplit, SimpleAtoi, ...) take only the former. One adapter for all.
#ifndef RP_VERIFIER_COMMON_ABSL_VIEW_H_
#define RP_VERIFIER_COMMON_ABSL_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace rp {

inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace rp

#endif  // RP_VERIFIER_COMMON_ABSL_VIEW_H_
