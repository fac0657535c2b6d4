/**
 * `npm test`: runs every test tier this machine can run, in order unit, integration,
 * dataplane, e2e (kind on podman or Docker: test/e2e, hack/kind-e2e.sh). A tier that cannot run says why; it never passes silently. Ends with one summary
 * line: `tests: N passed, N failed, N skipped`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
type Tier = 'unit' | 'integration' | 'dataplane' | 'e2e';
const allTiers: Tier[] = ['unit', 'integration', 'dataplane', 'e2e'];

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (entry.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why a tier cannot run here, or undefined when it can. */
function cannotRun(tier: Tier): string | undefined {
  if (tier === 'unit') return undefined;
  if (tier === 'integration') {
    if (process.env.WEFT_SKIP_INTEGRATION) return 'WEFT_SKIP_INTEGRATION is set';
    if (!commandExists('go')) return 'Go is not installed, so the test control plane (hack/testenv) cannot be built';
    if (!commandExists('openssl')) return 'openssl is missing (needed for the control plane certificates); run hack/install-deps';
    return undefined;
  }
  if (tier === 'e2e') {
    if (process.env.WEFT_SKIP_E2E) return 'WEFT_SKIP_E2E is set';
    const docker = commandExists('docker') && spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
    if (!docker) {
      if (!commandExists('podman')) return 'neither Docker nor podman is installed; run hack/install-deps (podman)';
      if (spawnSync('podman', ['info'], { stdio: 'ignore' }).status !== 0) return '`podman info` fails, so no kind node can start';
      if (process.getuid?.() !== 0) return 'kind on podman needs rootful podman here; run as root';
      if (!existsSync('/lib/modules')) return '/lib/modules is missing (kind bind-mounts it); run hack/install-deps';
      if (!commandExists('debootstrap')) return 'debootstrap is missing (the kind node image is built here); run hack/install-deps';
    }
    if (!commandExists('go')) return 'Go is not installed, so kind and the node image cannot be built';
    return undefined;
  }
  if (process.env.WEFT_SKIP_DATAPLANE) return 'WEFT_SKIP_DATAPLANE is set';
  if (process.getuid?.() !== 0) return 'dataplane tests need root (network namespaces); run as root';
  if (spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status !== 0) return '`ip netns` is not available';
  if (!existsSync('/usr/lib/cni/ptp')) return 'CNI plugins are missing in /usr/lib/cni; run hack/install-deps';
  return undefined;
}

/** Builds the cached control plane before the integration tier, with its own progress output
 *  (the e2e tier's builds run in the background: prepareE2eInBackground). */
function prepare(tier: Tier): string | undefined {
  if (tier !== 'integration') return undefined;
  const build = join(root, 'hack/testenv/build');
  if (!existsSync(build)) return 'hack/testenv/build is missing';
  const r = spawnSync('bash', [build], { stdio: 'inherit' });
  return r.status === 0 ? undefined : `hack/testenv/build failed with exit code ${r.status}`;
}

interface Counts {
  pass: number;
  fail: number;
  skipped: number;
  todo: number;
}

function runTier(tier: Tier, files: string[], concurrency: number): Counts {
  const tapDir = mkdtempSync(join(tmpdir(), 'weft-test-'));
  const tap = join(tapDir, `${tier}.tap`);
  const args = [
    '--import', 'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files.map((f) => relative(root, f)),
  ];
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const num = (name: string) => Number(text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
  const counts = { pass: num('pass'), fail: num('fail') + num('cancelled'), skipped: num('skipped'), todo: num('todo') };
  if (r.status !== 0 && counts.fail === 0) counts.fail = 1; // the runner itself failed (crash, bad file)
  return counts;
}

/** Tiers `npm test` runs when no --tier is given: all of them (test/e2e/kind.test.ts says which
 *  kind modes CI runs). */
const defaultTiers: Tier[] = allTiers;
const program = new Command('test')
  .option('--tier <tier...>', `tiers to run (${allTiers.join(', ')}; default ${defaultTiers.join(', ')})`, defaultTiers)
  .option('--only <substring>', 'only test files whose path contains this')
  .parse(process.argv);
const opts = program.opts<{ tier: Tier[]; only?: string }>();

/**
 * The e2e tier's builds (kind, the kind node image, Weft's images: tens of minutes on a cold
 * machine, mostly Go compiles) start at once in the background at nice 19, so they use the CPU the
 * other tiers leave idle while those wait on API servers and pings; the e2e tier waits for them.
 */
interface Preparation { child: ChildProcess; log: string; done: Promise<number | null>; started: number }
function prepareE2eInBackground(): Preparation | undefined {
  if (!opts.tier.includes('e2e') || cannotRun('e2e')) return undefined;
  if (opts.only && !testFiles(join(root, 'test', 'e2e')).some((f) => f.includes(opts.only!))) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'weft-e2e-prepare-'));
  const log = join(dir, 'prepare.log');
  const fd = openSync(log, 'a');
  // Its own process group, so that the whole build (bash, podman, go) stops with this run: on
  // Ctrl-C or SIGTERM, and if this process ends before it (a crash).
  const child = spawn('nice', ['-n', '19', 'bash', join(root, 'hack/kind-e2e.sh'), '--prepare', '--install', 'helm'], { cwd: root, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  let running = true;
  const stopBuild = () => { if (running && child.pid) try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ } };
  process.on('exit', stopBuild);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) process.on(signal, () => { stopBuild(); process.exit(code); });
  const done = new Promise<number | null>((resolve) => {
    child.on('close', (code) => { running = false; resolve(code); });
    child.on('error', () => { running = false; resolve(null); });
  });
  console.log(`e2e: building kind, the node image and the images in the background (nice 19); progress: ${log}`);
  return { child, log, done, started: Date.now() };
}
const preparation = prepareE2eInBackground();

const total: Counts = { pass: 0, fail: 0, skipped: 0, todo: 0 };
const notRun: string[] = [];
for (const tier of allTiers.filter((t) => opts.tier.includes(t))) {
  let files = testFiles(join(root, 'test', tier));
  if (opts.only) files = files.filter((f) => f.includes(opts.only!));
  if (files.length === 0) {
    console.log(`\n== ${tier}: no test files`);
    continue;
  }
  const why = cannotRun(tier) ?? prepare(tier);
  if (why) {
    console.log(`\n== ${tier}: NOT RUN (${files.length} files): ${why}`);
    notRun.push(`${tier}: ${why}`);
    if ((tier === 'integration' || tier === 'e2e') && process.env.CI && commandExists('go')) total.fail += 1;
    continue;
  }
  if (tier === 'e2e' && preparation) {
    console.log(`\n== e2e: waiting for the background build (${Math.round((Date.now() - preparation.started) / 1000)} s so far; ${preparation.log})`);
    const code = await preparation.done;
    const tail = readFileSync(preparation.log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
    if (code === 3) {
      const why = tail.match(/kind-e2e: cannot run here: (.*)/)?.[1] ?? 'hack/kind-e2e.sh --prepare says this machine cannot run it';
      console.log(`\n== e2e: NOT RUN (${files.length} files): ${why}`);
      notRun.push(`e2e: ${why}`);
      if (process.env.CI) total.fail += 1;
      continue;
    }
    if (code !== 0) {
      console.log(`${tail}\n== e2e: FAILED: the background build (hack/kind-e2e.sh --prepare) exited with ${code}; its log: ${preparation.log}`);
      total.fail += 1;
      continue;
    }
    console.log(`e2e: built in ${Math.round((Date.now() - preparation.started) / 1000)} s (${tail.split('\n').pop()})`);
  }
  console.log(`\n== ${tier}: ${files.length} files`);
  const c = runTier(tier, files, tier === 'unit' ? 2 : 1);
  console.log(`== ${tier}: ${c.pass} passed, ${c.fail} failed, ${c.skipped} skipped`);
  total.pass += c.pass;
  total.fail += c.fail;
  total.skipped += c.skipped + c.todo;
}
for (const n of notRun) console.log(`tier not run: ${n}`);
console.log(`tests: ${total.pass} passed, ${total.fail} failed, ${total.skipped} skipped`);
process.exitCode = total.fail > 0 || total.pass === 0 ? 1 : 0;
