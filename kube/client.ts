// A minimal Kubernetes REST client over node's http(s).request, used by the informers and the
// leader elector. Why not @kubernetes/client-node's Watch/fetch: in 1.x every watch reconnect
// leaks a socket (client-node issue #2893; the fix needs 2.x and Node 22). Here one agent with
// keep-alive off is owned by the client, every socket a request used is tracked, and aborting a
// request destroys its socket — so a reconnect can never leave a descriptor behind.
// KubeConfig still supplies the server, TLS material and credentials (incl. exec/OIDC tokens).
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RuntimeMetrics } from './metrics.ts';
import { ApiError } from './errors.ts';

export interface RequestInfo {
  verb: string;
  method: string;
  path: string;
}

export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** The parts of a Kubernetes object the runtime reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
    deletionTimestamp?: string | Date;
  };
  [k: string]: unknown;
}

export interface RequestOptions {
  verb: string;
  method?: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface WatchOptions {
  query?: Record<string, string | number | boolean | undefined>;
  signal: AbortSignal;
  /** Called for each decoded event line; the promise resolves when the server ends the stream. */
  onEvent: (ev: WatchEvent) => void;
  /** Called once the response headers arrived with 200. */
  onConnected?: () => void;
}

export class KubeClient {
  private readonly server: URL;
  private readonly agent: http.Agent;
  private readonly sockets = new Set<Socket>();
  private readonly listeners = new Set<(info: RequestInfo) => void>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: { metrics?: RuntimeMetrics; userAgent?: string; requestTimeoutMs?: number } = {},
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster: set current-context to a context whose cluster exists');
    if (cluster.proxyUrl) {
      throw new Error(
        `kubeconfig cluster ${cluster.name} sets proxy-url, which the Weft watch layer does not support: remove it or reach the API server directly`,
      );
    }
    this.server = new URL(cluster.server);
    // keepAlive off: a socket lives exactly as long as its request, so nothing idles in a pool.
    const agentOpts = { keepAlive: false, maxSockets: Infinity };
    this.agent = this.server.protocol === 'http:' ? new http.Agent(agentOpts) : new https.Agent(agentOpts);
  }

  /** Register a hook told about every request as it is sent; returns an unsubscribe function. */
  onRequest(fn: (info: RequestInfo) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Sockets currently open by this client (for leak checks). */
  get openSockets(): number {
    return this.sockets.size;
  }

  private count(info: RequestInfo): void {
    this.opts.metrics?.apiRequests.inc({ verb: info.verb });
    for (const l of this.listeners) l(info);
  }

  private async requestOptions(method: string, path: string, query: RequestOptions['query'], headers: Record<string, string>): Promise<https.RequestOptions> {
    const o: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(o);
    // applyToHTTPSOptions also builds an agent of its own per call; we use ours instead.
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') qs.set(k, String(v));
    const base = this.server.pathname.replace(/\/$/, '');
    const q = qs.toString();
    return {
      ...o,
      agent: this.agent,
      protocol: this.server.protocol,
      hostname: this.server.hostname.replace(/^\[|\]$/g, ''),
      port: this.server.port || (this.server.protocol === 'http:' ? 80 : 443),
      method,
      path: `${base}${path}${q ? `?${q}` : ''}`,
      headers: {
        Accept: 'application/json',
        'User-Agent': this.opts.userAgent ?? 'kube-runtime',
        ...(o.headers as Record<string, string>),
        ...headers,
      },
    };
  }

  private send(o: https.RequestOptions): http.ClientRequest {
    const req = (this.server.protocol === 'http:' ? http : https).request(o);
    req.on('socket', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    return req;
  }

  /** One JSON request; rejects with ApiError on a non-2xx status. */
  async request<T = unknown>(path: string, ro: RequestOptions): Promise<T> {
    const method = ro.method ?? 'GET';
    const headers: Record<string, string> = {};
    let payload: string | undefined;
    if (ro.body !== undefined) {
      payload = typeof ro.body === 'string' ? ro.body : JSON.stringify(ro.body);
      headers['Content-Type'] = ro.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const o = await this.requestOptions(method, path, ro.query, headers);
    this.count({ verb: ro.verb, method, path });
    return await new Promise<T>((resolve, reject) => {
      if (ro.signal?.aborted) return reject(ro.signal.reason ?? new Error('aborted'));
      const req = this.send(o);
      const timeoutMs = ro.timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000;
      const timer = setTimeout(() => req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => req.destroy(ro.signal?.reason instanceof Error ? ro.signal.reason : new Error('aborted'));
      ro.signal?.addEventListener('abort', onAbort, { once: true });
      const finish = () => {
        clearTimeout(timer);
        ro.signal?.removeEventListener('abort', onAbort);
      };
      req.on('error', (e) => {
        finish();
        reject(e);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => {
          finish();
          reject(e);
        });
        res.on('end', () => {
          finish();
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text for the error message
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(body as T);
          reject(toApiError(method, path, status, body));
        });
      });
      req.end(payload);
    });
  }

  /**
   * One watch connection streaming line-delimited JSON. Resolves when the server closes the
   * stream, rejects on a transport error or a non-200 answer. Aborting the signal destroys the
   * request, the response and the socket and resolves.
   */
  async watch(path: string, wo: WatchOptions): Promise<void> {
    const o = await this.requestOptions('GET', path, { ...wo.query, watch: 'true' }, {});
    this.count({ verb: 'watch', method: 'GET', path });
    await new Promise<void>((resolve, reject) => {
      if (wo.signal.aborted) return resolve();
      const req = this.send(o);
      let socket: Socket | undefined;
      req.on('socket', (s: Socket) => (socket = s));
      let res: http.IncomingMessage | undefined;
      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        wo.signal.removeEventListener('abort', onAbort);
        // Tear everything down explicitly: with keep-alive off this is the socket's end too.
        res?.destroy();
        req.destroy();
        socket?.destroy();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => settle();
      wo.signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (e) => settle(wo.signal.aborted ? undefined : e));
      req.on('response', (r) => {
        res = r;
        if (r.statusCode !== 200) {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => {
            let body: unknown = Buffer.concat(chunks).toString('utf8');
            try {
              body = JSON.parse(body as string);
            } catch {
              // keep text
            }
            settle(toApiError('GET', path, r.statusCode ?? 0, body));
          });
          r.on('error', (e) => settle(e));
          return;
        }
        wo.onConnected?.();
        r.setEncoding('utf8');
        let buf = '';
        r.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            let ev: WatchEvent;
            try {
              ev = JSON.parse(line) as WatchEvent;
            } catch (e) {
              return settle(new Error(`watch ${path}: undecodable event line: ${(e as Error).message}`));
            }
            try {
              wo.onEvent(ev);
            } catch (e) {
              return settle(e);
            }
            if (settled) return;
          }
        });
        r.on('end', () => settle());
        r.on('aborted', () => settle(wo.signal.aborted ? undefined : new Error(`watch ${path}: connection aborted by the server`)));
        r.on('error', (e) => settle(wo.signal.aborted ? undefined : e));
        r.on('close', () => settle());
      });
      req.end();
    });
  }

  /** Destroy every socket this client still has open. */
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.agent.destroy();
  }
}

function toApiError(method: string, path: string, status: number, body: unknown): ApiError {
  const s = body as { message?: string; reason?: string } | undefined;
  const msg = typeof body === 'object' && s?.message ? s.message : typeof body === 'string' ? body.slice(0, 200) : '';
  return new ApiError(`${method} ${path}: HTTP ${status}${s?.reason ? ` ${s.reason}` : ''}: ${msg}`, status, s?.reason, body);
}
