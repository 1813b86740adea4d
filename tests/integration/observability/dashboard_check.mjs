// Static checks of the Grafana dashboard (classic JSON) and extraction of its
// PromQL for promtool and for the live test.
//   node dashboard_check.mjs DASHBOARD.json RULES_OUT.json EXPRS_OUT.json [RATE_INTERVAL]
// Checks: JSON parses; id null; uid ^[A-Za-z0-9_-]{1,40}$; schemaVersion in
// [13, 42]; a `datasource` template variable of query "prometheus"; every
// panel id unique; every non-row panel uses ${datasource}, has targets with a
// non-empty expr and unique refIds, and fits the 24-column grid. Writes every
// expr (template variables substituted) as recording rules (JSON is YAML, so
// `promtool check rules` parses them) and as a list for the live test, and
// prints the metric names the dashboard uses, one per line.
import { readFileSync, writeFileSync } from "node:fs";

const [dashFile, rulesOut, exprsOut, rateInterval = "1m"] = process.argv.slice(2);
if (!exprsOut) {
  console.error("usage: node dashboard_check.mjs DASHBOARD.json RULES_OUT.json EXPRS_OUT.json");
  process.exit(2);
}
const problems = [];
const fail = (m) => problems.push(m);
const d = JSON.parse(readFileSync(dashFile, "utf8"));
if (d.id !== null) fail(`id must be null (got ${d.id})`);
if (!/^[A-Za-z0-9_-]{1,40}$/.test(d.uid ?? "")) fail(`uid '${d.uid}' must match ^[A-Za-z0-9_-]{1,40}$`);
if (!(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 13 && d.schemaVersion <= 42)) {
  fail(`schemaVersion ${d.schemaVersion} must be 13..42 (classic dashboard JSON)`);
}
if (!d.title) fail("title missing");
const vars = d.templating?.list ?? [];
const ds = vars.find((v) => v.type === "datasource" && v.name === "datasource");
if (!ds || ds.query !== "prometheus") fail("no `datasource` variable of type datasource, query prometheus");
const varNames = new Set(vars.map((v) => v.name));
for (const v of vars) {
  if (v.type === "query" && v.datasource?.uid !== "${datasource}") fail(`variable ${v.name} does not use \${datasource}`);
}

const ids = new Set();
const exprs = [];
const metrics = new Set();
const all = [];
for (const p of d.panels ?? []) {
  all.push(p);
  for (const q of p.panels ?? []) all.push(q);
}
const KEYWORDS = new Set(["sum", "by", "rate", "increase", "histogram_quantile", "max", "min", "count",
  "avg", "without", "or", "and", "unless", "on", "ignoring", "group_left", "group_right", "le", "bool",
  "offset", "vector", "absent", "topk", "bottomk", "irate", "delta", "deriv", "clamp_min", "clamp_max"]);
for (const p of all) {
  if (ids.has(p.id)) fail(`panel id ${p.id} used twice`);
  ids.add(p.id);
  const g = p.gridPos ?? {};
  if (!(g.w >= 1 && g.x >= 0 && g.x + g.w <= 24 && g.h >= 1 && g.y >= 0)) fail(`panel ${p.id} gridPos ${JSON.stringify(g)}`);
  if (p.type === "row") continue;
  if (!p.title) fail(`panel ${p.id} has no title`);
  if (!p.description) fail(`panel ${p.id} (${p.title}) has no description`);
  if (p.datasource?.uid !== "${datasource}") fail(`panel ${p.id} (${p.title}) does not use \${datasource}`);
  const targets = p.targets ?? [];
  if (targets.length === 0) fail(`panel ${p.id} (${p.title}) has no targets`);
  const refs = new Set();
  for (const t of targets) {
    if (refs.has(t.refId)) fail(`panel ${p.id}: refId ${t.refId} twice`);
    refs.add(t.refId);
    if (!t.expr || !t.expr.trim()) {
      fail(`panel ${p.id} (${p.title}) target ${t.refId}: empty expr`);
      continue;
    }
    for (const m of t.expr.matchAll(/\$(\w+)/g)) {
      if (!m[1].startsWith("__") && !varNames.has(m[1])) fail(`panel ${p.id}: unknown variable $${m[1]}`);
    }
    const expr = t.expr
      .replaceAll("$__rate_interval", rateInterval)
      .replaceAll("$__interval", "15s")
      .replaceAll("$__range", "1h")
      .replace(/\$\{?(job|instance)\}?/g, ".+");
    if (/\$/.test(expr)) fail(`panel ${p.id}: unsubstituted variable in ${expr}`);
    // Metric names: identifiers not followed by "(" that are not keywords or
    // label names inside {...} / by (...).
    const stripped = expr.replace(/\{[^}]*\}/g, "{}").replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, "");
    for (const m of stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)) {
      if (!KEYWORDS.has(m[1]) && !/^\d/.test(m[1]) && !/^[0-9.]+$/.test(m[1])) metrics.add(m[1]);
    }
    exprs.push({ panel: p.id, title: p.title, refId: t.refId, expr });
  }
}
if (exprs.length === 0) fail("no expressions");
if (problems.length) {
  for (const m of problems) console.error(`FAIL: ${m}`);
  process.exit(1);
}
const rules = {
  groups: [{
    name: "dashboard",
    rules: exprs.map((e) => ({ record: `dashboard:panel_${e.panel}_${e.refId.toLowerCase()}`, expr: e.expr })),
  }],
};
writeFileSync(rulesOut, JSON.stringify(rules, null, 1));
writeFileSync(exprsOut, JSON.stringify(exprs, null, 1));
for (const m of [...metrics].sort()) console.log(m);
