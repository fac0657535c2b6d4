/**
 * One line for any error a `weft` command can hit (issue 16: status and uninstall printed raw
 * stack traces when the API server was unreachable). Network failures say which server could
 * not be reached and what to check; API refusals give the HTTP status and the server's message;
 * anything else its first line.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);

function codeOf(e: unknown, depth = 0): string | undefined {
  if (!e || typeof e !== 'object' || depth > 4) return undefined;
  const x = e as { code?: unknown; errno?: unknown; cause?: unknown; message?: unknown };
  if (typeof x.code === 'string' && NETWORK_CODES.has(x.code)) return x.code;
  if (typeof x.errno === 'string' && NETWORK_CODES.has(x.errno)) return x.errno;
  const inMessage = typeof x.message === 'string' ? /\b(E[A-Z]{4,}|UND_ERR_[A-Z_]+)\b/.exec(x.message)?.[1] : undefined;
  if (inMessage && NETWORK_CODES.has(inMessage)) return inMessage;
  return codeOf(x.cause, depth + 1);
}

/** `server` is the API server URL when known (from the kubeconfig). */
export function describeError(err: unknown, server?: string): string {
  const e = err as { message?: unknown; status?: unknown; statusCode?: unknown; code?: unknown; body?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const net = codeOf(err);
  if (net) {
    const url = server ?? /https?:\/\/[^\s/'"]+/.exec(message)?.[0];
    return `cannot reach the Kubernetes API server${url ? ` at ${url}` : ''} (${net}): check --kubeconfig / KUBECONFIG and that the cluster is running`;
  }
  const status = [e?.status, e?.statusCode, e?.code].find((v) => typeof v === 'number' && v >= 400) as number | undefined;
  if (status) {
    const body = (typeof e.body === 'string' ? (() => { try { return JSON.parse(e.body as string); } catch { return undefined; } })() : e.body) as { message?: string } | undefined;
    const why = body?.message ?? message;
    return `the API server refused the request (HTTP ${status}): ${firstLine(why)}`;
  }
  return firstLine(message);
}

function firstLine(s: string): string {
  return (s.split('\n').find((l) => l.trim()) ?? s).trim().slice(0, 500);
}
