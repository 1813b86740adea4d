// TCB rules in isolation.
#include "gtest/gtest.h"
#include "verifier/tdx/checks.h"
#include "verifier/tdx/tcb.h"

namespace rp::tdx {
namespace {

TEST(TdxTcbRules, ConvergeLikeQvl) {
  using S = TcbStatus;
  EXPECT_EQ(ConvergeTcbStatus(S::kUpToDate, S::kUpToDate), S::kUpToDate);
  EXPECT_EQ(ConvergeTcbStatus(S::kUpToDate, S::kOutOfDate), S::kOutOfDate);
  EXPECT_EQ(ConvergeTcbStatus(S::kSwHardeningNeeded, S::kOutOfDate), S::kOutOfDate);
  EXPECT_EQ(ConvergeTcbStatus(S::kConfigurationNeeded, S::kOutOfDate), S::kOutOfDateConfigurationNeeded);
  EXPECT_EQ(ConvergeTcbStatus(S::kConfigurationAndSwHardeningNeeded, S::kOutOfDate),
            S::kOutOfDateConfigurationNeeded);
  EXPECT_EQ(ConvergeTcbStatus(S::kOutOfDate, S::kUpToDate), S::kOutOfDate);
  EXPECT_EQ(ConvergeTcbStatus(S::kUpToDate, S::kRevoked), S::kRevoked);
  EXPECT_EQ(ConvergeTcbStatus(S::kRevoked, S::kUpToDate), S::kRevoked);
}

TcbInfo InfoWithModules() {
  TcbInfo t;
  t.version = 3;
  TdxModuleIdentity m;
  m.id = "TDX_01";
  m.attributes_mask.fill(0xff);
  m.tcb_levels = {IsvTcbLevel{4, "2024-03-13T00:00:00Z", TcbStatus::kUpToDate, {}},
                  IsvTcbLevel{2, "2023-08-09T00:00:00Z", TcbStatus::kOutOfDate, {"SA-1"}}};
  t.tdx_module_identities = {m};
  TdxModuleIdentity base;
  base.attributes_mask.fill(0xff);
  t.tdx_module = base;
  TcbLevel l;
  l.sgx_components.fill(2);
  l.pcesvn = 11;
  l.tdx_components = {5, 0, 2};
  l.status = TcbStatus::kUpToDate;
  t.tcb_levels = {l};
  return t;
}

TEST(TdxTcbRules, ModuleSvnBytesSkippedOnlyWithMajorVersion) {
  const TcbInfo t = InfoWithModules();
  PckExtensions pck;
  pck.cpusvn_components.fill(2);
  pck.pcesvn = 11;
  // TEE_TCB_SVN[1] = 1: indices 0-1 belong to the module identity.
  EXPECT_EQ(TdxComponentStart(t, {1, 1, 2}), 2u);
  EXPECT_EQ(SelectTcbLevel(t, pck, {1, 1, 2}), std::optional<size_t>(0));
  // TEE_TCB_SVN[1] = 0: all 16 compared; SVN 1 < 5.
  EXPECT_EQ(TdxComponentStart(t, {1, 0, 2}), 0u);
  EXPECT_FALSE(SelectTcbLevel(t, pck, {1, 0, 2}).has_value());
  EXPECT_EQ(SelectTcbLevel(t, pck, {5, 0, 2}), std::optional<size_t>(0));
  // PCESVN below the level.
  pck.pcesvn = 10;
  EXPECT_FALSE(SelectTcbLevel(t, pck, {5, 0, 2}).has_value());
}

TEST(TdxTcbRules, ModuleIdentityLevels) {
  const TcbInfo t = InfoWithModules();
  TdReportBody b;
  b.tee_tcb_svn = {3, 1};
  ModuleResult r = CheckTdxModule(t, b);
  ASSERT_TRUE(r.outcome.passed()) << r.outcome.detail;
  ASSERT_TRUE(r.level.has_value());
  EXPECT_EQ(r.level->status, TcbStatus::kOutOfDate);
  EXPECT_EQ(r.identity_id, "TDX_01");
  b.tee_tcb_svn = {1, 1};
  EXPECT_EQ(CheckTdxModule(t, b).outcome.reason, reason::kTdxModuleTcbLevelNotFound);
  b.tee_tcb_svn = {5, 3};
  EXPECT_EQ(CheckTdxModule(t, b).outcome.reason, reason::kTdxModuleIdentityNotFound);
  b.tee_tcb_svn = {5, 0};
  r = CheckTdxModule(t, b);
  EXPECT_TRUE(r.outcome.passed());
  EXPECT_EQ(r.identity_id, "tdxModule");
  EXPECT_FALSE(r.level.has_value());
}

TEST(TdxTcbRules, QeIdentityMasks) {
  QeIdentity id;
  id.miscselect_mask = 0xffffffff;
  id.attributes = {0x11};
  id.attributes_mask = {0xfb, 0xff};
  id.isvprodid = 2;
  id.tcb_levels = {IsvTcbLevel{4, "d", TcbStatus::kUpToDate, {}}};
  EnclaveReport qe;
  qe.attributes = {0x15, 0, 0, 0, 0, 0, 0, 0, 0xe7};  // bit 2 masked out; byte 8 not in mask
  qe.isvprodid = 2;
  qe.isvsvn = 4;
  EXPECT_TRUE(CheckQeIdentityMatch(id, qe).passed());
  EXPECT_TRUE(SelectQeTcbLevel(id, qe).has_value());
  qe.isvsvn = 3;
  EXPECT_FALSE(SelectQeTcbLevel(id, qe).has_value());
  qe.attributes[0] = 0x01;
  EXPECT_EQ(CheckQeIdentityMatch(id, qe).reason, reason::kQeIdentityMismatch);
}

}  // namespace
}  // namespace rp::tdx
