/**
 * `npm run release-manifest`: writes config/release/weft.yaml (CRDs + operator, one
 * `kubectl apply -f`) and charts/weft/crds/ from crds/ and config/operator/.
 *
 *   npm run release-manifest                     the checked-in files (default registry, v<package.json version>)
 *   npm run release-manifest -- --stdout --registry R --tag T    print a manifest for other images (kind e2e)
 *   npm run release-manifest -- --check          exit 1 if the checked-in files are stale
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { CHART_CRD_DIR, DEFAULT_REGISTRY, RELEASE_MANIFEST, chartCrdFiles, releaseManifest, releaseTag } from './release/manifest.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const program = new Command('release-manifest')
  .description('generate config/release/weft.yaml and charts/weft/crds/')
  .option('--registry <registry>', 'registry (with optional path) of the operator image', DEFAULT_REGISTRY)
  .option('--tag <tag>', 'operator image tag', releaseTag(root))
  .option('--stdout', 'print the manifest instead of writing files')
  .option('--check', 'write nothing; exit 1 if a generated file is stale')
  .parse(process.argv);
const opts = program.opts<{ registry: string; tag: string; stdout?: boolean; check?: boolean }>();

try {
  const manifest = releaseManifest(root, { registry: opts.registry, tag: opts.tag });
  if (opts.stdout) {
    process.stdout.write(manifest);
  } else {
    const files = new Map<string, string>([[RELEASE_MANIFEST, manifest]]);
    for (const [f, text] of chartCrdFiles(root)) files.set(join(CHART_CRD_DIR, f), text);
    const stale = [...files].filter(([p, text]) => !existsSync(join(root, p)) || readFileSync(join(root, p), 'utf8') !== text).map(([p]) => p);
    const chartDir = join(root, CHART_CRD_DIR);
    const extra = existsSync(chartDir) ? readdirSync(chartDir).map((f) => join(CHART_CRD_DIR, f)).filter((p) => !files.has(p)) : [];
    if (opts.check) {
      for (const p of [...stale, ...extra]) console.error(`stale: ${p}`);
      if (stale.length + extra.length > 0) console.error('run `npm run release-manifest`');
      process.exitCode = stale.length + extra.length > 0 ? 1 : 0;
    } else {
      for (const p of extra) rmSync(join(root, p));
      for (const [p, text] of files) {
        mkdirSync(dirname(join(root, p)), { recursive: true });
        writeFileSync(join(root, p), text);
      }
      console.log(`release-manifest: wrote ${files.size} files (${stale.length} changed, ${extra.length} removed) for ${opts.registry} ${opts.tag}`);
    }
  }
} catch (e) {
  console.error(`release-manifest: ${(e as Error).message}`);
  process.exitCode = 1;
}
