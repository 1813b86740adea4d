#include "appraisal/collateral_stack.h"

#include "verifier/sev_snp/verifier.h"

#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/collateral/amd_kds_source.h"
#include "verifier/collateral/cache.h"
#include "verifier/collateral/chained_source.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/intel_pcs_source.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/sev_snp/layout.h"
#include "verifier/sev_snp/report.h"

namespace rp::appraisal {
namespace {

using attestation::v1::CollateralConfig;

template <typename T>
T Or(T value, T fallback) {
  return value == T{} ? fallback : value;
}

// Owns every piece; the aliasing shared_ptrs returned to callers point into
// it and keep it alive. Members are destroyed bottom-up, so the sources go
// before the fetcher and clock they reference.
struct StackHolder {
  std::unique_ptr<FakeClock> fixed_clock;
  std::unique_ptr<collateral::HttpFetcher> fetcher;
  std::shared_ptr<const collateral::CollateralSource> top;
  std::unique_ptr<collateral::HttpOcspFetcher> ocsp;
};

// Cache caps from the config; 0 keeps CacheOptions' default.
void ApplyCacheCaps(const CollateralConfig& config, collateral::CacheOptions& co) {
  auto cap = [](int64_t value, auto fallback) {
    return value > 0 ? static_cast<decltype(fallback)>(value) : fallback;
  };
  co.max_memory_entries = cap(config.cache_max_memory_entries(), co.max_memory_entries);
  co.max_memory_bytes = cap(config.cache_max_memory_bytes(), co.max_memory_bytes);
  co.max_negative_entries = cap(config.cache_max_negative_entries(), co.max_negative_entries);
  co.max_disk_bytes = cap(config.cache_max_disk_bytes(), co.max_disk_bytes);
  co.max_disk_files = cap(config.cache_max_disk_files(), co.max_disk_files);
}

collateral::HttpFetcherOptions FetcherOptions(const CollateralConfig& config) {
  collateral::HttpFetcherOptions fo;
  fo.connect_timeout = absl::Milliseconds(
      Or<int64_t>(config.connect_timeout_ms(), kDefaultCollateralConnectTimeoutMs));
  fo.total_timeout =
      absl::Milliseconds(Or<int64_t>(config.timeout_ms(), kDefaultCollateralTimeoutMs));
  fo.max_response_bytes = static_cast<size_t>(
      Or<int64_t>(config.max_response_bytes(), kMaxCollateralResponseBytes));
  fo.proxy = config.proxy();
  fo.ca_file = config.ca_file();
  return fo;
}

}  // namespace

absl::StatusOr<CollateralStack> BuildCollateralStack(const CollateralConfig& config,
                                                     const std::string& offline_dir,
                                                     std::optional<absl::Time> cache_time,
                                                     collateral::CollateralObserver& observer) {
  auto holder = std::make_shared<StackHolder>();
  const Clock& real = Clock::Real();
  const Clock* cache_clock = &real;
  if (cache_time.has_value()) {
    holder->fixed_clock = std::make_unique<FakeClock>(*cache_time);
    cache_clock = holder->fixed_clock.get();
  }
  const absl::Duration max_ttl = absl::Seconds(
      Or<int64_t>(config.max_ttl_seconds(), kDefaultCollateralMaxTtlSeconds));
  const absl::Duration negative_ttl = absl::Seconds(
      Or<int64_t>(config.negative_ttl_seconds(), kDefaultCollateralNegativeTtlSeconds));

  std::vector<std::string> order(config.source_order().begin(), config.source_order().end());
  if (order.empty()) order = {"offline", "kds", "pcs"};

  auto fetcher = [&]() -> absl::StatusOr<const collateral::HttpFetcher*> {
    if (holder->fetcher == nullptr) {
      ASSIGN_OR_RETURN(std::unique_ptr<collateral::CurlHttpFetcher> f,
                       collateral::CurlHttpFetcher::Create(FetcherOptions(config)));
      holder->fetcher = std::move(f);
    }
    return holder->fetcher.get();
  };

  std::vector<std::shared_ptr<const collateral::CollateralSource>> sources;
  std::shared_ptr<const collateral::CollateralSource> offline;
  bool uses_network = false;
  for (const std::string& name : order) {
    if (name == "offline") {
      if (!offline_dir.empty()) {
        offline = std::make_shared<collateral::OfflineDirectorySource>(offline_dir);
        sources.push_back(offline);
      }
    } else if (name == "kds") {
      if (config.offline()) continue;
      ASSIGN_OR_RETURN(const collateral::HttpFetcher* f, fetcher());
      collateral::AmdKdsOptions ko;
      ko.base_url = config.kds_base_url().empty() ? std::string(kDefaultKdsBaseUrl)
                                                  : config.kds_base_url();
      const auto& k = config.kds();
      ko.limits.rate_per_second = Or(k.rate_per_second(), kDefaultKdsRatePerSecond);
      ko.limits.burst = Or(k.burst(), kDefaultKdsBurst);
      ko.limits.max_concurrency = Or(k.max_concurrency(), kDefaultKdsMaxConcurrency);
      ko.limits.breaker_failure_threshold =
          Or(k.breaker_threshold(), kDefaultKdsBreakerThreshold);
      ko.limits.breaker_cooldown = absl::Seconds(
          Or<int64_t>(k.breaker_cooldown_seconds(), kDefaultKdsBreakerCooldownSeconds));
      ko.limits.max_token_wait = absl::Milliseconds(k.max_token_wait_ms());
      ASSIGN_OR_RETURN(std::unique_ptr<collateral::HttpCollateralSource> kds,
                       collateral::CreateAmdKdsSource(ko, *f, real, observer));
      sources.push_back(std::move(kds));
      uses_network = true;
    } else if (name == "pcs") {
      if (config.offline()) continue;
      ASSIGN_OR_RETURN(const collateral::HttpFetcher* f, fetcher());
      collateral::IntelPcsOptions po;
      if (!config.intel_pcs_base_url().empty()) {
        po.base_url = config.intel_pcs_base_url();
        if (po.base_url != collateral::kIntelPcsDefaultBaseUrl) po.name = "pccs";
      }
      if (!config.intel_root_ca_crl_url().empty()) {
        po.root_ca_crl_url = config.intel_root_ca_crl_url();
      }
      ASSIGN_OR_RETURN(std::unique_ptr<collateral::HttpCollateralSource> pcs,
                       collateral::CreateIntelPcsSource(po, *f, real, observer));
      sources.push_back(std::move(pcs));
      uses_network = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("collateral source_order has '", name, "', must be offline, kds or pcs"));
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
  // A cache in front of upstreams always (memory at least); in front of a
  // purely offline stack only when a cache directory is asked for.
  if (uses_network || !config.cache_dir().empty()) {
    collateral::CacheOptions co;
    co.disk_dir = config.cache_dir();
    co.max_ttl = max_ttl;
    co.negative_ttl = negative_ttl;
    ApplyCacheCaps(config, co);
    ASSIGN_OR_RETURN(std::unique_ptr<collateral::CachingSource> cache,
                     collateral::CachingSource::Create(co, std::move(top), *cache_clock, observer));
    top = std::move(cache);
  }
  holder->top = std::move(top);

  // OCSP (NVIDIA device and RIM chains): offline directory and cache first,
  // then the responder unless the stack is offline.
  collateral::OcspFetcherOptions oo;
  oo.cache.disk_dir = config.cache_dir();
  oo.cache.max_ttl = max_ttl;
  oo.cache.negative_ttl = negative_ttl;
  ApplyCacheCaps(config, oo.cache);
  const collateral::HttpFetcher* ocsp_http = nullptr;
  if (!config.offline()) {
    ASSIGN_OR_RETURN(ocsp_http, fetcher());
  }
  ASSIGN_OR_RETURN(holder->ocsp, collateral::HttpOcspFetcher::Create(oo, offline, ocsp_http,
                                                                    *cache_clock, observer));

  CollateralStack out;
  out.nvidia_ocsp_url =
      config.nvidia_ocsp_url().empty() ? std::string(kDefaultNvidiaOcspUrl) : config.nvidia_ocsp_url();
  if (config.offline()) out.nvidia_ocsp_url.clear();
  const collateral::CollateralSource* raw = holder->top.get();
  const collateral::OcspFetcher* raw_ocsp = holder->ocsp.get();
  out.source = std::shared_ptr<const collateral::CollateralSource>(holder, raw);
  out.ocsp = std::shared_ptr<const collateral::OcspFetcher>(std::move(holder), raw_ocsp);
  return out;
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

}  // namespace rp::appraisal
