// A stand-in for AMD KDS on loopback for the observability e2e: serves the
// simulator's AMD collateral under KDS paths so that the server's online
// collateral path (fetch, cache, breaker, upstream latency) really runs.
//   GET /vcek/v1/<product>/crl         -> <dir>/amd/<product>/crl.der
//   GET /vcek/v1/<product>/cert_chain  -> <dir>/amd/<product>/cert_chain.pem
// Anything else is 404. Prints the port it listens on, then serves until
// killed.
//   node kds_stub.mjs <collateral dir>
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node kds_stub.mjs <collateral dir>");
  process.exit(2);
}
const routes = [
  [/^\/vcek\/v1\/(Milan|Genoa|Turin)\/crl$/, (p) => [join(dir, "amd", p, "crl.der"), "application/pkix-crl"]],
  [/^\/vcek\/v1\/(Milan|Genoa|Turin)\/cert_chain$/, (p) => [join(dir, "amd", p, "cert_chain.pem"), "application/x-pem-file"]],
];
const server = createServer(async (req, res) => {
  const path = new URL(req.url, "http://stub").pathname;
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
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
