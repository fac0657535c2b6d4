/**
 * Evaluates the Argo CD health check Weft ships (config/gitops/argocd-cm-health.yaml) against an
 * Installation, the way Argo CD does: the Lua script runs with the object as the global `obj` and
 * returns `{ status, message }`. Here a real Lua interpreter (Debian's lua5.4, or $LUA) runs it,
 * so the e2e judges the script against the live cluster's status, not a re-implementation.
 *
 *   kubectl get installation default -o json | npx tsx hack/kind/argocd-health.ts
 *   -> prints "<status>\t<message>" (status: Healthy, Progressing, Degraded, ...)
 *
 * Exit code: 0 printed a status, 1 the Lua interpreter failed, 3 no Lua interpreter.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HEALTH_KEY = 'resource.customizations.health.operator.weft.dev_Installation';

/** A JSON value as a Lua constructor: objects -> tables with string keys, arrays -> sequences (1-based). */
export function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v); // JSON string escapes are valid Lua escapes except \u, avoided below
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `[${JSON.stringify(k)}] = ${toLua(x)}`).join(', ')}}`;
}

/** The health script shipped in config/gitops. */
export function healthScript(): string {
  const cm = parse(readFileSync(join(root, 'config/gitops/argocd-cm-health.yaml'), 'utf8')) as { data?: Record<string, string> };
  const script = cm.data?.[HEALTH_KEY];
  if (!script) throw new Error(`config/gitops/argocd-cm-health.yaml has no data.${HEALTH_KEY}`);
  return script;
}

function lua(): string | undefined {
  for (const c of [process.env.LUA, 'lua5.4', 'lua5.3', 'lua']) {
    if (c && spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0) return c;
  }
  return undefined;
}

const interpreter = lua();
if (!interpreter) {
  process.stderr.write('argocd-health: no Lua interpreter (lua5.4); run hack/install-deps\n');
  process.exit(3);
}
// Lua string literals do not take JSON's \uXXXX escapes; ASCII-only status text is all we need.
const obj = JSON.parse(readFileSync(0, 'utf8').replace(/[^\x20-\x7e\n]/g, '?')) as unknown;
const program = `obj = ${toLua(obj)}\nlocal function health()\n${healthScript()}\nend\nlocal hs = health()\nio.write(tostring(hs.status), "\\t", tostring(hs.message), "\\n")\n`;
const r = spawnSync(interpreter, ['-'], { input: program, encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(`argocd-health: ${interpreter} failed: ${r.stderr}`);
  process.exit(1);
}
process.stdout.write(r.stdout);
