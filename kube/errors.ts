// Errors of the Kubernetes runtime: what the API server answered (ApiError and the predicates
// that name its Status reasons) and what a reconciler returns to say "retrying cannot help"
// (TerminalError). One predicate per reason, for both clients in use: this runtime's KubeClient
// and @kubernetes/client-node's typed APIs (whose errors carry `code`).

/** Error from the API server: carries the HTTP status and the Status object's reason. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason?: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** HTTP status of an error from either client: ApiError.status, or client-node's ApiException.code. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.status;
  const e = err as { code?: unknown; statusCode?: unknown } | null | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** 410 Gone / reason Expired: a watch or list resourceVersion is too old (relist). */
export function isGone(err: unknown): boolean {
  return statusOf(err) === 410 || (err instanceof ApiError && (err.reason === 'Expired' || err.reason === 'Gone'));
}
/** 404 NotFound. */
export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}
/** 409 of any reason (Conflict on a stale resourceVersion, or AlreadyExists). */
export function isConflict(err: unknown): boolean {
  return statusOf(err) === 409;
}
/** 409 with reason AlreadyExists: a create lost to an object of the same name. */
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof ApiError && err.status === 409 && err.reason === 'AlreadyExists';
}

/**
 * Returned (thrown) by a reconciler when retrying cannot succeed until the watched objects
 * change — an invalid spec, a conflict only the user can resolve. The Controller records it as a
 * failure but does not requeue the key; the next event on a watched object enqueues it again.
 * (controller-runtime's reconcile.TerminalError has the same meaning.)
 */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export function isTerminal(err: unknown): err is TerminalError {
  return err instanceof TerminalError;
}
