// Bounded fan-out: many API requests (or commands) without opening them all at once.

/**
 * Runs fn over items with at most `limit` (≥ 1) calls in flight; results in the items' order.
 * A rejection of fn rejects the whole call, as Promise.all does (calls already started finish
 * on their own).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}
