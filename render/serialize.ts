/** Text forms of rendered objects and explanations: what `weft render` prints and the golden
 *  files hold. Deterministic: same objects, same bytes. */
import { stringify } from 'yaml';
import type { ClusterProblem, Explanation, KubernetesObject } from './types.ts';

/** Multi-document YAML, each document starting with `---`. */
export function toYaml(objects: readonly KubernetesObject[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0, minContentWidth: 0, aliasDuplicateObjects: false })}`).join('');
}

/** A `v1 List` holding the objects, as indented JSON. */
export function toJsonList(objects: readonly KubernetesObject[]): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
}

/** "subject: decision — reason", warnings prefixed with "WARNING ". */
export function formatExplanation(e: Explanation): string {
  return `${e.warning ? 'WARNING ' : ''}${e.subject}: ${e.decision} — ${e.reason}`;
}

/** "Degraded Reason (path): message"; a non-blocking problem (blocking: false) is a "Warning". */
export function formatProblem(p: ClusterProblem): string {
  return `${p.blocking === false ? 'Warning' : 'Degraded'} ${p.reason}${p.path ? ` (${p.path})` : ''}: ${p.message}`;
}

/** One line per decision, then one line per problem that makes the operator set Degraded. */
export function explainText(explain: readonly Explanation[], degraded: readonly ClusterProblem[]): string {
  return [...explain.map(formatExplanation), ...degraded.map(formatProblem)].map((l) => `${l}\n`).join('');
}
