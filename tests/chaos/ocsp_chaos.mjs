// An OCSP responder stand-in for the chaos test whose health is set on
// command: the NVIDIA OCSP responder of the simulation (the replicas'
// collateral.nvidia_ocsp_url points here), on loopback.
//
// It answers every POSTed OCSPRequest (RFC 6960) live, the way NVIDIA's
// responder does: for each CertID whose issuerKeyHash (SHA-1 or SHA-256 of
// the issuer's public key bits) is one of the simulation CAs', a "good"
// SingleResponse (thisUpdate now - 60 s, nextUpdate now + 1 h), the
// request's nonce extension echoed, signed by that CA itself (responder ID
// by key hash, no delegated certificate). A CertID of any other issuer gets
// an "unauthorized" response (responseStatus 6), a request that does not
// parse "malformedRequest" (1). The verifier checks all of it (signature,
// signer, certID, nonce, times): nothing here is trusted by the replicas.
//
// Issuers (PEM certificate + key) from the simulation directory made by
// `attestctl simulate init`: gpu_root, gpu_identity, gpu_provisioner (the
// GPU device chains: Identity, Provisioner ICA and each GPU's BROM are asked
// about) and rim_root, rim_ca, rim_l3 (RIM signing chains).
//
// With a third argument, the RIM chain's stored answers are linked into an
// offline directory: <offline>/nvidia/ocsp/<key>.der -> <sim>/collateral/
// nvidia/ocsp/<key>.der for the RIM CA, L3 and L4 certificates (the
// simulator writes those answers when it makes GPU evidence; RIM signing
// certificates carry no OCSP URL, so they are answered from the offline
// directory only). The GPU device chain's answers are not linked: the
// replicas must ask this responder for them.
//
// Control (same port): POST /_chaos/alive | /_chaos/slow | /_chaos/dead
//   alive: answer at once; slow: answer after SLOW_MS (3000); dead: reset the
//   connection without an answer. GET /_chaos/stats: answers by issuer, by mode.
// Prints the port, then serves until killed.
//   node ocsp_chaos.mjs <sim dir> [<offline dir to link RIM answers into>]
import { createHash, createPrivateKey, sign, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const simDir = process.argv[2];
const linkInto = process.argv[3];
const SLOW_MS = Number(process.env.SLOW_MS || 3000);

// --- DER ----------------------------------------------------------------------
function derLen(n) {
  if (n < 128) return Buffer.from([n]);
  const b = [];
  for (; n > 0; n = Math.floor(n / 256)) b.unshift(n & 0xff);
  return Buffer.from([0x80 | b.length, ...b]);
}
const tlv = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLen(body.length), body]);
};
const seq = (...parts) => tlv(0x30, ...parts);
// One element at `off` of `buf`: {tag, body, raw, end}. Throws when it does not fit.
function readTlv(buf, off) {
  if (off + 2 > buf.length) throw new Error("truncated");
  const tag = buf[off];
  let len = buf[off + 1];
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || off + 2 + n > buf.length) throw new Error("bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + 2 + i];
    hdr += n;
  }
  const end = off + hdr + len;
  if (end > buf.length) throw new Error("truncated");
  return { tag, body: buf.subarray(off + hdr, end), raw: buf.subarray(off, end), end };
}
function children(el) {
  const out = [];
  for (let o = 0; o < el.body.length; ) {
    const c = readTlv(el.body, o);
    out.push(c);
    o = c.end;
  }
  return out;
}
const generalizedTime = (ms) =>
  tlv(0x18, Buffer.from(new Date(ms).toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z")));
const OID_BASIC = Buffer.from("06092b0601050507300101", "hex");           // id-pkix-ocsp-basic
const ALG_ECDSA_SHA384 = seq(Buffer.from("06082a8648ce3d040303", "hex"));  // ecdsa-with-SHA384
const ALG_RSA_SHA384 = seq(Buffer.from("06092a864886f70d01010c", "hex"), Buffer.from("0500", "hex"));
const status = (code) => seq(tlv(0x0a, Buffer.from([code])));  // OCSPResponse without responseBytes

// --- issuers ---------------------------------------------------------------------
// The public key bits of a certificate (the BIT STRING of its SPKI, without
// the unused-bits byte), as hashed into CertID.issuerKeyHash and ResponderID.
function keyBits(cert) {
  const spki = readTlv(cert.publicKey.export({ type: "spki", format: "der" }), 0);
  const bits = children(spki)[1];
  return bits.body.subarray(1);
}
const hash = (alg, b) => createHash(alg).update(b).digest();
const issuers = new Map();  // hex(sha1 or sha256 of key bits) -> issuer
const byName = {};
for (const name of ["gpu_root", "gpu_identity", "gpu_provisioner", "rim_root", "rim_ca", "rim_l3", "rim_l4"]) {
  let pem;
  try {
    pem = readFileSync(join(simDir, `${name}.pem`), "utf8");
  } catch {
    continue;
  }
  const cert = new X509Certificate(pem);
  const bits = keyBits(cert);
  const issuer = { name, cert, bits, sha1: hash("sha1", bits), answered: 0 };
  try {
    issuer.key = createPrivateKey(readFileSync(join(simDir, `${name}.key`), "utf8"));
  } catch {
    // rim_l4 signs RIMs, not OCSP answers: no key needed.
  }
  byName[name] = issuer;
  if (!issuer.key) continue;
  issuers.set(issuer.sha1.toString("hex"), issuer);
  issuers.set(hash("sha256", bits).toString("hex"), issuer);
}
if (!byName.gpu_provisioner?.key) {
  console.error(`no simulation GPU CAs in ${simDir} (attestctl simulate init)`);
  process.exit(1);
}

// The offline key of the answer about `cert` from `issuer` (chain.cc /
// rim_ocsp.cc: nvidia/ocsp/<hex sha256(issuer key bits)>-<serial hex>.der).
function offlineKey(cert, issuer) {
  const serial = cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, "");
  return `nvidia/ocsp/${hash("sha256", issuer.bits).toString("hex")}-${serial}.der`;
}
if (linkInto) {
  mkdirSync(join(linkInto, "nvidia", "ocsp"), { recursive: true });
  for (const [subject, issuer] of [["rim_ca", "rim_root"], ["rim_l3", "rim_ca"], ["rim_l4", "rim_l3"]]) {
    if (!byName[subject] || !byName[issuer]) continue;
    const key = offlineKey(byName[subject].cert, byName[issuer]);
    symlinkSync(join(simDir, "collateral", key), join(linkInto, key));
  }
}

// --- answers ---------------------------------------------------------------------
// OCSPRequest ::= SEQUENCE { tbsRequest SEQUENCE { [0] version OPTIONAL,
//   [1] requestorName OPTIONAL, requestList SEQUENCE OF Request,
//   [2] requestExtensions OPTIONAL }, [0] optionalSignature OPTIONAL }
// Request ::= SEQUENCE { reqCert CertID, [0] singleRequestExtensions OPTIONAL }
// CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber }
function respond(der) {
  let list, extensions;
  try {
    const req = readTlv(der, 0);
    if (req.tag !== 0x30 || req.end !== der.length) return status(1);
    const tbs = children(req)[0];
    for (const c of children(tbs)) {
      if (c.tag === 0x30) list = children(c);
      if (c.tag === 0xa2) extensions = children(c)[0];
    }
    if (!list?.length) return status(1);
  } catch {
    return status(1);
  }
  let issuer;
  const singles = [];
  const now = Date.now();
  for (const r of list) {
    const certId = children(r)[0];
    const keyHash = children(certId)[2].body.toString("hex");
    const i = issuers.get(keyHash);
    if (!i || (issuer && i !== issuer)) return status(6);  // unauthorized
    issuer = i;
    singles.push(seq(certId.raw, Buffer.from([0x80, 0x00]), generalizedTime(now - 60_000),
                     tlv(0xa0, generalizedTime(now + 3_600_000))));
  }
  const parts = [tlv(0xa2, tlv(0x04, issuer.sha1)), generalizedTime(now), seq(...singles)];
  if (extensions) parts.push(tlv(0xa1, extensions.raw));  // the nonce, echoed
  const tbs = seq(...parts);
  const rsa = issuer.key.asymmetricKeyType === "rsa";
  const signature = sign("sha384", tbs, issuer.key);
  const basic = seq(tbs, rsa ? ALG_RSA_SHA384 : ALG_ECDSA_SHA384,
                    tlv(0x03, Buffer.from([0]), signature));
  issuer.answered++;
  return seq(tlv(0x0a, Buffer.from([0])), tlv(0xa0, seq(OID_BASIC, tlv(0x04, basic))));
}

let mode = "alive";
const stats = { alive: 0, slow: 0, dead: 0, control: 0, malformed: 0 };
const server = createServer((req, res) => {
  const path = new URL(req.url, "http://stub").pathname;
  const ctl = /^\/_chaos\/(alive|slow|dead|stats)$/.exec(path);
  if (ctl) {
    stats.control++;
    if (ctl[1] !== "stats") mode = ctl[1];
    const answered = Object.fromEntries(Object.values(byName).filter((i) => i.key).map((i) => [i.name, i.answered]));
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ mode, stats, answered }));
    return;
  }
  stats[mode]++;
  if (mode === "dead") {
    req.socket.destroy();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size > 65536) req.socket.destroy();
    else chunks.push(c);
  });
  req.on("end", () => {
    const send = () => {
      if (req.method !== "POST") {
        res.writeHead(405).end();
        return;
      }
      const body = respond(Buffer.concat(chunks));
      if (body.length < 8) stats.malformed++;
      res.writeHead(200, { "Content-Type": "application/ocsp-response", "Content-Length": body.length });
      res.end(body);
    };
    if (mode === "slow") setTimeout(send, SLOW_MS);
    else send();
  });
});
server.keepAliveTimeout = 1000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
