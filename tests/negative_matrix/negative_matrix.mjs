// The negative matrix of docs/testing.md: for every verifier reason code in
// the index of docs/reasons.md, which tests name it. A code counts as named
// in a test file when one of its string literals has it as a word ("CODE",
// "fail/CODE") or the file uses a
// constant or enum value the sources map to it (constexpr char kName[] =
// "CODE"; {Enum::kValue, "CODE"}).
// Prints a markdown table per evidence type and the codes no test names.
//   node tests/negative_matrix/negative_matrix.mjs [ROOT]
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = process.argv[2] ?? new URL("../..", import.meta.url).pathname;
const reasons = readFileSync(join(root, "docs/reasons.md"), "utf8");
const index = reasons.slice(reasons.indexOf("## Index of verifier codes"));
const rows = [];
for (const line of index.split("\n")) {
  const m = /^\| ([A-Z0-9_, ]+) \| (.*) \|$/.exec(line);
  if (!m) continue;
  const codes = m[1].split(",").map((c) => c.trim()).filter(Boolean);
  const types = new Set();
  for (const t of ["snp", "tdx", "gpu", "rim"]) if (new RegExp(`\\b${t}\\b`).test(m[2])) types.add(t);
  for (const c of codes) rows.push({ code: c, types: [...types], where: m[2] });
}
if (rows.length === 0) {
  console.error("no codes found in docs/reasons.md's index");
  process.exit(1);
}

const tests = [];
const skip = new Set(["build", "node_modules", ".git", "var"]);
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name) || name.startsWith("build")) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p);
    else if (/_test\.cc$/.test(name) || (p.includes("/tests/") && /\.(cc|h|sh|mjs)$/.test(name))) tests.push(p);
  }
}
walk(root);
const text = new Map(tests.map((p) => [p, readFileSync(p, "utf8")]));

// Constants naming each code, from the non-test sources.
const constants = new Map();
function scanSources(dir) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name) || name.startsWith("build") || name === "tests") continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) scanSources(p);
    else if (/\.(h|cc)$/.test(name) && !/_test\.cc$/.test(name)) {
      const src = readFileSync(p, "utf8");
      for (const m of src.matchAll(/constexpr\s+(?:char|std::string_view|absl::string_view)\s+(k\w+)(?:\[\])?\s*=\s*"([A-Z0-9_]+)"/g)) {
        if (!constants.has(m[2])) constants.set(m[2], new Set());
        constants.get(m[2]).add(m[1]);
      }
      // Enum-to-code tables: {OcspError::kStale, "OCSP_STALE"}.
      for (const m of src.matchAll(/\{\s*(\w+::k\w+)\s*,\s*"([A-Z0-9_]+)"\s*\}/g)) {
        if (!constants.has(m[2])) constants.set(m[2], new Set());
        constants.get(m[2]).add(m[1]);
      }
    }
  }
}
scanSources(root);
const mentions = (t, code) => {
  // In a string literal, alone or as a word ("fail/CODE", "CODE: detail").
  let n = (t.match(new RegExp(`"[^"\\n]*\\b${code}\\b[^"\\n]*"`, "g")) ?? []).length;
  for (const k of constants.get(code) ?? []) n += (t.match(new RegExp(`\\b${k}\\b`, "g")) ?? []).length;
  return n;
};

const byType = { snp: [], tdx: [], gpu: [], rim: [] };
const untested = [];
for (const r of rows) {
  const files = [];
  let cases = 0;
  for (const [p, t] of text) {
    const n = mentions(t, r.code);
    if (n > 0) {
      files.push(relative(root, p));
      cases += n;
    }
  }
  r.files = files;
  r.cases = cases;
  if (files.length === 0) untested.push(r);
  for (const t of r.types) byType[t].push(r);
}
const names = { snp: "AMD SEV-SNP", tdx: "Intel TDX", gpu: "NVIDIA GPU / NVSwitch (SPDM)", rim: "NVIDIA RIMs" };
console.log("| evidence type | reason codes | named by a test | assertions | test files |");
console.log("|---|---|---|---|---|");
for (const [t, list] of Object.entries(byType)) {
  const tested = list.filter((r) => r.files.length > 0);
  const files = new Set(list.flatMap((r) => r.files));
  const cases = list.reduce((a, r) => a + r.cases, 0);
  console.log(`| ${names[t]} | ${list.length} | ${tested.length} | ${cases} | ${files.size} |`);
}
console.log("");
console.log(`Codes no test names (${untested.length} of ${rows.length}):`);
for (const r of untested) console.log(`- ${r.code} (${r.where})`);
