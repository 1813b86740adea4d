// Slow clients for the chaos test: N connections per target that trickle
// bytes (an HTTP/2 client preface, then a SETTINGS frame header, one byte
// every INTERVAL ms, then keep-alive bytes of a never-finished frame) and
// never complete a request, for as long as this runs. The mix running at
// the same time must be unaffected (judged by judge.mjs). On SIGTERM prints
// JSON: connections opened, bytes sent, closed by the peer (and after how
// long), errors.
//   node slow_clients.mjs N INTERVAL_MS HOST:PORT [HOST:PORT...]
import { connect } from "node:net";

const [n, interval, ...targets] = process.argv.slice(2);
const preface = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),          // empty SETTINGS
  Buffer.from([0, 0x40, 0, 1, 4, 0, 0, 0, 1]),       // HEADERS, 16 KiB promised, never sent
]);
const stats = { opened: 0, bytes: 0, closed_by_peer: 0, closed_after_ms: [], errors: {} };
const socks = [];
for (const t of targets) {
  const [host, port] = [t.slice(0, t.lastIndexOf(":")), Number(t.slice(t.lastIndexOf(":") + 1))];
  for (let i = 0; i < Number(n); i++) {
    const s = connect({ host, port });
    const opened = Date.now();
    let pos = 0, done = false;
    s.on("connect", () => {
      stats.opened++;
      const timer = setInterval(() => {
        if (done) return clearInterval(timer);
        const b = pos < preface.length ? preface.subarray(pos, pos + 1) : Buffer.from([0x41]);
        pos++;
        s.write(b, (err) => { if (!err) stats.bytes++; });
      }, Number(interval));
    });
    s.on("error", (e) => { stats.errors[e.code] = (stats.errors[e.code] ?? 0) + 1; });
    s.on("close", () => {
      if (!done) { stats.closed_by_peer++; stats.closed_after_ms.push(Date.now() - opened); }
      done = true;
    });
    socks.push(s);
  }
}
process.on("SIGTERM", () => {
  for (const s of socks) { if (!s.destroyed) { s.destroy(); } }
  stats.closed_after_ms.sort((a, b) => a - b);
  stats.closed_after_ms = stats.closed_after_ms.slice(0, 5);
  console.log(JSON.stringify(stats));
  process.exit(0);
});
