/**
 * `npm run build`: compiles Weft's programs to JavaScript bundles in dist/ (see
 * hack/build/bundles.ts): dist/weft-node.mjs, dist/weft-operator.mjs, dist/weft.mjs, each with a
 * source map. The images run these with plain `node`; so can the sandbox (`weft sandbox up
 * --compiled`).
 *
 *   npm run build                   every program
 *   npm run build -- weft-node      only these
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { bundleOptions, bundlePath, entryPoints, repoRoot, type ProgramName } from './build/bundles.ts';

const args = process.argv.slice(2);
const known = Object.keys(entryPoints) as ProgramName[];
for (const a of args) {
  if (!known.includes(a as ProgramName)) {
    console.error(`build: unknown program '${a}'; the programs are: ${known.join(', ')}`);
    process.exit(2);
  }
}
const names = args.length > 0 ? (args as ProgramName[]) : known;

const started = performance.now();
if (args.length === 0) rmSync(join(repoRoot, 'dist'), { recursive: true, force: true });
await build(bundleOptions(names));
const ms = Math.round(performance.now() - started);
for (const n of names) {
  const p = bundlePath(n);
  const kib = (f: string) => Math.round(statSync(join(repoRoot, f)).size / 1024);
  console.log(`build: ${p} ${kib(p)} KiB (map ${kib(`${p}.map`)} KiB)`);
}
console.log(`build: ${names.length} bundle(s) in ${ms} ms`);
