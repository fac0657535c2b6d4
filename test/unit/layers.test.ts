// The import rules of docs/architecture.md, held by walking every import of every .ts file in the
// repository (static imports, `export ... from`, `import type`, and dynamic `import('...')`):
//   - kube/ imports nothing of Weft (it is the runtime both sides build on);
//   - api/ builds on kube/ only; render/ on api/ and kube/; operator/ on api/, render/, kube/;
//     components/ on api/, kube/ — never operator/ or render/ (the node image ships neither);
//   - product code (api, render, operator, components, cli, kube) never imports test/ or hack/;
//   - render/, and every Weft module it reaches, does no I/O and reads no clock.
// A self-check runs the same checker over synthetic files that break each rule, so this test
// cannot pass by finding nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

type Folder = 'kube' | 'api' | 'render' | 'operator' | 'components' | 'cli' | 'test' | 'hack' | 'other';
const PRODUCT: ReadonlySet<Folder> = new Set(['kube', 'api', 'render', 'operator', 'components', 'cli']);

/** Which Weft folders each folder may import (its own always allowed). Absent: no restriction. */
const ALLOWED: Partial<Record<Folder, ReadonlySet<Folder>>> = {
  kube: new Set(),
  api: new Set(['kube']),
  render: new Set(['api', 'kube']),
  operator: new Set(['api', 'render', 'kube']),
  // The node image ships components/, api/ and kube/ only: the agent reads render's output from
  // the ConfigMap, never render's code.
  components: new Set(['api', 'kube']),
  cli: new Set(['api', 'render', 'operator', 'components', 'kube']),
};

/** Node built-ins that reach the file system, processes, the network or the host. */
const IO_MODULES = new Set([
  'fs', 'fs/promises', 'child_process', 'net', 'http', 'https', 'http2', 'dgram', 'dns', 'dns/promises', 'tls',
  'os', 'worker_threads', 'cluster', 'readline', 'inspector', 'v8', 'vm', 'perf_hooks',
]);
/** npm packages whose values do I/O (a type-only import of them is fine). */
const IO_PACKAGES = new Set(['@kubernetes/client-node', 'pino', 'prom-client']);

export interface SourceFile {
  /** Repository-relative path with forward slashes, e.g. "render/index.ts". */
  path: string;
  text: string;
}

interface ImportRef {
  specifier: string;
  typeOnly: boolean;
  dynamic: boolean;
  line: number;
}

const FOLDERS: ReadonlySet<string> = new Set(['kube', 'api', 'render', 'operator', 'components', 'cli', 'test', 'hack']);

function folderOf(path: string): Folder {
  const top = path.split('/')[0]!;
  return FOLDERS.has(top) ? (top as Folder) : 'other';
}

/** Every import of a file: declarations, re-exports, dynamic import() and require(), with type-only marked. */
function importsOf(f: SourceFile): { imports: ImportRef[]; clockReads: { what: string; line: number }[]; unresolvedDynamic: number[] } {
  const src = ts.createSourceFile(f.path, f.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const imports: ImportRef[] = [];
  const clockReads: { what: string; line: number }[] = [];
  const unresolvedDynamic: number[] = [];
  const lineOf = (n: ts.Node) => src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1;
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const clause = n.importClause;
      const typeOnly = !!clause?.isTypeOnly || (!!clause && !clause.name && !!clause.namedBindings && ts.isNamedImports(clause.namedBindings) &&
        clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly));
      imports.push({ specifier: n.moduleSpecifier.text, typeOnly, dynamic: false, line: lineOf(n) });
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      imports.push({ specifier: n.moduleSpecifier.text, typeOnly: n.isTypeOnly, dynamic: false, line: lineOf(n) });
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      imports.push({ specifier: n.moduleReference.expression.text, typeOnly: n.isTypeOnly, dynamic: false, line: lineOf(n) });
    } else if (ts.isCallExpression(n)) {
      const isImport = n.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(n.expression) && n.expression.text === 'require';
      if (isImport || isRequire) {
        const arg = n.arguments[0];
        if (arg && (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))) {
          imports.push({ specifier: arg.text, typeOnly: false, dynamic: true, line: lineOf(n) });
        } else {
          unresolvedDynamic.push(lineOf(n));
        }
      }
      const callee = n.expression.getText(src);
      if (callee === 'Date.now' || callee === 'performance.now' || callee === 'process.hrtime' || callee === 'process.hrtime.bigint' || callee === 'Math.random') {
        clockReads.push({ what: `${callee}()`, line: lineOf(n) });
      }
    } else if (ts.isNewExpression(n) && n.expression.getText(src) === 'Date' && (n.arguments?.length ?? 0) === 0) {
      clockReads.push({ what: 'new Date()', line: lineOf(n) });
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      imports.push({ specifier: n.argument.literal.text, typeOnly: true, dynamic: false, line: lineOf(n) });
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return { imports, clockReads, unresolvedDynamic };
}

/** Checks the rules over a set of files; returns one line per violation ("path:line: what"). */
export function checkLayers(files: readonly SourceFile[]): string[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const parsed = new Map(files.map((f) => [f.path, importsOf(f)]));
  const problems: string[] = [];
  const resolveLocal = (from: string, spec: string): string | undefined =>
    spec.startsWith('.') ? posix.normalize(posix.join(posix.dirname(from), spec)) : undefined;

  for (const f of files) {
    const me = folderOf(f.path);
    const { imports, unresolvedDynamic } = parsed.get(f.path)!;
    for (const line of unresolvedDynamic) {
      if (PRODUCT.has(me)) problems.push(`${f.path}:${line}: dynamic import of a computed specifier (the layer rules cannot be checked; use a string literal)`);
    }
    for (const imp of imports) {
      const target = resolveLocal(f.path, imp.specifier);
      if (target === undefined) continue;
      if (target.startsWith('..')) {
        problems.push(`${f.path}:${imp.line}: imports ${imp.specifier}, outside the repository`);
        continue;
      }
      const to = folderOf(target);
      if (to === me) continue;
      if (PRODUCT.has(me) && (to === 'test' || to === 'hack')) {
        problems.push(`${f.path}:${imp.line}: product code (${me}/) imports ${to}/ (${target}); nothing that ships may depend on tests or developer scripts`);
        continue;
      }
      const allowed = ALLOWED[me];
      if (allowed && !allowed.has(to)) {
        problems.push(`${f.path}:${imp.line}: ${me}/ imports ${to}/ (${target}); ${me}/ may import ${allowed.size ? [...allowed].map((a) => `${a}/`).join(', ') : 'no Weft module'} (docs/architecture.md)`);
      }
    }
  }

  // render/ and every Weft module it reaches: no I/O module, no clock.
  const seen = new Set<string>();
  const via = new Map<string, string>();
  const queue = files.filter((f) => folderOf(f.path) === 'render').map((f) => f.path);
  for (const p of queue) seen.add(p);
  while (queue.length) {
    const p = queue.shift()!;
    const { imports, clockReads } = parsed.get(p)!;
    const chain = via.has(p) ? ` (reached from render/ via ${via.get(p)})` : '';
    for (const c of clockReads) problems.push(`${p}:${c.line}: render/ must not read a clock or randomness: ${c.what}${chain}`);
    for (const imp of imports) {
      const local = resolveLocal(p, imp.specifier);
      if (local !== undefined) {
        if (byPath.has(local) && !seen.has(local)) {
          seen.add(local);
          via.set(local, via.has(p) ? `${via.get(p)} -> ${p}` : p);
          queue.push(local);
        }
        continue;
      }
      const bare = imp.specifier.replace(/^node:/, '');
      if (IO_MODULES.has(bare)) problems.push(`${p}:${imp.line}: render/ must do no I/O: imports ${imp.specifier}${chain}`);
      else if (!imp.typeOnly && IO_PACKAGES.has(imp.specifier)) problems.push(`${p}:${imp.line}: render/ must do no I/O: imports values from ${imp.specifier}${chain}`);
    }
  }
  return problems;
}

function repoFiles(): SourceFile[] {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts'], { cwd: repoRoot, encoding: 'utf8' });
  return listed
    .split('\n')
    .filter((p) => p && !p.startsWith('node_modules/') && existsSync(join(repoRoot, p)))
    .map((p) => ({ path: relative(repoRoot, join(repoRoot, p)).split('\\').join('/'), text: readFileSync(join(repoRoot, p), 'utf8') }));
}

test('every import in the repository follows the layer rules', () => {
  const files = repoFiles();
  assert.ok(files.length > 100, `expected the repository's .ts files, found ${files.length}`);
  assert.ok(files.some((f) => f.path.startsWith('kube/')) && files.some((f) => f.path.startsWith('render/')), 'kube/ and render/ must be among the files');
  const problems = checkLayers(files);
  assert.deepEqual(problems, [], `layer rules broken:\n  ${problems.join('\n  ')}`);
});

test('self-check: the checker finds each kind of violation', () => {
  const bad: SourceFile[] = [
    { path: 'components/node/x.ts', text: "import { KubeClient } from '../../operator/runtime/index.ts';\n" },
    { path: 'operator/y.ts', text: "export const load = () => import('../test/support/kwok.ts');\n" },
    { path: 'cli/z.ts', text: "export * from '../hack/testenv/assets.ts';\n" },
    { path: 'kube/k.ts', text: "import type { Installation } from '../api/index.ts';\n" },
    { path: 'render/io.ts', text: "import { readFileSync } from 'node:fs';\nimport './helper.ts';\nexport const t = Date.now();\n" },
    { path: 'render/helper.ts', text: "import { spawn } from 'child_process';\nexport const d = new Date();\n" },
    { path: 'render/via-api.ts', text: "import { x } from '../api/clocky.ts';\nexport const y = x;\n" },
    { path: 'api/clocky.ts', text: 'export const x = performance.now();\n' },
    { path: 'components/dyn.ts', text: "const m = 'a'; export const l = () => import(m);\n" },
  ];
  const problems = checkLayers(bad);
  const expect = [
    /^components\/node\/x\.ts:1: components\/ imports operator\//,
    /^operator\/y\.ts:1: product code \(operator\/\) imports test\//,
    /^cli\/z\.ts:1: product code \(cli\/\) imports hack\//,
    /^kube\/k\.ts:1: kube\/ imports api\//,
    /^render\/io\.ts:1: render\/ must do no I\/O: imports node:fs/,
    /^render\/io\.ts:3: render\/ must not read a clock or randomness: Date\.now\(\)/,
    /^render\/helper\.ts:1: render\/ must do no I\/O: imports child_process/,
    /^render\/helper\.ts:2: render\/ must not read a clock or randomness: new Date\(\)/,
    /^api\/clocky\.ts:1: render\/ must not read a clock or randomness: performance\.now\(\) \(reached from render\/ via render\/via-api\.ts\)/,
    /^components\/dyn\.ts:1: dynamic import of a computed specifier/,
  ];
  for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `the checker missed ${re}; it found:\n  ${problems.join('\n  ')}`);
  assert.equal(problems.length, expect.length, `unexpected findings:\n  ${problems.join('\n  ')}`);
  // And the allowed directions stay quiet.
  const good: SourceFile[] = [
    { path: 'components/a.ts', text: "import { KubeClient } from '../kube/index.ts';\nimport type { EffectivePool } from '../api/index.ts';\n" },
    { path: 'render/index.ts', text: "import type { KubeConfig } from '@kubernetes/client-node';\nexport const d = new Date('2020-01-01T00:00:00Z');\n" },
    { path: 'test/t.ts', text: "import '../hack/testenv/assets.ts';\nimport '../operator/main.ts';\n" },
  ];
  assert.deepEqual(checkLayers(good), []);
});
