// Ratio of whole-appraisal throughput (bench/engine_bench, memo on) to the
// signature floor of the same run: the verifications of fresh evidence no
// cache can avoid, timed by `openssl speed` (verify/s is the last column).
//   TDX quote:   2 ECDSA P-256 (quote, QE report)
//   SEV-SNP:     1 ECDSA P-384 (report)
//   GPU:         1 ECDSA P-384 per GPU (report)
//   TDX+N GPUs:  2 P-256 + N P-384
// Usage: node floor_ratios.mjs engine_bench.json speed_ecdsap256.txt speed_ecdsap384.txt
//          [speed_ecdsap256_after.txt speed_ecdsap384_after.txt]
// With the second pair (openssl speed timed again after the benchmark), the
// floor is the mean of the two: the host's speed drifts on a shared VM, and
// the two figures say by how much.
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
const p256 = mean(p256before, p256after);
const p384 = mean(p384before, p384after);
const runs = JSON.parse(readFileSync(bench, 'utf8')).benchmarks;
const rate = (name) => {
  const b = runs.find((r) => r.name === name && r.run_type !== 'aggregate');
  if (!b || b.error_occurred) throw new Error(`${name}: missing or failed`);
  return b.items_per_second;
};
const cases = [
  ['real TDX quote (tdx_phala_uptodate)', 'BM_real_tdx/memo:1', 2, 0],
  ['simulated TDX quote', 'BM_sim_tdx_gpus0/memo:1', 2, 0],
  ['real SEV-SNP report (milan_v3_oak_cb)', 'BM_real_snp/memo:1', 0, 1],
  ['simulated TDX + 1 GPU (RIMs + OCSP)', 'BM_sim_tdx_gpus1/memo:1', 2, 1],
  ['simulated TDX + 8 GPUs (RIMs + OCSP)', 'BM_sim_tdx_gpus8/memo:1', 2, 8],
];
const both = (b, a) => (a === undefined ? `${b.toFixed(0)}` : `${((a + b) / 2).toFixed(0)} (before ${b.toFixed(0)}, after ${a.toFixed(0)})`);
console.log(`openssl speed: ECDSA P-256 ${both(p256before, p256after)} verify/s, P-384 ${both(p384before, p384after)} verify/s`);
console.log('| appraisal | with memo /s | without memo /s | floor /s | ratio to floor |');
console.log('|---|---|---|---|---|');
for (const [label, name, n256, n384] of cases) {
  const floor = 1 / (n256 / p256 + n384 / p384);
  const r = rate(name);
  const off = rate(name.replace('memo:1', 'memo:0'));
  console.log(`| ${label} | ${r.toFixed(0)} | ${off.toFixed(0)} | ${floor.toFixed(0)} | ${(r / floor).toFixed(2)} |`);
}
// Per GPU: what each of the 8 GPUs adds to a TDX-only appraisal, against one
// P-384 verify.
const perGpu = (1 / rate('BM_sim_tdx_gpus8/memo:1') - 1 / rate('BM_sim_tdx_gpus0/memo:1')) / 8;
console.log(`| per GPU in the 8-GPU node ((t8 - t0) / 8 = ${(perGpu * 1e6).toFixed(0)} µs) | ${(1 / perGpu).toFixed(0)} | | ${p384.toFixed(0)} | ${(1 / perGpu / p384).toFixed(2)} |`);
