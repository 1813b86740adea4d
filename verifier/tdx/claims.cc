#include "verifier/tdx/claims.h"

#include "absl/strings/str_format.h"
#include "verifier/common/encoding.h"
#include "verifier/tdx/layout.h"

namespace rp::tdx {

nlohmann::json TdAttributesClaims(const TdReportBody& b) {
  const uint64_t a = b.td_attributes;
  return {
      {"debug", (a & kTdAttrDebug) != 0},
      {"sept_ve_disable", (a & kTdAttrSeptVeDisable) != 0},
      {"pks", (a & kTdAttrPks) != 0},
      {"kl", (a & kTdAttrKl) != 0},
      {"perfmon", (a & kTdAttrPerfmon) != 0},
      {"raw", HexEncode(b.td_attributes_raw)},
  };
}

nlohmann::json BuildQuoteClaims(const TdxQuote& q, const PckExtensions* pck) {
  const TdReportBody& b = q.body;
  nlohmann::json c = nlohmann::json::object();
  c["quote_version"] = q.version;
  c["tee_tcb_svn"] = HexEncode(b.tee_tcb_svn);
  c["mrseam"] = HexEncode(b.mrseam);
  c["mrsignerseam"] = HexEncode(b.mrsignerseam);
  c["seam_attributes"] = HexEncode(b.seam_attributes_raw);
  c["td_attributes"] = TdAttributesClaims(b);
  c["xfam"] = HexEncode(b.xfam_raw);
  c["mrtd"] = HexEncode(b.mrtd);
  c["mrconfigid"] = HexEncode(b.mrconfigid);
  c["mrowner"] = HexEncode(b.mrowner);
  c["mrownerconfig"] = HexEncode(b.mrownerconfig);
  nlohmann::json rtmr = nlohmann::json::array();
  for (const Measurement& m : b.rtmr) rtmr.push_back(HexEncode(m));
  c["rtmr"] = std::move(rtmr);
  c["report_data"] = HexEncode(b.report_data);
  if (b.tee_tcb_svn2) c["tee_tcb_svn2"] = HexEncode(*b.tee_tcb_svn2);
  if (b.mrservicetd) c["mrservicetd"] = HexEncode(*b.mrservicetd);
  c["qe_svn"] = q.qe_report.isvsvn;
  if (pck != nullptr) {
    c["fmspc"] = HexEncode(pck->fmspc);
    c["pce_id"] = HexEncode(pck->pce_id);
    c["pce_svn"] = pck->pcesvn;
    c["cpu_svn"] = HexEncode(pck->cpusvn);
  }
  return c;
}

}  // namespace rp::tdx
