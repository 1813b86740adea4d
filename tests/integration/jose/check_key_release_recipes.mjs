#!/usr/bin/env node
// Checks that real tokens carry exactly what each key-release recipe in
// docs/key-release.md relies on, by reading the recipe blocks from that file
// and applying them the way the product does (code paths cited per check).
// Neither Trustee KBS nor Vault can run here: their token handling is
// emulated from their source, and the generic gate block is run as written
// with npm `jose`.
//
//   node check_key_release_recipes.mjs --doc docs/key-release.md --base URL
//        --vault-token FILE --kms-token FILE --tee-key PEM --work DIR
//
// URL is the server's issuer (http://127.0.0.1:PORT, standing in for the
// documented https://attest.example.com). The vault token was issued with
// audience "vault", the kms token with "https://kms.example.com"; both for a
// simulated TDX node with 8 GPUs (at best `warning`: simulated evidence),
// whose TEE private key is PEM. DIR is a scratch directory.
// Prints "ok ..." per check and "N passed, M failed"; exit 0 iff M == 0.
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  importJWK,
  importPKCS8,
  jwtVerify,
} from 'jose';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    doc: { type: 'string' },
    base: { type: 'string' },
    'vault-token': { type: 'string' },
    'kms-token': { type: 'string' },
    'tee-key': { type: 'string' },
    work: { type: 'string' },
  },
  strict: true,
});
for (const k of ['doc', 'base', 'vault-token', 'kms-token', 'tee-key', 'work']) {
  if (!args[k]) throw new Error(`--${k} is required`);
}

const DOC_HOST = 'https://attest.example.com';
const base = args.base.replace(/\/+$/, '');
const doc = readFileSync(args.doc, 'utf8');
const vaultToken = readFileSync(args['vault-token'], 'utf8').trim();
const kmsToken = readFileSync(args['kms-token'], 'utf8').trim();

let passed = 0;
let failed = 0;
function check(name, cond, detail = '') {
  if (cond) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
}
async function expectThrow(name, fn, match) {
  try {
    await fn();
    check(name, false, 'accepted');
  } catch (e) {
    const text = `${e.code ?? ''} ${e.message}`;
    check(`${name} (rejected: ${text.trim().slice(0, 90)})`, match.test(text), text);
  }
}

// The fenced block between <!-- BEGIN RECIPE name --> and <!-- END RECIPE name -->,
// with the documented host replaced by the test server's.
function recipe(name) {
  const re = new RegExp(
    `<!-- BEGIN RECIPE ${name} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\`\\s*<!-- END RECIPE ${name} -->`,
  );
  const m = doc.match(re);
  if (!m) throw new Error(`docs/key-release.md has no recipe block '${name}'`);
  return m[1].split(DOC_HOST).join(base);
}

// RFC 6901.
function pointer(obj, ptr) {
  if (ptr === '') return { found: true, value: obj };
  if (!ptr.startsWith('/')) throw new Error(`not a JSON Pointer: ${ptr}`);
  let cur = obj;
  for (const raw of ptr.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) {
      return { found: false };
    }
    cur = cur[key];
  }
  return { found: true, value: cur };
}

const isPlaceholder = (v) => typeof v === 'string' && /^<[A-Z_]+>$/.test(v);
const payload = decodeJwt(vaultToken);
const header = decodeProtectedHeader(vaultToken);
const kmsPayload = decodeJwt(kmsToken);

// ---------------------------------------------------------------------------
// The claims every recipe builds on, against the attested TEE key.
const teePrivate = await importPKCS8(readFileSync(args['tee-key'], 'utf8'), 'ECDH-ES+A256KW', {
  extractable: true,
});
const teePublic = await exportJWK(teePrivate);
delete teePublic.d;
const thumb = await calculateJwkThumbprint(teePublic, 'sha256');
check('token: aud is the requested audience (vault)', payload.aud === 'vault', payload.aud);
check('token: the kms token names its own audience', kmsPayload.aud === 'https://kms.example.com');
check('token: iss is the configured URL issuer', payload.iss === base, payload.iss);
check(
  'token: sub = "tee:" + RFC 7638 thumbprint of the attested TEE key (computed by jose)',
  payload.sub === `tee:${thumb}`,
  `${payload.sub} vs tee:${thumb}`,
);
check(
  'token: cnf.jwk is the attested key with alg ECDH-ES+A256KW and nothing else',
  JSON.stringify(Object.keys(payload.cnf?.jwk ?? {}).sort()) ===
    JSON.stringify(['alg', 'crv', 'kty', 'x', 'y']) &&
    payload.cnf.jwk.alg === 'ECDH-ES+A256KW' &&
    payload.cnf.jwk.x === teePublic.x &&
    payload.cnf.jwk.y === teePublic.y,
  JSON.stringify(payload.cnf),
);
check(
  'token: jose computes the same thumbprint from cnf.jwk (alg is outside it)',
  (await calculateJwkThumbprint(payload.cnf.jwk, 'sha256')) === thumb,
);
check('token: a fresh jti per token', payload.jti !== kmsPayload.jti && kmsPayload.sub !== payload.sub);

// ---------------------------------------------------------------------------
// Discovery document as documented.
const discovery = await (await fetch(`${base}/.well-known/openid-configuration`)).json();
const documented = JSON.parse(recipe('discovery'));
check(
  'discovery: exactly the documented members',
  JSON.stringify(Object.keys(discovery).sort()) === JSON.stringify(Object.keys(documented).sort()),
  Object.keys(discovery).join(','),
);
check('discovery: issuer equals iss', discovery.issuer === payload.iss, discovery.issuer);
check('discovery: jwks_uri is <issuer>/.well-known/jwks.json',
      discovery.jwks_uri === `${base}/.well-known/jwks.json`, discovery.jwks_uri);
check('discovery: signing algorithms are exactly the header alg',
      JSON.stringify(discovery.id_token_signing_alg_values_supported) === JSON.stringify([header.alg]));
for (const k of ['response_types_supported', 'subject_types_supported', 'claims_supported']) {
  check(`discovery: ${k} as documented`, JSON.stringify(discovery[k]) === JSON.stringify(documented[k]));
}
for (const claim of Object.keys(payload)) {
  check(`discovery: claims_supported lists "${claim}"`, discovery.claims_supported.includes(claim));
}
const jwks = await (await fetch(discovery.jwks_uri)).json();
const signingKey = jwks.keys.find((k) => k.kid === header.kid);
check('jwks: the token kid is published, with alg and use', signingKey?.alg === header.alg &&
      signingKey?.use === 'sig', JSON.stringify(signingKey));

// ---------------------------------------------------------------------------
// Trustee KBS, passport mode.
{
  const toml = recipe('trustee-kbs-config');
  const array = (key) => {
    const m = toml.match(new RegExp(`^${key}\\s*=\\s*(\\[[^\\]]*\\])`, 'm'));
    if (!m) throw new Error(`trustee config: no ${key}`);
    return JSON.parse(m[1]);
  };
  const sets = array('trusted_jwk_sets');
  const teePaths = array('extra_teekey_paths');
  check('trustee: one trusted JWK set, our JWKS URL', sets.length === 1 &&
        sets[0] === `${base}/.well-known/jwks.json`, sets.join(','));
  // Current KBS (kbs/src/crypto/jwk.rs read_jwk_from_remote): the URL as a
  // JWK Set first. Older KBS (kbs/src/token/jwk.rs get_jwks_from_file_or_url):
  // path replaced by /.well-known/openid-configuration, then jwks_uri.
  const direct = await (await fetch(sets[0])).json();
  const root = new URL(sets[0]);
  root.pathname = '/.well-known/openid-configuration';
  const viaDiscovery = await (await fetch((await (await fetch(root)).json()).jwks_uri)).json();
  for (const [how, set] of [['as a JWKS (current KBS)', direct],
                            ['via root discovery (older KBS)', viaDiscovery]]) {
    const key = set.keys?.find((k) => k.kid === header.kid);
    // JwtVerifier::verify: "Failed to find key_algorithm in Jwk" without alg.
    check(`trustee: signing key found by kid ${how}, with alg`, key?.alg === header.alg);
  }
  // Signature with the JWK's own alg; exp with jsonwebtoken's 60 s leeway;
  // aud not validated (validate_aud = false).
  const key = direct.keys.find((k) => k.kid === header.kid);
  const verified = await jwtVerify(vaultToken, await importJWK(key, key.alg), {
    algorithms: [key.alg],
    clockTolerance: 60,
  }).then(() => true, (e) => e.message);
  check('trustee: token verifies with the kid-selected key and its alg', verified === true, verified);
  // extract_tee_public_key: configured paths first, then the built-ins.
  const builtins = [
    '/tdx/attester_runtime_data/tee-pubkey',
    '/tdx/attester_user_data/tee-pubkey',
    '/attester_runtime_data/tee-pubkey',
    '/customized_claims/runtime_data/tee-pubkey',
    '/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey',
    '/submods/cpu/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey',
    '/tee-pubkey',
  ];
  const firstPath = [...teePaths, ...builtins].find((p) => pointer(payload, p).found);
  check('trustee: the TEE key is found at extra_teekey_paths[0] = /cnf/jwk',
        firstPath === '/cnf/jwk' && teePaths[0] === '/cnf/jwk', firstPath);
  // kbs-types TeePubKey: EC {crv, alg, x, y} / RSA {alg, n, e}, all strings.
  const tk = pointer(payload, firstPath ?? '/cnf/jwk').value ?? {};
  const members = tk.kty === 'EC' ? ['crv', 'alg', 'x', 'y'] : tk.kty === 'RSA' ? ['alg', 'n', 'e'] : null;
  check('trustee: the key deserializes as a TeePubKey (kty-tagged, alg required)',
        members !== null && members.every((m) => typeof tk[m] === 'string' && tk[m].length > 0),
        JSON.stringify(tk));
  // kbs/src/jwe: ECDH-ES+A256KW on P-256 / P-521, or RSA-OAEP-256.
  check('trustee: a wrapping Trustee supports (ECDH-ES+A256KW on P-256/P-521 or RSA-OAEP-256)',
        (tk.alg === 'ECDH-ES+A256KW' && ['P-256', 'P-521'].includes(tk.crv)) ||
          (tk.alg === 'RSA-OAEP-256' && tk.kty === 'RSA'));
  check('trustee: the wrapping key is the attested one (its thumbprint is sub)',
        `tee:${await calculateJwkThumbprint(tk, 'sha256')}` === payload.sub);

  // Resource policy. No OPA here: every `input...` comparison in the Rego
  // block is checked against the claims (path exists, right type, value),
  // and the sample's quantifier (every submod affirming, at least one) is
  // evaluated as written.
  const rego = recipe('trustee-resource-policy');
  const ref = /input((?:\.[A-Za-z_][A-Za-z0-9_]*|\["[^"]+"\])+)/g;
  const toPointer = (chain) =>
    chain.match(/\.[A-Za-z_][A-Za-z0-9_]*|\["[^"]+"\]/g)
      .map((seg) => `/${seg.startsWith('.') ? seg.slice(1) : JSON.parse(seg.slice(1, -1))}`)
      .join('');
  const conditions = [];
  for (const line of rego.split('\n')) {
    const eq = line.match(/^\s*input((?:\.[A-Za-z_]\w*|\["[^"]+"\])+)\s*==\s*("[^"]*")\s*$/);
    const inSet = line.match(/^\s*input((?:\.[A-Za-z_]\w*|\["[^"]+"\])+)\s+in\s+\{([^}]*)\}\s*$/);
    if (eq) conditions.push({ ptr: toPointer(eq[1]), values: [JSON.parse(eq[2])], line: line.trim() });
    else if (inSet) {
      conditions.push({ ptr: toPointer(inSet[1]), values: JSON.parse(`[${inSet[2]}]`), line: line.trim() });
    }
  }
  const referenced = new Set([...rego.matchAll(ref)].map((m) => toPointer(m[1])));
  check('trustee policy: found the input comparisons', conditions.length >= 5,
        conditions.map((c) => c.line).join(' | '));
  for (const p of referenced) {
    check(`trustee policy: ${p} exists in the token`, pointer(payload, p).found);
  }
  const evaluate = (claims, statusRewrite) => {
    const failures = [];
    for (const c of conditions) {
      const got = pointer(claims, c.ptr);
      const want = c.values.map((v) => (isPlaceholder(v) ? got.value : v))
        .map((v) => (statusRewrite && v === 'affirming' ? 'warning' : v));
      if (!got.found || typeof got.value !== 'string' || !want.includes(got.value)) failures.push(c.ptr);
    }
    const submods = Object.values(claims.submods ?? {});
    const need = statusRewrite ? 'warning' : 'affirming';
    if (submods.length === 0 || submods.some((s) => s['ear.status'] !== need)) failures.push('submods');
    return failures;
  };
  const asWritten = evaluate(payload, false);
  check('trustee policy as written denies the simulated (warning) token, for ear.status only',
        JSON.stringify(asWritten) === JSON.stringify(['/ear.status', 'submods']), asWritten.join(','));
  const relaxed = evaluate(payload, true);
  check('trustee policy with "affirming" read as "warning" allows it (everything else holds)',
        relaxed.length === 0, relaxed.join(','));
  const gpus = pointer(payload, '/submods/gpu7/tee');
  check('trustee policy: gpu-models rule sees 8 GPUs', gpus.value === 'nvidia-gpu');
}

// ---------------------------------------------------------------------------
// HashiCorp Vault JWT auth (vault-plugin-auth-jwt path_login.go, claims.go;
// hashicorp/cap jwt.Validator).
{
  const config = JSON.parse(recipe('vault-config'));
  const role = JSON.parse(recipe('vault-role'));
  // cap jwt.NewOIDCDiscoveryKeySet: GET <url>/.well-known/openid-configuration,
  // 200 + JSON, and the document's issuer must equal the configured URL.
  const res = await fetch(`${config.oidc_discovery_url.replace(/\/$/, '')}/.well-known/openid-configuration`);
  const disc = await res.json();
  check('vault: discovery answers 200 with application/json',
        res.status === 200 && /^application\/json/.test(res.headers.get('content-type') ?? ''));
  check('vault: discovery issuer equals oidc_discovery_url exactly',
        disc.issuer === config.oidc_discovery_url, `${disc.issuer} vs ${config.oidc_discovery_url}`);
  check('vault: bound_issuer equals the tokens\' iss', config.bound_issuer === payload.iss);
  check('vault: jwt_supported_algs lists the header alg', config.jwt_supported_algs.includes(header.alg));
  const keySet = createLocalJWKSet(await (await fetch(disc.jwks_uri)).json());

  const leeway = (s) => (s < 0 ? 0 : s === 0 || s === undefined ? 60 : s);
  // Validator.Validate + path_login + createIdentity + validateBoundClaims.
  async function vaultLogin(token, r, now = new Date()) {
    const { payload: claims, protectedHeader } = await jwtVerify(token, keySet, {
      algorithms: config.jwt_supported_algs,
      issuer: config.bound_issuer,
      currentDate: now,
      clockTolerance: leeway(r.clock_skew_leeway),
    });
    if (!config.jwt_supported_algs.includes(protectedHeader.alg)) throw new Error('alg');
    const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud ?? [];
    if ((r.bound_audiences ?? []).length > 0 && !r.bound_audiences.some((a) => aud.includes(a))) {
      throw new Error('invalid audience (aud) claim: audience claim does not match any expected audience');
    }
    for (const k of ['exp', 'nbf', 'iat']) {
      if (typeof claims[k] !== 'number') throw new Error(`${k} missing: leeways would apply`);
    }
    const user = r.user_claim_json_pointer ? pointer(claims, r.user_claim).value : claims[r.user_claim];
    if (typeof user !== 'string') throw new Error(`claim "${r.user_claim}" not found or not a string`);
    for (const [src, target] of Object.entries(r.claim_mappings ?? {})) {
      const v = src.startsWith('/') ? pointer(claims, src).value : claims[src];
      if (v !== undefined && typeof v !== 'string') {
        throw new Error(`error converting claim '${src}' to string (${target})`);
      }
    }
    const failing = [];
    for (const [claim, exp] of Object.entries(r.bound_claims ?? {})) {
      const got = claim.startsWith('/') ? pointer(claims, claim) : { found: claim in claims, value: claims[claim] };
      const norm = (v) => (Array.isArray(v) ? v : ['string', 'boolean', 'number'].includes(typeof v) ? [v] : null);
      const act = got.found ? norm(got.value) : null;
      const want = norm(exp);
      if (act === null || want === null || !want.some((w) => act.some((a) => a === w))) failing.push(claim);
    }
    if (failing.length > 0) throw Object.assign(new Error(`claims ${failing.join(', ')} do not match`), { failing });
    return user;
  }

  // Placeholders: the path must hold the right type; an operator fills in
  // their own value (here: the token's).
  const filled = structuredClone(role);
  for (const [claim, exp] of Object.entries(role.bound_claims)) {
    const got = pointer(payload, claim);
    check(`vault role: bound claim ${claim} exists as a ${Array.isArray(exp) ? 'string' : typeof exp}`,
          got.found && typeof got.value === (Array.isArray(exp) ? typeof exp[0] : typeof exp),
          JSON.stringify(got.value));
    if (Array.isArray(exp) && exp.some(isPlaceholder)) filled.bound_claims[claim] = [got.value];
    else if (isPlaceholder(exp)) filled.bound_claims[claim] = got.value;
  }
  check('vault role: user_claim is sub (the TEE key subject)', role.user_claim === 'sub');
  check('vault role: bound_audiences pins vault', JSON.stringify(role.bound_audiences) === '["vault"]');
  for (const src of Object.keys(role.claim_mappings)) {
    const v = src.startsWith('/') ? pointer(payload, src).value : payload[src];
    check(`vault role: claim mapping ${src} is a string`, typeof v === 'string');
  }

  // As written: simulated evidence is at best warning, so the role refuses
  // it, and only because of the ear.status claims.
  await vaultLogin(vaultToken, filled).then(
    () => check('vault: role as written refuses the warning token', false, 'accepted'),
    (e) => check('vault: role as written refuses the warning token, on the ear.status claims only',
                 JSON.stringify(e.failing ?? []) === JSON.stringify(['/ear.status', '/submods/cpu0/ear.status']),
                 e.message),
  );
  const warning = structuredClone(filled);
  for (const k of Object.keys(warning.bound_claims)) {
    if (warning.bound_claims[k] === 'affirming') warning.bound_claims[k] = 'warning';
  }
  const user = await vaultLogin(vaultToken, warning).catch((e) => e.message);
  check('vault: with "affirming" read as "warning" the login succeeds as sub',
        user === payload.sub, user);
  await expectThrow('vault: the kms token (aud https://kms.example.com) is refused',
                    () => vaultLogin(kmsToken, warning), /audience/);
  await expectThrow('vault: a token after exp + clock_skew_leeway is refused',
                    () => vaultLogin(vaultToken, warning, new Date((payload.exp + 31) * 1000)), /exp/);
  // The bound claims are not vacuous: a TD in debug mode would not match.
  const debug = structuredClone(warning);
  debug.bound_claims['/submods/cpu0/claims/td_attributes/debug'] = true;
  await expectThrow('vault: bound claim debug=true refuses this non-debug TD',
                    () => vaultLogin(vaultToken, debug), /td_attributes\/debug/);
  const nine = structuredClone(warning);
  nine.bound_claims['/submods/gpu8/tee'] = 'nvidia-gpu';
  await expectThrow('vault: a 9th GPU that is not there is refused', () => vaultLogin(vaultToken, nine), /gpu8/);
}

// ---------------------------------------------------------------------------
// Generic JWT/JWKS gate: the block run as written.
{
  const file = join(args.work, 'generic_gate.mjs');
  writeFileSync(file, recipe('generic-gate'));
  try {
    symlinkSync(join(here, 'node_modules'), join(args.work, 'node_modules'));
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
  const { gate } = await import(pathToFileURL(file).href);
  const opts = { issuer: base, audience: 'vault', policyId: payload.policy.id };
  await expectThrow('generic gate: accepts only affirming by default (simulated is warning)',
                    () => gate(vaultToken, opts), /not accepted: ear.status warning/);
  const out = await gate(vaultToken, { ...opts, accept: ['affirming', 'warning'] }).catch((e) => e);
  check('generic gate: accepting warning, returns the TEE key to wrap to and the subject',
        out.subject === payload.sub && out.wrapTo?.x === teePublic.x && out.jti === payload.jti,
        out.message ?? JSON.stringify(out));
  await expectThrow('generic gate: wrong audience', () =>
    gate(vaultToken, { ...opts, audience: 'https://kms.example.com', accept: ['warning'] }), /aud/);
  await expectThrow('generic gate: the kms token at the vault gate', () =>
    gate(kmsToken, { ...opts, accept: ['warning'] }), /aud/);
  await expectThrow('generic gate: wrong issuer', () =>
    gate(vaultToken, { ...opts, issuer: `${base}/other`, accept: ['warning'] }), /discovery: HTTP 404/);
  await expectThrow('generic gate: another policy', () =>
    gate(vaultToken, { ...opts, policyId: 'strict-production', accept: ['warning'] }), /policy/);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
