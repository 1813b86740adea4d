#!/usr/bin/env node
// Verifies an attestation token with the npm `jose` library, independently
// of our C++ verifier.
//
//   node verify_token.mjs --token T (--jwks-file F | --jwks-url URL)
//                         [--current-date RFC3339] [--issuer ISS] [--audience AUD]
//
// --token takes the compact JWT itself, or @path to read it from a file.
// On success prints {"protectedHeader":..., "payload":...} as JSON on stdout
// and exits 0; on failure prints "<error code>: <message>" on stderr and
// exits 1 (2 for usage errors).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';

function usage(message) {
  process.stderr.write(
    `verify_token: ${message}\n` +
      'usage: node verify_token.mjs --token T (--jwks-file F | --jwks-url URL) ' +
      '[--current-date RFC3339] [--issuer ISS] [--audience AUD]\n',
  );
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      token: { type: 'string' },
      'jwks-file': { type: 'string' },
      'jwks-url': { type: 'string' },
      'current-date': { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  usage(e.message);
}

if (!values.token) usage('--token is required');
if (!values['jwks-file'] === !values['jwks-url']) {
  usage('exactly one of --jwks-file and --jwks-url is required');
}

const token = (values.token.startsWith('@')
  ? readFileSync(values.token.slice(1), 'utf8')
  : values.token
).trim();

let jwks;
if (values['jwks-file']) {
  jwks = createLocalJWKSet(JSON.parse(readFileSync(values['jwks-file'], 'utf8')));
} else {
  jwks = createRemoteJWKSet(new URL(values['jwks-url']));
}

const options = {
  // Only what our issuer signs with; anything else must be refused.
  algorithms: ['ES256', 'ES384'],
  typ: 'JWT',
  requiredClaims: ['exp', 'iat', 'nbf', 'jti'],
};
if (values['current-date']) {
  const date = new Date(values['current-date']);
  if (Number.isNaN(date.getTime())) usage(`--current-date ${values['current-date']} is not a date`);
  options.currentDate = date;
}
if (values.issuer) options.issuer = values.issuer;
if (values.audience) options.audience = values.audience;

try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, options);
  process.stdout.write(`${JSON.stringify({ protectedHeader, payload }, null, 2)}\n`);
  process.exit(0);
} catch (e) {
  process.stderr.write(`${e.code ?? e.name}: ${e.message}\n`);
  process.exit(1);
}
