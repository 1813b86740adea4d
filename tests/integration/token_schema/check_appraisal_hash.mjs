// A relying party's check of a token against the full result the Attest
// response carried (docs/token.md#the-full-result-and-its-hash), done
// independently of the server's code:
//   node check_appraisal_hash.mjs TOKEN.jwt RESULT.json [MAX_TOKEN_BYTES]
//  - SHA-256 (node:crypto) of the result file's exact bytes equals the
//    token's appraisal_sha256;
//  - the result is canonical JSON: an RFC 8785 (JCS) serialisation written
//    here from the RFC's own recipe (ECMAScript JSON.stringify for strings
//    and numbers, member names sorted by UTF-16 code units, which is what
//    Array.prototype.sort does) reproduces the file byte for byte;
//  - the token says its profile, and (optionally) is at most MAX_TOKEN_BYTES.
// Signature verification is someone else's job here (jose_verifies_token,
// verify_example_jws.mjs): this reads the payload only.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [tokenFile, resultFile, maxBytes] = process.argv.slice(2);
if (!tokenFile || !resultFile) {
  console.error('usage: node check_appraisal_hash.mjs TOKEN.jwt RESULT.json [MAX_TOKEN_BYTES]');
  process.exit(2);
}
const jwt = readFileSync(tokenFile, 'utf8').trim();
const resultBytes = readFileSync(resultFile);
const payload = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

const canonicalize = (v) => {
  if (Array.isArray(v)) return `[${v.map(canonicalize).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalize(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
};

let failed = 0;
let passed = 0;
const check = (ok, what) => {
  if (ok) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}`);
  }
};

const digest = createHash('sha256').update(resultBytes).digest('hex');
check(payload.appraisal_sha256 === digest,
      `SHA-256 of the result (${digest.slice(0, 16)}...) is the token's appraisal_sha256`);
const text = resultBytes.toString('utf8');
check(canonicalize(JSON.parse(text)) === text, 'the result is canonical JSON (RFC 8785)');
check(['compact', 'full'].includes(payload.token_profile), `token_profile is ${payload.token_profile}`);
const changed = Buffer.from(resultBytes);
changed[changed.length - 2] ^= 1;
check(createHash('sha256').update(changed).digest('hex') !== payload.appraisal_sha256,
      'a result changed in one byte does not match');
if (maxBytes !== undefined) {
  check(jwt.length <= Number(maxBytes), `token is ${jwt.length} bytes (limit ${maxBytes})`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
