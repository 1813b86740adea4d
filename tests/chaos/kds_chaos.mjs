// A KDS (+ OCSP) stand-in for the chaos test whose health is set on command.
// Serves the simulator's AMD collateral under KDS paths (as
// tests/integration/observability/kds_stub.mjs does):
//   GET /vcek/v1/<product>/crl         -> <dir>/amd/<product>/crl.der
//   GET /vcek/v1/<product>/cert_chain  -> <dir>/amd/<product>/cert_chain.pem
//   GET /vcek/v1/<product>/<hwid>?...  -> <vcek dir>/<hwid>.der (VCEKs the chaos
//                                         client made for chips the server has not seen)
//   POST /ocsp                         -> 404 (the simulator's OCSP answers are
//                                         in the offline directory, tried first)
// Control (same port): POST /_chaos/alive | /_chaos/slow | /_chaos/dead
//   alive: answer at once; slow: answer after SLOW_MS (3000); dead: reset
//   the connection without an answer. GET /_chaos/stats: requests by mode.
// Prints the port, then serves until killed.
//   node kds_chaos.mjs <collateral dir> <vcek dir>
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

const dir = process.argv[2];
const vcekDir = process.argv[3];
const SLOW_MS = Number(process.env.SLOW_MS || 3000);
let mode = "alive";
const stats = { alive: 0, slow: 0, dead: 0, control: 0 };
const routes = [
  [/^\/vcek\/v1\/(Milan|Genoa|Turin)\/crl$/, (p) => [join(dir, "amd", p, "crl.der"), "application/pkix-crl"]],
  [/^\/vcek\/v1\/(Milan|Genoa|Turin)\/cert_chain$/, (p) => [join(dir, "amd", p, "cert_chain.pem"), "application/x-pem-file"]],
  [/^\/vcek\/v1\/(?:Milan|Genoa|Turin)\/([0-9a-f]{128})$/, (hwid) => [join(vcekDir, hwid + ".der"), "application/x-x509-ca-cert"]],
];
async function answer(req, res, path) {
  for (const [re, target] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    const [file, type] = target(m[1]);
    try {
      const body = await readFile(file);
      res.writeHead(200, { "Content-Type": type, "Content-Length": body.length });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
    return;
  }
  res.writeHead(404).end();
}
const server = createServer((req, res) => {
  const path = new URL(req.url, "http://stub").pathname;
  const ctl = /^\/_chaos\/(alive|slow|dead|stats)$/.exec(path);
  if (ctl) {
    stats.control++;
    if (ctl[1] !== "stats") mode = ctl[1];
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ mode, stats }));
    return;
  }
  stats[mode]++;
  if (mode === "dead") {
    req.socket.destroy();
    return;
  }
  if (mode === "slow") {
    setTimeout(() => answer(req, res, path).catch(() => req.socket.destroy()), SLOW_MS);
    return;
  }
  answer(req, res, path).catch(() => req.socket.destroy());
});
server.keepAliveTimeout = 1000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
