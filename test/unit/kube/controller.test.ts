import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generationChanged, ownerKeys, labelKey, selfKey } from '../../../kube/controller.ts';
import type { KubeObject } from '../../../kube/client.ts';

const o = (gen: number | undefined, extra: KubeObject['metadata'] = {}): KubeObject => ({ metadata: { name: 'x', namespace: 'ns', generation: gen, ...extra } });

describe('event filters and maps', () => {
  test('generationChanged drops status-only updates, passes spec changes, adds, deletes, resyncs', () => {
    assert.equal(generationChanged({ type: 'update', obj: o(1), old: o(1) }), false);
    assert.equal(generationChanged({ type: 'update', obj: o(2), old: o(1) }), true);
    assert.equal(generationChanged({ type: 'add', obj: o(1) }), true);
    assert.equal(generationChanged({ type: 'delete', obj: o(1) }), true);
    assert.equal(generationChanged({ type: 'resync', obj: o(1) }), true);
  });

  test('ownerKeys maps to owners of a kind, namespaced or cluster-scoped', () => {
    const child = o(1, {
      ownerReferences: [
        { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', name: 'default', uid: '1', controller: true },
        { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: '2' },
      ],
    });
    const ev = { type: 'add' as const, obj: child };
    assert.deepEqual(ownerKeys('Installation', { clusterScoped: true })(child, ev), ['default']);
    assert.deepEqual(ownerKeys('Installation')(child, ev), ['ns/default']);
    assert.deepEqual(ownerKeys('Node', { controllerOnly: true })(child, ev), []);
    assert.equal(labelKey('weft.dev/installation')(o(1, { labels: { 'weft.dev/installation': 'default' } }), ev), 'default');
    assert.equal(selfKey(child, ev), 'ns/x');
  });
});

describe('Controller retries', () => {
  // A real Controller with no informers: keys come from enqueue(), reconciles run for real.
  const runUntil = async (reconcile: (key: string) => Promise<void>, settleMs: number) => {
    const { Controller } = await import('../../../kube/controller.ts');
    const c = new Controller({ name: 'retry-test', rateLimiter: { perKey: { initialMs: 5, maxMs: 20 } } });
    c.reconcile(async (key) => reconcile(key));
    const stop = new AbortController();
    const running = c.run(stop.signal);
    c.enqueue('a');
    await new Promise((r) => setTimeout(r, settleMs));
    stop.abort();
    await running;
  };

  test('an ordinary error is retried with backoff; a TerminalError is not', async () => {
    const { TerminalError } = await import('../../../kube/errors.ts');
    let ordinary = 0;
    await runUntil(async () => {
      ordinary++;
      if (ordinary < 3) throw new Error('transient');
    }, 300);
    assert.equal(ordinary, 3, 'two failures then a success: three reconciles');

    let terminal = 0;
    await runUntil(async () => {
      terminal++;
      throw new TerminalError('invalid spec: retrying cannot help');
    }, 300);
    assert.equal(terminal, 1, 'a TerminalError is reconciled once and not requeued');
  });
});
