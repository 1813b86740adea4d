// Local status helpers: Debian 12's Abseil (20220623) has no status macros.
#ifndef RP_VERIFIER_COMMON_STATUS_MACROS_H_
#define RP_VERIFIER_COMMON_STATUS_MACROS_H_

#include "absl/strings/string_view.h"
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace rp {

// Returns `status` with "context: " prefixed to its message; OK stays OK.
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace rp

#define RP_STATUS_CONCAT_INNER_(a, b) a##b
#define RP_STATUS_CONCAT_(a, b) RP_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status rp_status_tmp_ = (expr);          \
    if (!rp_status_tmp_.ok()) return rp_status_tmp_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(RP_STATUS_CONCAT_(rp_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

#endif  // RP_VERIFIER_COMMON_STATUS_MACROS_H_
