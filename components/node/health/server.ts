// /healthz, /readyz, /metrics, /debug/diagnose and /debug/probe on one port (default 9099). The runtime's
// health server has no room for the diagnose endpoint, so the agent serves its own.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Check { ok: boolean; detail?: string }

export interface AgentHttpOptions {
  port: number;
  host: string;
  registry: Registry;
  healthz: () => Check;
  readyz: () => Check;
  diagnose: () => Promise<unknown>;
  /** /debug/probe (components/node/agent/probe.ts); absent: 404. */
  probe?: (query: URLSearchParams) => Promise<{ status: number; body: unknown }>;
}

export interface AgentHttpServer { port: number; close(): Promise<void> }

export async function startAgentHttpServer(o: AgentHttpOptions): Promise<AgentHttpServer> {
  const server = http.createServer((req, res) => {
    const text = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'Content-Type': type });
      res.end(body);
    };
    const raw = req.url ?? '/';
    const path = raw.split('?')[0];
    const query = new URLSearchParams(raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : '');
    const reply = (c: Check) => text(c.ok ? 200 : 503, c.ok ? 'ok\n' : `not ok: ${c.detail ?? ''}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed\n');
    if (path === '/healthz' || path === '/livez') return reply(o.healthz());
    if (path === '/readyz') return reply(o.readyz());
    if (path === '/metrics') {
      o.registry.metrics().then((m) => text(200, m, o.registry.contentType), (e: Error) => text(500, e.message));
      return;
    }
    if (path === '/debug/diagnose') {
      o.diagnose().then((d) => text(200, JSON.stringify(d, null, 2) + '\n', 'application/json'), (e: Error) => text(500, JSON.stringify({ error: e.message }), 'application/json'));
      return;
    }
    if (path === '/debug/probe' && o.probe) {
      o.probe(query).then((r) => text(r.status, JSON.stringify(r.body) + '\n', 'application/json'), (e: Error) => text(500, JSON.stringify({ error: e.message }), 'application/json'));
      return;
    }
    text(404, 'not found\n');
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot listen on ${o.host}:${o.port} for health and metrics: ${e.message}; pick another --health-port`)));
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
