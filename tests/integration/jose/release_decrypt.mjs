#!/usr/bin/env node
// Independent decryption of a key-release JWE (compact or flattened JSON)
// with the TEE private key (PEM), by npm `jose` — for run_key_release_e2e.sh.
//   node release_decrypt.mjs JWE_FILE TEE_KEY_PEM
// Prints the plaintext as hex and the protected header's resource on stdout.
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { compactDecrypt, flattenedDecrypt } from 'jose';

const [jweFile, pemFile] = process.argv.slice(2);
const jwe = readFileSync(jweFile, 'utf8').trim();
const key = createPrivateKey(readFileSync(pemFile, 'utf8'));
const options = {
  keyManagementAlgorithms: ['ECDH-ES+A256KW', 'RSA-OAEP-256'],
  contentEncryptionAlgorithms: ['A256GCM'],
};
const out = jwe.startsWith('{')
  ? await flattenedDecrypt(JSON.parse(jwe), key, options)
  : await compactDecrypt(jwe, key, options);
process.stdout.write(
  `${Buffer.from(out.plaintext).toString('hex')} ${out.protectedHeader.resource} ${out.protectedHeader.alg}\n`);
