// Lays out what the kubelet would mount into the attestation-rp server
// container, under a local directory, for run_k8s_test.sh config-load:
//  - every rendered ConfigMap volume's keys as files at ROOT<mountPath>/<key>
//    (the server config and the policies);
//  - the config file rewritten so that each path on a volume points under
//    ROOT (textually: the server parses the original text, not a re-dump),
//    plus the given literal replacements (e.g. the Redis address);
// and prints, as JSON, what the caller must provide: the Secret volumes
// (mountPath, secretName, keys), ConfigMaps that are not rendered (created
// by the operator), emptyDirs; the config path; and for a Redis StatefulSet
// its redis.conf, init script and readiness command.
//
//   node pod_files.mjs RENDERED.yaml ROOT [[?]FROM=TO ...] > layout.json
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, basename } from "node:path";
import yaml from "js-yaml";

const [renderedPath, root, ...replacements] = process.argv.slice(2);
const docs = yaml.loadAll(readFileSync(renderedPath, "utf8"), null, { schema: yaml.CORE_SCHEMA }).filter((d) => d != null);
const fail = (m) => { console.error(`pod_files: ${m}`); process.exit(1); };
const find = (kind, name) => docs.find((d) => d.kind === kind && d.metadata.name === name);

const dep = find("Deployment", "attestation-rp") ?? fail("no Deployment attestation-rp");
const pod = dep.spec.template.spec;
const server = pod.containers.find((c) => c.name === "server") ?? fail("no server container");
const out = { secrets: [], externalConfigMaps: [], emptyDirs: [], config: undefined, redis: undefined };
const mounts = [...server.volumeMounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
for (const m of mounts) {
  const v = pod.volumes.find((x) => x.name === m.name) ?? fail(`mount ${m.mountPath}: no volume ${m.name}`);
  if (v.configMap) {
    const cm = find("ConfigMap", v.configMap.name);
    if (!cm) { out.externalConfigMaps.push({ mountPath: m.mountPath, name: v.configMap.name }); continue; }
    for (const [key, text] of Object.entries(cm.data ?? {})) {
      const path = v.configMap.items?.find((i) => i.key === key)?.path ?? (v.configMap.items ? undefined : key);
      if (!path) continue;
      mkdirSync(dirname(`${root}${m.mountPath}/${path}`), { recursive: true });
      writeFileSync(`${root}${m.mountPath}/${path}`, text);
    }
  } else if (v.secret) {
    out.secrets.push({ mountPath: m.mountPath, secretName: v.secret.secretName,
                       keys: v.secret.items ? v.secret.items.map((i) => i.path) : null });
  } else if (v.emptyDir) {
    out.emptyDirs.push(m.mountPath);
    mkdirSync(`${root}${m.mountPath}`, { recursive: true });
  } else {
    fail(`volume ${v.name}: only ConfigMap, Secret and emptyDir volumes are laid out`);
  }
}
const args = server.args ?? [];
const cfg = args[args.indexOf("--config") + 1];
if (!args.includes("--config") || !cfg) fail("server has no --config argument");
out.config = `${root}${cfg}`;
let text;
try { text = readFileSync(out.config, "utf8"); } catch { fail(`--config ${cfg} is not a file of a rendered ConfigMap`); }
// Mount paths -> under ROOT, in one pass (longest first; only whole path
// components; a path once moved under ROOT is not matched again).
const alternatives = mounts.map((m) => m.mountPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|");
text = text.replace(new RegExp(`(^|[\\s"'\\[,])(${alternatives})(?=/|[\\s"',\\]]|$)`, "gm"), `$1${root}$2`);
for (let r of replacements) {  // FROM=TO, or ?FROM=TO when FROM may be absent
  const optional = r.startsWith("?");
  if (optional) r = r.slice(1);
  const eq = r.indexOf("=");
  const from = r.slice(0, eq);
  if (!text.includes(from)) {
    if (optional) continue;
    fail(`replacement ${from}: not in the config`);
  }
  text = text.split(from).join(r.slice(eq + 1));
}
// Every absolute path left must now be under ROOT: a path on no volume would
// not exist in the pod either.
const walk = (v, at) => {
  if (typeof v === "string" && v.startsWith("/") && !v.startsWith(`${root}/`)) fail(`config ${at} ${v} is on no volume of the server container`);
  if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
};
walk(yaml.load(text, { schema: yaml.CORE_SCHEMA }), "");
writeFileSync(out.config, text);

const redis = docs.find((d) => d.kind === "StatefulSet");
if (redis) {
  const rpod = redis.spec.template.spec;
  const rc = rpod.containers[0];
  const conf = [...(rc.command ?? []), ...(rc.args ?? [])].find((a) => a.endsWith(".conf"));
  const mount = rc.volumeMounts.find((m) => m.mountPath === dirname(conf));
  const cm = find("ConfigMap", rpod.volumes.find((v) => v.name === mount?.name)?.configMap?.name ?? "");
  out.redis = {
    conf: cm?.data?.[basename(conf)] ?? fail(`redis ${conf} is not in a rendered ConfigMap`),
    mounts: Object.fromEntries([...rpod.initContainers, rc].flatMap((c) => c.volumeMounts).map((m) => [m.name, m.mountPath])),
    init: rpod.initContainers.map((c) => c.command),
    readiness: rc.readinessProbe?.exec?.command ?? fail("redis readiness probe is not exec"),
  };
}
process.stdout.write(JSON.stringify(out, null, 1));
