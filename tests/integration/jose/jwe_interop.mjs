#!/usr/bin/env node
// The npm `jose` side of the JWE interop check (run_jwe_interop_test.sh):
// keys made by jose, our JWEs decrypted by jose, jose's JWEs for our decrypt.
//
//   node jwe_interop.mjs genkey --alg ALG [--crv CRV] [--modulus BITS]
//                               --out-public-jwk F --out-private-jwk F --out-pkcs8 F
//   node jwe_interop.mjs decrypt --jwe F --private-jwk F [--flattened]
//   node jwe_interop.mjs encrypt --public-jwk F --in F --out F --alg ALG --enc ENC
//                                [--kid K] [--header-json J] [--flattened]
//   node jwe_interop.mjs thumbprint --jwk F
//
// decrypt allows only ECDH-ES+A256KW / RSA-OAEP-256 with A256GCM and prints
// {"protectedHeader":..., "plaintextHex":...} on stdout. Failures print
// "<error code>: <message>" on stderr and exit 1 (2 for usage errors).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  CompactEncrypt,
  FlattenedEncrypt,
  calculateJwkThumbprint,
  compactDecrypt,
  exportJWK,
  exportPKCS8,
  flattenedDecrypt,
  generateKeyPair,
} from 'jose';

function usage(message) {
  process.stderr.write(`jwe_interop: ${message}\n`);
  process.exit(2);
}

const [command, ...rest] = process.argv.slice(2);
let values;
try {
  ({ values } = parseArgs({
    args: rest,
    options: {
      alg: { type: 'string' },
      enc: { type: 'string' },
      crv: { type: 'string' },
      modulus: { type: 'string' },
      kid: { type: 'string' },
      'header-json': { type: 'string' },
      jwe: { type: 'string' },
      jwk: { type: 'string' },
      in: { type: 'string' },
      out: { type: 'string' },
      flattened: { type: 'boolean' },
      'private-jwk': { type: 'string' },
      'public-jwk': { type: 'string' },
      'out-public-jwk': { type: 'string' },
      'out-private-jwk': { type: 'string' },
      'out-pkcs8': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  usage(e.message);
}

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

try {
  if (command === 'genkey') {
    if (!values.alg) usage('genkey needs --alg');
    const options = { extractable: true };
    if (values.crv) options.crv = values.crv;
    if (values.modulus) options.modulusLength = Number(values.modulus);
    const { publicKey, privateKey } = await generateKeyPair(values.alg, options);
    writeFileSync(values['out-public-jwk'], JSON.stringify(await exportJWK(publicKey)));
    writeFileSync(values['out-private-jwk'], JSON.stringify(await exportJWK(privateKey)));
    writeFileSync(values['out-pkcs8'], await exportPKCS8(privateKey));
  } else if (command === 'decrypt') {
    if (!values.jwe || !values['private-jwk']) usage('decrypt needs --jwe and --private-jwk');
    const text = readFileSync(values.jwe, 'utf8').trim();
    const key = readJson(values['private-jwk']);
    const options = {
      keyManagementAlgorithms: ['ECDH-ES+A256KW', 'RSA-OAEP-256'],
      contentEncryptionAlgorithms: ['A256GCM'],
    };
    const result = values.flattened
      ? await flattenedDecrypt(JSON.parse(text), key, options)
      : await compactDecrypt(text, key, options);
    process.stdout.write(
      JSON.stringify({
        protectedHeader: result.protectedHeader,
        plaintextHex: Buffer.from(result.plaintext).toString('hex'),
      }),
    );
  } else if (command === 'encrypt') {
    for (const f of ['public-jwk', 'in', 'out', 'alg', 'enc']) {
      if (!values[f]) usage(`encrypt needs --${f}`);
    }
    const key = readJson(values['public-jwk']);
    const plaintext = readFileSync(values.in);
    const header = {
      alg: values.alg,
      enc: values.enc,
      ...(values.kid ? { kid: values.kid } : {}),
      ...(values['header-json'] ? JSON.parse(values['header-json']) : {}),
    };
    let out;
    if (values.flattened) {
      out = JSON.stringify(
        await new FlattenedEncrypt(plaintext).setProtectedHeader(header).encrypt(key),
      );
    } else {
      out = await new CompactEncrypt(plaintext).setProtectedHeader(header).encrypt(key);
    }
    writeFileSync(values.out, out);
  } else if (command === 'thumbprint') {
    if (!values.jwk) usage('thumbprint needs --jwk');
    process.stdout.write(await calculateJwkThumbprint(readJson(values.jwk), 'sha256'));
  } else {
    usage(`unknown command ${command}`);
  }
} catch (e) {
  process.stderr.write(`${e.code ?? e.name}: ${e.message}\n`);
  process.exit(1);
}
