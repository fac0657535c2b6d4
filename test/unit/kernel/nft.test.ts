import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { desiredNftModel, parseNftTable, planNft, renderNftTable } from '../../../components/node/kernel/nft.ts';
import { NFT_JSON } from './fixtures.ts';

describe('natOutgoing nftables table', () => {
  const spec = { natSources: ['10.244.0.0/16'], poolCidrs: ['10.244.0.0/16', '10.96.0.0/12'] };

  test('the table as nft -j prints it equals the desired model: no transaction', () => {
    assert.deepEqual(parseNftTable(NFT_JSON), desiredNftModel(spec));
    assert.equal(planNft('weft', desiredNftModel(spec), parseNftTable(NFT_JSON)), null);
  });

  test('a changed pool replaces the whole table in one script', () => {
    const model = desiredNftModel({ ...spec, poolCidrs: ['10.244.0.0/16', '10.200.0.0/16'] })!;
    const script = planNft('weft', model, parseNftTable(NFT_JSON))!;
    assert.equal(script, `table inet weft\ndelete table inet weft\n${renderNftTable('weft', model)}`);
    assert.match(script, /elements = \{ 10\.200\.0\.0\/16, 10\.244\.0\.0\/16 \}/);
  });

  test('natOutgoing off everywhere deletes the table; absent and unwanted is a no-op', () => {
    assert.equal(planNft('weft', desiredNftModel(null), parseNftTable(NFT_JSON)), 'table inet weft\ndelete table inet weft\n');
    assert.equal(planNft('weft', null, null), null);
  });

  test('overlapping or duplicate CIDRs collapse (nft interval sets reject overlaps)', () => {
    const m = desiredNftModel({ natSources: ['10.244.0.0/16', '10.244.3.0/24'], poolCidrs: ['10.244.0.0/16', '10.244.0.0/16'] })!;
    assert.deepEqual(m.sets, { nat_sources: ['10.244.0.0/16'], pool_cidrs: ['10.244.0.0/16'] });
  });
});
