// Compares two renderings of one kustomization (kubectl kustomize and
// render_kustomization.mjs) as sets of objects: documents sorted by
// kind / namespace / name, keys sorted, Secret data unfolded (kustomize folds
// long base64 lines). Exit 0 when identical; 1 with the first differences.
//
//   node compare_renders.mjs A.yaml B.yaml
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

export function normalise(text) {
  const docs = yaml.loadAll(text, null, { schema: yaml.CORE_SCHEMA }).filter((d) => d != null);
  for (const d of docs) {
    if (d.kind === "Secret" && d.data) {
      for (const k of Object.keys(d.data)) d.data[k] = String(d.data[k]).replace(/\s+/g, "");
    }
  }
  const key = (d) => `${d.kind}|${d.metadata?.namespace ?? ""}|${d.metadata?.name}`;
  const sort = (v) => Array.isArray(v) ? v.map(sort)
    : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v;
  return new Map(docs.map((d) => [key(d), JSON.stringify(sort(d))]));
}

function firstDifference(a, b, path = "") {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === "object" && typeof b === "object") {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[k], b[k], `${path}/${k}`);
      if (d) return d;
    }
  }
  return `${path || "/"}: ${JSON.stringify(a)?.slice(0, 200)} != ${JSON.stringify(b)?.slice(0, 200)}`;
}

const [aPath, bPath] = process.argv.slice(2);
const a = normalise(readFileSync(aPath, "utf8"));
const b = normalise(readFileSync(bPath, "utf8"));
const problems = [];
for (const k of a.keys()) if (!b.has(k)) problems.push(`only in ${aPath}: ${k}`);
for (const k of b.keys()) if (!a.has(k)) problems.push(`only in ${bPath}: ${k}`);
for (const [k, v] of a) {
  if (b.has(k) && b.get(k) !== v) {
    problems.push(`${k} differs at ${firstDifference(JSON.parse(v), JSON.parse(b.get(k)))}`);
  }
}
if (problems.length) {
  for (const p of problems) console.error(`DIFF: ${p}`);
  process.exit(1);
}
console.log(`identical: ${a.size} objects`);
