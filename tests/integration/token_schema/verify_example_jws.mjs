// docs/token.md's signed example: the compact JWS must verify with the
// documented JWK Set (npm jose, at the token's own iat), and its protected
// header and payload must be exactly the documented JSON blocks.
//   node verify_example_jws.mjs /path/to/docs/token.md
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const doc = readFileSync(process.argv[2], 'utf8');
const block = (name, lang) => {
  const re = new RegExp(`<!-- BEGIN ${name} -->\\s*\`\`\`${lang}\\n([\\s\\S]*?)\`\`\`\\s*<!-- END ${name} -->`);
  const m = doc.match(re);
  if (!m) throw new Error(`docs/token.md has no ${name} block`);
  return m[1].trim();
};
const header = JSON.parse(block('EXAMPLE TOKEN HEADER', 'json'));
const payload = JSON.parse(block('EXAMPLE TOKEN PAYLOAD', 'json'));
const jws = block('EXAMPLE TOKEN JWS', '');
const jwks = JSON.parse(block('EXAMPLE JWKS', 'json'));

const { payload: got, protectedHeader } = await jwtVerify(jws, createLocalJWKSet(jwks), {
  algorithms: ['ES256', 'ES384'],
  currentDate: new Date(payload.iat * 1000),
});
if (!isDeepStrictEqual(protectedHeader, header)) throw new Error('header differs from the documented one');
if (!isDeepStrictEqual(decodeProtectedHeader(jws), header)) throw new Error('header mismatch');
if (!isDeepStrictEqual(got, payload)) throw new Error('payload differs from the documented one');
// A changed payload byte must not verify.
const [h, p, s] = jws.split('.');
const tampered = `${h}.${p.slice(0, -2)}${p.slice(-2) === 'AA' ? 'AB' : 'AA'}.${s}`;
let refused = false;
try {
  await jwtVerify(tampered, createLocalJWKSet(jwks), { currentDate: new Date(payload.iat * 1000) });
} catch {
  refused = true;
}
if (!refused) throw new Error('a tampered example verified');
console.log('docs/token.md example JWS: verified by jose with the documented JWKS; header and payload match');
