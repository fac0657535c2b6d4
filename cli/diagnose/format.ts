// How `weft diagnose` prints findings: a table with the evidence and fix under each row, or JSON.
import { table } from '../status-view.ts';
import type { Finding, Snapshot } from './snapshot.ts';

export function formatTable(findings: readonly Finding[], s: Pick<Snapshot, 'nodes' | 'agents' | 'onlyNode'>): string {
  const asked = Object.keys(s.agents).length;
  const reached = Object.values(s.agents).filter((a) => !a.error).length;
  const scope = `${s.onlyNode ? `node ${s.onlyNode}` : `${s.nodes.length} node(s)`}, ${reached}/${asked} agent(s) answered`;
  if (!findings.length) return `No problems found (${scope}).`;
  const out: string[] = [];
  out.push(table(['SEVERITY', 'NODE', 'FINDING', 'SUMMARY'], findings.map((f) => [f.severity.toUpperCase(), f.node ?? '-', f.id, f.summary])));
  out.push('');
  for (const [i, f] of findings.entries()) {
    // The cause and its fix first; the evidence, then the symptoms it explains, beneath.
    out.push(`${i + 1}. [${f.severity}] ${f.id}${f.node ? ` on ${f.node}` : ''}${f.peer ? ` (${f.node ? 'peer' : 'nodes'} ${f.peer})` : ''}`);
    out.push(`   ${f.summary}`);
    out.push(`   fix: ${f.remediation}`);
    for (const e of f.evidence) out.push(`   - ${e}`);
    if (f.symptoms?.length) {
      out.push(`   symptoms of this cause (${f.symptoms.length}):`);
      for (const x of f.symptoms) out.push(`     * [${x.severity}] ${x.id}${x.node ? ` on ${x.node}` : ''}${x.peer ? ` (peer ${x.peer})` : ''}: ${x.summary}`);
    }
  }
  const critical = findings.filter((f) => f.severity === 'critical').length;
  out.push('');
  out.push(`${findings.length} finding(s): ${critical} critical, ${findings.length - critical} warning(s) (${scope}).`);
  return out.join('\n');
}

export function formatJson(findings: readonly Finding[], s: Pick<Snapshot, 'collectedAt' | 'nodes' | 'agents' | 'onlyNode'>): string {
  return JSON.stringify({
    collectedAt: s.collectedAt,
    nodes: s.nodes.map((n) => n.name),
    ...(s.onlyNode ? { node: s.onlyNode } : {}),
    agents: Object.fromEntries(Object.entries(s.agents).map(([k, a]) => [k, a.error ? { endpoint: a.endpoint, error: a.error } : { endpoint: a.endpoint }])),
    findings,
  }, null, 2);
}
