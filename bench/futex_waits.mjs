#!/usr/bin/env node
// Where a process's threads blocked in the kernel, from `perf script` output of
//   perf record -e syscalls:sys_enter_futex --filter '<wait ops>' --call-graph dwarf
//               -e syscalls:sys_exit_futex/call-graph=no/ -p PID
// (scripts/bench_e2e.sh E2E_FUTEX=1 records it; docs/performance.md "Lock
// contention"). An uncontended mutex never enters the kernel, so every futex
// wait is either a lock that another thread held (contention) or a thread
// waiting for work (a condition variable, notification or completion queue:
// idle). Each wait is paired with its thread's next sys_exit_futex for its
// duration and attributed to the innermost frame of our code (rp::) on its
// stack, else to the innermost frame outside the C library, Abseil's
// synchronisation and libstdc++.
//
//   node bench/futex_waits.mjs [--requests N] < perf-script.txt
// Prints a Markdown table: kind (lock = blocked acquiring a mutex / rwlock;
// wait = blocked waiting for an event), site, waits, total blocked ms, waits
// per request and the share of all lock waits.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
let requests = 0;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--requests') requests = Number(args[++i]);
  else { console.error(`futex_waits: unknown argument ${args[i]}`); process.exit(2); }
}

const text = readFileSync(0, 'utf8');
// perf script: a header line "comm tid [cpu] time: event: fields", then for a
// sample with a call graph, one "\taddr symbol+off (dso)" line per frame, then
// a blank line. The exit events carry no call graph.
const header = /^\s*(\S.*?)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+syscalls:sys_(enter|exit)_futex:/;
// What a wait was, from its stack: the first pattern that matches names it.
const kinds = [
  ['lock: malloc arena', /__libc_malloc|_int_malloc|_int_free|__libc_free|__libc_calloc|__libc_realloc|arena_get/],
  ['lock: OpenSSL', /CRYPTO_THREAD_(read|write)_lock/],
  ['lock: mutex', /pthread_mutex_lock|__lll_lock_wait|pthread_rwlock_(rd|wr)lock|Mutex::Lock\b|Mutex::LockSlow|Mutex::ReaderLock|Mutex::WriterLock|std::mutex::lock|shared_mutex::lock/],
  ['wait', /gpr_cv_wait|Executor::ThreadMain|CondVar|pthread_cond_|condition_variable|Notification|LockWhen|Await|cq_next|cq_pluck|pollset_work|grpc_completion_queue|TimerManager|futex_abstimed_wait/],
];
// Frames that are the locking machinery itself, never a site.
const machinery = /^(futex_wait|__GI_|__lll_|lll_|___?pthread_|__pthread_|__futex|syscall$|__libc_|_int_|operator new|operator delete|AbslInternal|absl::[a-z0-9_]*::(Mutex|CondVar|Notification|synchronization_internal|base_internal)|std::|__gnu_cxx::|CRYPTO_THREAD_|\[unknown\]|gpr_(mu|cv)_)/;

const pending = new Map(); // tid -> {t, stack}
const sites = new Map(); // key -> {kind, site, n, ms}
let unmatched = 0;

function symbolOf(line) {
  // "\t  addr sym+0xoff (dso)" or "... sym+0xoff (inlined)"
  const m = line.match(/^\s*[0-9a-f]+\s+(.*?)(\+0x[0-9a-f]+)?\s+\((.*)\)\s*$/);
  return m ? { sym: m[1], dso: m[3] } : null;
}

function shorten(sym) {
  // Drop argument lists and template arguments so one function is one site.
  let s = sym.replace(/\(anonymous namespace\)/g, '{anon}');
  let out = '', depth = 0;
  for (const ch of s) {
    if (ch === '<' || ch === '(') { depth++; continue; }
    if (ch === '>' || ch === ')') { depth = Math.max(0, depth - 1); continue; }
    if (depth === 0) out += ch;
  }
  return out.replace(/\s+/g, ' ').trim();
}

function classify(stack) {
  const frames = stack.map(symbolOf).filter(Boolean);
  const all = frames.map((f) => f.sym).join('\n');
  const kind = (kinds.find(([, re]) => re.test(all)) || ['other'])[0];
  // Our innermost frame, else the innermost frame that is not locking machinery.
  let site = frames.find((f) => /^rp::/.test(f.sym));
  if (!site) site = frames.find((f) => !machinery.test(f.sym));
  return { kind, site: site ? shorten(site.sym) : '[unknown]' };
}

const lines = text.split('\n');
for (let i = 0; i < lines.length; i++) {
  const h = lines[i].match(header);
  if (!h) continue;
  const tid = h[2], t = Number(h[3]), which = h[4];
  if (which === 'enter') {
    const stack = [];
    while (i + 1 < lines.length && /^\s+[0-9a-f]+\s/.test(lines[i + 1]) && !header.test(lines[i + 1])) {
      stack.push(lines[++i]);
    }
    pending.set(tid, { t, stack });
  } else {
    const p = pending.get(tid);
    if (!p) { unmatched++; continue; }
    pending.delete(tid);
    const { kind, site } = classify(p.stack);
    const key = `${kind}\t${site}`;
    const s = sites.get(key) || { kind, site, n: 0, ms: 0 };
    s.n++;
    s.ms += (t - p.t) * 1000;
    sites.set(key, s);
  }
}

const rank = (k) => (k.startsWith('lock') ? 0 : k === 'wait' ? 1 : 2);
const rows = [...sites.values()].sort((a, b) => rank(a.kind) - rank(b.kind) || b.n - a.n);
const lockWaits = rows.filter((r) => r.kind.startsWith('lock')).reduce((a, r) => a + r.n, 0);
console.log('| kind | site | waits | blocked ms | waits per request | share of lock waits |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const perReq = requests > 0 ? (r.n / requests).toFixed(4) : '';
  const share = r.kind.startsWith('lock') && lockWaits > 0 ? `${((100 * r.n) / lockWaits).toFixed(1)} %` : '';
  console.log(`| ${r.kind} | \`${r.site}\` | ${r.n} | ${r.ms.toFixed(1)} | ${perReq} | ${share} |`);
}
const total = rows.reduce((a, r) => a + r.n, 0);
console.log(`\n${total} futex waits (${lockWaits} on locks), ${pending.size} still blocked at the end, ${unmatched} exits of futex calls that were not waits (wakes)${requests ? `, ${requests} requests` : ''}.`);
