// Policy as a test for the rendered deploy/k8s overlays (docs/kubernetes.md).
// For every pod template and every container (init containers included) of
// every overlay it asserts the hardening the issue asks for, and for the
// attestation-rp Deployment that its config, mounts, ports and Services fit
// together; per overlay profile it asserts what production needs (TLS, Redis
// with noeviction and no persistence, pinned image, PDB, HPA) or what the
// in-memory development setup needs (one replica, no autoscaler).
//
//   node check_security.mjs NAME=RENDERED.yaml ...     (NAME: base, dev, prod, prod-cert)
//   node check_security.mjs --self-test NAME=RENDERED.yaml ...
//
// Each problem has a stable code. --self-test takes copies of the rendered
// objects, removes or breaks one property at a time and requires the code for
// it to be reported (and the intact copies to be clean), so a later edit that
// drops a check -- or a manifest property -- cannot go unnoticed.
import { readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import yaml from "js-yaml";

const RP = "attestation-rp";
const PRODUCTION = new Set(["base", "prod", "prod-cert"]);   // production-shaped config
const DEPLOYED_PROD = new Set(["prod", "prod-cert"]);        // what is applied to a cluster

const load = (text) => yaml.loadAll(text, null, { schema: yaml.CORE_SCHEMA }).filter((d) => d != null);
const workloads = (docs) => docs.filter((d) => ["Deployment", "StatefulSet", "DaemonSet"].includes(d.kind));
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) && Object.keys(selector ?? {}).length > 0;

function portOf(listen) {
  const m = /:(\d+)$/.exec(listen ?? "");
  return m ? Number(m[1]) : undefined;
}

// Every file or directory path the server config names.
function configPaths(c) {
  const out = [];
  const add = (field, p) => { if (p) out.push([field, p]); };
  for (const t of ["tls", "http_tls"]) {
    add(`${t}.cert_file`, c[t]?.cert_file);
    add(`${t}.key_file`, c[t]?.key_file);
    add(`${t}.client_ca_file`, c[t]?.client_ca_file);
  }
  (c.token?.keys ?? []).forEach((k, i) => add(`token.keys[${i}].pem_file`, k.pem_file));
  add("nonce.hmac_key_file", c.nonce?.hmac_key_file);
  add("redis.password_file", c.redis?.password_file);
  add("admission.tls.cert_file", c.admission?.tls?.cert_file);
  add("admission.tls.key_file", c.admission?.tls?.key_file);
  add("policy_file", c.policy_file);
  (c.policy_files ?? []).forEach((p, i) => add(`policy_files[${i}]`, p));
  add("collateral_dir", c.collateral_dir);
  add("collateral.cache_dir", c.collateral?.cache_dir);
  add("collateral.ca_file", c.collateral?.ca_file);
  if (c.simulation?.trust_simulation_root) add("simulation.dir", c.simulation?.dir);
  return out;
}
const SECRET_FIELDS = /key_file$|pem_file$|hmac_key_file$|password_file$/;

export function check(name, docs) {
  const problems = [];
  const bad = (code, msg) => problems.push({ code, msg: `${name}: ${msg}` });
  const production = PRODUCTION.has(name);
  const deployed = DEPLOYED_PROD.has(name);
  const byKind = (k) => docs.filter((d) => d.kind === k);
  const find = (k, n) => docs.find((d) => d.kind === k && d.metadata?.name === n);

  // ---- every pod and container ------------------------------------------
  for (const w of workloads(docs)) {
    const at = `${w.kind}/${w.metadata.name}`;
    const pod = w.spec?.template?.spec ?? {};
    const psc = pod.securityContext ?? {};
    if (pod.automountServiceAccountToken !== false) bad("automount-token", `${at}: automountServiceAccountToken is not false`);
    const sa = find("ServiceAccount", pod.serviceAccountName);
    if (!pod.serviceAccountName || pod.serviceAccountName === "default" || !sa) {
      bad("service-account", `${at}: no dedicated ServiceAccount in the rendered objects`);
    } else if (sa.automountServiceAccountToken !== false) {
      bad("sa-automount", `${at}: ServiceAccount ${sa.metadata.name} mounts its token`);
    }
    if (psc.runAsNonRoot !== true) bad("pod-runAsNonRoot", `${at}: pod securityContext.runAsNonRoot is not true`);
    if (!(psc.runAsUser > 0) || !(psc.runAsGroup > 0)) bad("pod-runAsUser", `${at}: pod runAsUser/runAsGroup not set to a non-root id`);
    if (psc.seccompProfile?.type !== "RuntimeDefault") bad("pod-seccomp", `${at}: pod seccompProfile is not RuntimeDefault`);
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) bad("host-namespaces", `${at}: uses host namespaces`);
    for (const v of pod.volumes ?? []) {
      if (v.hostPath) bad("hostPath", `${at}: volume ${v.name} is a hostPath`);
      if (v.secret) {
        const modes = [v.secret.defaultMode, ...(v.secret.items ?? []).map((i) => i.mode)].filter((m) => m !== undefined);
        if (v.secret.defaultMode !== 0o400 || modes.some((m) => m !== 0o400)) {
          bad("secret-mode", `${at}: Secret volume ${v.name} is not defaultMode 0400`);
        }
      }
    }
    const all = [...(pod.initContainers ?? []).map((c) => [c, true]), ...(pod.containers ?? []).map((c) => [c, false])];
    if (!(pod.containers ?? []).length) bad("containers", `${at}: no containers`);
    for (const [c, init] of all) {
      const cat = `${at} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.runAsNonRoot !== true) bad("runAsNonRoot", `${cat}: runAsNonRoot is not true`);
      if (sc.runAsUser === 0 || sc.runAsGroup === 0) bad("runAsUser", `${cat}: runs as uid/gid 0`);
      if (sc.readOnlyRootFilesystem !== true) bad("readOnlyRootFilesystem", `${cat}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) bad("allowPrivilegeEscalation", `${cat}: allowPrivilegeEscalation is not false`);
      if (sc.privileged === true) bad("privileged", `${cat}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL") || (sc.capabilities?.add ?? []).length) {
        bad("capabilities", `${cat}: capabilities do not drop ALL (or add some)`);
      }
      if (sc.seccompProfile?.type !== "RuntimeDefault") bad("seccomp", `${cat}: seccompProfile is not RuntimeDefault`);
      const r = c.resources ?? {};
      for (const k of ["cpu", "memory"]) {
        if (!r.requests?.[k] || !r.limits?.[k]) bad("resources", `${cat}: resources.requests/limits.${k} not set`);
      }
      const image = c.image ?? "";
      const tagged = /@sha256:[0-9a-f]{64}$/.test(image) || /:[^/:@]+$/.test(image);
      if (!tagged) bad("image-tag", `${cat}: image ${image} has no tag or digest`);
      if (deployed && (/:latest$/.test(image) || image.startsWith("localhost/"))) {
        bad("image-latest", `${cat}: production image ${image} is :latest or the localhost placeholder`);
      }
      if (!init) {
        if (!c.readinessProbe) bad("readinessProbe", `${cat}: no readinessProbe`);
        if (!c.livenessProbe) bad("livenessProbe", `${cat}: no livenessProbe`);
      }
    }
  }

  // ---- the attestation-rp Deployment, its config and Services ------------
  const dep = find("Deployment", RP);
  if (!dep) {
    bad("rp-deployment", `no Deployment ${RP}`);
    return problems;
  }
  const pod = dep.spec.template.spec;
  const server = (pod.containers ?? []).find((c) => c.name === "server");
  if (!server) {
    bad("rp-deployment", `Deployment ${RP} has no container "server"`);
    return problems;
  }
  const s = server.startupProbe;
  if (!s?.httpGet || s.httpGet.path !== "/readyz" || (s.failureThreshold ?? 3) * (s.periodSeconds ?? 10) < 120) {
    bad("startupProbe", `server: no startupProbe on /readyz allowing >= 120 s for collateral warm-up`);
  }
  if (server.readinessProbe?.httpGet?.path !== "/readyz" || server.livenessProbe?.httpGet?.path !== "/healthz" ||
      [s, server.readinessProbe, server.livenessProbe].some((p) => p?.httpGet?.port !== "http")) {
    bad("probe-paths", `server: probes must be readiness /readyz, liveness /healthz on the http port`);
  }
  const ports = Object.fromEntries((server.ports ?? []).map((p) => [p.name, p.containerPort]));
  const mounts = (server.volumeMounts ?? []).map((m) => ({ ...m, volume: (pod.volumes ?? []).find((v) => v.name === m.name) }));
  const mountOf = (p) => mounts.filter((m) => p === m.mountPath || p.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  // --config FILE from a ConfigMap.
  const args = server.args ?? [];
  const cfgPath = args[args.indexOf("--config") + 1];
  const cfgMount = args.includes("--config") && cfgPath ? mountOf(cfgPath) : undefined;
  const cfgMap = cfgMount?.volume?.configMap ? find("ConfigMap", cfgMount.volume.configMap.name) : undefined;
  const cfgText = cfgMap?.data?.[basename(cfgPath ?? "")];
  if (!cfgText) {
    bad("config-mount", `server: --config ${cfgPath} is not a key of a rendered ConfigMap mounted there`);
    return problems;
  }
  let config;
  try {
    config = yaml.load(cfgText, { schema: yaml.CORE_SCHEMA }) ?? {};
  } catch (e) {
    bad("config-mount", `server config does not parse: ${e.message}`);
    return problems;
  }
  // Every path of the config is on a volume; ConfigMap / Secret keys exist.
  let secretFiles = 0;
  for (const [field, p] of configPaths(config)) {
    const m = p.startsWith("/") ? mountOf(p) : undefined;
    if (!m) {
      bad("config-path-unmounted", `config ${field} ${p} is on no volume of the server container`);
      continue;
    }
    const rel = p.slice(m.mountPath.length + 1);
    const v = m.volume ?? {};
    if (SECRET_FIELDS.test(field)) {
      secretFiles++;
      if (!v.secret) bad("config-secret-volume", `config ${field} ${p} is not on a Secret volume`);
    }
    if (v.secret?.items && rel && !v.secret.items.some((i) => i.path === rel)) {
      bad("config-secret-key", `config ${field}: Secret volume ${v.name} has no item ${rel}`);
    }
    if (v.configMap && rel) {
      const cm = find("ConfigMap", v.configMap.name);
      if (cm && !(rel in (cm.data ?? {}))) bad("config-file-missing", `config ${field}: ConfigMap ${v.configMap.name} has no key ${rel}`);
    }
    if (m.readOnly !== true && (v.secret || v.configMap)) bad("config-mount-rw", `mount ${m.mountPath} is not readOnly`);
  }
  if (secretFiles > 0 && pod.securityContext?.fsGroup && config.allow_group_readable_secrets !== true) {
    bad("fsgroup-secrets", `Secret files are 0440 root:fsGroup: config needs allow_group_readable_secrets: true`);
  }
  // Ports: config = container ports = Services.
  for (const [field, pname] of [["listen", "grpc"], ["http_listen", "http"], ["metrics_listen", "metrics"]]) {
    if (portOf(config[field]) !== ports[pname]) bad("ports", `config ${field} ${config[field]} != container port ${pname} ${ports[pname]}`);
  }
  if (config.admission?.listen && portOf(config.admission.listen) !== ports.webhook) {
    bad("ports", `config admission.listen ${config.admission.listen} != container port webhook ${ports.webhook}`);
  }
  for (const svc of byKind("Service")) {
    if (!matches(svc.spec?.selector, dep.spec.template.metadata.labels)) continue;
    for (const p of svc.spec.ports ?? []) {
      const tp = p.targetPort ?? p.port;
      if (typeof tp === "string" ? ports[tp] === undefined : !Object.values(ports).includes(tp)) {
        bad("service-ports", `Service ${svc.metadata.name} port ${p.name} targets ${tp}, not a server port`);
      }
    }
  }
  const https = Boolean(config.http_tls?.cert_file);
  for (const p of [server.startupProbe, server.readinessProbe, server.livenessProbe]) {
    if (p?.httpGet && (p.httpGet.scheme ?? "HTTP") !== (https ? "HTTPS" : "HTTP")) {
      bad("probe-scheme", `server probes must use ${https ? "HTTPS (http_tls is set)" : "HTTP (no http_tls)"}`);
      break;
    }
  }
  // NetworkPolicy: the metrics port only with a `from`.
  const nps = byKind("NetworkPolicy").filter((n) => matches(n.spec?.podSelector?.matchLabels, dep.spec.template.metadata.labels));
  if (!nps.length) bad("netpol", `no NetworkPolicy selects the server pods`);
  for (const n of nps) {
    for (const rule of n.spec.ingress ?? []) {
      const open = !(rule.from ?? []).length;
      const all = !(rule.ports ?? []).length;
      if (open && (all || rule.ports.some((p) => p.port === ports.metrics || p.port === "metrics"))) {
        bad("metrics-netpol", `NetworkPolicy ${n.metadata.name} admits the metrics port from anywhere`);
      }
    }
  }
  // Single-use state: in memory means one replica, no autoscaler.
  const replicas = dep.spec.replicas ?? 1;
  const hpas = byKind("HorizontalPodAutoscaler").filter((h) => h.spec?.scaleTargetRef?.name === RP);
  if (!config.redis) {
    if (replicas !== 1 || hpas.length) bad("in-memory-replicas", `no redis block: needs exactly one replica and no HPA (has ${replicas}, ${hpas.length} HPA)`);
  }
  // No secret material in the manifests (prod-cert: only the webhook's TLS).
  for (const sec of byKind("Secret")) {
    if (!(name === "prod-cert" && sec.metadata.name === "attestation-rp-webhook-tls")) {
      bad("secret-material", `Secret ${sec.metadata.name} is rendered: secrets are created separately`);
    }
  }

  if (production) {
    if ((config.environment ?? "production") !== "production") bad("prod-environment", `environment is ${config.environment}`);
    if (!config.tls?.cert_file || !config.tls?.key_file) bad("prod-tls", `no TLS on gRPC (tls.cert_file/key_file)`);
    if (!https && config.http_behind_tls_proxy !== true) bad("prod-tls", `no TLS on the HTTP port (http_tls)`);
    if (!config.redis?.address || !config.redis?.password_file) bad("prod-redis", `no redis block with address and password_file`);
    if (config.simulation?.trust_simulation_root) bad("prod-simulation", `simulation root trusted`);
    if (replicas < 3) bad("replicas", `${replicas} replicas, production runs at least 3`);
    const pdb = byKind("PodDisruptionBudget").find((p) => matches(p.spec?.selector?.matchLabels, dep.spec.template.metadata.labels));
    if (!pdb || !(pdb.spec.minAvailable >= 2)) bad("pdb", `no PodDisruptionBudget with minAvailable >= 2 for the server`);
    const hpa = hpas[0];
    const cpu = hpa?.spec?.metrics?.find((m) => m.type === "Resource" && m.resource?.name === "cpu");
    if (!hpa || hpa.apiVersion !== "autoscaling/v2" || !cpu || !(hpa.spec.minReplicas >= 3)) {
      bad("hpa", `no autoscaling/v2 HPA on CPU with minReplicas >= 3 for the server`);
    }
    const tsc = (pod.topologySpreadConstraints ?? []).map((t) => t.topologyKey);
    if (!tsc.includes("topology.kubernetes.io/zone") || !tsc.includes("kubernetes.io/hostname")) {
      bad("topology-spread", `server pods not spread over zones and hosts`);
    }
  }
  if (deployed) {
    if (!/strict-production\.yaml$/.test(config.policy_file ?? "")) bad("prod-policy", `default policy is ${config.policy_file}, not strict-production`);
    const vwc = byKind("ValidatingWebhookConfiguration")[0];
    if (!vwc || !config.admission?.listen || !ports.webhook) bad("webhook", `admission webhook, its config block or its port missing`);
    // Redis: a Service with the config's address, pods with noeviction and no persistence.
    const [host, port] = (config.redis?.address ?? "").split(":");
    const rsvc = find("Service", host);
    const rset = byKind("StatefulSet").find((st) => rsvc && matches(rsvc.spec.selector, st.spec.template.metadata.labels));
    if (!rsvc || !rset || !(rsvc.spec.ports ?? []).some((p) => p.port === Number(port))) {
      bad("redis-service", `redis.address ${config.redis?.address} is not a rendered Service in front of a Redis StatefulSet`);
    } else {
      const rpod = rset.spec.template.spec;
      const rc = rpod.containers[0];
      const confArg = (rc.command ?? []).concat(rc.args ?? []).find((a) => a.endsWith(".conf"));
      const cm = confArg && rpod.volumes.map((v) => v.configMap && find("ConfigMap", v.configMap.name))
        .find((c) => c?.data?.[basename(confArg)] !== undefined &&
              rc.volumeMounts.some((m) => m.mountPath === dirname(confArg) &&
                                         rpod.volumes.find((v) => v.name === m.name)?.configMap?.name === c.metadata.name));
      const conf = cm?.data?.[basename(confArg)] ?? "";
      const directive = (k) => conf.split("\n").map((l) => l.trim()).filter((l) => l.startsWith(`${k} `)).map((l) => l.slice(k.length + 1).trim()).at(-1);
      if (directive("maxmemory-policy") !== "noeviction") bad("redis-noeviction", `Redis maxmemory-policy is ${directive("maxmemory-policy")}, not noeviction`);
      if (directive("save") !== '""' || directive("appendonly") !== "no") bad("redis-persistence", `Redis persists (save ${directive("save")}, appendonly ${directive("appendonly")})`);
      if (!directive("include") && !directive("requirepass")) bad("redis-auth", `Redis has no requirepass / include of it`);
      const rnp = byKind("NetworkPolicy").filter((n) => matches(n.spec?.podSelector?.matchLabels, rset.spec.template.metadata.labels));
      const onlyRp = rnp.length > 0 && rnp.every((n) => (n.spec.ingress ?? []).every((r) =>
        (r.from ?? []).length > 0 && r.from.every((f) => !f.namespaceSelector && !f.ipBlock &&
          matches(f.podSelector?.matchLabels, dep.spec.template.metadata.labels))));
      if (!onlyRp) bad("redis-netpol", `Redis is reachable from pods other than the server's`);
    }
  }
  if (name === "dev") {
    if (config.environment !== "development") bad("dev-environment", `dev config environment is ${config.environment}`);
    if (config.redis) bad("dev-redis", `dev config has a redis block (dev keeps state in memory)`);
  }
  return problems;
}

// ---- self-test: each assertion fires -------------------------------------
const dep = (docs) => docs.find((d) => d.kind === "Deployment" && d.metadata.name === RP);
const server = (docs) => dep(docs).spec.template.spec.containers.find((c) => c.name === "server");
const redisSet = (docs) => docs.find((d) => d.kind === "StatefulSet");
const cfgMap = (docs) => docs.find((d) => d.kind === "ConfigMap" && d.metadata.name.startsWith("attestation-rp-config"));
const editConfig = (docs, f) => {
  const cm = cfgMap(docs);
  const c = yaml.load(cm.data["config.yaml"], { schema: yaml.CORE_SCHEMA });
  f(c);
  cm.data["config.yaml"] = yaml.dump(c);
};
const redisConf = (docs, f) => {
  const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name.startsWith("attestation-rp-redis-config"));
  cm.data["redis.conf"] = f(cm.data["redis.conf"]);
};
const MUTATIONS = [
  // [overlay, code, description, mutate]
  ["prod", "automount-token", "pod token mounted", (d) => { delete dep(d).spec.template.spec.automountServiceAccountToken; }],
  ["prod", "sa-automount", "ServiceAccount token", (d) => { d.find((x) => x.kind === "ServiceAccount").automountServiceAccountToken = true; }],
  ["prod", "pod-runAsNonRoot", "pod runAsNonRoot removed", (d) => { delete dep(d).spec.template.spec.securityContext.runAsNonRoot; }],
  ["prod", "pod-runAsUser", "pod runAsUser 0", (d) => { dep(d).spec.template.spec.securityContext.runAsUser = 0; }],
  ["prod", "pod-seccomp", "pod seccomp removed", (d) => { delete redisSet(d).spec.template.spec.securityContext.seccompProfile; }],
  ["prod", "host-namespaces", "hostNetwork", (d) => { dep(d).spec.template.spec.hostNetwork = true; }],
  ["prod", "hostPath", "hostPath volume", (d) => { dep(d).spec.template.spec.volumes.push({ name: "h", hostPath: { path: "/" } }); }],
  ["prod", "secret-mode", "Secret volume 0644", (d) => { dep(d).spec.template.spec.volumes.find((v) => v.secret).secret.defaultMode = 420; }],
  ["prod", "runAsNonRoot", "container runAsNonRoot removed", (d) => { delete server(d).securityContext.runAsNonRoot; }],
  ["prod", "runAsNonRoot", "init container runAsNonRoot removed", (d) => { delete redisSet(d).spec.template.spec.initContainers[0].securityContext.runAsNonRoot; }],
  ["prod", "runAsUser", "container uid 0", (d) => { redisSet(d).spec.template.spec.containers[0].securityContext.runAsUser = 0; }],
  ["prod", "readOnlyRootFilesystem", "writable root", (d) => { delete server(d).securityContext.readOnlyRootFilesystem; }],
  ["dev", "readOnlyRootFilesystem", "writable root (dev)", (d) => { server(d).securityContext.readOnlyRootFilesystem = false; }],
  ["prod", "allowPrivilegeEscalation", "privilege escalation", (d) => { delete redisSet(d).spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation; }],
  ["prod", "privileged", "privileged", (d) => { server(d).securityContext.privileged = true; }],
  ["prod", "capabilities", "drop ALL removed", (d) => { server(d).securityContext.capabilities.drop = []; }],
  ["prod", "capabilities", "NET_ADMIN added", (d) => { server(d).securityContext.capabilities.add = ["NET_ADMIN"]; }],
  ["prod", "seccomp", "container seccomp Unconfined", (d) => { server(d).securityContext.seccompProfile.type = "Unconfined"; }],
  ["prod", "resources", "memory limit removed", (d) => { delete server(d).resources.limits.memory; }],
  ["prod", "resources", "init cpu request removed", (d) => { delete redisSet(d).spec.template.spec.initContainers[0].resources.requests.cpu; }],
  ["dev", "resources", "no resources (dev)", (d) => { delete server(d).resources; }],
  ["prod", "image-tag", "untagged image", (d) => { redisSet(d).spec.template.spec.containers[0].image = "docker.io/library/redis"; }],
  ["prod", "image-latest", ":latest in prod", (d) => { server(d).image = "registry.example.com/attestation-rp:latest"; }],
  ["prod-cert", "image-latest", "placeholder in prod", (d) => { server(d).image = "localhost/attestation-rp:1"; }],
  ["prod", "readinessProbe", "readiness removed", (d) => { delete server(d).readinessProbe; }],
  ["prod", "livenessProbe", "liveness removed (redis)", (d) => { delete redisSet(d).spec.template.spec.containers[0].livenessProbe; }],
  ["dev", "livenessProbe", "liveness removed (dev)", (d) => { delete server(d).livenessProbe; }],
  ["prod", "startupProbe", "startup removed", (d) => { delete server(d).startupProbe; }],
  ["prod", "startupProbe", "startup too short", (d) => { server(d).startupProbe.failureThreshold = 3; }],
  ["prod", "probe-paths", "liveness on /readyz", (d) => { server(d).livenessProbe.httpGet.path = "/readyz"; }],
  ["prod", "probe-scheme", "HTTP probe against http_tls", (d) => { server(d).readinessProbe.httpGet.scheme = "HTTP"; }],
  ["dev", "probe-scheme", "HTTPS probe without http_tls", (d) => { server(d).livenessProbe.httpGet.scheme = "HTTPS"; }],
  ["prod", "config-mount", "--config elsewhere", (d) => { server(d).args = ["--config", "/etc/rp/other/config.yaml"]; }],
  ["prod", "config-path-unmounted", "TLS mount moved", (d) => { server(d).volumeMounts.find((m) => m.mountPath === "/etc/rp/tls").mountPath = "/etc/rp/x"; }],
  ["prod", "config-secret-key", "Secret item renamed", (d) => { dep(d).spec.template.spec.volumes.find((v) => v.name === "nonce").secret.items[0].path = "key"; }],
  ["prod", "config-file-missing", "policy not in the ConfigMap", (d) => { const cm = d.find((x) => x.metadata.name === "attestation-rp-policies"); delete cm.data["fleet.yaml"]; }],
  ["dev", "config-file-missing", "dev policy missing", (d) => { const cm = d.find((x) => x.metadata.name === "attestation-rp-policies"); cm.data = { "x.yaml": "" }; }],
  ["base", "fsgroup-secrets", "allow_group_readable_secrets dropped", (d) => editConfig(d, (c) => { delete c.allow_group_readable_secrets; })],
  ["prod", "ports", "metrics port moved", (d) => editConfig(d, (c) => { c.metrics_listen = "0.0.0.0:9090"; })],
  ["prod", "ports", "webhook port moved", (d) => { server(d).ports.find((p) => p.name === "webhook").containerPort = 9443; }],
  ["prod", "service-ports", "Service targets a missing port", (d) => { d.find((x) => x.kind === "Service" && x.metadata.name === RP).spec.ports[0].targetPort = "grpcs"; }],
  ["prod", "metrics-netpol", "metrics open to all", (d) => { const n = d.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === RP); delete n.spec.ingress[1].from; }],
  ["base", "metrics-netpol", "allow-all rule", (d) => { d.find((x) => x.kind === "NetworkPolicy").spec.ingress.push({}); }],
  ["prod", "netpol", "NetworkPolicy removed", (d) => { d.splice(d.findIndex((x) => x.kind === "NetworkPolicy" && x.metadata.name === RP), 1); }],
  ["dev", "in-memory-replicas", "dev with 3 replicas", (d) => { dep(d).spec.replicas = 3; }],
  ["base", "in-memory-replicas", "base without Redis", (d) => editConfig(d, (c) => { delete c.redis; })],
  ["base", "secret-material", "a Secret in the base", (d) => { d.push({ apiVersion: "v1", kind: "Secret", metadata: { name: "attestation-rp-tls" }, data: {} }); }],
  ["prod", "prod-tls", "no gRPC TLS", (d) => editConfig(d, (c) => { delete c.tls; })],
  ["prod", "prod-tls", "no HTTPS", (d) => editConfig(d, (c) => { delete c.http_tls; })],
  ["prod", "prod-redis", "no redis block", (d) => editConfig(d, (c) => { delete c.redis; })],
  ["prod", "prod-environment", "development in prod", (d) => editConfig(d, (c) => { c.environment = "development"; })],
  ["prod", "prod-simulation", "simulation root in prod", (d) => editConfig(d, (c) => { c.simulation = { trust_simulation_root: true, dir: "/etc/rp/policy" }; })],
  ["prod", "replicas", "one replica in prod", (d) => { dep(d).spec.replicas = 1; }],
  ["prod", "pdb", "PDB minAvailable 1", (d) => { d.find((x) => x.kind === "PodDisruptionBudget").spec.minAvailable = 1; }],
  ["base", "hpa", "HPA removed", (d) => { d.splice(d.findIndex((x) => x.kind === "HorizontalPodAutoscaler"), 1); }],
  ["prod", "topology-spread", "no zone spread", (d) => { dep(d).spec.template.spec.topologySpreadConstraints.shift(); }],
  ["prod", "prod-policy", "default policy in prod", (d) => editConfig(d, (c) => { c.policy_file = "/etc/rp/policy/fleet.yaml"; })],
  ["prod", "webhook", "no admission block", (d) => editConfig(d, (c) => { delete c.admission; })],
  ["prod", "redis-service", "Redis Service renamed", (d) => editConfig(d, (c) => { c.redis.address = "redis:6379"; })],
  ["prod", "redis-noeviction", "allkeys-lru", (d) => redisConf(d, (t) => t.replace("maxmemory-policy noeviction", "maxmemory-policy allkeys-lru"))],
  ["prod", "redis-noeviction", "policy line removed", (d) => redisConf(d, (t) => t.replace(/^maxmemory-policy .*$/m, ""))],
  ["prod", "redis-persistence", "RDB snapshots", (d) => redisConf(d, (t) => t.replace('save ""', "save 3600 1"))],
  ["prod", "redis-persistence", "AOF on", (d) => redisConf(d, (t) => t.replace("appendonly no", "appendonly yes"))],
  ["prod", "redis-auth", "no AUTH", (d) => redisConf(d, (t) => t.replace(/^include .*$/m, ""))],
  ["prod", "redis-netpol", "Redis open to a namespace", (d) => { d.find((x) => x.metadata.name === "attestation-rp-redis" && x.kind === "NetworkPolicy").spec.ingress[0].from.push({ namespaceSelector: {} }); }],
  ["dev", "dev-environment", "dev in production", (d) => editConfig(d, (c) => { c.environment = "production"; })],
  ["dev", "dev-redis", "dev with Redis", (d) => editConfig(d, (c) => { c.redis = { address: "r:6379" }; })],
];

function main() {
  const argv = process.argv.slice(2);
  const selfTest = argv[0] === "--self-test";
  const inputs = (selfTest ? argv.slice(1) : argv).map((a) => {
    const eq = a.indexOf("=");
    return [a.slice(0, eq), load(readFileSync(a.slice(eq + 1), "utf8"))];
  });
  let failed = 0;
  for (const [name, docs] of inputs) {
    const problems = check(name, docs);
    for (const p of problems) console.error(`FAIL: [${p.code}] ${p.msg}`);
    failed += problems.length;
    const pods = workloads(docs);
    const containers = pods.flatMap((w) => [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers]);
    if (!problems.length) console.log(`ok   ${name}: ${pods.length} pod templates, ${containers.length} containers pass`);
  }
  if (selfTest) {
    const byName = Object.fromEntries(inputs);
    let ran = 0;
    for (const [overlay, code, what, mutate] of MUTATIONS) {
      if (!byName[overlay]) continue;
      const copy = structuredClone(byName[overlay]);
      mutate(copy);
      const got = check(overlay, copy);
      ran++;
      if (got.some((p) => p.code === code)) {
        console.log(`ok   fires: [${code}] ${overlay}: ${what}`);
      } else {
        console.error(`FAIL: [${code}] did not fire for ${overlay}: ${what} (got: ${got.map((p) => p.code).join(", ") || "nothing"})`);
        failed++;
      }
    }
    const missing = [...new Set(MUTATIONS.map((m) => m[0]))].filter((o) => !byName[o]);
    if (missing.length) {
      console.error(`FAIL: self-test needs the overlays ${missing.join(", ")}`);
      failed++;
    }
    console.log(`self-test: ${ran} mutations`);
  }
  if (failed) process.exit(1);
  console.log("PASS");
}
main();
