/**
 * Turns an Installation and its NodeNetworks into the text `weft status` prints: the summary,
 * the conditions, the rollout progress bar and a per-node table. Pure, so it is unit-tested.
 */
import type { Installation, NodeNetwork } from '../api/index.ts';

export function progressBar(done: number, total: number, width = 30): string {
  const ratio = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total));
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} (${Math.floor(ratio * 100)}%)`;
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function condition(obj: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }, type: string) {
  return obj.status?.conditions?.find((c) => c.type === type);
}

export interface StatusViewOptions {
  /**
   * At most this many node rows: nodes whose agent lags behind (not updated or not Ready) first,
   * then the rest, and a line counting those left out. Default: every node.
   */
  maxNodeRows?: number;
}

export function renderStatus(inst: Installation, nodes: NodeNetwork[], opts: StatusViewOptions = {}): string {
  const st = inst.status ?? {};
  const gen = inst.metadata?.generation;
  const out: string[] = [];
  const stale = gen !== undefined && st.observedGeneration !== gen;
  out.push(`Installation ${inst.metadata?.name ?? 'default'}  generation ${gen ?? '?'}  observed ${st.observedGeneration ?? '-'}${stale ? '  (operator has not caught up yet)' : ''}`);
  out.push(`MTU ${st.mtu ?? '-'}${st.mtuReason ? `  (${st.mtuReason})` : ''}`);
  for (const p of st.ipPools ?? []) {
    out.push(`pool ${p.name} ${p.cidr} /${p.blockSize}: ${p.encapsulation}${p.dataplane ? ` (${p.dataplane})` : ''}${p.reason ? ` - ${p.reason}` : ''}`);
  }
  out.push('');
  out.push(
    table(
      ['CONDITION', 'STATUS', 'REASON', 'MESSAGE'],
      ['Ready', 'Progressing', 'Degraded'].map((t) => {
        const c = condition(inst, t);
        return [t, c?.status ?? 'Unknown', c?.reason ?? '', c?.message ?? ''];
      }),
    ),
  );
  const counts = st.nodes;
  if (counts) {
    out.push('');
    out.push(`rollout  updated ${progressBar(counts.updated ?? 0, counts.desired ?? 0)}`);
    out.push(`         ready   ${progressBar(counts.ready ?? 0, counts.desired ?? 0)}`);
  }
  if (nodes.length > 0) {
    out.push('');
    const want = st.configHash;
    const lagging = (n: NodeNetwork) => (want !== undefined && n.status?.configHash !== want) || condition(n, 'Ready')?.status !== 'True';
    const byName = (a: NodeNetwork, b: NodeNetwork) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
    const max = opts.maxNodeRows ?? Infinity;
    const sorted = nodes.length > max ? [...nodes.filter(lagging).sort(byName), ...nodes.filter((n) => !lagging(n)).sort(byName)] : [...nodes].sort(byName);
    const shown = sorted.slice(0, max);
    const rows = shown
      .map((n) => {
        const s = n.status ?? {};
        const ready = condition(n, 'Ready');
        const updated = want === undefined ? '?' : s.configHash === want ? 'yes' : 'no';
        return [
          n.metadata?.name ?? '',
          s.address ?? '-',
          s.interface ?? '-',
          String(s.mtu ?? '-'),
          updated,
          ready?.status ?? 'Unknown',
          ready?.status === 'True' ? '' : (ready?.message ?? ready?.reason ?? 'agent has not reported'),
        ];
      });
    out.push(table(['NODE', 'ADDRESS', 'INTERFACE', 'MTU', 'UPDATED', 'READY', 'PROBLEM'], rows));
    const hidden = sorted.slice(shown.length);
    if (hidden.length > 0) {
      const lag = hidden.filter(lagging).length;
      out.push(`... and ${hidden.length} more node(s)${lag ? ` (${lag} lagging)` : ', updated and Ready'}; --all-nodes lists every node`);
    }
  }
  return out.join('\n');
}
