// A minimal kustomize for machines without kubectl (run_manifest_test.sh
// uses `kubectl kustomize` when it is installed). It understands exactly
// what deploy/k8s/webhook and make-serving-cert.sh's overlay use, and fails
// on anything else rather than render something different:
//   resources (files, or directories holding a kustomization.yaml),
//   secretGenerator (name, namespace, type, files; disableNameSuffixHash),
//   patches (target kind + name; JSON 6902 add/replace with a "/"-path).
//
//   node render_kustomization.mjs DIR > rendered.yaml
import { readFileSync, statSync } from "node:fs";
import { join, resolve, basename } from "node:path";
import yaml from "js-yaml";

const fail = (m) => { console.error(`render_kustomization: ${m}`); process.exit(1); };
const known = new Set(["apiVersion", "kind", "resources", "secretGenerator", "generatorOptions", "patches"]);

function render(dir) {
  const k = yaml.load(readFileSync(join(dir, "kustomization.yaml"), "utf8"));
  for (const key of Object.keys(k)) if (!known.has(key)) fail(`${dir}: unsupported field ${key}`);
  let docs = [];
  for (const r of k.resources ?? []) {
    const p = resolve(dir, r);
    if (statSync(p).isDirectory()) docs = docs.concat(render(p));
    else docs = docs.concat(yaml.loadAll(readFileSync(p, "utf8")).filter(Boolean));
  }
  if ((k.secretGenerator ?? []).length && !k.generatorOptions?.disableNameSuffixHash) {
    fail(`${dir}: secretGenerator without disableNameSuffixHash is not supported`);
  }
  for (const g of k.secretGenerator ?? []) {
    const data = {};
    for (const f of g.files ?? []) data[basename(f)] = readFileSync(resolve(dir, f)).toString("base64");
    const s = { apiVersion: "v1", kind: "Secret", metadata: { name: g.name }, type: g.type ?? "Opaque", data };
    if (g.namespace) s.metadata.namespace = g.namespace;
    docs.push(s);
  }
  for (const p of k.patches ?? []) {
    const hits = docs.filter((d) => d.kind === p.target?.kind && d.metadata?.name === p.target?.name);
    if (hits.length !== 1) fail(`${dir}: patch target ${p.target?.kind}/${p.target?.name} matched ${hits.length}`);
    for (const op of yaml.load(p.patch)) {
      if (op.op !== "add" && op.op !== "replace") fail(`${dir}: unsupported patch op ${op.op}`);
      const parts = op.path.split("/").slice(1);
      let o = hits[0];
      for (const part of parts.slice(0, -1)) {
        o = o[/^\d+$/.test(part) ? Number(part) : part];
        if (o === undefined) fail(`${dir}: patch path ${op.path} does not exist`);
      }
      o[parts.at(-1)] = op.value;
    }
  }
  return docs;
}

const docs = render(resolve(process.argv[2] ?? fail("usage: render_kustomization.mjs DIR")));
process.stdout.write(docs.map((d) => yaml.dump(d)).join("---\n"));
