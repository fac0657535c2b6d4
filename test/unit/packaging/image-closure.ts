// What an image needs versus what its Dockerfile gives it. The shipped node image once copied
// api/ and components/ while the agent imported operator/runtime: it died at start with
// ERR_MODULE_NOT_FOUND and no test saw it. Here the import closure of every image entry point is
// computed by esbuild (the bundler the build uses, following every static and dynamic import,
// node_modules included) and checked against a model of the Dockerfile's stages:
//   - every repository source in the closure is copied into the build stage (else the bundle
//     cannot be built there), with the lockfile and `npm ci` for node_modules;
//   - the bundle the entrypoint wrapper runs is built and copied into the final image;
//   - every file a module reads at run time relative to itself (`new URL('../crds/',
//     import.meta.url)` and the like) is in the final image at its repository-relative path
//     under /opt/weft (the bundle keeps those paths, see hack/build/bundles.ts);
//   - every import the bundle leaves external is in the image's node_modules.
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, normalize, posix } from 'node:path';
import { build, type Metafile, type Message } from 'esbuild';
import { bundleOptions, bundlePath, entryPoints, optionalExternals, type ProgramName } from '../../../hack/build/bundles.ts';

export const repoRoot = join(import.meta.dirname, '../../..');

export interface Copy {
  /** Stage name of --from, or undefined for the build context. */
  from?: string;
  sources: string[];
  dest: string;
  flags: string[];
}

export interface Stage {
  name?: string;
  base: string;
  workdir: string;
  copies: Copy[];
  runs: string[];
}

/** Parses the instructions this project's Dockerfiles use (FROM, WORKDIR, COPY, RUN, ARG ...). */
export function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [rawOp, ...rest] = line.split(/\s+/);
    const op = rawOp!.toUpperCase();
    const stage = stages.at(-1);
    if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest.join(' '));
      if (!m) throw new Error(`cannot parse FROM ${rest.join(' ')}`);
      stages.push({ base: m[1]!, ...(m[2] ? { name: m[2] } : {}), workdir: stage?.workdir ?? '/', copies: [], runs: [] });
    } else if (!stage) {
      continue; // ARGs before the first FROM
    } else if (op === 'WORKDIR') {
      stage.workdir = posix.resolve(stage.workdir, rest.join(' '));
    } else if (op === 'RUN') {
      stage.runs.push(rest.join(' '));
    } else if (op === 'COPY') {
      const flags = rest.filter((p) => p.startsWith('--'));
      const paths = rest.filter((p) => !p.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      stage.copies.push({ ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)!, flags });
    }
  }
  // A stage that starts FROM an earlier stage inherits its files; the model keeps copies per stage
  // and resolves inheritance in filesAt.
  return stages;
}

/** Where a file of a stage came from: the build context (repo-relative) or another stage. */
export interface Origin { stage?: string; path: string }

function stageByName(stages: Stage[], name: string): Stage | undefined {
  return stages.find((s) => s.name === name);
}

/**
 * Where `path` (absolute, in `stage`) comes from, following COPY instructions back to the build
 * context; undefined when no COPY provides it. Files made by RUN are not modelled: a path under
 * what a RUN produces is resolved by the caller (the bundle, built by `npm run build`).
 */
export function originOf(stages: Stage[], stage: Stage, path: string): Origin | undefined {
  for (const c of [...stage.copies].reverse()) {
    const destAbs = posix.resolve(stage.workdir, c.dest);
    const destIsDir = c.dest.endsWith('/') || c.sources.length > 1;
    for (const src of c.sources) {
      const srcClean = src.replace(/\/+$/, '');
      const target = destIsDir ? posix.join(destAbs, posix.basename(srcClean)) : destAbs;
      if (path !== target && !path.startsWith(`${target}/`)) continue;
      const inner = path.slice(target.length);
      const fromPath = srcClean + inner;
      if (!c.from) return { path: fromPath };
      const fromStage = stageByName(stages, c.from);
      if (!fromStage) return { stage: c.from, path: posix.resolve('/', fromPath) };
      return originOf(stages, fromStage, posix.resolve(fromStage.workdir, fromPath)) ?? { stage: c.from, path: posix.resolve('/', fromPath) };
    }
  }
  const parent = stageByName(stages, stage.base);
  return parent ? originOf(stages, parent, path) : undefined;
}

/** The image's own closure: esbuild's metafile inputs, warnings and the bundle's externals. */
export interface Closure {
  program: ProgramName;
  entry: string;
  /** Repository-relative source files (node_modules excluded). */
  sources: string[];
  /** Packages under node_modules that the bundle includes. */
  packages: string[];
  /** Imports the bundle leaves to run time that are not Node built-ins nor optionalExternals. */
  externals: string[];
  /** The optionalExternals the bundle does ask for. */
  optional: string[];
  warnings: Message[];
}

export async function closureOf(program: ProgramName): Promise<Closure> {
  const r = await build({ ...bundleOptions([program]), write: false, logLevel: 'silent' });
  const inputs = Object.keys((r.metafile as Metafile).inputs);
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const externals = new Set<string>();
  const optional = new Set<string>();
  for (const out of Object.values((r.metafile as Metafile).outputs)) {
    for (const i of out.imports) {
      if (!i.external || builtins.has(i.path)) continue;
      (Object.hasOwn(optionalExternals, i.path) ? optional : externals).add(i.path);
    }
  }
  const pkgOf = (f: string) => { const p = f.split('/'); return p[1]!.startsWith('@') ? `${p[1]}/${p[2]}` : p[1]!; };
  return {
    program,
    entry: entryPoints[program],
    sources: inputs.filter((f) => !f.startsWith('node_modules/')).sort(),
    packages: [...new Set(inputs.filter((f) => f.startsWith('node_modules/')).map(pkgOf))].sort(),
    externals: [...externals].sort(),
    optional: [...optional].sort(),
    warnings: r.warnings,
  };
}

/**
 * Files a module reads at run time relative to its own location, repository-relative: the first
 * argument of `new URL(x, import.meta.url)` and the path arguments after
 * `dirname(fileURLToPath(import.meta.url))`. Any other use of import.meta (but the entry point's
 * "am I main" comparison) is reported as unknown, so a new pattern cannot slip past the test.
 */
export function runtimeFilesOf(module: string, text: string, isEntry: boolean): { files: string[]; unknown: string[] } {
  const files: string[] = [];
  const unknown: string[] = [];
  const dir = posix.dirname(module);
  let rest = text;
  for (const m of text.matchAll(/new URL\(\s*(['"`])([^'"`$]+)\1\s*,\s*import\.meta\.url\s*\)/g)) {
    files.push(posix.normalize(posix.join(dir, m[2]!)));
    rest = rest.replace(m[0], '');
  }
  for (const m of text.matchAll(/(?:join|resolve)\(\s*dirname\(\s*fileURLToPath\(\s*import\.meta\.url\s*\)\s*\)((?:\s*,\s*'[^']*')+)\s*\)/g)) {
    const parts = [...m[1]!.matchAll(/'([^']*)'/g)].map((p) => p[1]!);
    files.push(posix.normalize(posix.join(dir, ...parts)));
    rest = rest.replace(m[0], '');
  }
  for (const m of rest.matchAll(/.{0,40}import\.meta\.\w+.{0,40}/g)) {
    if (isEntry && /import\.meta\.url\s*===|===\s*import\.meta\.url/.test(m[0])) continue;
    unknown.push(m[0].trim());
  }
  return { files: files.map((f) => f.replace(/\/$/, '')), unknown };
}

/** The bundle an entrypoint wrapper script runs (`exec node … /opt/weft/dist/<name>.mjs "$@"`). */
export function wrapperBundle(wrapperText: string): string | undefined {
  return /exec\s+\S*node\b[^\n]*?\s(\/\S+\.mjs)\s+"\$@"/.exec(wrapperText)?.[1];
}

export interface ImageSpec {
  /** Repository-relative path of the Dockerfile. */
  dockerfile: string;
  program: ProgramName;
  /** Where the image keeps the repository's layout (bundle at <appRoot>/dist/<name>.mjs). */
  appRoot: string;
}

/**
 * Every way the image (as the parsed Dockerfile builds it) lacks something its program needs;
 * empty when it has all of it. `stages` is passed in so tests can remove a COPY and see this fail.
 */
export function imageProblems(spec: ImageSpec, stages: Stage[], closure: Closure, readRepo: (p: string) => string | undefined): string[] {
  const problems: string[] = [];
  const final = stages.at(-1)!;
  const buildStage = stages.find((s) => s.runs.some((r) => new RegExp(`npm run build\\b.*\\b${spec.program}\\b`).test(r)));
  if (!buildStage) return [`${spec.dockerfile}: no stage runs \`npm run build -- ${spec.program}\``];
  const inBuild = (repoPath: string) => {
    const o = originOf(stages, buildStage, posix.resolve(buildStage.workdir, repoPath));
    return !!o && !o.stage && readRepo(o.path) !== undefined && dockerignoreAllows(o.path);
  };
  for (const f of ['package.json', 'package-lock.json', 'hack/build.ts', 'hack/build/bundles.ts']) {
    if (!inBuild(f)) problems.push(`${spec.dockerfile}: the build stage lacks ${f} (npm run build needs it)`);
  }
  if (!buildStage.runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r))) {
    problems.push(`${spec.dockerfile}: the build stage does not run \`npm ci\` with dev dependencies (esbuild and the bundled packages come from it)`);
  }
  for (const src of closure.sources) {
    if (!inBuild(src)) problems.push(`${spec.dockerfile}: ${closure.entry} imports ${src}, which the build stage does not copy`);
  }
  for (const w of closure.warnings) problems.push(`${closure.entry}: esbuild: ${w.text} (${w.location?.file ?? ''}) — the closure is not fully known`);

  // The bundle: the wrapper runs it, the final stage has it from the build stage's dist/.
  const entrypoint = final.copies.find((c) => !c.from && c.sources.some((s) => s.startsWith('images/')));
  const wrapperText = entrypoint ? readRepo(entrypoint.sources[0]!) : undefined;
  const runs = wrapperText ? wrapperBundle(wrapperText) : undefined;
  const bundleInImage = posix.join(spec.appRoot, bundlePath(spec.program));
  if (runs !== bundleInImage) problems.push(`${spec.dockerfile}: the entrypoint wrapper runs ${runs ?? 'nothing recognisable'}, not ${bundleInImage}`);
  for (const f of [bundlePath(spec.program), `${bundlePath(spec.program)}.map`]) {
    const o = originOf(stages, final, posix.join(spec.appRoot, f));
    const want = posix.resolve(buildStage.workdir, f);
    if (!o || o.stage !== buildStage.name || o.path !== want) problems.push(`${spec.dockerfile}: the image lacks ${posix.join(spec.appRoot, f)} (built at ${want} in stage ${buildStage.name})`);
  }

  // Files read at run time: at their repository-relative path under appRoot, from the context.
  for (const src of closure.sources) {
    const text = readRepo(src) ?? '';
    const { files, unknown } = runtimeFilesOf(src, text, src === closure.entry);
    for (const u of unknown) problems.push(`${src}: import.meta used in a way the image check does not understand: ${u}`);
    for (const f of files) {
      const o = originOf(stages, final, posix.join(spec.appRoot, f));
      if (!o || o.stage || o.path !== f || readRepo(f) === undefined || !dockerignoreAllows(f)) {
        problems.push(`${spec.dockerfile}: ${src} reads ${f} at run time, which the image lacks at ${posix.join(spec.appRoot, f)}`);
      }
    }
  }

  // Imports left to run time must be in the image's node_modules.
  for (const ext of closure.externals) {
    const o = originOf(stages, final, posix.join(spec.appRoot, 'node_modules', ext));
    if (!o) problems.push(`${spec.dockerfile}: the bundle imports ${ext} at run time, which the image lacks in ${spec.appRoot}/node_modules`);
  }
  return problems;
}

/**
 * Whether /.dockerignore lets `path` (repository-relative) into the build context; its patterns
 * as used here: `**`, then `!path` exceptions, then exclusions, last match wins.
 */
export function dockerignoreAllows(path: string, text = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')): boolean {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  let allowed = true;
  for (const l of lines) {
    const negate = l.startsWith('!');
    const pat = negate ? l.slice(1) : l;
    const re = new RegExp(`^${pat.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\/?/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*')}$`);
    if (re.test(path) || re.test(`${path}/x`)) allowed = negate;
  }
  return allowed;
}

/** Reads a repository file or directory marker; undefined when absent. */
export function readRepoFile(p: string): string | undefined {
  const abs = normalize(join(repoRoot, p));
  if (!existsSync(abs)) return undefined;
  try {
    return readFileSync(abs, 'utf8');
  } catch {
    return ''; // a directory: present
  }
}

export const imageSpecs: ImageSpec[] = [
  { dockerfile: 'images/node/Dockerfile', program: 'weft-node', appRoot: '/opt/weft' },
  { dockerfile: 'images/operator/Dockerfile', program: 'weft-operator', appRoot: '/opt/weft' },
];

export function parseRepoDockerfile(spec: ImageSpec): Stage[] {
  return parseDockerfile(readFileSync(join(repoRoot, spec.dockerfile), 'utf8'));
}

