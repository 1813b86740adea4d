// A minimal kustomize for machines without kubectl (the k8s tests use
// `kubectl kustomize` when it is installed, and on such a machine
// k8s_manifest_render checks that this renderer's output is identical to
// kubectl's for every overlay). It implements exactly what deploy/k8s uses,
// with kustomize v5's semantics, and FAILS on anything else rather than
// render something different:
//
//   kustomization fields: apiVersion, kind (Kustomization | Component),
//     resources (files inside the directory, or directories holding a
//     Kustomization), components (directories holding a Component),
//     namespace, configMapGenerator / secretGenerator (name, namespace,
//     behavior create|merge|replace, files [key=]path, type (Secret),
//     options.disableNameSuffixHash), generatorOptions.disableNameSuffixHash,
//     patches (path or inline; strategic merge patches that name their target
//     by kind + metadata.name, or JSON 6902 add / replace / remove with a
//     target kind + name), replicas (name, count), images (name, newName,
//     newTag, digest);
//   strategic merge: maps merge, null deletes a key, lists of scalars are
//     replaced, lists keyed by merge key (containers / initContainers / volumes
//     / env by name, volumeMounts by mountPath, container ports by
//     containerPort) merge element-wise, new elements first (as kyaml does),
//     `$patch: delete` on a list element or on a whole document;
//   order of transformers: patches, namespace, replicas, images (kustomize's);
//   the generated ConfigMap / Secret name suffix (kustomize's hash: sha256 of
//   Go's JSON of {data, kind, name: "" [, type]}) applied at the end, with the
//   references to it in pod templates renamed (volumes, projected sources,
//   env valueFrom, envFrom, imagePullSecrets);
//   namespace: set on the namespaced kinds listed below, a Namespace object is
//   renamed to it (kustomize v5 does), cluster-scoped kinds are left alone;
//   a webhook's clientConfig.service.namespace must already equal it.
// Output: the documents in kustomize's "legacy" kind order.
//
//   node render_kustomization.mjs DIR > rendered.yaml
import { readFileSync, statSync, existsSync } from "node:fs";
import { resolve, basename, relative, isAbsolute, join } from "node:path";
import { pathToFileURL } from "node:url";
import { createHash } from "node:crypto";
import yaml from "js-yaml";

class RenderError extends Error {}
const fail = (m) => { throw new RenderError(m); };

const NAMESPACED = new Set([
  "ConfigMap", "Secret", "Service", "ServiceAccount", "Deployment", "StatefulSet",
  "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy",
]);
const CLUSTER_SCOPED = new Set(["Namespace", "ValidatingWebhookConfiguration"]);
const WORKLOADS = new Set(["Deployment", "StatefulSet"]);
// kustomize's legacy output order (api/resource/idslice.go); others sort between.
const FIRST = ["Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
  "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding",
  "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service", "LimitRange",
  "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment",
  "StatefulSet", "CronJob", "PodDisruptionBudget"];
const LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

// YAML: the 1.2 core schema (no timestamps, no merge keys), and refuse the
// YAML 1.1 scalars that go-yaml (kustomize) and js-yaml read differently.
function loadYaml(path, text = readFileSync(path, "utf8")) {
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    const l = line.replace(/\s+#.*$/, "");
    if (/(:|^\s*-)\s+[-+]?0[0-9]+\s*$/.test(l)) {
      fail(`${path}:${i + 1}: leading-zero number (YAML 1.1 octal in kustomize, decimal here); write it in decimal`);
    }
    if (/(:|^\s*-)\s+(yes|no|on|off|y|n|Yes|No|On|Off|YES|NO|ON|OFF)\s*$/.test(l)) {
      fail(`${path}:${i + 1}: unquoted yes/no/on/off (a boolean in YAML 1.1); quote it or write true/false`);
    }
  });
  return yaml.loadAll(text, null, { schema: yaml.CORE_SCHEMA, filename: path }).filter((d) => d != null);
}

function insideDir(dir, p, what) {
  const full = resolve(dir, p);
  const rel = relative(dir, full);
  if (rel.startsWith("..") || isAbsolute(rel)) {
    fail(`${dir}: ${what} ${p} is outside the kustomization directory (kustomize's load restrictor refuses it)`);
  }
  if (!existsSync(full)) fail(`${dir}: ${what} ${p} does not exist`);
  return full;
}

const only = (obj, allowed, where) => {
  for (const key of Object.keys(obj ?? {})) {
    if (!allowed.includes(key)) fail(`${where}: unsupported field ${key}`);
  }
};

const id = (o) => `${o.kind}|${o.metadata?.namespace ?? ""}|${o.metadata?.name}`;

// ---- accumulation --------------------------------------------------------
// A resource: { obj, hashed } (hashed: a generated ConfigMap / Secret whose
// name gets kustomize's content hash at the end).
function addResource(list, res, where) {
  if (typeof res.obj !== "object" || Array.isArray(res.obj) || !res.obj.kind || !res.obj.metadata?.name) {
    fail(`${where}: a document without kind or metadata.name`);
  }
  if (!NAMESPACED.has(res.obj.kind) && !CLUSTER_SCOPED.has(res.obj.kind)) {
    fail(`${where}: kind ${res.obj.kind} is not supported (add it to NAMESPACED or CLUSTER_SCOPED after checking kustomize's handling)`);
  }
  if (list.some((r) => id(r.obj) === id(res.obj))) fail(`${where}: duplicate resource ${id(res.obj)}`);
  list.push(res);
}

function accumulate(dir, list, expectKind) {
  const kpath = join(dir, "kustomization.yaml");
  if (!existsSync(kpath)) fail(`${dir}: no kustomization.yaml (kustomization.yml / Kustomization are not supported)`);
  const docs = loadYaml(kpath);
  if (docs.length !== 1) fail(`${kpath}: expected one document`);
  const k = docs[0];
  only(k, ["apiVersion", "kind", "namespace", "resources", "components", "configMapGenerator",
    "secretGenerator", "generatorOptions", "patches", "replicas", "images"], kpath);
  const kind = k.kind ?? "Kustomization";
  if (kind !== expectKind) fail(`${kpath}: kind ${kind}, expected ${expectKind}`);
  for (const r of k.resources ?? []) {
    if (/^[a-z]+:\/\//.test(r) || r.includes("?ref=")) fail(`${kpath}: remote resource ${r} is not supported`);
    const p = resolve(dir, r);
    if (existsSync(p) && statSync(p).isDirectory()) {
      for (const res of accumulate(p, [], "Kustomization")) addResource(list, res, kpath);
    } else {
      const f = insideDir(dir, r, "resource");
      for (const obj of loadYaml(f)) addResource(list, { obj, hashed: false }, f);
    }
  }
  for (const c of k.components ?? []) {
    const p = resolve(dir, c);
    if (!existsSync(p) || !statSync(p).isDirectory()) fail(`${kpath}: component ${c} is not a directory`);
    list = accumulate(p, list, "Component");
  }
  only(k.generatorOptions, ["disableNameSuffixHash"], `${kpath} generatorOptions`);
  const noHash = k.generatorOptions?.disableNameSuffixHash;  // true, false or undefined
  for (const g of k.configMapGenerator ?? []) generate(dir, kpath, list, g, "ConfigMap", noHash);
  for (const g of k.secretGenerator ?? []) generate(dir, kpath, list, g, "Secret", noHash);
  for (const p of k.patches ?? []) list = applyPatch(dir, kpath, list, p);
  if (k.namespace !== undefined) setNamespace(kpath, list, k.namespace);
  for (const r of k.replicas ?? []) setReplicas(kpath, list, r);
  for (const im of k.images ?? []) setImage(kpath, list, im);
  return list;
}

// ---- generators ------------------------------------------------------------
function generate(dir, kpath, list, g, kind, noHashDefault) {
  const where = `${kpath} ${kind} generator ${g.name}`;
  only(g, kind === "Secret" ? ["name", "namespace", "behavior", "files", "options", "type"]
    : ["name", "namespace", "behavior", "files", "options"], where);
  only(g.options, ["disableNameSuffixHash"], `${where} options`);
  // undefined: not said here (merge / replace then keep the base's setting).
  const said = g.options?.disableNameSuffixHash ?? noHashDefault;
  const hashed = !said;
  const data = {};
  for (const entry of g.files ?? []) {
    const eq = entry.indexOf("=");
    const key = eq >= 0 ? entry.slice(0, eq) : basename(entry);
    const file = insideDir(dir, eq >= 0 ? entry.slice(eq + 1) : entry, "generator file");
    const bytes = readFileSync(file);
    if (kind === "ConfigMap") {
      const text = bytes.toString("utf8");
      if (!Buffer.from(text, "utf8").equals(bytes)) fail(`${where}: ${file} is not UTF-8 (binaryData is not supported)`);
      data[key] = text;
    } else {
      data[key] = bytes.toString("base64");
    }
  }
  if (Object.keys(data).length === 0) fail(`${where}: no files`);
  const behavior = g.behavior ?? "create";
  const ns = g.namespace;
  const existing = list.find((r) => r.obj.kind === kind && r.obj.metadata.name === g.name &&
                                    (r.obj.metadata.namespace ?? undefined) === ns);
  if (behavior === "create") {
    const obj = kind === "ConfigMap"
      ? { apiVersion: "v1", kind, metadata: { name: g.name }, data }
      : { apiVersion: "v1", kind, metadata: { name: g.name }, type: g.type ?? "Opaque", data };
    if (ns !== undefined) obj.metadata.namespace = ns;
    addResource(list, { obj, hashed }, where);
  } else if (behavior === "merge" || behavior === "replace") {
    if (!existing) fail(`${where}: behavior ${behavior} but no generated ${kind} ${g.name} to ${behavior}`);
    if (said !== undefined && existing.hashed !== hashed) {
      fail(`${where}: name-suffix-hash setting differs from the base's (not supported)`);
    }
    if (g.type !== undefined && g.type !== existing.obj.type) fail(`${where}: type differs from the base's`);
    existing.obj.data = behavior === "merge" ? { ...existing.obj.data, ...data } : data;
  } else {
    fail(`${where}: behavior ${behavior} is not supported`);
  }
}

// Go's encoding/json escapes <, >, & and U+2028/9; kustomize's hash input
// is Go JSON with sorted keys.
const goJson = (v) => JSON.stringify(sortKeys(v)).replace(/[<>&\u2028\u2029]/g,
  (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}
function kustomizeHash(obj) {
  // api/hasher: name is looked up as the literal field "metadata/name",
  // which does not exist, so it is always "".
  const m = obj.kind === "ConfigMap"
    ? { kind: "ConfigMap", name: "", data: obj.data ?? {} }
    : { kind: "Secret", type: obj.type ?? "", name: "", data: obj.data ?? {} };
  const hex = createHash("sha256").update(goJson(m)).digest("hex").slice(0, 10);
  return hex.replace(/[013ae]/g, (c) => ({ 0: "g", 1: "h", 3: "k", a: "m", e: "t" })[c]);
}

// ---- patches ---------------------------------------------------------------
function applyPatch(dir, kpath, list, p) {
  only(p, ["path", "patch", "target"], `${kpath} patch`);
  if ((p.path === undefined) === (p.patch === undefined)) fail(`${kpath}: a patch needs exactly one of path, patch`);
  const file = p.path !== undefined ? insideDir(dir, p.path, "patch") : `${kpath} (inline patch)`;
  const docs = loadYaml(file, p.path !== undefined ? readFileSync(file, "utf8") : p.patch);
  if (docs.length !== 1) fail(`${file}: one document per patch is supported`);
  const doc = docs[0];
  if (Array.isArray(doc)) {  // JSON 6902
    only(p.target, ["kind", "name"], `${file} target`);
    if (!p.target?.kind || !p.target?.name) fail(`${file}: a JSON 6902 patch needs target kind and name`);
    const hits = list.filter((r) => r.obj.kind === p.target.kind && r.obj.metadata.name === p.target.name);
    if (hits.length !== 1) fail(`${file}: target ${p.target.kind}/${p.target.name} matched ${hits.length}`);
    for (const op of doc) json6902(file, hits[0].obj, op);
    return list;
  }
  if (p.target !== undefined) fail(`${file}: a strategic merge patch with a target selector is not supported`);
  if (!doc.kind || !doc.metadata?.name) fail(`${file}: a strategic merge patch needs kind and metadata.name`);
  only(doc.metadata, ["name"], `${file} metadata`);
  const hits = list.filter((r) => r.obj.kind === doc.kind && r.obj.metadata.name === doc.metadata.name);
  if (hits.length !== 1) fail(`${file}: ${doc.kind}/${doc.metadata.name} matched ${hits.length} resources`);
  if (doc.apiVersion !== hits[0].obj.apiVersion) fail(`${file}: apiVersion ${doc.apiVersion} differs from the target's`);
  if (doc.$patch !== undefined) {
    if (doc.$patch !== "delete") fail(`${file}: $patch: ${doc.$patch} is not supported`);
    return list.filter((r) => r !== hits[0]);
  }
  smpMerge(file, hits[0].obj, doc, []);
  return list;
}

function json6902(file, target, op) {
  only(op, ["op", "path", "value"], `${file} operation`);
  if (!["add", "replace", "remove"].includes(op.op)) fail(`${file}: unsupported patch op ${op.op}`);
  if (typeof op.path !== "string" || !op.path.startsWith("/")) fail(`${file}: bad path ${op.path}`);
  const parts = op.path.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  let o = target;
  for (const part of parts.slice(0, -1)) {
    o = o?.[Array.isArray(o) ? Number(part) : part];
    if (o === undefined || o === null || typeof o !== "object") fail(`${file}: patch path ${op.path} does not exist`);
  }
  const last = parts.at(-1);
  if (Array.isArray(o)) {
    if (last === "-" && op.op === "add") { o.push(op.value); return; }
    if (!/^\d+$/.test(last) || Number(last) > o.length || (op.op !== "add" && Number(last) >= o.length)) {
      fail(`${file}: bad array index in ${op.path}`);
    }
    const i = Number(last);
    if (op.op === "add") o.splice(i, 0, op.value);
    else if (op.op === "replace") o[i] = op.value;
    else o.splice(i, 1);
    return;
  }
  if (op.op !== "add" && !(last in o)) fail(`${file}: ${op.op} of missing ${op.path}`);
  if (op.op === "remove") delete o[last];
  else o[last] = op.value;
}

// The merge key of a list, from where it sits (the fields deploy/k8s patches).
function mergeKey(path) {
  const field = path.at(-1);
  if (["containers", "initContainers", "volumes", "env"].includes(field)) return "name";
  if (field === "volumeMounts") return "mountPath";
  if (field === "ports" && ["containers", "initContainers"].includes(path.at(-3))) return "containerPort";
  return undefined;
}

function smpMerge(file, dst, patch, path) {
  for (const [key, value] of Object.entries(patch)) {
    const at = [...path, key];
    if (key.startsWith("$")) fail(`${file}: directive ${key} at /${at.join("/")} is not supported`);
    if (value === null) { delete dst[key]; continue; }
    const cur = dst[key];
    if (Array.isArray(value)) {
      if (!Array.isArray(cur)) { dst[key] = stripDirectives(file, value, at); continue; }
      dst[key] = mergeList(file, cur, value, at);
    } else if (value && typeof value === "object") {
      if (cur && typeof cur === "object" && !Array.isArray(cur)) smpMerge(file, cur, value, at);
      else dst[key] = stripDirectives(file, value, at);
    } else {
      dst[key] = value;
    }
  }
}

function stripDirectives(file, v, path) {
  const s = JSON.stringify(v);
  if (s.includes('"$')) fail(`${file}: a directive inside new content at /${path.join("/")} is not supported`);
  return structuredClone(v);
}

function mergeList(file, cur, patch, path) {
  const objects = patch.every((e) => e && typeof e === "object" && !Array.isArray(e));
  const scalars = patch.every((e) => e === null || typeof e !== "object");
  if (scalars) return [...patch];                // lists of scalars are replaced
  if (!objects) fail(`${file}: mixed list at /${path.join("/")}`);
  const key = mergeKey(path);
  if (!key) fail(`${file}: list of objects at /${path.join("/")} has no merge key this renderer knows`);
  const out = cur.map((e) => structuredClone(e));
  const added = [];
  for (const e of patch) {
    if (e[key] === undefined) fail(`${file}: list element at /${path.join("/")} without its merge key ${key}`);
    const i = out.findIndex((d) => d[key] === e[key]);
    if (e.$patch !== undefined) {
      if (e.$patch !== "delete") fail(`${file}: $patch: ${e.$patch} in a list is not supported`);
      if (i < 0) fail(`${file}: $patch: delete of ${key}=${e[key]} at /${path.join("/")}: no such element`);
      out.splice(i, 1);
      continue;
    }
    if (i >= 0) smpMerge(file, out[i], e, [...path, String(e[key])]);
    else added.push(stripDirectives(file, e, path));
  }
  return [...added, ...out];
}

// ---- transformers ----------------------------------------------------------
function setNamespace(kpath, list, ns) {
  for (const { obj } of list) {
    if (obj.kind === "Namespace") {
      obj.metadata.name = ns;
    } else if (CLUSTER_SCOPED.has(obj.kind)) {
      for (const w of obj.webhooks ?? []) {
        const s = w.clientConfig?.service;
        if (s && s.namespace !== ns) {
          fail(`${kpath}: webhook ${w.name} calls a Service in ${s.namespace}, not ${ns} (not supported)`);
        }
      }
    } else {
      obj.metadata.namespace = ns;
    }
  }
}

function setReplicas(kpath, list, r) {
  only(r, ["name", "count"], `${kpath} replicas`);
  const hits = list.filter((x) => WORKLOADS.has(x.obj.kind) && x.obj.metadata.name === r.name);
  if (hits.length === 0) fail(`${kpath}: replicas: no workload ${r.name}`);
  for (const h of hits) h.obj.spec.replicas = r.count;
}

function splitImage(image) {
  const at = image.indexOf("@");
  if (at >= 0) return [image.slice(0, at), image.slice(at)];
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? [image.slice(0, colon), image.slice(colon)] : [image, ""];
}

function podSpecs(obj) {
  return WORKLOADS.has(obj.kind) && obj.spec?.template?.spec ? [obj.spec.template.spec] : [];
}

function setImage(kpath, list, im) {
  only(im, ["name", "newName", "newTag", "digest"], `${kpath} images`);
  if (im.newTag !== undefined && im.digest !== undefined) fail(`${kpath}: images: both newTag and digest`);
  for (const { obj } of list) {
    for (const spec of podSpecs(obj)) {
      for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
        const [name, suffix] = splitImage(c.image);
        if (name !== im.name) continue;
        const tail = im.digest !== undefined ? `@${im.digest}`
          : im.newTag !== undefined ? `:${im.newTag}` : suffix;
        c.image = `${im.newName ?? name}${tail}`;
      }
    }
  }
}

function applyHashes(list) {
  const renamed = new Map();  // kind|ns|old -> new
  for (const r of list) {
    if (!r.hashed) continue;
    const old = id(r.obj);
    r.obj.metadata.name = `${r.obj.metadata.name}-${kustomizeHash(r.obj)}`;
    renamed.set(old, r.obj.metadata.name);
  }
  const ref = (kind, ns, name) => renamed.get(`${kind}|${ns ?? ""}|${name}`) ?? name;
  for (const { obj } of list) {
    const ns = obj.metadata.namespace;
    for (const spec of podSpecs(obj)) {
      for (const v of spec.volumes ?? []) {
        if (v.configMap) v.configMap.name = ref("ConfigMap", ns, v.configMap.name);
        if (v.secret) v.secret.secretName = ref("Secret", ns, v.secret.secretName);
        for (const s of v.projected?.sources ?? []) {
          if (s.configMap) s.configMap.name = ref("ConfigMap", ns, s.configMap.name);
          if (s.secret) s.secret.name = ref("Secret", ns, s.secret.name);
        }
      }
      for (const s of spec.imagePullSecrets ?? []) s.name = ref("Secret", ns, s.name);
      for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
        for (const e of c.env ?? []) {
          const cm = e.valueFrom?.configMapKeyRef;
          const sk = e.valueFrom?.secretKeyRef;
          if (cm) cm.name = ref("ConfigMap", ns, cm.name);
          if (sk) sk.name = ref("Secret", ns, sk.name);
        }
        for (const e of c.envFrom ?? []) {
          if (e.configMapRef) e.configMapRef.name = ref("ConfigMap", ns, e.configMapRef.name);
          if (e.secretRef) e.secretRef.name = ref("Secret", ns, e.secretRef.name);
        }
      }
    }
  }
}

function order(kind) {
  const f = FIRST.indexOf(kind);
  if (f >= 0) return f;
  const l = LAST.indexOf(kind);
  return l >= 0 ? 1000 + l : 500;
}

export function renderKustomization(dir) {
  const list = accumulate(resolve(dir), [], "Kustomization");
  applyHashes(list);
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return list.map((r) => r.obj).sort((a, b) =>
    order(a.kind) - order(b.kind) || cmp(a.kind, b.kind) ||
    cmp(a.metadata.namespace ?? "", b.metadata.namespace ?? "") || cmp(a.metadata.name, b.metadata.name));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    const dir = process.argv[2] ?? fail("usage: render_kustomization.mjs DIR");
    const docs = renderKustomization(dir);
    process.stdout.write(docs.map((d) => yaml.dump(sortKeys(d), { lineWidth: -1, noRefs: true })).join("---\n"));
  } catch (e) {
    if (!(e instanceof RenderError)) throw e;
    console.error(`render_kustomization: ${e.message}`);
    process.exit(1);
  }
}
