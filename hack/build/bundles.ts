/**
 * The JavaScript programs Weft ships, one esbuild bundle per entry point, and how they are made.
 * `npm run build` (hack/build.ts) writes them to dist/; the images run them with plain `node`
 * (no TypeScript loader), and test/unit/images.test.ts uses the same options to compute each
 * entry point's import closure.
 *
 * Files a module reads at run time relative to itself (`new URL('../crds/', import.meta.url)`,
 * `dirname(fileURLToPath(import.meta.url))`) keep working in a bundle: every repository module's
 * `import.meta.url` is rewritten to the URL that module has in the source tree, computed from the
 * bundle's own location (dist/ sits one level below the root). So a bundle finds package.json,
 * api/schemas and crds/ at the same repository-relative paths, both in a checkout and in an
 * image that ships those files under /opt/weft.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions, Plugin } from 'esbuild';

/** The repository root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the bundles go, relative to the root; one directory below it (see sourceUrlPlugin). */
export const distDir = 'dist';

/** Program name -> entry point (repository-relative). The output is dist/<name>.mjs. */
export const entryPoints = {
  /** The weft-node image: `weft-node agent`, `weft-node install-cni`, `weft-node cleanup`. */
  'weft-node': 'components/node/main.ts',
  /** The weft-operator image. */
  'weft-operator': 'operator/main.ts',
  /** The `weft` CLI (not in an image; `npm run build` makes it for the sandbox and users). */
  weft: 'cli/main.ts',
} as const;

export type ProgramName = keyof typeof entryPoints;

/** dist/<name>.mjs, repository-relative. */
export function bundlePath(name: ProgramName): string {
  return `${distDir}/${name}.mjs`;
}

/**
 * Makes files a repository module reads relative to itself resolve as they do in the source tree:
 * `new URL(x, import.meta.url)`, `fileURLToPath(import.meta.url)`, `import.meta.dirname` and
 * `import.meta.filename` get the module's source URL, computed from the bundle's own location.
 * A bare `import.meta.url` (the "am I the main module" check of entry points) keeps the bundle's
 * URL, which is what it means there: the bundle is the program. Also drops the `#!… tsx` line of
 * entry points (a bundle runs under `node`). Modules in node_modules are left alone.
 */
export function sourceUrlPlugin(): Plugin {
  return {
    name: 'weft-source-url',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (args.path.includes(`${join('/', 'node_modules')}/`)) return undefined;
        const fromDist = relative(join(repoRoot, distDir), args.path).split('\\').join('/');
        const url = `new URL(${JSON.stringify(fromDist)}, import.meta.url).href`;
        const contents = rewriteSourceUrls(await readFile(args.path, 'utf8'), url);
        return { contents, loader: 'ts' };
      });
    },
  };
}

/**
 * The rewrite of sourceUrlPlugin on one module's text; `url` is a JavaScript expression of the
 * module's source URL. Exported for the closure test, which finds run-time files the same way.
 */
export function rewriteSourceUrls(text: string, url: string): string {
  return text
    .replace(/^#!.*\n/, '\n')
    .replace(/\bnew URL\(([^,()]+),\s*import\.meta\.url\s*\)/g, (_m, first: string) => `new URL(${first}, ${url})`)
    .replace(/\bfileURLToPath\(\s*import\.meta\.url\s*\)/g, `fileURLToPath(${url})`)
    .replace(/\bimport\.meta\.filename\b/g, `__weftFileURLToPath(${url})`)
    .replace(/\bimport\.meta\.dirname\b/g, `__weftDirname(__weftFileURLToPath(${url}))`);
}

/**
 * Packages our dependencies require() only inside try/catch, as optional speed-ups or extras,
 * and which are not installed: they stay out of the bundle and out of the images, and the code
 * that asks for them runs without them. Any other import left to run time is an error (the image
 * closure test fails).
 */
export const optionalExternals: Readonly<Record<string, string>> = {
  bufferutil: 'ws: native WebSocket masking, falls back to JavaScript',
  'utf-8-validate': 'ws: native UTF-8 validation, falls back to JavaScript',
  encoding: 'node-fetch: non-UTF-8 textConverted(), which the Kubernetes client never calls',
  'supports-color': 'debug: colour detection for a terminal',
};

/**
 * CommonJS dependencies bundled into an ES module still call require() for Node built-ins and
 * read __dirname; this gives them both (esbuild's documented workaround).
 */
const banner = [
  "import { createRequire as __weftCreateRequire } from 'node:module';",
  "import { fileURLToPath as __weftFileURLToPath } from 'node:url';",
  "import { dirname as __weftDirname } from 'node:path';",
  'const require = __weftCreateRequire(import.meta.url);',
  'const __filename = __weftFileURLToPath(import.meta.url);',
  'const __dirname = __weftDirname(__filename);',
].join('\n');

/** The esbuild options of a set of programs; `write: false` callers get the metafile only. */
export function bundleOptions(names: readonly ProgramName[] = Object.keys(entryPoints) as ProgramName[]): BuildOptions & { metafile: true } {
  return {
    absWorkingDir: repoRoot,
    entryPoints: Object.fromEntries(names.map((n) => [n, entryPoints[n]])),
    outdir: distDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Source maps without the sources: `node --enable-source-maps` maps stack traces to the .ts
    // lines; the map stays a fraction of the bundle's size.
    sourcemap: 'linked',
    sourcesContent: false,
    // Stack traces and logs keep class and function names.
    keepNames: true,
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'eof',
    banner: { js: banner },
    external: Object.keys(optionalExternals),
    plugins: [sourceUrlPlugin()],
    metafile: true,
    logLevel: 'warning',
  };
}
