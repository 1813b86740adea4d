// Ratio of whole-appraisal throughput (bench/engine_bench, memo on) to the
// signature floor: the verifications of fresh evidence no cache can avoid.
//   TDX quote:   2 ECDSA P-256 (quote, QE report)
//   SEV-SNP:     1 ECDSA P-384 (report)
//   GPU:         1 ECDSA P-384 per GPU (report)
//   TDX+N GPUs:  2 P-256 + N P-384
// Two floors, two ratio columns:
//   - in-process: engine_bench's own BM_floor_ecdsa/p:256 and /p:384 (the
//     EVP_PKEY_verify call `openssl speed` times), run with repetitions
//     randomly interleaved with the appraisals', medians divided: a host
//     whose speed drifts moves both alike;
//   - `openssl speed`, timed before and after engine_bench (the mean of the
//     two; both are printed, and their spread says how much the host drifted).
// Usage: node floor_ratios.mjs engine_bench.json speed_ecdsap256.txt speed_ecdsap384.txt
//          [speed_ecdsap256_after.txt speed_ecdsap384_after.txt]
// Rates are per CPU second (Google Benchmark's items/s; openssl speed counts
// CPU time too).
import { readFileSync } from 'node:fs';

const [bench, s256, s384, s256after, s384after] = process.argv.slice(2);
const verifyRate = (file) => {
  const fields = readFileSync(file, 'utf8').trim().split(/\s+/);
  const v = Number(fields[fields.length - 1]);
  if (!(v > 0)) throw new Error(`${file}: no verify/s in the last column`);
  return v;
};
const mean = (a, b) => (b === undefined ? a : (a + b) / 2);
const p256before = verifyRate(s256);
const p384before = verifyRate(s384);
const p256after = s256after ? verifyRate(s256after) : undefined;
const p384after = s384after ? verifyRate(s384after) : undefined;
const speed256 = mean(p256before, p256after);
const speed384 = mean(p384before, p384after);

// Google Benchmark writes NaN (not JSON) for some aggregates of counters.
const runs = JSON.parse(readFileSync(bench, 'utf8').replace(/\bNaN\b/g, 'null')).benchmarks;
// The median of a benchmark's repetitions when there are several, else its
// one run; undefined when absent.
const rateOrUndefined = (name) => {
  const median = runs.find(
    (r) => r.run_name === name && r.run_type === 'aggregate' && r.aggregate_name === 'median');
  if (median) return median.items_per_second;
  const b = runs.find((r) => (r.run_name === name || r.name === name) && r.run_type !== 'aggregate');
  if (!b || b.error_occurred) return undefined;
  return b.items_per_second;
};
const rate = (name) => {
  const r = rateOrUndefined(name);
  if (!(r > 0)) throw new Error(`${name}: missing or failed`);
  return r;
};
const repetitions = runs.filter((r) => r.run_name === 'BM_sim_tdx_gpus8/memo:1' && r.run_type === 'iteration').length;
const own256 = rateOrUndefined('BM_floor_ecdsa/p:256');
const own384 = rateOrUndefined('BM_floor_ecdsa/p:384');

const cases = [
  ['real TDX quote (tdx_phala_uptodate)', 'BM_real_tdx/memo:1', 2, 0],
  ['simulated TDX quote', 'BM_sim_tdx_gpus0/memo:1', 2, 0],
  ['real SEV-SNP report (milan_v3_oak_cb)', 'BM_real_snp/memo:1', 0, 1],
  ['simulated TDX + 1 GPU (RIMs + OCSP)', 'BM_sim_tdx_gpus1/memo:1', 2, 1],
  ['simulated TDX + 8 GPUs (RIMs + OCSP)', 'BM_sim_tdx_gpus8/memo:1', 2, 8],
];
const both = (b, a) =>
  a === undefined ? `${b.toFixed(0)}` : `${((a + b) / 2).toFixed(0)} (before ${b.toFixed(0)}, after ${a.toFixed(0)})`;
console.log(`openssl speed: ECDSA P-256 ${both(p256before, p256after)} verify/s, P-384 ${both(p384before, p384after)} verify/s`);
if (own256 && own384) {
  console.log(`in-process floor (BM_floor_ecdsa${repetitions > 1 ? `, median of ${repetitions} interleaved repetitions` : ''}): P-256 ${own256.toFixed(0)} verify/s, P-384 ${own384.toFixed(0)} verify/s`);
}
const floorOf = (n256, n384, p256, p384) => 1 / (n256 / p256 + n384 / p384);
console.log('| appraisal | with memo /s | without memo /s | floor /s (in-process) | ratio (in-process floor) | floor /s (openssl speed) | ratio (openssl speed) |');
console.log('|---|---|---|---|---|---|---|');
const cell = (x, digits) => (x === undefined ? '' : x.toFixed(digits));
for (const [label, name, n256, n384] of cases) {
  const r = rate(name);
  const off = rateOrUndefined(name.replace('memo:1', 'memo:0'));
  const own = own256 && own384 ? floorOf(n256, n384, own256, own384) : undefined;
  const speed = floorOf(n256, n384, speed256, speed384);
  console.log(`| ${label} | ${r.toFixed(0)} | ${cell(off, 0)} | ${cell(own, 0)} | ${own ? (r / own).toFixed(2) : ''} | ${speed.toFixed(0)} | ${(r / speed).toFixed(2)} |`);
}
// Per GPU: what each of the 8 GPUs adds to a TDX-only appraisal, against one
// P-384 verify.
const perGpu = (1 / rate('BM_sim_tdx_gpus8/memo:1') - 1 / rate('BM_sim_tdx_gpus0/memo:1')) / 8;
console.log(`| per GPU in the 8-GPU node ((t8 - t0) / 8 = ${(perGpu * 1e6).toFixed(0)} µs) | ${(1 / perGpu).toFixed(0)} | | ${cell(own384, 0)} | ${own384 ? (1 / perGpu / own384).toFixed(2) : ''} | ${speed384.toFixed(0)} | ${(1 / perGpu / speed384).toFixed(2)} |`);
