// HTTP endpoints for the kubelet and Prometheus: /metrics, /healthz (process alive),
// /readyz (caches synced and, with leader election, leading or a healthy standby).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Check {
  ok: boolean;
  detail?: string;
}

export interface HealthServerOptions {
  registry: Registry;
  port?: number;
  host?: string;
  healthz?: () => Check;
  readyz: () => Check;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (c: Check) => {
      res.writeHead(c.ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(c.ok ? 'ok\n' : `not ok: ${c.detail ?? ''}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz' || path === '/livez') return reply(o.healthz?.() ?? { ok: true });
    if (path === '/readyz') return reply(o.readyz());
    if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': o.registry.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500).end(err.message);
        },
      );
      return;
    }
    res.writeHead(404).end('not found\n');
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
