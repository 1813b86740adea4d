#include "cli/collateral_stack.h"

#include "verifier/sev_snp/verifier.h"

#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/config.h"
#include "verifier/collateral/amd_kds_source.h"
#include "verifier/collateral/cache.h"
#include "verifier/collateral/chained_source.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/sev_snp/layout.h"
#include "verifier/sev_snp/report.h"

namespace rp::cli {
namespace {

using attestation::v1::CollateralConfig;

template <typename T>
T Or(T value, T fallback) {
  return value == T{} ? fallback : value;
}

// Owns every piece; the aliasing shared_ptr returned to callers points at
// `top` and keeps the holder alive. Members are destroyed bottom-up, so the
// sources go before the fetcher and clock they reference.
struct StackHolder {
  std::unique_ptr<FakeClock> fixed_clock;
  std::unique_ptr<collateral::HttpFetcher> fetcher;
  std::shared_ptr<const collateral::CollateralSource> top;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const collateral::CollateralSource>> BuildCollateralStack(
    const CollateralConfig& config, const std::string& offline_dir,
    std::optional<absl::Time> cache_time, collateral::CollateralObserver& observer) {
  auto holder = std::make_shared<StackHolder>();
  const Clock& real = Clock::Real();
  const Clock* cache_clock = &real;
  if (cache_time.has_value()) {
    holder->fixed_clock = std::make_unique<FakeClock>(*cache_time);
    cache_clock = holder->fixed_clock.get();
  }

  std::vector<std::string> order(config.source_order().begin(), config.source_order().end());
  if (order.empty()) order = {"offline", "kds"};

  std::vector<std::shared_ptr<const collateral::CollateralSource>> sources;
  bool uses_kds = false;
  for (const std::string& name : order) {
    if (name == "offline") {
      if (!offline_dir.empty()) {
        sources.push_back(std::make_shared<collateral::OfflineDirectorySource>(offline_dir));
      }
    } else if (name == "kds") {
      if (config.offline()) continue;
      collateral::HttpFetcherOptions fo;
      fo.connect_timeout = absl::Milliseconds(
          Or<int64_t>(config.connect_timeout_ms(), server::kDefaultCollateralConnectTimeoutMs));
      fo.total_timeout = absl::Milliseconds(
          Or<int64_t>(config.timeout_ms(), server::kDefaultCollateralTimeoutMs));
      fo.max_response_bytes = static_cast<size_t>(
          Or<int64_t>(config.max_response_bytes(), server::kMaxCollateralResponseBytes));
      fo.proxy = config.proxy();
      fo.ca_file = config.ca_file();
      ASSIGN_OR_RETURN(std::unique_ptr<collateral::CurlHttpFetcher> fetcher,
                       collateral::CurlHttpFetcher::Create(fo));
      holder->fetcher = std::move(fetcher);
      collateral::AmdKdsOptions ko;
      ko.base_url = config.kds_base_url().empty() ? std::string(server::kDefaultKdsBaseUrl)
                                                  : config.kds_base_url();
      const auto& k = config.kds();
      ko.limits.rate_per_second = Or(k.rate_per_second(), server::kDefaultKdsRatePerSecond);
      ko.limits.burst = Or(k.burst(), server::kDefaultKdsBurst);
      ko.limits.max_concurrency = Or(k.max_concurrency(), server::kDefaultKdsMaxConcurrency);
      ko.limits.breaker_failure_threshold =
          Or(k.breaker_threshold(), server::kDefaultKdsBreakerThreshold);
      ko.limits.breaker_cooldown = absl::Seconds(
          Or<int64_t>(k.breaker_cooldown_seconds(), server::kDefaultKdsBreakerCooldownSeconds));
      ASSIGN_OR_RETURN(std::unique_ptr<collateral::HttpCollateralSource> kds,
                       collateral::CreateAmdKdsSource(ko, *holder->fetcher, real, observer));
      sources.push_back(std::move(kds));
      uses_kds = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("collateral source_order has '", name, "', must be offline or kds"));
    }
  }

  std::shared_ptr<const collateral::CollateralSource> top;
  if (sources.empty()) {
    top = std::make_shared<collateral::EmptySource>();
  } else if (sources.size() == 1) {
    top = sources.front();
  } else {
    ASSIGN_OR_RETURN(std::unique_ptr<collateral::ChainedSource> chained,
                     collateral::ChainedSource::Create(std::move(sources)));
    top = std::move(chained);
  }
  // A cache in front of KDS always (memory at least); in front of a purely
  // offline stack only when a cache directory is asked for.
  if (uses_kds || !config.cache_dir().empty()) {
    collateral::CacheOptions co;
    co.disk_dir = config.cache_dir();
    co.max_ttl = absl::Seconds(
        Or<int64_t>(config.max_ttl_seconds(), server::kDefaultCollateralMaxTtlSeconds));
    co.negative_ttl = absl::Seconds(Or<int64_t>(
        config.negative_ttl_seconds(), server::kDefaultCollateralNegativeTtlSeconds));
    ASSIGN_OR_RETURN(std::unique_ptr<collateral::CachingSource> cache,
                     collateral::CachingSource::Create(co, std::move(top), *cache_clock, observer));
    top = std::move(cache);
  }
  holder->top = std::move(top);
  const collateral::CollateralSource* raw = holder->top.get();
  return std::shared_ptr<const collateral::CollateralSource>(std::move(holder), raw);
}

absl::StatusOr<std::vector<std::string>> SnpCollateralKeys(
    const attestation::v1::EvidenceBundle& bundle) {
  if (!bundle.has_sev_snp() || bundle.sev_snp().report().empty()) {
    return absl::InvalidArgumentError("the bundle has no sev_snp report");
  }
  absl::StatusOr<sev_snp::SnpReport> parsed =
      sev_snp::ParseReportUnverified(AsBytes(bundle.sev_snp().report()));
  if (!parsed.ok()) return Annotate(parsed.status(), "sev_snp report");
  const sev_snp::SnpReport& r = *parsed;
  std::vector<sev_snp::Product> products;
  if (r.has_cpuid()) {
    products.push_back(r.ProductFromReport());
  } else {
    products = {sev_snp::Product::kMilan, sev_snp::Product::kGenoa, sev_snp::Product::kTurin};
  }
  const bool vlek = r.signing_key() == sev_snp::kSigningKeyVlek;
  std::vector<std::string> keys;
  for (sev_snp::Product p : products) {
    if (p == sev_snp::Product::kUnknown) {
      return absl::InvalidArgumentError("sev_snp report: unknown product (CPUID)");
    }
    keys.push_back(sev_snp::CertChainCollateralKey(p, vlek));
    keys.push_back(sev_snp::CrlCollateralKey(p, vlek));
    if (!vlek && !r.ChipIdIsZero()) keys.push_back(sev_snp::VcekCollateralKey(p, r));
  }
  return keys;
}

}  // namespace rp::cli
