// attestation-server: the only place that builds real implementations
// (clock, replay store, keys, verifiers, collateral source, sockets).
//
// The HTTP port also serves the REST face (docs/rest.md): POST /v1/challenge,
// /v1/attest and /v1/tokens:verify, through the same service object.
//
//   attestation-server --config FILE [--listen host:port]
//       [--http-listen host:port] [--metrics-listen host:port] [--port-file F]
//
// SIGTERM / SIGINT: readiness and health go NOT_SERVING, in-flight RPCs get
// up to 5 s, then the HTTP port stops, the audit log is flushed and the
// process exits 0. SIGHUP reloads the policy files (as does a change to
// them, polled every policy_reload_interval_ms): atomically, and a broken
// file keeps the old policies.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "appraisal/collateral_stack.h"
#include "server/verified_memo_metrics.h"
#include "verifier/crypto/verified_memo.h"
#include "server/collateral_metrics.h"
#include "nlohmann/json.hpp"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "admission/fleet/fleet_metrics.h"
#include "admission/fleet/node_store.h"
#include "admission/fleet/registry.h"
#include "admission/fleet/sync_loop.h"
#include "admission/webhook.h"
#include "policy/release_rules.h"
#include "server/admission_http.h"
#include "server/audit.h"
#include "server/fleet_config.h"
#include "server/config.h"
#include "server/grpc_server.h"
#include "server/key_release.h"
#include "server/http_server.h"
#include "server/limits/challenge_budget.h"
#include "server/limits/inflight_limiter.h"
#include "server/limits/rate_limiter.h"
#include "server/metrics.h"
#include "server/nonce/nonce_service.h"
#include "server/nonce/replay_store.h"
#include "server/policy_access.h"
#include "server/policy_store.h"
#include "server/rest_api.h"
#include "server/service.h"
#include "server/redis/redis_node_store.h"
#include "server/shared_state.h"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"

namespace rp::server {
namespace {

constexpr absl::Duration kShutdownGrace = absl::Seconds(5);

void Log(const std::string& line) {
  std::cerr << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                absl::UTCTimeZone())
            << " attestation-server: " << line << std::endl;
}

int Fail(const absl::Status& status) {
  Log(absl::StrCat("fatal: ", status.ToString()));
  return 1;
}

// Written via a temporary file and rename, so a reader polling for the file
// never sees it half-written.
absl::Status WritePortFile(const std::string& path, int grpc_port,
                           int http_port, int metrics_port, int admission_port) {
  const nlohmann::json j = {{"grpc", grpc_port},
                            {"http", http_port},
                            {"metrics", metrics_port},
                            {"admission", admission_port}};  // 0: webhook off
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump() << "\n";
    out.close();
    if (!out) {
      return absl::UnavailableError(
          absl::StrCat("cannot write port file ", tmp));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  }
  return absl::OkStatus();
}

std::string HostOf(const std::string& listen) {
  auto hp = ParseHostPort(listen);
  return hp.ok() ? hp->host : listen;
}

int Run(int argc, char** argv, const sigset_t& stop_signals) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cl = ParseCommandLine(args);
  if (!cl.ok()) {
    std::cerr << cl.status().message() << "\n" << Usage() << std::endl;
    return 2;
  }
  auto config_or = LoadServerConfig(cl->config_path);
  if (!config_or.ok()) {
    return Fail(config_or.status());
  }
  attestation::v1::ServerConfig config = *std::move(config_or);
  if (cl->listen) {
    config.set_listen(*cl->listen);
  }
  if (cl->http_listen) {
    config.set_http_listen(*cl->http_listen);
  }
  if (cl->metrics_listen) {
    config.set_metrics_listen(*cl->metrics_listen);
  }
  if (auto st = ValidateServerConfig(config); !st.ok()) {
    return Fail(st);
  }
  // Before any key is read: secrets readable by group/other are refused.
  if (auto st = CheckSecretFilePermissions(config); !st.ok()) {
    return Fail(st);
  }
  auto policy_access = PolicyAccess::Create(config.policy_clients());
  if (!policy_access.ok()) {
    return Fail(policy_access.status());
  }

  Clock& clock = Clock::Real();
  Metrics metrics;
  std::vector<IpNetwork> trusted_proxies;
  for (const std::string& cidr : config.trusted_proxies()) {
    trusted_proxies.push_back(*IpNetwork::Parse(cidr));  // validated above
  }

  // Single-use records and per-peer limits: in memory, or on Redis shared by
  // every replica (docs/scale-out.md).
  auto shared_state = SharedState::Open(config, clock, *metrics.registry(),
                                        [](const std::string& line) { Log(line); });
  if (!shared_state.ok()) {
    return Fail(shared_state.status());
  }

  // Challenges.
  auto hmac_key = nonce::LoadOrGenerateHmacKey(config.nonce().hmac_key_file());
  if (!hmac_key.ok()) {
    return Fail(hmac_key.status());
  }
  auto nonces = nonce::NonceService::Create(
      *std::move(hmac_key), absl::Seconds(config.nonce().lifetime_seconds()),
      clock, (*shared_state)->nonces());
  if (!nonces.ok()) {
    return Fail(nonces.status());
  }
  // Limits (docs/hardening.md): per-peer token buckets, and no more
  // unexpired challenges out than the replay store can record.
  limits::RequestLimiter limiter((*shared_state)->rate_limits(),
                                 RequestLimitsFromConfig(config.limits()));
  limits::ChallengeBudget challenge_budget(config.nonce().max_outstanding_challenges(),
                                           absl::Seconds(config.nonce().lifetime_seconds()),
                                           clock);
  // Admission control for the expensive RPCs (Attest, key release): bounded
  // running and waiting requests, SERVER_BUSY beyond (docs/hardening.md).
  limits::InflightLimiter inflight(InflightLimitsFromConfig(config.limits()),
                                   [&metrics](int in_flight, int queued) {
                                     metrics.SetAdmission(in_flight, queued);
                                   });

  // Tokens.
  auto keys = token::KeyManager::Create(config.token());
  if (!keys.ok()) {
    return Fail(keys.status());
  }
  auto tokens = token::TokenIssuer::Create(config.token(), clock, **keys);
  if (!tokens.ok()) {
    return Fail(tokens.status());
  }

  CollateralMetrics collateral_metrics(*metrics.registry());

  // Verification and appraisal.
  appraisal::RegistryOptions registry_options;
  registry_options.offline = !config.has_collateral() || config.collateral().offline();
  if (!registry_options.offline) {
    registry_options.nvidia_ocsp_url = config.collateral().nvidia_ocsp_url().empty()
                                           ? std::string(appraisal::kDefaultNvidiaOcspUrl)
                                           : config.collateral().nvidia_ocsp_url();
  }
  auto registry = appraisal::MakeDefaultRegistry(config.simulation(), registry_options);
  if (!registry.ok()) {
    return Fail(registry.status());
  }
  std::shared_ptr<const collateral::CollateralSource> collateral;
  std::shared_ptr<const collateral::OcspFetcher> ocsp;
  if (!config.collateral_dir().empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(config.collateral_dir(), ec)) {
      return Fail(absl::NotFoundError(absl::StrCat(
          "collateral_dir ", config.collateral_dir(), " is not a directory")));
    }
  }
  {
    // Online collateral when configured (collateral_dir, AMD KDS, Intel PCS
    // or a PCCS in source_order, behind the cache); otherwise collateral_dir
    // only and never the network. Shared with attestctl
    // (appraisal/collateral_stack.h).
    attestation::v1::CollateralConfig cc = config.collateral();
    if (!config.has_collateral()) cc.set_offline(true);
    auto stack = appraisal::BuildCollateralStack(cc, config.collateral_dir(), std::nullopt,
                                           collateral_metrics);
    if (!stack.ok()) {
      return Fail(stack.status());
    }
    collateral = stack->source;
    ocsp = stack->ocsp;
  }
  Log(absl::StrCat("collateral: ", collateral->Describe()));
  auto engine = appraisal::Engine::Create(*std::move(registry), collateral, ocsp);
  if (!engine.ok()) {
    return Fail(engine.status());
  }
  // Policies: the default (policy_file or built-in) plus policy_files,
  // reloaded atomically on change or SIGHUP; a broken file changes nothing.
  PolicyStoreOptions policy_options;
  policy_options.default_file = config.policy_file();
  policy_options.files.assign(config.policy_files().begin(), config.policy_files().end());
  policy_options.log = [](const std::string& line) { Log(line); };
  policy_options.on_reload = [&metrics](bool ok) { metrics.CountPolicyReload(ok); };
  auto policies = PolicyStore::Create(std::move(policy_options));
  if (!policies.ok()) {
    return Fail(policies.status());
  }
  const int64_t reload_ms = config.policy_reload_interval_ms() == 0
                                ? 2000
                                : config.policy_reload_interval_ms();
  if (reload_ms > 0) (*policies)->StartWatching(absl::Milliseconds(reload_ms));

  // Observability.
  std::unique_ptr<AuditLog> audit;
  if (!config.audit_log().empty()) {
    auto opened = AuditLog::Open(config.audit_log());
    if (!opened.ok()) {
      return Fail(opened.status());
    }
    audit = *std::move(opened);
  }
  // Verified-object memo (verifier/crypto/verified_memo.h): configured before
  // the first request, its counters mirrored into /metrics on every scrape.
  crypto::MemoOptions memo_options;
  memo_options.enabled = !config.verified_memo().disabled();
  memo_options.max_entries = static_cast<size_t>(config.verified_memo().max_entries());
  memo_options.max_bytes = static_cast<uint64_t>(config.verified_memo().max_bytes());
  crypto::ConfigureVerifiedMemo(memo_options);
  VerifiedMemoMetrics memo_metrics(*metrics.registry());
  auto exposer = MetricsExposer::Start(config.metrics_listen(), metrics.registry(), HttpLimits{},
                                       [&memo_metrics, &state = **shared_state] {
                                         memo_metrics.Refresh();
                                         state.RefreshMetrics();
                                       });
  if (!exposer.ok()) {
    return Fail(exposer.status());
  }

  // Fleet node registry (docs/admission.md): records written by Attest,
  // read from its in-memory view by GET /v1/nodes and the admission webhook.
  // The store is memory; a shared store (NodeStore) plugs in here.
  admission::fleet::InMemoryNodeStore memory_node_store(
      static_cast<size_t>(config.fleet().max_nodes()));
  admission::fleet::NodeStore* node_store = &memory_node_store;
  // With Redis the replicas share one registry (each answers from its view).
  std::unique_ptr<redis::RedisNodeStore> redis_node_store;
  if ((*shared_state)->shared()) {
    redis_node_store = std::make_unique<redis::RedisNodeStore>(
        *(*shared_state)->client(), (*shared_state)->key_prefix(),
        static_cast<size_t>(config.fleet().max_nodes()));
    node_store = redis_node_store.get();
  }
  auto fleet = admission::fleet::FleetRegistry::Create(FleetOptionsFromConfig(config.fleet()),
                                                       *node_store, clock);
  if (!fleet.ok()) {
    return Fail(fleet.status());
  }
  admission::fleet::FleetMetrics fleet_metrics(*metrics.registry());
  admission::fleet::FleetSyncLoop fleet_sync(**fleet, &fleet_metrics,
                                             absl::Milliseconds(config.fleet().sync_interval_ms()),
                                             [](const std::string& line) { Log(line); });

  // The service both faces call (gRPC below, REST on the HTTP port).
  const token::KeyManager& key_manager = **keys;
  ServiceDeps deps{clock,    **nonces,   **tokens, key_manager,
                   **engine, **policies, &metrics, audit.get(),
                   &limiter, &challenge_budget, &*policy_access, trusted_proxies};
  deps.fleet = fleet->get();
  deps.inflight = &inflight;
  AttestationServiceImpl service(deps,
                                 ServiceOptions{config.max_request_bytes()});
  // REST (docs/rest.md): JSON bodies up to twice max_request_bytes (the
  // parsed message is then held to max_request_bytes, as on gRPC, whose
  // transport limit is also 2x).
  RestApiOptions rest_options;
  rest_options.max_body_bytes = static_cast<size_t>(2 * config.max_request_bytes());
  rest_options.issuer = (*tokens)->issuer();
  rest_options.fleet = fleet->get();
  RestApi rest(service, key_manager, clock, rest_options);

  // Key release (docs/key-release.md): configured resources, a secret
  // store, the release checks; on gRPC and REST. Off without resources.
  std::unique_ptr<release::SecretStore> secret_store;
  std::unique_ptr<release::ReleaseService> release_service;
  std::unique_ptr<KeyReleaseFace> release_face;
  std::unique_ptr<KeyReleaseServiceImpl> release_grpc;
  ServerTokenAuthority token_authority(key_manager, (*tokens)->issuer());
  ReplayJtiStore jti_store((*shared_state)->token_ids());
  if (config.key_release().resources_size() > 0) {
    auto resources = release::LoadResources(
        config.key_release(), (*policies)->Current()->default_policy().id);
    if (!resources.ok()) return Fail(resources.status());
    auto store = OpenConfiguredSecretStore(config.key_release().store());
    if (!store.ok()) return Fail(store.status());
    secret_store = *std::move(store);
    const int64_t leeway_s =
        config.key_release().leeway_seconds() > 0 ? config.key_release().leeway_seconds() : 30;
    auto svc = release::ReleaseService::Create(
        release::ReleaseService::Deps{clock, token_authority, jti_store, *secret_store,
                                      PolicyResolverFor(**policies)},
        *std::move(resources), absl::Seconds(leeway_s));
    if (!svc.ok()) return Fail(svc.status());
    release_service = *std::move(svc);
    KeyReleaseFace::Deps face_deps{*release_service, service, &metrics, audit.get(), clock};
    face_deps.max_attest_body_bytes = rest_options.max_body_bytes;
    release_face = std::make_unique<KeyReleaseFace>(face_deps);
    release_grpc = std::make_unique<KeyReleaseServiceImpl>(*release_face, trusted_proxies);
    Log(absl::StrCat("key release: ", release_service->resources().size(),
                     " resource(s), store ", secret_store->Describe()));
  }

  // Kubernetes admission webhook (docs/admission.md): HTTPS POST
  // /k8s/validate on its own port, answered from the fleet view and the
  // current policy snapshot only (no outbound call on the request path).
  std::unique_ptr<admission::AdmissionWebhook> webhook;
  std::unique_ptr<BoundedHttpServer> admission_server;
  if (!config.admission().listen().empty()) {
    const attestation::v1::AdmissionConfig& ac = config.admission();
    admission::WebhookOptions wo;
    wo.runtime_classes.insert(ac.runtime_classes().begin(), ac.runtime_classes().end());
    wo.rule = ac.rule();
    wo.initdata.max_toml_bytes = static_cast<size_t>(ac.max_initdata_bytes());
    wo.metrics = metrics.registry().get();
    PolicyStore* policy_store = policies->get();
    const std::string admission_policy = ac.policy();  // "" = the default policy
    auto current_policy = [policy_store,
                           admission_policy]() -> std::shared_ptr<const policy::LoadedPolicy> {
      std::shared_ptr<const PolicySet> set = policy_store->Current();
      const policy::LoadedPolicy* p = set->Find(admission_policy);
      if (p == nullptr) return nullptr;
      return std::shared_ptr<const policy::LoadedPolicy>(set, p);  // keeps the snapshot alive
    };
    if (auto p = current_policy(); p == nullptr) {
      Log(absl::StrCat("admission: policy '", admission_policy,
                       "' is not loaded: the webhook answers 503 until it is"));
    } else if (policy::FindReleaseRule(p->policy, ac.rule()) == nullptr) {
      Log(absl::StrCat("admission: policy ", p->id, " has no release rule '", ac.rule(),
                       "': bindings are answered 503 until it does"));
    }
    webhook = std::make_unique<admission::AdmissionWebhook>(
        wo, admission::WebhookDeps{**fleet, current_policy});
    AdmissionServerOptions ao;
    ao.listen = ac.listen();
    ao.tls = ac.tls();
    ao.max_body_bytes = static_cast<size_t>(ac.max_body_bytes());
    auto started = StartAdmissionServer(ao, *webhook);
    if (!started.ok()) {
      return Fail(started.status());
    }
    admission_server = *std::move(started);
  }

  // HTTP first, so that /readyz answers 503 while the rest starts.
  std::atomic<bool> ready{false};
  HttpServerOptions http_options;
  http_options.listen = config.http_listen();
  http_options.tls = config.http_tls();  // empty => plain HTTP
  http_options.trusted_proxies = trusted_proxies;
  http_options.ready = [&ready] { return ready.load(); };
  http_options.jwks_json = [&key_manager] { return key_manager.JwksJson(); };
  http_options.issuer = (*tokens)->issuer();
  http_options.signing_algorithm =
      std::string(token::JwsAlgorithmName(key_manager.algorithm()));
  http_options.endpoints = rest.Endpoints();
  if (release_face != nullptr) {
    for (HttpEndpoint& e : release_face->Endpoints()) {
      http_options.endpoints.push_back(std::move(e));
    }
  }
  http_options.error_reply = ServerErrorProblem;
  // Room for a few maximal bodies at once; beyond it 503 + Retry-After.
  http_options.limits.max_inflight_body_bytes =
      std::max<size_t>(http_options.limits.max_inflight_body_bytes,
                       4 * rest_options.max_body_bytes);
  if (config.http_behind_tls_proxy()) {
    // Every REST client arrives from the proxy's address: one rate-limit
    // bucket for all, and policy_clients `peers` entries match the proxy.
    Log("http: behind a TLS proxy, REST clients are keyed by the proxy's address "
        "(rate limits, policy_clients peers); prefer http_tls with client_ca_file");
  }
  auto http = HttpServer::Start(std::move(http_options));
  if (!http.ok()) {
    return Fail(http.status());
  }

  GrpcServerOptions grpc_options;
  grpc_options.listen = config.listen();
  grpc_options.tls = config.tls();
  grpc_options.max_request_bytes = config.max_request_bytes();
  grpc_options.memory_bytes = config.limits().grpc_memory_bytes();
  grpc_options.max_threads = config.limits().grpc_max_threads();
  grpc_options.max_concurrent_streams = config.limits().grpc_max_concurrent_streams();
  grpc_options.enable_reflection = ReflectionEnabled(config);
  if (release_grpc != nullptr) grpc_options.extra_services.push_back(release_grpc.get());
  auto grpc_server = StartGrpcServer(grpc_options, &service);
  if (!grpc_server.ok()) {
    return Fail(grpc_server.status());
  }
  grpc::Server* server = grpc_server->server.get();

  // Signals are blocked in every thread (main blocked them before any thread
  // existed); this thread takes them synchronously, so no async-signal
  // safety concerns arise.
  PolicyStore* store = policies->get();
  std::thread watcher([&stop_signals, &ready, server, store] {
    int sig = 0;
    while (true) {
      if (sigwait(&stop_signals, &sig) != 0) continue;
      if (sig != SIGHUP) break;
      Log("SIGHUP: reloading policies");
      store->RequestReload();
    }
    Log(absl::StrCat("signal ", sig, ", shutting down"));
    ready.store(false);
    SetServing(server, false);
    server->Shutdown(absl::ToChronoTime(absl::Now() + kShutdownGrace));
    Log("grpc stopped");
  });

  ready.store(true);
  if (!cl->port_file.empty()) {
    if (auto st = WritePortFile(cl->port_file, grpc_server->port, (*http)->port(),
                                (*exposer)->port(),
                                admission_server != nullptr ? admission_server->port() : 0);
        !st.ok()) {
      Log(st.ToString());  // keep serving; the operator sees why
    }
  }
  Log(absl::StrCat(
      "serving grpc=", HostOf(config.listen()), ":", grpc_server->port,
      config.tls().cert_file().empty()
          ? " (insecure)"
          : (config.tls().client_ca_file().empty() ? " (tls)" : " (mtls)"),
      " http=", HostOf(config.http_listen()), ":", (*http)->port(),
      " metrics=", HostOf(config.metrics_listen()), ":", (*exposer)->port(),
      admission_server != nullptr
          ? absl::StrCat(" admission=", HostOf(config.admission().listen()), ":",
                         admission_server->port())
          : std::string(),
      " environment=", config.environment(),
      " reflection=", grpc_options.enable_reflection ? "on" : "off",
      " limits: GetChallenge ", config.limits().get_challenge().rate_per_second(), "/s burst ",
      config.limits().get_challenge().burst(), ", Attest ",
      config.limits().attest().rate_per_second(), "/s burst ", config.limits().attest().burst(),
      " per client, max_outstanding_challenges=", config.nonce().max_outstanding_challenges(),
      " admission: max_in_flight=", config.limits().max_in_flight(),
      " max_queued=", std::max(0, config.limits().max_queued()),
      " max_queue_wait_ms=", config.limits().max_queue_wait_ms(),
      " grpc_max_threads=", config.limits().grpc_max_threads(),
      " policy=", PolicyRef((*policies)->Current()->default_policy()),
      " fleet=", node_store->Describe(), " simulation_root=",
      config.simulation().trust_simulation_root() ? "trusted" : "off"));

  server->Wait();
  watcher.join();
  (*http)->Stop();
  if (admission_server != nullptr) admission_server->Stop();
  exposer->reset();
  if (audit != nullptr) {
    audit->Flush();
  }
  Log("stopped");
  return 0;
}

}  // namespace
}  // namespace rp::server

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts so that all threads
  // inherit the mask and only the watcher's sigwait receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // policy reload, taken by the same thread
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return rp::server::Run(argc, argv, stop_signals);
}
