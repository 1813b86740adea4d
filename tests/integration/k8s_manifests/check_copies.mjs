// deploy/k8s carries copies (kustomize reads only files inside a
// kustomization directory): this checks they still agree with their sources.
//  - every deploy/k8s/**/policies/*.yaml is byte-identical to
//    deploy/policies/<same name>.yaml, and so is every key of every rendered
//    attestation-rp-policies ConfigMap;
//  - the prod config's fleet: and admission: blocks equal
//    deploy/k8s/webhook/server-admission.yaml;
//  - the base config's ports and secret paths equal
//    deploy/config/production.example.yaml's (the documented layout);
//  - docs/kubernetes.md shows how to create every Secret (`create secret`)
//    and every ConfigMap (`create configmap`) the pods mount but the
//    manifests do not contain.
// Self-test: a changed copy, a changed block and a moved path are reported.
//
//   node check_copies.mjs ROOT NAME=RENDERED.yaml ...
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, basename } from "node:path";
import { isDeepStrictEqual } from "node:util";
import yaml from "js-yaml";

const [root, ...rest] = process.argv.slice(2);
const load = (t) => yaml.loadAll(t, null, { schema: yaml.CORE_SCHEMA }).filter((d) => d != null);
const rendered = Object.fromEntries(rest.map((a) => {
  const eq = a.indexOf("=");
  return [a.slice(0, eq), load(readFileSync(a.slice(eq + 1), "utf8"))];
}));
const source = (name) => readFileSync(join(root, "deploy/policies", name), "utf8");

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function configOf(docs) {
  const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name.startsWith("attestation-rp-config"));
  return cm && yaml.load(cm.data["config.yaml"], { schema: yaml.CORE_SCHEMA });
}

export function checkAll(files, renders) {
  const problems = [];
  // 1. policy copies in the tree
  let copies = 0;
  for (const [path, text] of files) {
    let src;
    try { src = source(basename(path)); } catch { problems.push(`${path}: no deploy/policies/${basename(path)} to copy`); continue; }
    copies++;
    if (text !== src) problems.push(`${path} differs from deploy/policies/${basename(path)}: copy it again`);
  }
  if (copies === 0) problems.push("no policy copies found under deploy/k8s");
  // 2. rendered policies ConfigMaps
  for (const [name, docs] of Object.entries(renders)) {
    const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === "attestation-rp-policies");
    if (!cm) { problems.push(`${name}: no ConfigMap attestation-rp-policies`); continue; }
    for (const [key, text] of Object.entries(cm.data ?? {})) {
      let src;
      try { src = source(key); } catch { problems.push(`${name}: policy ${key} has no source in deploy/policies`); continue; }
      if (text !== src) problems.push(`${name}: rendered policy ${key} differs from deploy/policies/${key}`);
    }
  }
  // 3. the webhook blocks of the prod config
  const admission = yaml.load(readFileSync(join(root, "deploy/k8s/webhook/server-admission.yaml"), "utf8"));
  for (const name of ["prod", "prod-cert"]) {
    const c = renders[name] && configOf(renders[name]);
    if (!c) { problems.push(`${name}: not rendered or no config`); continue; }
    for (const block of ["fleet", "admission"]) {
      if (!isDeepStrictEqual(c[block], admission[block])) {
        problems.push(`${name}: config ${block}: differs from deploy/k8s/webhook/server-admission.yaml`);
      }
    }
  }
  // 4. the documented layout of production.example.yaml
  const example = yaml.load(readFileSync(join(root, "deploy/config/production.example.yaml"), "utf8"));
  const fields = [
    ["listen"], ["http_listen"], ["metrics_listen"], ["tls", "cert_file"], ["tls", "key_file"],
    ["http_tls", "cert_file"], ["http_tls", "key_file"], ["nonce", "hmac_key_file"],
    ["token", "keys", 0, "pem_file"], ["redis", "password_file"], ["collateral", "cache_dir"],
    ["environment"],
  ];
  for (const name of ["base", "prod"]) {
    const c = renders[name] && configOf(renders[name]);
    if (!c) { problems.push(`${name}: not rendered or no config`); continue; }
    for (const f of fields) {
      const get = (o) => f.reduce((x, k) => x?.[k], o);
      if (get(c) !== get(example)) {
        problems.push(`${name}: config ${f.join(".")} is ${get(c)}, production.example.yaml has ${get(example)}`);
      }
    }
  }
  // 5. docs/kubernetes.md: how to create what the manifests reference only
  const docsText = readFileSync(join(root, "docs/kubernetes.md"), "utf8").split("\n");
  for (const [name, docs] of Object.entries(renders)) {
    for (const w of docs.filter((d) => d.kind === "Deployment" || d.kind === "StatefulSet")) {
      for (const v of w.spec.template.spec.volumes ?? []) {
        const ref = v.secret ? ["Secret", v.secret.secretName, "create secret"]
          : v.configMap ? ["ConfigMap", v.configMap.name, "create configmap"] : undefined;
        if (!ref || docs.some((d) => d.kind === ref[0] && d.metadata.name === ref[1])) continue;
        if (!docsText.some((l) => l.includes(ref[2]) && new RegExp(`(?<![\\w-])${ref[1]}(?![\\w-])`).test(l))) {
          problems.push(`${name}: ${ref[0]} ${ref[1]} is mounted but docs/kubernetes.md has no \`${ref[2]} ${ref[1]}\``);
        }
      }
    }
  }
  return problems;
}

const files = walk(join(root, "deploy/k8s")).filter((p) => /\/policies\/[^/]+\.yaml$/.test(p))
  .map((p) => [relative(root, p), readFileSync(p, "utf8")]);
const problems = checkAll(files, rendered);
for (const [path] of files) console.log(`ok   ${path} = deploy/policies/${basename(path)}`);

// Self-test.
const MUTATIONS = [
  ["a policy copy edited", (f, r) => { f[0][1] += "# local edit\n"; }, "differs from deploy/policies"],
  ["a copy without a source", (f, r) => { f.push(["deploy/k8s/x/policies/nope.yaml", ""]); }, "no deploy/policies/nope.yaml"],
  ["a rendered policy edited", (f, r) => {
    const cm = r.prod.find((d) => d.metadata.name === "attestation-rp-policies");
    const k = Object.keys(cm.data)[0];
    cm.data[k] = cm.data[k].replace("allow_simulated: false", "allow_simulated: true");
  }, "rendered policy"],
  ["the prod admission block drifted", (f, r) => {
    const cm = r.prod.find((d) => d.metadata.name.startsWith("attestation-rp-config"));
    cm.data["config.yaml"] = cm.data["config.yaml"].replace("freshness_seconds: 600", "freshness_seconds: 6000");
  }, "config fleet"],
  ["a secret path moved in the base", (f, r) => {
    const cm = r.base.find((d) => d.metadata.name.startsWith("attestation-rp-config"));
    cm.data["config.yaml"] = cm.data["config.yaml"].replace("/etc/rp/nonce/hmac.key", "/etc/rp/hmac.key");
  }, "nonce.hmac_key_file"],
  ["a Secret the docs do not explain", (f, r) => {
    r.prod.find((d) => d.kind === "Deployment").spec.template.spec.volumes.push({ name: "x", secret: { secretName: "attestation-rp-undocumented" } });
  }, "attestation-rp-undocumented"],
  ["a port moved in the base", (f, r) => {
    const cm = r.base.find((d) => d.metadata.name.startsWith("attestation-rp-config"));
    cm.data["config.yaml"] = cm.data["config.yaml"].replace("0.0.0.0:9464", "0.0.0.0:9090");
  }, "metrics_listen"],
];
let failed = problems.length;
for (const p of problems) console.error(`FAIL: ${p}`);
for (const [what, mutate, expect] of MUTATIONS) {
  const f = structuredClone(files);
  const r = structuredClone(rendered);
  mutate(f, r);
  const got = checkAll(f, r);
  if (got.some((p) => p.includes(expect))) console.log(`ok   fires: ${what}`);
  else { console.error(`FAIL: self-test: not reported: ${what}`); failed++; }
}
if (failed) process.exit(1);
console.log("PASS");
