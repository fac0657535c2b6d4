// /debug/diagnose: what this agent sees, as JSON, for `weft diagnose` to consume. Every section
// is read fresh; a section that fails to read says why instead of failing the whole answer.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandRunner } from '../kernel/exec.ts';

async function json(runner: CommandRunner, argv: string[]): Promise<unknown> {
  const r = await runner.run(argv);
  if (r.code !== 0) return { error: r.stderr.trim() || `exit ${r.code}` };
  try { return JSON.parse(r.stdout || 'null'); } catch { return { raw: r.stdout }; }
}

async function text(runner: CommandRunner, argv: string[]): Promise<unknown> {
  const r = await runner.run(argv);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : { error: r.stderr.trim() || `exit ${r.code}` };
}

export interface DiagnoseInputs {
  runner: CommandRunner;
  confDir: string;
  vxlanDevice: string;
  nftTable: string;
  protocol: number;
  state: unknown;
}

export async function diagnose(d: DiagnoseInputs): Promise<Record<string, unknown>> {
  const confDir = await (async () => {
    try {
      const names = (await readdir(d.confDir)).sort();
      return Promise.all(names.map(async (name) => {
        const st = await stat(join(d.confDir, name)).catch(() => null);
        return { name, size: st?.size ?? null, modified: st?.mtime.toISOString() ?? null };
      }));
    } catch (e) { return { error: (e as Error).message }; }
  })();
  const [interfaces, routes, weftRoutes, neighbours, fdb, nft, rules] = await Promise.all([
    json(d.runner, ['ip', '-json', '-d', 'addr', 'show']),
    json(d.runner, ['ip', '-json', 'route', 'show', 'table', 'main']),
    json(d.runner, ['ip', '-json', 'route', 'show', 'proto', String(d.protocol), 'table', 'main']),
    json(d.runner, ['ip', '-json', 'neigh', 'show']),
    json(d.runner, ['bridge', '-json', 'fdb', 'show', 'dev', d.vxlanDevice]),
    json(d.runner, ['nft', '-j', 'list', 'table', 'inet', d.nftTable]),
    text(d.runner, ['ip', 'rule', 'show']),
  ]);
  return {
    collectedAt: new Date().toISOString(),
    agent: d.state,
    interfaces,
    routes: { weft: weftRoutes, main: routes },
    rules,
    neighbours,
    fdb,
    nftables: nft,
    cniConfDir: { path: d.confDir, entries: confDir },
  };
}
