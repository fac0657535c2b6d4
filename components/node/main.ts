#!/usr/bin/env -S npx tsx
// weft-node: the node agent (`agent`) and the CNI binary installer (`install-cni`) of the
// weft-node DaemonSet. Every host path and port is a flag, so several agents run side by side
// on one machine (tests, `weft sandbox`), each with --netns for its node's network namespace.
import { loadKubeConfig } from '../../kube/kubeconfig.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { pino } from 'pino';
import { nodeAgentRuntime as rt } from '../../api/effective-config.ts';
import { DEFAULT_WIREGUARD_KEY_FILE, NodeAgent } from './agent/agent.ts';
import { WIREGUARD_DRAIN_QUIET_MS } from './backends/dataplane.ts';
import { DEFAULT_STUCK_PASS_MS } from './agent/liveness.ts';
import { cleanupNode, describeCleanup } from './agent/uninstall.ts';
import { execRunner } from './kernel/exec.ts';
import { installCniBinaries } from './cni/install.ts';
import { loadConfig } from './config/load.ts';
import { AGENT_VERSION } from './version.ts';

/** "10m", "30s", "250ms", "1h" or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a duration (e.g. 250ms, 30s, 10m, 1h)`);
  const n = Number(m[1]);
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h']);
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${text}" is not a TCP port`);
  return n;
}

function parseFraction(text: string): number {
  const n = Number(text);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`"${text}" must be a fraction in (0, 1]`);
  return n;
}

function logger(level: string, extra: Record<string, unknown>) {
  return pino({ name: 'weft-node', level, timestamp: pino.stdTimeFunctions.isoTime, base: { pid: process.pid, ...extra } });
}

export function buildProgram(): Command {
  const program = new Command('weft-node').description('Weft node agent').version(AGENT_VERSION);

  program.command('agent')
    .description('run the node agent: underlay detection, IPAM blocks, CNI conflist, kernel routes, NodeNetwork status')
    .option('--node-name <name>', 'this node\'s name (default: $NODE_NAME)')
    .option('--config-dir <dir>', 'where ConfigMap weft-config is mounted (config.json, cni-conflist, bird.conf)', '/etc/weft')
    .option('--kubeconfig <path>', 'kubeconfig (default: in-cluster service account, else $KUBECONFIG / ~/.kube/config)')
    .option('--netns <name>', 'run every kernel command in this named network namespace (tests, sandbox)')
    .option('--cni-conf-dir <dir>', 'CNI conf dir (default: config cni.confDir)')
    .option('--cni-conf-name <file>', 'conflist file name (default: config cni.confName)')
    .option('--host-root <dir>', 'where the host filesystem is mounted (CNI conf dir and host-local store are read under it; "/" outside a container)', rt.hostRoot)
    .option('--ipam-data-dir <dir>', 'host-local dataDir as the host sees it (written into the conflist)', '/var/lib/cni/networks')
    .option('--image <ref>', 'image this agent runs (part of the config hash; default $WEFT_IMAGE)')
    .option('--health-port <port>', 'port of /healthz /readyz /metrics /debug/diagnose (0: any free port)', parsePort, rt.healthPort)
    .option('--health-host <address>', 'address the health server listens on', '0.0.0.0')
    .addOption(new Option('--resync-interval <duration>', 'full pass (IPAM, conflist, kernel diff, status) at least this often').argParser(parseDuration).default(30_000, '30s'))
    .addOption(new Option('--debounce <duration>', 'coalesce watch events for this long before a pass').argParser(parseDuration).default(50, '50ms'))
    .addOption(new Option('--leak-grace-period <duration>', 'release a host-local address held by no pod and no live sandbox after this long').argParser(parseDuration).default(600_000, '10m'))
    .addOption(new Option('--leak-scan-interval <duration>', 'scan the host-local store for leaks this often').argParser(parseDuration).default(60_000, '1m'))
    .option('--block-claim-threshold <fraction>', 'claim another block when the node\'s blocks of a pool are used above this', parseFraction, 0.9)
    .addOption(new Option('--status-min-interval <duration>', 'write counter-only NodeNetwork.status changes at most this often').argParser(parseDuration).default(10_000, '10s'))
    .addOption(new Option('--stuck-pass-limit <duration>', '/healthz fails (and the kubelet restarts the agent) once one control-loop pass runs this long').argParser(parseDuration).default(DEFAULT_STUCK_PASS_MS, '5m'))
    .option('--no-kernel', 'do not program the kernel (IPAM, conflist and status only; no root needed)')
    .option('--link-prefix <prefix>', 'prefix of the interfaces the agent owns', 'weft')
    .option('--nft-table <name>', 'nftables table (family inet) for natOutgoing', 'weft')
    .option('--bird-config <path>', 'BIRD config file the agent writes (BGP)', `${rt.runDir}/bird.conf`)
    .option('--bird-socket <path>', 'BIRD control socket (BGP)', `${rt.runDir}/bird.ctl`)
    .option('--bird-pid-file <path>', 'BIRD pid file (BGP)', `${rt.runDir}/bird.pid`)
    .option('--wireguard-key <path>', 'this node\'s WireGuard private key (made here on first use, mode 0600; never leaves the node)', DEFAULT_WIREGUARD_KEY_FILE)
    .option('--wireguard-go <path>', 'userspace WireGuard, run where the kernel has no WireGuard module', 'wireguard-go')
    .addOption(new Option('--wireguard-drain <duration>', 'after encryption is turned off, delete the WireGuard device once no encrypted packet arrived for this long').argParser(parseDuration).default(WIREGUARD_DRAIN_QUIET_MS, '30s'))
    .option('--log-level <level>', 'pino log level', process.env.WEFT_LOG_LEVEL ?? 'info')
    .action(async (o) => {
      const nodeName: string | undefined = o.nodeName ?? process.env.NODE_NAME;
      if (!nodeName) throw new Error('the node name is unknown: set NODE_NAME (the DaemonSet sets it from spec.nodeName) or pass --node-name');
      const log = logger(o.logLevel, { node: nodeName, ...(o.netns ? { netns: o.netns } : {}) });
      const agent = new NodeAgent({
        nodeName,
        configDir: o.configDir,
        kubeConfig: loadKubeConfig(o.kubeconfig),
        version: AGENT_VERSION,
        log,
        netns: o.netns,
        ipamDataDir: o.ipamDataDir,
        hostRoot: o.hostRoot,
        image: o.image ?? process.env.WEFT_IMAGE,
        ...(process.env[rt.env.podUID] ? { podUID: process.env[rt.env.podUID]! } : {}),
        cniConfDir: o.cniConfDir,
        cniConfName: o.cniConfName,
        healthPort: o.healthPort,
        healthHost: o.healthHost,
        resyncMs: o.resyncInterval,
        debounceMs: o.debounce,
        leakGraceMs: o.leakGracePeriod,
        leakScanMs: o.leakScanInterval,
        claimThreshold: o.blockClaimThreshold,
        statusMinIntervalMs: o.statusMinInterval,
        stuckPassMs: o.stuckPassLimit,
        kernel: o.kernel,
        linkPrefix: o.linkPrefix,
        nftTable: o.nftTable,
        bird: { configPath: o.birdConfig, socketPath: o.birdSocket, pidFile: o.birdPidFile },
        wireguard: { privateKeyFile: o.wireguardKey, wireguardGo: o.wireguardGo, drainQuietMs: o.wireguardDrain },
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping; leaving the kernel, the conflist and BIRD as they are');
        agent.stop().then(() => { log.info('stopped'); process.exit(0); }, (e: Error) => { log.error({ err: e.message }, 'stop failed'); process.exit(1); });
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      try {
        await agent.start();
      } catch (e) {
        if (stopping) return;
        log.fatal({ err: (e as Error).message }, 'agent failed to start');
        process.exit(1);
      }
    });

  program.command('install-cni')
    .description('copy the CNI plugin binaries into the host\'s CNI bin dir (atomic, only when changed); the agent writes the conflist')
    .option('--src-dir <dir>', 'plugin binaries shipped in the image', '/opt/weft/cni-bin')
    .option('--bin-dir <dir>', 'CNI bin dir to install into (default: <host-root><config cni.binDir>, else <host-root>/opt/cni/bin)')
    .option('--host-root <dir>', 'where the host filesystem is mounted', rt.hostRoot)
    .option('--config-dir <dir>', 'where ConfigMap weft-config is mounted (for cni.binDir)', '/etc/weft')
    .option('--plugins <names>', 'comma-separated plugins to copy (default: every file in --src-dir)')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o) => {
      const log = logger(o.logLevel, { command: 'install-cni' });
      let binDir: string | undefined = o.binDir;
      if (!binDir) binDir = join(o.hostRoot, await loadConfig(o.configDir).then((c) => c.config.cni.binDir, () => '/opt/cni/bin'));
      const r = await installCniBinaries(o.srcDir, binDir!, o.plugins ? String(o.plugins).split(',').map((s: string) => s.trim()).filter(Boolean) : undefined);
      log.info({ srcDir: o.srcDir, binDir, copied: r.copied, unchanged: r.unchanged.length }, 'CNI plugins installed');
    });
  program.command('cleanup')
    .description('remove everything Weft put on this node: weft* tunnel interfaces, Weft routes, the nftables table, BIRD, the conflist, the host-local store (what the agent does on uninstall; for nodes whose agent could not)')
    .option('--config-dir <dir>', 'where ConfigMap weft-config is mounted (CNI conf dir/name and network name); defaults are used when absent', '/etc/weft')
    .option('--netns <name>', 'clean this named network namespace instead of the current one')
    .option('--host-root <dir>', 'where the host filesystem is mounted', rt.hostRoot)
    .option('--cni-conf-dir <dir>', 'CNI conf dir (default: <host-root><config cni.confDir>, else <host-root>/etc/cni/net.d)')
    .option('--cni-conf-name <file>', 'conflist file name (default: config cni.confName, else 10-weft.conflist)')
    .option('--ipam-data-dir <dir>', 'host-local dataDir as the host sees it', '/var/lib/cni/networks')
    .option('--link-prefix <prefix>', 'prefix of the interfaces the agent owns', 'weft')
    .option('--nft-table <name>', 'nftables table (family inet)', 'weft')
    .option('--bird-config <path>', 'BIRD config file', `${rt.runDir}/bird.conf`)
    .option('--bird-socket <path>', 'BIRD control socket', `${rt.runDir}/bird.ctl`)
    .option('--bird-pid-file <path>', 'BIRD pid file', `${rt.runDir}/bird.pid`)
    .option('--dry-run', 'print what would be removed, change nothing')
    .option('--json', 'print the report as JSON')
    .action(async (o) => {
      const cfg = await loadConfig(o.configDir).catch(() => undefined);
      const confDir: string = o.cniConfDir ?? join(o.hostRoot, cfg?.config.cni.confDir ?? '/etc/cni/net.d');
      const confName: string = o.cniConfName ?? cfg?.config.cni.confName ?? '10-weft.conflist';
      const network = cfg?.conflistTemplate.name ?? 'weft';
      const report = await cleanupNode({
        runner: execRunner(o.netns),
        linkPrefix: o.linkPrefix,
        nftTable: o.nftTable,
        conflistPaths: [join(confDir, confName)],
        ipamStoreDirs: [join(o.hostRoot, o.ipamDataDir, network)],
        bird: { configPath: o.birdConfig, socketPath: o.birdSocket, pidFile: o.birdPidFile },
        dryRun: !!o.dryRun,
      });
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${describeCleanup(report)}\n`);
      if (!report.dryRun && report.remaining.length) {
        process.stderr.write(`weft-node cleanup: still present after cleaning: ${report.remaining.join(', ')}\n`);
        process.exitCode = 2;
      }
    });
  return program;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  buildProgram().parseAsync(process.argv).catch((e: Error) => {
    process.stderr.write(`weft-node: ${e.message}\n`);
    process.exit(1);
  });
}
