import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSelector, selectorMatches, SelectorSyntaxError } from '../../../api/label-selector.ts';

describe('parseSelector', () => {
  test('empty selects everything', () => {
    assert.deepEqual(parseSelector(''), []);
    assert.deepEqual(parseSelector('   '), []);
    assert.equal(selectorMatches('', {}), true);
  });
  test('every operator', () => {
    assert.deepEqual(parseSelector('a=1, b==2,c!=3,d in (x, y ,x),e notin (z),f,!g,h>5,i<-2,example.com/j='), [
      { key: 'a', operator: 'In', values: ['1'] },
      { key: 'b', operator: 'In', values: ['2'] },
      { key: 'c', operator: 'NotIn', values: ['3'] },
      { key: 'd', operator: 'In', values: ['x', 'y'] },
      { key: 'e', operator: 'NotIn', values: ['z'] },
      { key: 'f', operator: 'Exists', values: [] },
      { key: 'g', operator: 'DoesNotExist', values: [] },
      { key: 'h', operator: 'Gt', values: ['5'] },
      { key: 'i', operator: 'Lt', values: ['-2'] },
      { key: 'example.com/j', operator: 'In', values: [''] },
    ]);
  });
  for (const bad of ['a=b=c', 'a in b', 'a in (b', 'a in ()', '=a', '!', 'a,', ',a', 'a b', 'a>x', 'a=$', '-a=b', 'a=b-', 'Example.com/a=b', `${'k'.repeat(64)}=v`, 'a==(b)']) {
    test(`rejects ${JSON.stringify(bad)} with a position`, () => {
      assert.throws(() => parseSelector(bad), (e: unknown) => e instanceof SelectorSyntaxError && /at character \d+/.test(e.message));
    });
  }
});

describe('selectorMatches', () => {
  const labels = { zone: 'a', tier: 'web', size: '10' };
  const cases: [string, boolean][] = [
    ['zone=a', true],
    ['zone==b', false],
    ['zone!=b', true],
    ['missing!=b', true], // != and notin match when the label is absent, as in Kubernetes
    ['missing notin (b)', true],
    ['missing in (b)', false],
    ['zone in (a,b)', true],
    ['zone notin (a,b)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['size>9', true],
    ['size<10', false],
    ['zone>1', false], // non-integer value never satisfies > or <
    ['zone=a,tier=web', true],
    ['zone=a,tier=db', false],
  ];
  for (const [sel, want] of cases) test(`${sel} -> ${want}`, () => assert.equal(selectorMatches(sel, labels), want));
});
