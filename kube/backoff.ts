// Exponential backoff with jitter, shared by the watch supervisor (reconnects) and the work
// queue (per-key retries). Pure: the random source is injectable so bounds are testable.

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  initialMs: number;
  /** Upper bound of the un-jittered delay, in ms. */
  maxMs: number;
  /** Growth per attempt (2 = doubling). */
  factor?: number;
  /**
   * Fraction of the delay that is randomised: 0 = none, 0.5 = the delay lies in
   * [d * 0.5, d]. Jitter spreads reconnects of many informers (and many operator
   * replicas) after an API server restart, so they do not stampede it together.
   */
  jitter?: number;
}

/** Un-jittered delay for a 0-based attempt number, capped at maxMs. */
export function backoffCeiling(attempt: number, o: BackoffOptions): number {
  const factor = o.factor ?? 2;
  const a = Math.max(0, Math.floor(attempt));
  // Compute in log space so large attempt counts neither overflow nor go to Infinity * 0.
  const exp = Math.log(o.initialMs) + a * Math.log(factor);
  if (exp >= Math.log(o.maxMs)) return o.maxMs;
  return Math.min(o.maxMs, o.initialMs * factor ** a);
}

/** Delay for a 0-based attempt number: ceiling * (1 - jitter * random()). */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = backoffCeiling(attempt, o);
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0));
  return ceiling * (1 - jitter * random());
}

/** Stateful helper: counts failures since the last success. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions, private readonly random: () => number = Math.random) {}
  /** Delay to wait after one more failure. */
  next(): number {
    return backoffDelay(this.attempt++, this.opts, this.random);
  }
  reset(): void {
    this.attempt = 0;
  }
  get failures(): number {
    return this.attempt;
  }
}

/** Sleep that ends early (resolving false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
