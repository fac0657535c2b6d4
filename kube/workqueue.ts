// Work queue with client-go semantics: a key is queued at most once (dedup), handed to at most
// one worker at a time (a key re-added while in flight is queued again when done()), retried
// with per-key exponential backoff, all retries behind one token bucket, and delayed adds.
import { backoffCeiling, type BackoffOptions } from './backoff.ts';

export interface RateLimiterOptions {
  /** Per-key failure backoff. Default 5 ms doubling to 5 min, no jitter. */
  perKey?: BackoffOptions;
  /** Overall token bucket for rate-limited adds: tokens per second and bucket size. Default 10 qps, burst 100. */
  qps?: number;
  burst?: number;
}

/** Per-key exponential backoff combined with an overall token bucket; the longer delay wins. */
export class RateLimiter {
  private readonly failures = new Map<string, number>();
  private readonly perKey: BackoffOptions;
  private readonly qps: number;
  private readonly burst: number;
  private tokens: number;
  private last: number;

  constructor(opts: RateLimiterOptions = {}, private readonly now: () => number = () => performance.now()) {
    this.perKey = opts.perKey ?? { initialMs: 5, maxMs: 300_000 };
    this.qps = opts.qps ?? 10;
    this.burst = opts.burst ?? 100;
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Delay before the key may be retried; counts one more failure for it and takes one token. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.max(backoffCeiling(n, this.perKey), this.reserve());
  }

  /** Failures recorded for a key since it was last forgotten. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Takes a token (possibly one not yet refilled: the debt is the wait). */
  private reserve(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
}

export interface WorkQueueOptions {
  rateLimiter?: RateLimiter;
  /** Told the number of keys waiting whenever it changes (for a depth gauge). */
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys that need processing: queued, or re-added while in flight. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private idleWaiters: Array<() => void> = [];
  private shuttingDown = false;
  private dropQueued = false;
  readonly rateLimiter: RateLimiter;

  constructor(private readonly opts: WorkQueueOptions = {}) {
    this.rateLimiter = opts.rateLimiter ?? new RateLimiter();
  }

  get length(): number {
    return this.queue.length;
  }
  get inFlight(): number {
    return this.processing.size;
  }
  get pendingDelayed(): number {
    return this.delayed.size;
  }
  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // requeued by done()
    this.push(key);
  }

  /** Adds the key after ms; an earlier pending delayed add of the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = performance.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Adds the key after the rate limiter's delay (per-key backoff, overall token bucket). */
  addRateLimited(key: string): number {
    const d = this.rateLimiter.when(key);
    this.addAfter(key, d);
    return d;
  }

  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  retries(key: string): number {
    return this.rateLimiter.retries(key);
  }

  /** Next key to process, or undefined once shut down and (when draining) empty. */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks a key's processing finished; a key re-added meanwhile is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      if (this.dropQueued) this.dirty.delete(key);
      else this.push(key);
    }
    this.checkIdle();
  }

  /**
   * Stops accepting keys and cancels delayed adds. With drain (default) workers still get every
   * key already queued; without it queued keys are dropped (a level-triggered controller catches
   * up on its next start). Resolves when no key is queued or in flight.
   */
  shutdown(opts: { drain?: boolean } = {}): Promise<void> {
    this.shuttingDown = true;
    this.dropQueued = opts.drain === false;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    if (this.dropQueued) {
      for (const k of this.queue) this.dirty.delete(k);
      this.queue.length = 0;
      this.opts.onDepth?.(0);
    }
    // Wake idle workers: with an empty queue they get undefined and exit.
    while (this.waiters.length && this.queue.length === 0) this.waiters.shift()!(undefined);
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  private push(key: string): void {
    const w = this.waiters.shift();
    if (w) {
      this.dirty.delete(key);
      this.processing.add(key);
      w(key);
      return;
    }
    this.queue.push(key);
    this.opts.onDepth?.(this.queue.length);
  }

  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.opts.onDepth?.(this.queue.length);
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private checkIdle(): void {
    if (!this.shuttingDown) return;
    if (this.queue.length === 0) while (this.waiters.length) this.waiters.shift()!(undefined);
    if (this.queue.length === 0 && this.processing.size === 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }
}
