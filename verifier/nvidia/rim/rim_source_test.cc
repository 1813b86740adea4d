#include "verifier/nvidia/rim/rim_source.h"

#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/testing_http_server.h"
#include "verifier/common/clock.h"
#include "verifier/nvidia/rim/appraise.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim_test_util.h"

namespace rp::nvidia::rim {
namespace {

using ::rp::collateral::testing::TestingHttpServer;
using ::rp::collateral::testing::TestResponse;
using ::rp::nvidia::rim::testing::At20250115;
using ::rp::nvidia::rim::testing::MeasurementsFromReportHex;
using ::rp::nvidia::rim::testing::Outcome;
using ::rp::nvidia::rim::testing::ReadRim;
using ::testing::HasSubstr;

TEST(RimIds, FromReportFields) {
  EXPECT_EQ(*DriverRimId(GpuArch::kHopper, "", "550.144.03"), "NV_GPU_DRIVER_GH100_550.144.03");
  EXPECT_EQ(*DriverRimId(GpuArch::kHopper, "GB202", std::string("545.00\0\0", 8)),
            "NV_GPU_DRIVER_GH100_545.00");
  EXPECT_EQ(*DriverRimId(GpuArch::kBlackwell, std::string("GB202\0", 6), "595.58.03"),
            "NV_GPU_CC_DRIVER_GB202_595.58.03");
  EXPECT_EQ(*DriverRimId(GpuArch::kBlackwell, "", "575.32"), "NV_GPU_CC_DRIVER_GB100_575.32");
  EXPECT_EQ(*DriverRimId(GpuArch::kBlackwell, "gb202", "595.58.03"),
            "NV_GPU_CC_DRIVER_GB202_595.58.03");
  EXPECT_EQ(*VbiosRimId("1010", "0200", "882", "96.00.5E.00.01"),
            "NV_GPU_VBIOS_1010_0200_882_96005E0001");
  EXPECT_EQ(*VbiosRimId(std::string("G520\0\0", 6), "0280", "895", "96.00.d9.00.02"),
            "NV_GPU_VBIOS_G520_0280_895_9600D90002");
  EXPECT_EQ(*VbiosRimId("G525", "0220", "886", "97.00.88.00.0F"),
            "NV_GPU_VBIOS_G525_0220_886_970088000F");
}

TEST(RimIds, RejectsUnsafeFields) {
  for (const absl::StatusOr<std::string>& id :
       {DriverRimId(GpuArch::kHopper, "", ""), DriverRimId(GpuArch::kHopper, "", "../etc"),
        DriverRimId(GpuArch::kHopper, "", "5/0"), DriverRimId(GpuArch::kBlackwell, "GB_2", "1.0"),
        VbiosRimId("10 10", "0200", "882", "96.00"), VbiosRimId("1010", "", "882", "96.00"),
        VbiosRimId("1010", "0200", "882", "..."), VbiosRimId("1010", "0200", "882", "96-00")}) {
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(ReasonOf(id.status()), reason::kRimIdInvalid) << id.status();
  }
}

TEST(RimIds, KeysAndValidity) {
  EXPECT_EQ(RimCollateralKey("NV_GPU_DRIVER_GH100_545.00"),
            "nvidia/rims/NV_GPU_DRIVER_GH100_545.00.xml");
  EXPECT_TRUE(IsValidRimId("NV_GPU_VBIOS_1010_0200_882_96005E0001"));
  EXPECT_FALSE(IsValidRimId("nv_gpu"));
  EXPECT_FALSE(IsValidRimId("NV_A..B"));
  EXPECT_FALSE(IsValidRimId("NV_A/B"));
  EXPECT_FALSE(IsValidRimId(std::string(200, 'N')));
}

TEST(RimServiceUrl, Mapping) {
  EXPECT_EQ(**NvidiaRimServiceUrlForKey("https://rim.attestation.nvidia.com/",
                                        "nvidia/rims/NV_GPU_DRIVER_GH100_550.144.03.xml"),
            "https://rim.attestation.nvidia.com/v1/rim/NV_GPU_DRIVER_GH100_550.144.03");
  EXPECT_FALSE(NvidiaRimServiceUrlForKey("https://x", "amd/Milan/crl.der")->has_value());
  EXPECT_FALSE(NvidiaRimServiceUrlForKey("https://x", "nvidia/rims/NV_A.der").ok());
  EXPECT_FALSE(NvidiaRimServiceUrlForKey("https://x", "nvidia/rims/nv_lower.xml").ok());
  EXPECT_FALSE(NvidiaRimServiceUrlForKey("ftp://x", "nvidia/rims/NV_A.xml").ok());
}

std::string ServiceJson(const std::string& id, const std::string& xml) {
  return nlohmann::json{{"id", id},
                        {"rim", Base64Encode(AsBytes(xml))},
                        {"sha256", "00"},
                        {"request_id", "r-1"},
                        {"rim_format", "SWID"}}
      .dump();
}

class RimServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = TestingHttpServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto fetcher = collateral::CurlHttpFetcher::Create({});
    ASSERT_TRUE(fetcher.ok());
    fetcher_ = std::move(*fetcher);
    NvidiaRimServiceOptions o;
    o.base_url = server_->base_url();
    o.limits.rate_per_second = 0;
    auto source = CreateNvidiaRimServiceSource(o, *fetcher_, clock_);
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
  }
  void Serve(const std::string& id, const std::string& body, int status = 200) {
    TestResponse r;
    r.status = status;
    r.body = body;
    r.content_type = "application/json";
    server_->SetResponse("/v1/rim/" + id, r);
  }

  FakeClock clock_{At20250115()};
  std::unique_ptr<TestingHttpServer> server_;
  std::unique_ptr<collateral::CurlHttpFetcher> fetcher_;
  std::unique_ptr<collateral::HttpCollateralSource> source_;
};

TEST_F(RimServiceTest, ServesTheXmlOfTheJson) {
  const std::string xml = ReadRim("store_545.00_testnogpu/NV_GPU_DRIVER_GH100_545.00.xml");
  Serve("NV_GPU_DRIVER_GH100_545.00", ServiceJson("NV_GPU_DRIVER_GH100_545.00", xml));
  auto item = source_->GetItem("nvidia/rims/NV_GPU_DRIVER_GH100_545.00.xml", {});
  ASSERT_TRUE(item.ok()) << item.status();
  ASSERT_TRUE(item->has_value());
  EXPECT_EQ(ToString((*item)->data), xml);
  EXPECT_EQ((*item)->source, "nvidia-rim");
  EXPECT_EQ(server_->LastRequestUri(), "/v1/rim/NV_GPU_DRIVER_GH100_545.00");
}

TEST_F(RimServiceTest, IdMismatchIsRefused) {
  const std::string xml = ReadRim("store_545.00_testnogpu/NV_GPU_DRIVER_GH100_545.00.xml");
  Serve("NV_GPU_DRIVER_GH100_545.00", ServiceJson("NV_GPU_DRIVER_GH100_550.00", xml));
  auto item = source_->GetItem("nvidia/rims/NV_GPU_DRIVER_GH100_545.00.xml", {});
  ASSERT_FALSE(item.ok());
  EXPECT_THAT(std::string(item.status().message()), HasSubstr("RIM_ID_MISMATCH"));
}

TEST_F(RimServiceTest, NotFoundAndErrors) {
  auto missing = source_->GetItem("nvidia/rims/NV_GPU_DRIVER_GH100_1.0.xml", {});
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  Serve("NV_GPU_DRIVER_GH100_2.0", "oops", 500);
  auto down = source_->GetItem("nvidia/rims/NV_GPU_DRIVER_GH100_2.0.xml", {});
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);

  Serve("NV_GPU_DRIVER_GH100_3.0", "<html>captive portal</html>");
  auto portal = source_->GetItem("nvidia/rims/NV_GPU_DRIVER_GH100_3.0.xml", {});
  EXPECT_EQ(portal.status().code(), absl::StatusCode::kUnavailable);

  Serve("NV_GPU_DRIVER_GH100_4.0", ServiceJson("NV_GPU_DRIVER_GH100_4.0", "<not-a-rim/>"));
  auto junk = source_->GetItem("nvidia/rims/NV_GPU_DRIVER_GH100_4.0.xml", {});
  EXPECT_EQ(junk.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(junk.status().message()), HasSubstr("RIM_MALFORMED"));

  nlohmann::json no_rim = {{"id", "NV_GPU_DRIVER_GH100_5.0"}};
  Serve("NV_GPU_DRIVER_GH100_5.0", no_rim.dump());
  EXPECT_FALSE(source_->GetItem("nvidia/rims/NV_GPU_DRIVER_GH100_5.0.xml", {}).ok());
}

TEST_F(RimServiceTest, EndToEndAppraisalOverTheService) {
  Serve("NV_GPU_DRIVER_GH100_545.00",
        ServiceJson("NV_GPU_DRIVER_GH100_545.00",
                    ReadRim("store_545.00_testnogpu/NV_GPU_DRIVER_GH100_545.00.xml")));
  Serve("NV_GPU_VBIOS_1010_0200_882_96005E0001",
        ServiceJson("NV_GPU_VBIOS_1010_0200_882_96005E0001",
                    ReadRim("store_545.00_testnogpu/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml")));
  RimInputs in;
  in.driver_version = "545.00";
  in.vbios_version = "96.00.5E.00.01";
  in.project = "1010";
  in.project_sku = "0200";
  in.chip_sku = "882";
  in.nvdec0_enabled = false;
  in.measurements =
      MeasurementsFromReportHex(ReadRim("report/h100_drv545.00_vbios96005E0001_report.hex"));
  core::DeviceResult out;
  ASSERT_TRUE(AppraiseGpuMeasurements(in, {}, {At20250115(), source_.get()}, out).ok());
  EXPECT_EQ(Outcome(out, "nvidia.measurements"), "pass/OK");
  EXPECT_EQ(out.claims["driver_rim"]["source"], "nvidia-rim");

  // A service that answers with another id: the appraisal fails, it does not retry.
  Serve("NV_GPU_VBIOS_1010_0200_882_96005E0001",
        ServiceJson("NV_GPU_VBIOS_1010_0200_882_96005E0003",
                    ReadRim("vbios/NV_GPU_VBIOS_1010_0200_882_96005E0003.xml")));
  core::DeviceResult out2;
  ASSERT_TRUE(AppraiseGpuMeasurements(in, {}, {At20250115(), source_.get()}, out2).ok());
  EXPECT_EQ(Outcome(out2, "nvidia.vbios_rim.signature"), "fail/RIM_ID_MISMATCH");
}

}  // namespace
}  // namespace rp::nvidia::rim
