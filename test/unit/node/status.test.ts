// NodeNetwork status diffing: no write when nothing changed, transition times kept.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeConditions, statusEqual, statusMergePatch } from '../../../components/node/status/nodenetwork.ts';

describe('NodeNetwork status diff', () => {
  test('equal regardless of key order and undefined fields', () => {
    assert.ok(statusEqual({ address: '198.18.0.11/24', mtu: 1500, vtep: { mac: 'a', ip: 'b' } }, { vtep: { ip: 'b', mac: 'a' }, mtu: 1500, address: '198.18.0.11/24', interface: undefined }));
    assert.ok(!statusEqual({ mtu: 1500 }, { mtu: 9000 }));
    assert.ok(!statusEqual({ blocks: [{ cidr: 'a', pool: 'p' }, { cidr: 'b', pool: 'p' }] }, { blocks: [{ cidr: 'b', pool: 'p' }, { cidr: 'a', pool: 'p' }] }), 'block order matters');
  });

  test('an unchanged condition keeps its transition time, so recomputing status is a no-op', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const c1 = mergeConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'NoBlocks', message: 'm' }], t1);
    assert.equal(c1[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
    const c2 = mergeConditions(c1, [{ type: 'Ready', status: 'False', reason: 'NoBlocks', message: 'm' }], new Date('2026-01-01T01:00:00Z'));
    assert.ok(statusEqual({ conditions: c1 }, { conditions: c2 }));
    const c3 = mergeConditions(c2, [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }], new Date('2026-01-01T02:00:00Z'));
    assert.equal(c3[0]!.lastTransitionTime, '2026-01-01T02:00:00Z');
    const c4 = mergeConditions(c3, [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'other text' }], new Date('2026-01-01T03:00:00Z'));
    assert.equal(c4[0]!.lastTransitionTime, '2026-01-01T02:00:00Z', 'a message change is no transition');
  });

  test('the merge patch removes fields that disappeared', () => {
    assert.deepEqual(statusMergePatch({ vtep: { mac: 'a' }, mtu: 1500 }, { mtu: 1500 }), { status: { mtu: 1500, vtep: null } });
    assert.deepEqual(statusMergePatch(undefined, { mtu: 1 }), { status: { mtu: 1 } });
    assert.deepEqual(statusMergePatch({ wireguard: { publicKey: 'k', implementation: 'Userspace' } }, { wireguard: { implementation: 'Userspace' } }),
      { status: { wireguard: { implementation: 'Userspace', publicKey: null } } }, 'a nested key that disappeared is nulled (merge patches merge objects)');
  });
});
