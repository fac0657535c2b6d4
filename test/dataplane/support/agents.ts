// What the tests that run real weft-node agents in node namespaces share: the effective config
// they hand the agents, a free health port, polling, and killing leftover agents on exit.
import type { ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import type { EffectiveConfig } from '../../../api/effective-config.ts';
import type { BackendName } from '../../../components/node/backends/index.ts';
import { POOL } from './cluster.ts';
import { sleep } from '../../../cli/sandbox/exec.ts';

/** The effective config render would produce for one pool in `mode` (the agents read it from disk). */
export function effectiveConfig(mode: BackendName, mtu: number, blockSize = 26): EffectiveConfig {
  return {
    version: 1, mtu, mtuReason: 'test',
    pools: [{ name: 'default', cidr: POOL, family: 4, blockSize, encapsulation: mode === 'vxlan' ? 'VXLAN' : 'None', dataplane: mode, natOutgoing: true, nodeSelector: '' }],
    bgp: { enabled: mode === 'bgp', fullMesh: mode === 'bgp', asNumber: 64512, peers: [] },
    autodetection: { v4: { firstFound: true } },
    cni: { binDir: '/usr/lib/cni', confDir: '/etc/cni/net.d', confName: '10-weft.conflist' },
    hostPorts: false, bandwidth: false,
    vxlan: { vni: 4096, port: 4789, device: 'weft.vxlan' },
    ipip: { device: 'weft.ipip' },
  };
}

/** A loopback port free right now (agents' health servers, several per machine). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls `fn` until it returns something truthy, or fails naming `what`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false | null> | T | undefined | false | null, timeoutMs = 30_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Agent processes a test started; all are SIGKILLed when the test process exits, however it ends. */
export const agentProcesses = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of agentProcesses) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});
