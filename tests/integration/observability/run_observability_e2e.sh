#!/usr/bin/env bash
# Observability end to end (issue 14), real processes on loopback:
#   1. static: `promtool check rules` + `promtool test rules` on
#      deploy/prometheus/alerts.yaml, `promtool check config` on the example
#      scrape config, the dashboard's static checks (dashboard_check.mjs) and
#      every dashboard expression through `promtool check rules`;
#   2. attestation-server with everything a dashboard panel shows switched
#      on: online collateral from a KDS stand-in (kds_stub.mjs), key release
#      (directory store), the fleet registry and the admission webhook (HTTPS),
#      a policy file that is hot-reloaded;
#   3. Prometheus (Debian `prometheus`) scraping it every second with the
#      alert rules loaded, while a short load runs: simulated SNP / TDX (with
#      GPUs) attestations, a replayed challenge, key releases and a replayed
#      release token, admission reviews allowed and denied, a good and a
#      broken policy reload;
#   4. `/metrics | promtool check metrics`; every metric the dashboard names
#      is in /metrics; every dashboard query returns data from Prometheus;
#      every alert rule evaluates without error; the replayed challenge fires
#      AttestationRPNonceReplays and no other alert fires.
#
#   run_observability_e2e.sh SERVER_BINARY ATTESTCTL
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../lib/e2e.sh"
e2e_init observability_e2e "$@"
PROMDIR="$ROOT/deploy/prometheus"
DASH="$ROOT/deploy/grafana/attestation-rp.json"
FIX="$ROOT/admission/testdata"
for c in promtool prometheus node curl openssl; do
  command -v "$c" >/dev/null || die "$c is not installed (scripts/install_deps.sh installs it)"
done

# --- 1. static checks ---------------------------------------------------------
promtool check rules "$PROMDIR/alerts.yaml" >/dev/null || die "promtool check rules alerts.yaml"
(cd "$PROMDIR" && promtool test rules alerts_test.yaml) >"$WORK/promtool-test.txt" 2>&1 ||
  { cat "$WORK/promtool-test.txt"; die "promtool test rules"; }
ALERTS=$(grep -c '^ *- alert: AttestationRP' "$PROMDIR/alerts.yaml")
echo "ok: promtool test rules: $ALERTS alerts, each quiet on a healthy replica and firing on its synthetic series"
(cd "$PROMDIR" && promtool check config prometheus.yml) >/dev/null || die "promtool check config prometheus.yml"
echo "ok: promtool check config deploy/prometheus/prometheus.yml"
# $__rate_interval is what Grafana derives from the time range; 5m covers
# the whole load below.
node "$HERE/dashboard_check.mjs" "$DASH" "$WORK/dashboard-rules.json" "$WORK/exprs.json" 5m \
  >"$WORK/dashboard-metrics.txt" || die "dashboard static checks"
promtool check rules "$WORK/dashboard-rules.json" >"$WORK/dashboard-promtool.txt" 2>&1 ||
  { cat "$WORK/dashboard-promtool.txt"; die "a dashboard expression is not valid PromQL"; }
NEXPR=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).length)' "$WORK/exprs.json")
echo "ok: dashboard: $NEXPR expressions valid PromQL (promtool), static checks passed"

# --- 2. the server ------------------------------------------------------------
SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null
# The KDS stand-in comes first in source_order, so AMD collateral (the CRL)
# is fetched over HTTP and cached; the rest (NVIDIA RIMs and OCSP answers,
# written by `simulate`) comes from the simulator's directory.
e2e_bg node "$HERE/kds_stub.mjs" "$SIM/collateral" >"$WORK/kds.port" 2>"$WORK/kds.log"
for _ in $(seq 1 50); do [[ -s "$WORK/kds.port" ]] && break; sleep 0.1; done
KDS=$(cat "$WORK/kds.port")
[[ -n "$KDS" ]] || die "KDS stub did not start"

# Admission webhook serving certificate (a throwaway CA).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=test-ca \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$WORK/ext.cnf"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 1 -extfile "$WORK/ext.cnf" -out "$WORK/tls.crt" 2>/dev/null
chmod 600 "$WORK/tls.key"

cp "$ROOT/deploy/policies/demo.yaml" "$WORK/policy.yaml"
RES=demo/key/model
"$CTL" resource put "$RES" --store-dir "$WORK/secrets" --in <(head -c 32 /dev/urandom) >/dev/null

cat >"$WORK/server.yaml" <<CFG
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
token: {algorithm: ES256, issuer: rp-observability-e2e, audiences: [kms]}
collateral_dir: $SIM/collateral
collateral:
  kds_base_url: http://127.0.0.1:$KDS
  nvidia_ocsp_url: http://127.0.0.1:$KDS/ocsp
  source_order: [kds, offline]
  max_ttl_seconds: 1   # refetch the CRL every second: the upstream panels see traffic
policy_file: $WORK/policy.yaml
policy_reload_interval_ms: 200
simulation: {trust_simulation_root: true, dir: $SIM}
fleet: {freshness_seconds: 600, sync_interval_ms: 200}
admission:
  listen: 127.0.0.1:0
  tls: {cert_file: $WORK/tls.crt, key_file: $WORK/tls.key}
  policy: demo
  runtime_classes: [kata-qemu-nvidia-gpu-tdx, kata-qemu-tdx]
key_release:
  resources:
    - {name: $RES, policy: demo, rule: kms/demo-key, audiences: [kms]}
  store: {type: directory, dir: $WORK/secrets}
CFG
e2e_start_server "$WORK/server.yaml"
METRICS_PORT=$(port metrics)
ADM=$(port admission)
echo "ok: server up (grpc $GRPC, metrics :$METRICS_PORT, admission :$ADM, KDS stand-in :$KDS)"

# --- 3. Prometheus and the load ----------------------------------------------
PROM_PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat >"$WORK/prometheus.yml" <<CFG
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$PROMDIR/alerts.yaml"]
scrape_configs:
  - job_name: attestation-rp
    static_configs: [{targets: ["127.0.0.1:$METRICS_PORT"]}]
CFG
e2e_bg prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1
PROM=http://127.0.0.1:$PROM_PORT
for _ in $(seq 1 100); do curl -fs "$PROM/-/ready" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$PROM/-/ready" >/dev/null || { cat "$WORK/prometheus.log"; die "prometheus not ready"; }
# Target discovery takes a few seconds: the load starts after the first scrape.
scraped() {
  local out
  out=$(curl -fsG "$PROM/api/v1/query" --data-urlencode 'query=up{job="attestation-rp"}') || return 1
  grep -q '"1"\]' <<<"$out"
}
for _ in $(seq 1 100); do scraped && break; sleep 0.2; done
scraped || { cat "$WORK/prometheus.log"; die "prometheus did not scrape the server"; }
echo "ok: prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') scraping every 1 s"

# attest NAME TEE GPUS [extra simulate args...]: challenge -> simulate -> attest (aud kms).
attest() {
  local name=$1 tee=$2 gpus=$3
  shift 3
  "$CTL" challenge --server "$GRPC" --out "$WORK/$name.challenge.json" >/dev/null
  "$CTL" simulate --challenge "$WORK/$name.challenge.json" --sim-dir "$SIM" --tee "$tee" --gpus "$gpus" \
    --out "$WORK/$name.bundle.json" --tee-key-out "$WORK/$name.key.pem" "$@" >/dev/null
  "$CTL" attest --server "$GRPC" --evidence "$WORK/$name.bundle.json" --challenge "$WORK/$name.challenge.json" \
    --audience kms --accept warning --json --token-out "$WORK/$name.token.jwt" >"$WORK/$name.result.json" ||
    { cat "$WORK/$name.result.json"; die "$name: attest not accepted"; }
}
review() {
  curl -sS --cacert "$WORK/ca.crt" -H 'Content-Type: application/json' --data-binary "@$FIX/$1.json" \
    -o /dev/null -w '%{http_code}' "https://localhost:$ADM/k8s/validate?timeout=5s" >"$WORK/review.code" ||
    die "$1: webhook call failed"
  [[ $(cat "$WORK/review.code") == 200 ]] || die "$1: webhook answered HTTP $(cat "$WORK/review.code")"
}
reload_count() {
  curl -fs "127.0.0.1:$METRICS_PORT/metrics" | sed -n "s/^rp_policy_reloads_total{result=\"$1\"} //p"
}
wait_reload() {  # wait_reload RESULT BEFORE
  for _ in $(seq 1 50); do
    [[ $(reload_count "$1") != "$2" ]] && return 0
    sleep 0.1
  done
  die "no policy reload ($1) observed"
}

for round in 1 2 3; do
  attest "snp$round" snp 1
  attest "tdx$round" tdx 8 --runtime-claims '{"node":"gpu-node-1"}'
  attest "cpu$round" snp 0
  # The same challenge again: refused (replayed).
  if "$CTL" attest --server "$GRPC" --evidence "$WORK/snp$round.bundle.json" --audience kms \
    --challenge "$WORK/snp$round.challenge.json" --json >"$WORK/replay$round.json" 2>&1; then
    die "a replayed challenge was accepted"
  fi
  grep -q NONCE_REPLAYED "$WORK/replay$round.json" ||
    die "replay refused for another reason: $(head -c 300 "$WORK/replay$round.json")"
  # Key release, then the same token again (TOKEN_REPLAYED).
  "$CTL" release --server "$GRPC" --resource "$RES" --token "@$WORK/snp$round.token.jwt" \
    --tee-key "$WORK/snp$round.key.pem" --out "$WORK/secret$round" 2>"$WORK/release$round.err" ||
    { cat "$WORK/release$round.err"; die "release failed"; }
  if "$CTL" release --server "$GRPC" --resource "$RES" --token "@$WORK/snp$round.token.jwt" \
    --tee-key "$WORK/snp$round.key.pem" --out "$WORK/again$round" 2>"$WORK/again$round.err"; then
    die "a replayed release token was accepted"
  fi
  grep -q TOKEN_REPLAYED "$WORK/again$round.err" ||
    die "release refused for another reason: $(head -c 300 "$WORK/again$round.err")"
  review binding_attested
  review binding_unknown
  review pod_create_image_not_pinned
  sleep 1
done
echo "ok: load: 9 attestations (SNP+GPU, TDX+8 GPU, SNP), 3 replays refused, 3 releases + 3 refused, 9 reviews"

# A good reload, a broken one (kept out), then the good file back.
before=$(reload_count ok)
sed -i 's/^version: "1"/version: "2"/' "$WORK/policy.yaml"
wait_reload ok "$before"
cp "$WORK/policy.yaml" "$WORK/policy.good"
before=$(reload_count failed)
echo "sev_snp: {max_vmpl: 7}" >>"$WORK/policy.yaml"
wait_reload failed "$before"
before=$(reload_count ok)
sed 's/^version: "2"/version: "3"/' "$WORK/policy.good" >"$WORK/policy.yaml.new"
mv "$WORK/policy.yaml.new" "$WORK/policy.yaml"
wait_reload ok "$before"
echo "ok: policy reloads: demo@2 ok, a broken file refused (demo@2 kept), demo@3 ok"
attest "after-reload" tdx 1
sleep 3  # at least two more scrapes after the last event

# --- 4. what the dashboard and the alerts see ----------------------------------
curl -fs "127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics.txt" || die "GET /metrics"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/check-metrics.txt" 2>&1 ||
  { cat "$WORK/check-metrics.txt"; die "promtool check metrics"; }
echo "ok: /metrics passes promtool check metrics ($(grep -c '^# TYPE' "$WORK/metrics.txt") families)"
missing=()
while read -r m; do
  [[ $m == rp_* ]] || continue
  grep -Eq "^$m(\{| )" "$WORK/metrics.txt" || missing+=("$m")
done <"$WORK/dashboard-metrics.txt"
((${#missing[@]} == 0)) || die "metrics named by the dashboard but absent from /metrics: ${missing[*]}"
echo "ok: all $(grep -c '^rp_' "$WORK/dashboard-metrics.txt") rp_ metrics the dashboard names are in /metrics"

node - "$WORK/exprs.json" "$PROM" <<'JS' || die "dashboard queries"
const [exprsFile, prom] = process.argv.slice(2);
const exprs = JSON.parse(require("fs").readFileSync(exprsFile, "utf8"));
(async () => {
  let bad = 0;
  for (const e of exprs) {
    const r = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(e.expr)}`);
    const j = await r.json();
    const n = j.status === "success" ? j.data.result.length : -1;
    const values = n > 0 ? j.data.result.map((s) => s.value[1]) : [];
    const numeric = values.filter((v) => v !== "NaN").length;
    const max = Math.max(...values.filter((v) => v !== "NaN").map(Number));
    const ok = n > 0 && numeric > 0;
    if (!ok) bad++;
    console.log(`${ok ? "ok  " : "FAIL"} panel ${String(e.panel).padStart(2)} ${e.refId} ` +
      `${n < 0 ? "error " + j.error : n + " series"}${numeric ? ", max " + max.toPrecision(3) : ""} - ${e.title}`);
  }
  if (bad) {
    console.error(`FAIL: ${bad} of ${exprs.length} dashboard queries returned no data`);
    process.exit(1);
  }
  console.log(`ok: every one of the ${exprs.length} dashboard queries returned data`);
})().catch((err) => { console.error(err); process.exit(1); });
JS

node - "$PROM" <<'JS' || die "alert rules"
const prom = process.argv[2];
(async () => {
  const rules = (await (await fetch(`${prom}/api/v1/rules`)).json()).data.groups.flatMap((g) => g.rules);
  const unhealthy = rules.filter((r) => r.health !== "ok");
  for (const r of unhealthy) console.error(`FAIL: rule ${r.name}: ${r.health} ${r.lastError ?? ""}`);
  const firing = rules.filter((r) => r.state === "firing").map((r) => r.name).sort();
  console.log(`ok: ${rules.length} alert rules evaluated on the live series, firing: ${firing.join(", ") || "none"}`);
  if (unhealthy.length) process.exit(1);
  if (JSON.stringify(firing) !== JSON.stringify(["AttestationRPNonceReplays"])) {
    console.error("FAIL: expected exactly AttestationRPNonceReplays (the replayed challenges) to fire");
    process.exit(1);
  }
})().catch((err) => { console.error(err); process.exit(1); });
JS
echo "PASS: observability e2e"
