// Offline schema validation of rendered manifests, every object:
//  1. kubernetes-models (the Kubernetes OpenAPI schemas compiled to ajv
//     validators): types, enums, formats, required fields;
//  2. unknown fields, as `kubectl apply` (field validation Strict) refuses
//     them: the OpenAPI validators accept any extra property, so every key is
//     also looked up in kubernetes-models' TypeScript declarations (the same
//     OpenAPI definitions), recursively: a typo such as `readinessprobe` or a
//     field at the wrong level is reported.
// Then it re-validates mutated copies that must be refused, so that a pass
// means something.
//
//   node validate_schemas.mjs NAME=RENDERED.yaml ...
import { readFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";

const HERE = dirname(fileURLToPath(import.meta.url));
const MODULES = join(HERE, "node_modules");

// ---- kubernetes-models validators ------------------------------------------
const modulePath = (apiVersion) => apiVersion.includes("/") ? apiVersion : `v1`;  // core: "v1"
async function modelFor(doc) {
  const mod = await import(`kubernetes-models/${modulePath(doc.apiVersion)}`);
  const K = mod[doc.kind];
  if (!K) throw new Error(`no kubernetes-models class for ${doc.apiVersion} ${doc.kind}`);
  return K;
}

// ---- unknown fields from the .d.ts declarations --------------------------
// A tiny parser for the declaration subset kubernetes-models emits:
//   type   := prim ('|' prim)*
//   prim   := 'Array' '<' type '>' | '{' member* '}' | IDENT | STRING | keyword
//   member := STRING '?'? ':' type ';' | '[' IDENT ':' IDENT ']' ':' type ';'
function tokenize(src) {
  src = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  return src.match(/"(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*|[{}<>\[\]|:;?,()=.]/g) ?? [];
}
function parseType(t, i) {
  const members = [];
  let [m, j] = parsePrim(t, i);
  members.push(m);
  while (t[j] === "|") { [m, j] = parsePrim(t, j + 1); members.push(m); }
  return [members.length === 1 ? members[0] : { union: members }, j];
}
function parsePrim(t, i) {
  if (t[i] === "Array" && t[i + 1] === "<") {
    const [el, j] = parseType(t, i + 2);
    if (t[j] !== ">") throw new Error(`expected > at ${t.slice(j, j + 5)}`);
    return [{ array: el }, j + 1];
  }
  if (t[i] === "{") return parseObject(t, i + 1);
  return [{ name: t[i] }, i + 1];
}
function parseObject(t, i) {
  const fields = {};
  let index;
  while (t[i] !== "}") {
    if (t[i] === "[") {  // [key: string]: T
      const close = t.indexOf("]", i);
      const [ty, j] = parseType(t, close + 2);
      index = ty;
      i = t[j] === ";" ? j + 1 : j;
      continue;
    }
    const key = JSON.parse(t[i]);
    let j = i + 1;
    if (t[j] === "?") j++;
    if (t[j] !== ":") throw new Error(`expected : after ${key}`);
    const [ty, k] = parseType(t, j + 1);
    fields[key] = ty;
    i = t[k] === ";" ? k + 1 : k;
  }
  return [{ object: fields, index }, i + 1];
}

const files = new Map();  // path -> { imports: name -> path, interfaces: name -> type, aliases: alias -> name }
function declFile(path) {
  if (files.has(path)) return files.get(path);
  const src = readFileSync(path, "utf8");
  const info = { path, imports: new Map(), interfaces: new Map(), aliases: new Map() };
  for (const m of src.matchAll(/import \{([^}]*)\} from "([^"]+)";/g)) {
    for (const n of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      info.imports.set(n.split(/\s+as\s+/).at(-1), resolveModule(path, m[2]));
    }
  }
  for (const m of src.matchAll(/export type \{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const [name, alias] = part.trim().split(/\s+as\s+/);
      if (alias) info.aliases.set(alias, name);
    }
  }
  const toks = tokenize(src);
  for (let i = 0; i < toks.length; i++) {
    if (toks[i] === "interface") {
      const name = toks[i + 1];
      let j = i + 2;
      const ext = [];
      if (toks[j] === "extends") { j++; while (toks[j] !== "{") { if (toks[j] !== ",") ext.push(toks[j]); j++; } }
      const [ty] = parseObject(toks, j + 1);
      if (ext.includes("TypeMeta")) { ty.object.apiVersion ??= { name: "string" }; ty.object.kind ??= { name: "string" }; }
      info.interfaces.set(name, ty);
    }
  }
  files.set(path, info);
  return info;
}
function resolveModule(from, spec) {
  let p;
  if (spec.startsWith(".")) p = resolve(dirname(from), spec);
  else p = join(MODULES, spec);
  p = p.replace(/\.js$/, "");
  for (const c of [`${p}.d.ts`, join(p, "index.d.ts")]) if (existsSync(c)) return c;
  return undefined;
}
// The object type an identifier names in a file (undefined: not an object
// type we can follow, e.g. IntOrString or Quantity: checked by the validators).
function lookup(file, name) {
  const info = declFile(file);
  if (info.interfaces.has(name)) return { file, type: info.interfaces.get(name) };
  if (info.aliases.has(name) && info.interfaces.has(info.aliases.get(name))) {
    return { file, type: info.interfaces.get(info.aliases.get(name)) };
  }
  const target = info.imports.get(name);
  if (target) return lookup(target, name);
  return undefined;
}

function unknownFields(value, type, file, path, out) {
  if (value === null || value === undefined || !type) return;
  if (type.union) {
    const obj = type.union.find((u) => u.object || u.array || (u.name && lookup(file, u.name)));
    if (obj) unknownFields(value, obj, file, path, out);
    return;
  }
  if (type.array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, type.array, file, `${path}/${i}`, out));
    return;
  }
  if (type.object) {
    if (typeof value !== "object" || Array.isArray(value)) return;
    for (const [k, v] of Object.entries(value)) {
      if (k in type.object) unknownFields(v, type.object[k], file, `${path}/${k}`, out);
      else if (type.index) unknownFields(v, type.index, file, `${path}/${k}`, out);
      else out.push(`${path}/${k}: unknown field "${k}"`);
    }
    return;
  }
  if (type.name) {
    const t = lookup(file, type.name);
    if (t) unknownFields(value, t.type, t.file, path, out);
  }
}

export async function validate(doc) {
  const K = await modelFor(doc);
  new K(doc).validate();  // throws with the ajv errors
  const file = resolveModule(join(MODULES, "kubernetes-models", "x"), `kubernetes-models/${modulePath(doc.apiVersion)}/${doc.kind}`);
  const root = file && lookup(file, `I${doc.kind}`);
  if (!root) throw new Error(`no declarations for ${doc.apiVersion} ${doc.kind}`);
  const out = [];
  unknownFields(doc, root.type, root.file, "", out);
  if (out.length) throw new Error(out.join("; "));
}

// ---- main ------------------------------------------------------------------
const load = (text) => yaml.loadAll(text, null, { schema: yaml.CORE_SCHEMA }).filter((d) => d != null);
function unfoldSecrets(docs) {
  // kustomize folds Secret data at 70 columns; the API server's decoder skips
  // the line breaks, the schema's "byte" format does not.
  for (const d of docs) {
    if (d.kind === "Secret" && d.data) {
      for (const k of Object.keys(d.data)) d.data[k] = String(d.data[k]).replace(/\s+/g, "");
    }
  }
  return docs;
}

const find = (docs, kind, name) => docs.find((d) => d.kind === kind && (!name || d.metadata.name === name));
const container = (docs) => find(docs, "Deployment").spec.template.spec.containers[0];
const MUTATIONS = [
  ["a misspelt field (readinessprobe)", "Deployment", (d) => { const c = d.spec.template.spec.containers[0]; c.readinessprobe = c.readinessProbe; delete c.readinessProbe; }],
  ["a field at the wrong level (pod runAsNonRoot on the spec)", "Deployment", (d) => { d.spec.runAsNonRoot = true; }],
  ["an unknown securityContext field", "Deployment", (d) => { d.spec.template.spec.containers[0].securityContext.readOnlyRootFS = true; }],
  ["replicas as a string", "Deployment", (d) => { d.spec.replicas = "3"; }],
  ["a malformed quantity", "Deployment", (d) => { d.spec.template.spec.containers[0].resources.limits.memory = "1 GB"; }],
  ["seccomp type Default", "Deployment", (d) => { d.spec.template.spec.securityContext.seccompProfile.type = "Default"; }],
  ["no selector", "Deployment", (d) => { delete d.spec.selector; }],
  ["probe port as an object", "Deployment", (d) => { d.spec.template.spec.containers[0].livenessProbe.httpGet.port = { name: "http" }; }],
  ["protocol HTTP on a Service port", "Service", (d) => { d.spec.ports[0].protocol = "HTTP"; }],
  ["NetworkPolicy policyTypes Both", "NetworkPolicy", (d) => { d.spec.policyTypes = ["Both"]; }],
  ["NetworkPolicy unknown field in a peer", "NetworkPolicy", (d) => { d.spec.ingress[1].from[0].namespaceSelectors = {}; }],
  ["HPA metric type as a number", "HorizontalPodAutoscaler", (d) => { d.spec.metrics[0].type = 7; }],
  ["HPA v1 field targetCPUUtilizationPercentage in v2", "HorizontalPodAutoscaler", (d) => { d.spec.targetCPUUtilizationPercentage = 70; }],
  ["PDB selector matchLabels as a list", "PodDisruptionBudget", (d) => { d.spec.selector.matchLabels = ["a"]; }],
  ["ConfigMap data value as a number", "ConfigMap", (d) => { d.data = { x: 1 }; }],
  ["ServiceAccount automount as a string", "ServiceAccount", (d) => { d.automountServiceAccountToken = "false"; }],
  ["StatefulSet servicename (typo)", "StatefulSet", (d) => { d.spec.servicename = d.spec.serviceName; }],
  ["metadata.label (typo of labels)", "Deployment", (d) => { d.metadata.label = { a: "b" }; }],
  ["an unknown field in a Secret volume item", "Deployment", (d) => { d.spec.template.spec.volumes.find((v) => v.secret).secret.items = [{ key: "a", path: "a", defaultMode: 256 }]; }],
  ["a template label typo under spec.template.metadata", "StatefulSet", (d) => { d.spec.template.metadata.annotation = {}; }],
  ["Namespace label value as a number", "Namespace", (d) => { d.metadata.labels = { a: 1 }; }],
];

async function main() {
  const inputs = process.argv.slice(2).map((a) => {
    const eq = a.indexOf("=");
    return [a.slice(0, eq), unfoldSecrets(load(readFileSync(a.slice(eq + 1), "utf8")))];
  });
  const problems = [];
  const seen = new Map();  // kind -> a valid example (for the mutations)
  for (const [name, docs] of inputs) {
    const kinds = {};
    for (const doc of docs) {
      try {
        await validate(doc);
        kinds[doc.kind] = (kinds[doc.kind] ?? 0) + 1;
        if (!seen.has(doc.kind)) seen.set(doc.kind, doc);
      } catch (e) {
        problems.push(`${name}: ${doc.kind} ${doc.metadata?.name}: ${e.message}`);
      }
    }
    console.log(`ok   ${name}: ${docs.length} objects valid (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", ")})`);
  }
  for (const [what, kind, mutate] of MUTATIONS) {
    const doc = seen.get(kind);
    if (!doc) { problems.push(`self-test: no valid ${kind} rendered to mutate`); continue; }
    const copy = structuredClone(doc);
    mutate(copy);
    let refused = "";
    try { await validate(copy); } catch (e) { refused = e.message.split("\n")[0].slice(0, 100); }
    if (refused) console.log(`ok   refused: ${what} (${refused})`);
    else problems.push(`self-test: the validator accepted ${what}`);
  }
  if (problems.length) {
    for (const p of problems) console.error(`FAIL: ${p}`);
    process.exit(1);
  }
  console.log("PASS");
}
await main();
