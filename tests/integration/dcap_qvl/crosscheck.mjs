// Runs @phala/dcap-qvl (pinned in package-lock.json) on the real TDX vectors
// of tests/data/tdx at the times PROVENANCE.md gives, and prints one JSON
// line per vector: {folder, status, advisory_ids} or {folder, error}.
//   node crosscheck.mjs /path/to/tests/data/tdx
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { verify } = require('@phala/dcap-qvl');

const VECTORS = [
  ['phala_uptodate', '2025-07-01T00:00:00Z'],
  ['phala_no_tcb_level', '2026-03-01T00:00:00Z'],
  ['gotdx_spr_e4', '2023-06-25T00:00:00Z'],
];

const dir = process.argv[2];
for (const [folder, at] of VECTORS) {
  const quote = readFileSync(`${dir}/${folder}/quote.bin`);
  const c = JSON.parse(readFileSync(`${dir}/${folder}/collateral.json`, 'utf8'));
  const collateral = {
    ...c,
    root_ca_crl: Buffer.from(c.root_ca_crl, 'hex'),
    pck_crl: Buffer.from(c.pck_crl, 'hex'),
    tcb_info_signature: Buffer.from(c.tcb_info_signature, 'hex'),
    qe_identity_signature: Buffer.from(c.qe_identity_signature, 'hex'),
  };
  try {
    const r = verify(quote, collateral, Math.floor(Date.parse(at) / 1000));
    console.log(JSON.stringify({ folder, status: r.status, advisory_ids: r.advisory_ids ?? r.advisoryIds ?? [] }));
  } catch (e) {
    console.log(JSON.stringify({ folder, error: String(e && e.message ? e.message : e) }));
  }
}
