// Times @phala/dcap-qvl's verify on the phala_uptodate quote with its
// collateral (the same input as bench/tdx_verify_bench), for the ratio in
// scripts/bench.sh. Prints verifications per second.
//   node bench.mjs /path/to/tests/data/tdx [seconds]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { verify } = require('@phala/dcap-qvl');

const dir = process.argv[2];
const seconds = Number(process.argv[3] ?? 3);
const quote = readFileSync(`${dir}/phala_uptodate/quote.bin`);
const c = JSON.parse(readFileSync(`${dir}/phala_uptodate/collateral.json`, 'utf8'));
const collateral = {
  ...c,
  root_ca_crl: Buffer.from(c.root_ca_crl, 'hex'),
  pck_crl: Buffer.from(c.pck_crl, 'hex'),
  tcb_info_signature: Buffer.from(c.tcb_info_signature, 'hex'),
  qe_identity_signature: Buffer.from(c.qe_identity_signature, 'hex'),
};
const at = Math.floor(Date.parse('2025-07-01T00:00:00Z') / 1000);
const status = verify(quote, collateral, at).status;  // warm-up, and a sanity check
if (status !== 'UpToDate') throw new Error(`unexpected status ${status}`);
let n = 0;
const start = process.hrtime.bigint();
const end = start + BigInt(Math.round(seconds * 1e9));
while (process.hrtime.bigint() < end) {
  verify(quote, collateral, at);
  ++n;
}
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`@phala/dcap-qvl verify (phala_uptodate): ${n} in ${elapsed.toFixed(2)} s = ${(n / elapsed).toFixed(1)}/s`);
