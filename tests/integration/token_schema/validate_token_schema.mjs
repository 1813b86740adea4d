// Validates attestation token payloads against docs/schemas/ear-token.schema.json
// (JSON Schema draft 2020-12) with ajv, pinned in package-lock.json.
//
//   node validate_token_schema.mjs [FILE...]
//
// Always checks:
//  (a) the example header and payload in docs/token.md (between the
//      "BEGIN/END EXAMPLE TOKEN HEADER|PAYLOAD" marker comments);
//  (b) that the schema is not vacuous: one-change mutations of the example
//      (a claim removed, a bad tier, an unknown claim, ...) must be rejected.
// Then each FILE: a compact JWT (header and payload are checked; the
// signature is NOT, that is jose_verifies_token's job) or a JSON payload.
// Prints "ok ..." per check and "N passed, M failed"; exit 0 iff M == 0.
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const schemaPath = join(root, "docs", "schemas", "ear-token.schema.json");
const docPath = join(root, "docs", "token.md");

// strict, except strictRequired: `required` inside if/then names members that the
// enclosing schema defines (ajv cannot see that).
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
addFormats(ajv);
const validatePayload = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));
// The JOSE header is small enough to pin here (docs/token.md, "Header").
const validateHeader = ajv.compile({
  type: "object",
  required: ["alg", "typ", "kid"],
  additionalProperties: false,
  properties: {
    alg: { enum: ["ES256", "ES384"] },
    typ: { const: "JWT" },
    kid: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$" },
  },
});

let passed = 0;
let failed = 0;

function errorsOf(validate) {
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`)
    .join("; ");
}

function expectValid(name, validate, value) {
  if (validate(value)) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}: ${errorsOf(validate)}`);
  }
}

function expectInvalid(name, validate, value) {
  if (!validate(value)) {
    passed++;
    console.log(`ok   ${name} (rejected: ${errorsOf(validate).slice(0, 100)})`);
  } else {
    failed++;
    console.log(`FAIL ${name}: the schema accepted it`);
  }
}

// The ```json block between <!-- BEGIN EXAMPLE TOKEN <WHAT> --> and <!-- END ... -->.
function extractExample(markdown, what) {
  const re = new RegExp(
    `<!-- BEGIN EXAMPLE TOKEN ${what} -->\\s*\`\`\`json\\n([\\s\\S]*?)\\n\`\`\`\\s*<!-- END EXAMPLE TOKEN ${what} -->`,
  );
  const m = markdown.match(re);
  if (!m) throw new Error(`docs/token.md: no example between the ${what} markers`);
  return JSON.parse(m[1]);
}

function b64urlJson(part, what) {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch (e) {
    throw new Error(`${what} is not base64url JSON: ${e.message}`);
  }
}

const markdown = readFileSync(docPath, "utf8");
const header = extractExample(markdown, "HEADER");
const payload = extractExample(markdown, "PAYLOAD");
expectValid("docs/token.md example header", validateHeader, header);
expectValid("docs/token.md example payload", validatePayload, payload);
// The compact example (docs/token.md#profiles), unsigned.
const compactPayload = extractExample(markdown, "COMPACT PAYLOAD");
expectValid("docs/token.md compact example payload", validatePayload, compactPayload);

// (b) One change each; every one must be rejected.
const mutations = [
  ["ear.status missing", (p) => delete p["ear.status"]],
  ["unknown top-level claim", (p) => (p["x-extra"] = 1)],
  ["bad ear.status", (p) => (p["ear.status"] = "ok")],
  ["tier 5", (p) => (p.submods.cpu0["ear.trustworthiness-vector"].hardware = 5)],
  ["unknown AR4SI component", (p) => (p.submods.cpu0["ear.trustworthiness-vector"].firmware = 2)],
  ["submod name", (p) => (p.submods.tpm0 = p.submods.cpu0)],
  ["policy sha256 upper case", (p) => (p.policy.sha256 = p.policy.sha256.toUpperCase())],
  ["eat_nonce padded", (p) => (p.eat_nonce += "=")],
  ["exp as a string", (p) => (p.exp = String(p.exp))],
  ["unknown binding", (p) => (p.binding = "attest-v3")],
  ["runtime_claims without binding", (p) => { delete p.binding; p.runtime_claims = { node: "n1" }; }],
  ["runtime_claims with a number", (p) => { p.binding = "attest-v2"; p.runtime_claims = { n: 1 }; }],
  ["runtime_claims name with '/'", (p) => { p.binding = "attest-v2"; p.runtime_claims = { "a/b": "x" }; }],
  ["reason code lower case", (p) => p.reasons.push("stale")],
  ["tdx rtmr of 3", (p) => p.submods.cpu0.claims.rtmr.pop()],
  ["gpu measurements_match as string", (p) => (p.submods.gpu0.claims.measurements_match = "true")],
  ["collateral next_update not a time", (p) => (p.submods.cpu0.collateral[0].next_update = "soon")],
  ["collateral sha256 too short", (p) => (p.submods.gpu0.collateral[0].sha256 = "abcd")],
  ["EC cnf without y", (p) => delete p.cnf.jwk.y],
  // Key-release claims (docs/key-release.md).
  ["cnf without alg", (p) => delete p.cnf.jwk.alg],
  ["cnf alg RSA1_5", (p) => (p.cnf.jwk.alg = "RSA1_5")],
  ["EC cnf with the RSA alg", (p) => (p.cnf.jwk.alg = "RSA-OAEP-256")],
  ["EC cnf with an extra n", (p) => (p.cnf.jwk.n = "AQAB")],
  ["OKP cnf", (p) => (p.cnf.jwk = { kty: "OKP", crv: "X25519", x: "abc", alg: "ECDH-ES+A256KW" })],
  ["sub without cnf", (p) => delete p.cnf],
  ["cnf without sub", (p) => delete p.sub],
  ["sub without the tee: prefix", (p) => (p.sub = p.sub.slice(4))],
  ["sub thumbprint too short", (p) => (p.sub = p.sub.slice(0, -1))],
  ["aud as an array", (p) => (p.aud = [p.aud])],
  ["aud empty", (p) => (p.aud = "")],
  ["aud with a space", (p) => (p.aud = "my kms")],
  // Token profiles (docs/token.md#profiles).
  ["unknown token_profile", (p) => (p.token_profile = "tiny")],
  ["appraisal_sha256 upper case", (p) => (p.appraisal_sha256 = p.appraisal_sha256.toUpperCase())],
  ["appraisal_sha256 too short", (p) => (p.appraisal_sha256 = p.appraisal_sha256.slice(1))],
];
for (const [name, mutate] of mutations) {
  const copy = structuredClone(payload);
  mutate(copy);
  expectInvalid(`schema rejects: ${name}`, validatePayload, copy);
}

// (c) Files from the command line.
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8").trim();
  try {
    if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text)) {
      const [h, p] = text.split(".");
      expectValid(`${file}: JWT header`, validateHeader, b64urlJson(h, "header"));
      expectValid(`${file}: JWT payload`, validatePayload, b64urlJson(p, "payload"));
    } else {
      expectValid(`${file}: payload JSON`, validatePayload, JSON.parse(text));
    }
  } catch (e) {
    failed++;
    console.log(`FAIL ${file}: ${e.message}`);
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
