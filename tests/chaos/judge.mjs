// Judges a chaos run (tests/chaos/run_chaos.sh): every Attest of the mix
// against the outcomes acceptable for its kind in the fault windows it
// overlapped; prints the result table; exits 1 on any wrong outcome, a token
// for evidence that must be rejected, two tokens for one challenge, a crash,
// or RSS growth beyond the bound.
//
// Acceptable outcomes (E = the request's [challenge issued, answer received]):
//   valid_* / replay_first   TOKEN
//   replay_second            NONCE_REPLAYED (TOKEN only if replay_first got no token)
//   wrong_nonce, malformed   a rejection verdict (reason codes in REJECT below)
//   wrong_policy             gRPC PERMISSION_DENIED (checked before the challenge is used)
//   oversize                 gRPC INVALID_ARGUMENT (1.5 MiB > max_request_bytes 1 MiB)
//   oversize_2x              gRPC RESOURCE_EXHAUSTED (2.5 MiB > the gRPC cap, 2 x max_request_bytes)
// TOKEN means an accepting verdict (affirming / warning) with a token; a
// contraindicated verdict also carries an EAR token (ear.status says so) and
// counts as a rejection.
// plus, whatever the kind (except wrong_policy and oversize*, refused before
// the nonce store is consulted):
//   NONCE_STORE_UNAVAILABLE  if E reaches the Redis outage: answered after the
//                            kill and the challenge issued before Redis was
//                            back + 4 s (a challenge issued before the store's
//                            new epoch is refused after it: docs/scale-out.md;
//                            the epoch is set at the end of the second of the
//                            first write after a reconnect backoff of <= 2 s)
// and, whatever the kind:
//   NONCE_STORE_UNAVAILABLE  outside the outage too when the Attest took at
//                            least the store's command timeout (100 ms): Redis
//                            did not answer in time (a saturated host); counted
//   GRPC_UNAVAILABLE/INTERNAL/UNKNOWN/CANCELLED (transport, after 4 tries) if E overlaps
//                            [B's SIGTERM, B's exit + 2 s]
//   NONCE_REPLAYED for a valid request the client re-sent after a transport
//                            failure (the first try may have been redeemed)
//   COLLATERAL_UNAVAILABLE   (gRPC UNAVAILABLE naming collateral, no token) for
//                            valid_snp_kds only, if E overlaps a KDS fault
//                            [start, end + 7 s] (breaker cooldown 5 s + 2 s):
//                            its VCEK is on the KDS only, so it fails closed
//   OCSP_UNAVAILABLE         (a contraindicated verdict naming it, or naming
//                            STALE_COLLATERAL: see ocspRejected) for the GPU
//                            kinds (valid_snp_gpu, valid_tdx_gpu) if E overlaps an
//                            OCSP responder fault [start, end + 62 s] (its breaker
//                            cooldown 60 s + 2 s): each simulated GPU has a new
//                            BROM certificate whose status only the responder
//                            knows, and the policy does not soft-fail OCSP
// and an OCSP fault also takes TOKEN away: a GPU Attest that began after the
// fault started and was answered before it ended must fail closed
// (OCSP_UNAVAILABLE), whatever the cached answers about the shared CAs say
// (those are served stale within the policy's grace).
// The KDS faults allow nothing else extra: the CRL and the other collateral
// are also in the offline directory (next in source_order), so other verdicts
// must not change. The OCSP faults change nothing for the kinds without a
// GPU. The read-only cache allows nothing extra at all.
// Timeouts honoured: while the KDS is slow (3 s), no valid_snp_kds Attest
// may take longer than the collateral timeout (1 s) + 1.5 s; while the OCSP
// responder is slow, no GPU Attest longer than 3 x 1 s (Identity, Provisioner,
// BROM asked in turn) + 1.5 s.
import { readFileSync } from "node:fs";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const tsv = (f) => readFileSync(f, "utf8").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t"));

// CANCELLED: nginx resets a call whose replica goes away mid-call.
const TRANSPORT = new Set(["GRPC_UNAVAILABLE", "GRPC_INTERNAL", "GRPC_UNKNOWN", "GRPC_CANCELLED"]);

const faults = Object.fromEntries(tsv(args.faults).map(([name, s, e, note]) => [name, { s: +s, e: +e, note }]));
const redis = faults.redis_down;
const stop = faults.stop_B;
const events = tsv(args.events).map(([idx, kind, ch, st, en, att, out, code, tok, lat, tries, verdict, ear, reasons]) => ({
  idx: +idx, kind, ch: +ch, st: +st, en: +en, att: +att, out, code, token: tok === "1", lat: +lat, tries,
  verdict, ear: ear === "1", reasons: !reasons || reasons === "-" ? [] : reasons.split(","),
}));
const firstOf = new Map(events.filter((e) => e.kind === "replay_first").map((e) => [e.idx, e]));

// The restarted store's epoch is the end of the second in which a replica
// first writes to it, and replicas reconnect with a backoff of up to 2 s;
// challenge times are whole seconds: a challenge issued up to ~4 s after
// Redis answers again can still predate the epoch (refused, fail closed).
const EPOCH_SLACK_MS = 4000;
const inRedis = (e) => redis && e.en >= redis.s && e.ch <= redis.e + EPOCH_SLACK_MS;
// The KDS faults, widened by the collateral timeout before and the breaker
// cooldown (5 s) + 2 s after: a VCEK fetch may fail closed only then.
const kdsWindows = ["kds_slow", "kds_dead"].map((k) => faults[k]).filter(Boolean);
const inKds = (e) => kdsWindows.some((f) => e.en >= f.s && e.st <= f.e + 7000);
// Outside the outage, a nonce store command that took longer than its
// timeout (redis.command_timeout_ms, default 100 ms; seen when the host is
// saturated) fails closed the same way: acceptable, and counted.
const STORE_TIMEOUT_MS = 100;
const storeTimeout = (e) => !beforeStore.has(e.kind) && e.out === "NONCE_STORE_UNAVAILABLE" && e.lat >= STORE_TIMEOUT_MS;
const inStop = (e) => stop && e.en >= stop.s && e.st <= stop.e + 2000;
// The OCSP responder faults: GPU Attests overlapping [start, end + 62 s] may
// fail closed (the OCSP breaker's cooldown is 60 s); those wholly inside
// [start, end] must.
const OCSP_WIDEN_MS = 62000;
const GPU_KINDS = new Set(["valid_snp_gpu", "valid_tdx_gpu"]);
const ocspWindows = ["ocsp_slow", "ocsp_dead"].map((k) => faults[k]).filter(Boolean);
const inOcsp = (e) => ocspWindows.some((f) => e.en >= f.s && e.st <= f.e + OCSP_WIDEN_MS);
const insideOcsp = (e) => ocspWindows.some((f) => e.st >= f.s && e.en <= f.e);
// A GPU Attest that began just before the responder died can have its
// device certificates' answers fetched fresh and then find the RIM chain's
// answers only stale (served within the grace: STALE_COLLATERAL, not
// checked): the policy refuses that too. Seen once (+63.8 s, the fault
// logged at +63.9 s) on a loaded host. Either reason is the OCSP fault
// failing closed.
const ocspRejected = (e) => !e.token && e.code === "OK" && e.verdict === "CONTRAINDICATED" &&
  (e.reasons.includes("OCSP_UNAVAILABLE") || e.reasons.includes("STALE_COLLATERAL"));
const rejectKinds = new Set(["wrong_nonce", "malformed", "wrong_policy", "oversize", "oversize_2x"]);
const beforeStore = new Set(["wrong_policy", "oversize", "oversize_2x"]);  // refused before the nonce store

function acceptable(e) {
  const ok = new Set();
  const valid = e.kind.startsWith("valid_") || e.kind === "replay_first";
  if (valid) ok.add("TOKEN");
  if (e.kind === "replay_second") {
    ok.add("NONCE_REPLAYED");
    if (!firstOf.get(e.idx)?.token) ok.add("TOKEN");
  }
  if (e.kind === "wrong_policy") ok.add("GRPC_PERMISSION_DENIED");
  if (e.kind === "oversize") ok.add("GRPC_INVALID_ARGUMENT");
  if (e.kind === "oversize_2x") ok.add("GRPC_RESOURCE_EXHAUSTED");
  if (e.kind === "wrong_nonce" || e.kind === "malformed") ok.add("REJECTED");
  if (inRedis(e) && !beforeStore.has(e.kind)) ok.add("NONCE_STORE_UNAVAILABLE");
  if (storeTimeout(e)) ok.add("NONCE_STORE_UNAVAILABLE");
  if (e.kind === "valid_snp_kds" && inKds(e)) ok.add("COLLATERAL_UNAVAILABLE");
  if (inStop(e)) TRANSPORT.forEach((t) => ok.add(t));
  if ((valid || e.kind === "replay_second") && e.att > 1) ok.add("NONCE_REPLAYED");
  if (GPU_KINDS.has(e.kind) && inOcsp(e)) ok.add("OCSP_UNAVAILABLE");
  if (GPU_KINDS.has(e.kind) && insideOcsp(e)) ok.delete("TOKEN");
  return ok;
}
// A rejection: a CONTRAINDICATED verdict with a reason (it carries an EAR
// token saying so), or an INVALID_ARGUMENT refusal of evidence that cannot
// be parsed.
function actualClass(e) {
  if (e.token) return "TOKEN";
  if (GPU_KINDS.has(e.kind) && ocspRejected(e)) return "OCSP_UNAVAILABLE";
  if ((e.kind === "wrong_nonce" || e.kind === "malformed") &&
      ((e.code === "OK" && e.verdict === "CONTRAINDICATED") || e.code === "INVALID_ARGUMENT") &&
      !["NONCE_STORE_UNAVAILABLE", "NONCE_REPLAYED"].includes(e.out)) return "REJECTED";
  if (e.out.startsWith("GRPC_") || e.out === "COLLATERAL_UNAVAILABLE") return e.out;
  if (e.code !== "OK" && !["NONCE_STORE_UNAVAILABLE", "NONCE_REPLAYED"].includes(e.out)) return "GRPC_" + e.code;
  return e.out;
}

const rows = new Map();  // kind -> {n, expected, actual: Map}
let wrong = 0, tokensRejected = 0, contraTokens = 0;
const wrongSamples = [];
const tokensPerChallenge = new Map();
for (const e of events) {
  const ok = acceptable(e);
  const act = actualClass(e);
  const r = rows.get(e.kind) ?? { n: 0, ok: new Set(), actual: new Map(), wrong: 0 };
  r.n++;
  ok.forEach((o) => r.ok.add(o));
  const label = act === "REJECTED" ? `REJECTED:${e.out}` : act;
  r.actual.set(label, (r.actual.get(label) ?? 0) + 1);
  if (!ok.has(act)) {
    wrong++;
    r.wrong++;
    if (wrongSamples.length < 10) wrongSamples.push(`${e.kind} #${e.idx} +${((e.st - args.t0) / 1000).toFixed(1)}s: ${e.out} (${e.code}, tries ${e.tries}); acceptable ${[...ok].join("|")}`);
  }
  if (e.token && rejectKinds.has(e.kind)) tokensRejected++;
  if (e.ear && !e.token) contraTokens++;
  if (e.token) tokensPerChallenge.set(e.idx, (tokensPerChallenge.get(e.idx) ?? 0) + 1);
  rows.set(e.kind, r);
}
const doubleTokens = [...tokensPerChallenge.values()].filter((n) => n > 1).length;

// Latency (every Attest, including retries) and by fault window.
const pct = (a, p) => {
  if (!a.length) return 0;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1];
};
const lat = events.map((e) => e.lat);
const windowLat = (f) => (f ? events.filter((e) => e.st >= f.s && e.st <= f.e).map((e) => e.lat) : []);

// RSS per replica: start = first sample after warm-up, peak, end = last sample.
const rss = {};
for (const [t, r, kb] of tsv(args.rss)) (rss[r] ??= []).push({ t: +t, kb: +kb });
const bound = Number(args["rss-growth-mb"] ?? 64);
let rssFail = [];
const rssLines = [];
for (const [r, s] of Object.entries(rss)) {
  const warm = s.find((x) => x.t >= +args.warm) ?? s[0];
  const peak = Math.max(...s.map((x) => x.kb));
  const end = s[s.length - 1];
  const mb = (kb) => (kb / 1024).toFixed(1);
  const series = s.filter((_, i) => i % Math.max(1, Math.ceil(s.length / 12)) === 0).map((x) => mb(x.kb)).join(" ");
  rssLines.push(`  ${r}: first ${mb(s[0].kb)} MB, after warm-up ${mb(warm.kb)} MB, peak ${mb(peak)} MB, end ${mb(end.kb)} MB (${s.length} samples; every ~${Math.ceil(s.length / 12)} s: ${series})`);
  if (end.kb > warm.kb + bound * 1024) rssFail.push(`${r}: end ${mb(end.kb)} MB > warm-up ${mb(warm.kb)} + ${bound} MB`);
}

const client = args.client ? JSON.parse(readFileSync(args.client, "utf8")) : {};
const pad = (s, n) => String(s).padEnd(n);
console.log(`\n=== chaos run: ${events.length} Attests (${client.requests ?? "?"} requests; replays are 2 Attests), client ${(+client.elapsed_s || 0).toFixed(1)} s ===`);
console.log(pad("kind", 15) + pad("n", 7) + pad("wrong", 7) + pad("acceptable", 58) + "actual");
const order = ["valid_snp", "valid_snp_kds", "valid_tdx", "valid_snp_gpu", "valid_tdx_gpu", "replay_first", "replay_second", "wrong_nonce", "malformed", "wrong_policy", "oversize", "oversize_2x"];
for (const k of order) {
  const r = rows.get(k);
  if (!r) continue;
  const actual = [...r.actual.entries()].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ${n}`).join(", ");
  const acc = [...r.ok].join("|");
  console.log(pad(k, 15) + pad(r.n, 7) + pad(r.wrong, 7) + pad(acc, Math.max(58, acc.length + 2)) + actual);
}
console.log("\nfaults injected (seconds from the start of the mix):");
for (const [name, f] of Object.entries(faults)) {
  const l = windowLat(f);
  console.log(`  ${pad(name, 11)} +${((f.s - args.t0) / 1000).toFixed(1)}s .. +${((f.e - args.t0) / 1000).toFixed(1)}s  ${l.length} Attests started inside, p99 ${pct(l, 99)} ms  (${f.note})`);
}
console.log(`\nwrong outcomes: ${wrong}`);
console.log(`accepting tokens (affirming/warning) for evidence that must be rejected: ${tokensRejected}` +
  ` (${contraTokens} rejections came with a contraindicated EAR token, as designed)`);
console.log(`challenges with more than one token: ${doubleTokens}`);
const timeouts = events.filter((e) => storeTimeout(e) && !inRedis(e)).length;
console.log(`nonce store timeouts outside the outage (fail closed, no token): ${timeouts}`);
console.log(`crashes: ${args.crashes}`);
console.log(`Attest latency over the run: p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${pct(lat, 100)} ms`);
console.log(`RSS (VmRSS, sampled every second; bound: end <= after-warm-up + ${bound} MB):`);
rssLines.forEach((l) => console.log(l));
for (const s of wrongSamples) console.log("  wrong: " + s);
const slowKds = faults.kds_slow ? events.filter((e) => e.kind === "valid_snp_kds" && e.st >= faults.kds_slow.s && e.st <= faults.kds_slow.e) : [];
const slowMax = Math.max(0, ...slowKds.map((e) => e.lat));
console.log(`timeouts honoured: ${slowKds.length} valid_snp_kds Attests sent while the KDS was slow, the longest ${slowMax} ms` +
  ` (${slowKds.filter((e) => e.out === "COLLATERAL_UNAVAILABLE").length} failed closed; bound 2500 ms)`);
if (stop) {
  const inflight = events.filter((e) => e.st < stop.s && e.en > stop.s);
  const outs = {};
  inflight.forEach((e) => (outs[e.out] = (outs[e.out] ?? 0) + 1));
  console.log(`in flight through nginx at B's SIGTERM: ${inflight.length} Attests -> ${JSON.stringify(outs)}`);
}
// OCSP: every GPU Attest wholly inside a responder fault failed closed (else
// it was counted wrong above); at least one must have been, or the fault
// proved nothing. Timeouts honoured while the responder was slow.
const ocspLines = [];
let ocspInside = 0;
for (const name of ["ocsp_slow", "ocsp_dead"]) {
  const f = faults[name];
  if (!f) continue;
  const inside = events.filter((e) => GPU_KINDS.has(e.kind) && e.st >= f.s && e.en <= f.e);
  const overlapping = events.filter((e) => GPU_KINDS.has(e.kind) && e.en >= f.s && e.st <= f.e + OCSP_WIDEN_MS);
  const closed = inside.filter(ocspRejected).length;
  ocspInside += inside.length;
  const longest = Math.max(0, ...events.filter((e) => GPU_KINDS.has(e.kind) && e.st >= f.s && e.st <= f.e).map((e) => e.lat));
  ocspLines.push(`  ${name}: ${inside.length} GPU Attests wholly inside, ${closed} failed closed (OCSP_UNAVAILABLE); ` +
    `${overlapping.length} overlapping [start, end + 62 s]: ${overlapping.filter(ocspRejected).length} failed closed, ` +
    `${overlapping.filter((e) => e.token).length} tokens; longest GPU Attest sent inside ${longest} ms`);
  if (name === "ocsp_slow") ocspLines.slowMax = longest;
}
if (ocspLines.length) {
  console.log("OCSP responder faults (GPU kinds; policy: no OCSP soft-fail):");
  ocspLines.forEach((l) => console.log(l));
}
const fail = [];
if (slowMax > 2500) fail.push(`a valid_snp_kds Attest took ${slowMax} ms while the KDS was slow (timeout 1 s)`);
if (ocspLines.length && ocspInside === 0) fail.push("no GPU Attest fell wholly inside an OCSP responder fault (the fault proved nothing)");
if ((ocspLines.slowMax ?? 0) > 4500) fail.push(`a GPU Attest took ${ocspLines.slowMax} ms while the OCSP responder was slow (timeout 1 s per request)`);
if (wrong) fail.push(`${wrong} wrong outcomes`);
if (tokensRejected) fail.push(`${tokensRejected} tokens for rejected evidence`);
if (doubleTokens) fail.push(`${doubleTokens} challenges with 2 tokens`);
if (+args.crashes) fail.push(`${args.crashes} crashes`);
if (rssFail.length) fail.push("RSS growth: " + rssFail.join("; "));
for (const k of order) if (!rows.get(k)?.n) fail.push(`no ${k} request in the mix`);
if (fail.length) {
  console.log("FAIL: " + fail.join("; "));
  process.exit(1);
}
console.log("ok: wrong = 0, tokens for rejected = 0, crashes = 0, RSS growth within bound");
