// natOutgoing in nftables: one table (family inet) that masquerades traffic whose source is in a
// natOutgoing pool and whose destination is outside every pool. The table is the unit of
// change: when its normalized content differs from the desired one the whole table is replaced
// in one `nft -f` transaction (add-then-delete-then-define, atomic in the kernel), otherwise
// nothing is written.
import { canonicalCidr, compareCidr, minimalCidrs } from './cidr.ts';
import type { NatSpec, NftTableModel } from './types.ts';
import { kv } from './values.ts';

export const NAT_SOURCES_SET = 'nat_sources';
export const POOL_CIDRS_SET = 'pool_cidrs';
const CHAIN = { name: 'postrouting', type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' };

// The rule only names sets, so its expression never varies with the pools; it is written here
// exactly as `nft -j` prints it back.
const MASQUERADE_EXPR = JSON.stringify([
  { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: `@${NAT_SOURCES_SET}` } },
  { match: { op: '!=', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: `@${POOL_CIDRS_SET}` } },
  { masquerade: null },
]);

export function desiredNftModel(spec: NatSpec | null): NftTableModel | null {
  if (!spec || spec.natSources.length === 0) return null;
  return {
    sets: {
      [NAT_SOURCES_SET]: minimalCidrs(spec.natSources),
      [POOL_CIDRS_SET]: minimalCidrs([...spec.poolCidrs, ...spec.natSources]),
    },
    chains: [{ ...CHAIN }],
    rules: [{ chain: CHAIN.name, expr: MASQUERADE_EXPR }],
  };
}

export function renderNftTable(table: string, model: NftTableModel): string {
  const lines = [`table inet ${kv.nftIdent(table)} {`];
  for (const [name, elems] of Object.entries(model.sets).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  set ${kv.nftIdent(name)} {`, '    type ipv4_addr', '    flags interval');
    if (elems.length) lines.push(`    elements = { ${elems.map((e) => kv.cidr4(e)).join(', ')} }`);
    lines.push('  }');
  }
  lines.push(`  chain ${CHAIN.name} {`,
    `    type ${CHAIN.type} hook ${CHAIN.hook} priority ${CHAIN.prio}; policy ${CHAIN.policy};`,
    `    ip saddr @${NAT_SOURCES_SET} ip daddr != @${POOL_CIDRS_SET} masquerade`,
    '  }', '}');
  return lines.join('\n') + '\n';
}

/** The nft script that makes the table equal to model (null: table absent), or null when the
 *  observed table already matches. Declaring the table first makes the delete safe when it
 *  does not exist yet, and the whole script is one kernel transaction. */
export function planNft(table: string, desired: NftTableModel | null, observed: NftTableModel | null): string | null {
  if (nftModelsEqual(desired, observed)) return null;
  const head = `table inet ${kv.nftIdent(table)}\ndelete table inet ${kv.nftIdent(table)}\n`;
  return desired ? head + renderNftTable(table, desired) : head;
}

export function nftModelsEqual(a: NftTableModel | null, b: NftTableModel | null): boolean {
  return canonicalModel(a) === canonicalModel(b);
}

function canonicalModel(m: NftTableModel | null): string {
  if (!m) return 'null';
  const sets = Object.keys(m.sets).sort().map((k) => [k, [...m.sets[k]!].sort()]);
  const chains = [...m.chains].sort((x, y) => x.name.localeCompare(y.name));
  return JSON.stringify({ sets, chains, rules: m.rules });
}

type NftObject = Record<string, Record<string, unknown>>;

function elemToCidr(e: unknown): string {
  if (typeof e === 'string') return canonicalCidr(e);
  const o = e as { prefix?: { addr: string; len: number }; range?: [string, string] };
  if (o.prefix) return canonicalCidr(`${o.prefix.addr}/${o.prefix.len}`);
  if (o.range) return `${o.range[0]}-${o.range[1]}`;
  return JSON.stringify(e);
}

function compareElems(a: string, b: string): number {
  return a.includes('/') && b.includes('/') ? compareCidr(a, b) : a.localeCompare(b);
}

/** Normalizes `nft -j list table inet NAME` output (handles dropped). */
export function parseNftTable(json: string): NftTableModel {
  const doc = JSON.parse(json) as { nftables: NftObject[] };
  const model: NftTableModel = { sets: {}, chains: [], rules: [] };
  for (const item of doc.nftables) {
    if (item.set) {
      const s = item.set as { name: string; elem?: unknown[] };
      model.sets[s.name] = (s.elem ?? []).map(elemToCidr).sort(compareElems);
    } else if (item.chain) {
      const c = item.chain as { name: string; type?: string; hook?: string; prio?: number; policy?: string };
      model.chains.push({ name: c.name, type: c.type ?? '', hook: c.hook ?? '', prio: c.prio ?? 0, policy: c.policy ?? '' });
    } else if (item.rule) {
      const r = item.rule as { chain: string; expr: unknown };
      model.rules.push({ chain: r.chain, expr: JSON.stringify(r.expr) });
    }
  }
  return model;
}
