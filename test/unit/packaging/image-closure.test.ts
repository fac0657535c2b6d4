// Each image has everything its program needs (see image-closure.ts), and the check does fail
// when a Dockerfile forgets a folder — including the one that shipped: the node image without
// operator/runtime (now kube/), which the agent imports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { optionalExternals } from '../../../hack/build/bundles.ts';
import {
  closureOf, imageProblems, imageSpecs, originOf, parseDockerfile, parseRepoDockerfile, readRepoFile,
  runtimeFilesOf, wrapperBundle, type Closure, type Stage,
} from './image-closure.ts';

const closures = new Map<string, Promise<Closure>>();
const closure = (program: (typeof imageSpecs)[number]['program']) => {
  if (!closures.has(program)) closures.set(program, closureOf(program));
  return closures.get(program)!;
};

/** A copy of the stages without `source` in any COPY from the build context. */
function withoutContextCopy(stages: Stage[], source: string): Stage[] {
  let removed = 0;
  const out = stages.map((s) => ({
    ...s,
    copies: s.copies
      .map((c) => {
        if (c.from) return c;
        const sources = c.sources.filter((x) => x.replace(/\/$/, '') !== source);
        removed += c.sources.length - sources.length;
        return { ...c, sources };
      })
      .filter((c) => c.sources.length > 0),
  }));
  assert.equal(removed, 1, `expected exactly one COPY of ${source} from the context`);
  return out;
}

/** A copy of the stages without the final stage's COPY --from whose sources include `source`. */
function withoutFinalCopy(stages: Stage[], source: string): Stage[] {
  const final = stages.at(-1)!;
  const copies = final.copies.filter((c) => !(c.from && c.sources.includes(source)));
  assert.equal(copies.length, final.copies.length - 1, `expected one COPY --from of ${source} in the final stage`);
  return [...stages.slice(0, -1), { ...final, copies }];
}

for (const spec of imageSpecs) {
  test(`${spec.dockerfile}: the image has every file ${spec.program} imports or reads`, async () => {
    const c = await closure(spec.program);
    assert.ok(c.sources.includes(c.entry), `the closure of ${c.entry} lacks the entry itself`);
    assert.ok(c.sources.length > 10 && c.packages.includes('@kubernetes/client-node'), `implausible closure: ${c.sources.length} sources, packages ${c.packages.join(' ')}`);
    assert.deepEqual(imageProblems(spec, parseRepoDockerfile(spec), c, readRepoFile), []);
  });
}

test('the check fails when the node image build stage lacks the Kubernetes runtime the agent imports (the bug that shipped)', async () => {
  const spec = imageSpecs.find((s) => s.program === 'weft-node')!;
  const c = await closure('weft-node');
  // Wherever the runtime lives (operator/runtime, or kube/ after the move), the agent imports it.
  const runtimeDir = ['kube', 'operator'].find((d) => c.sources.some((s) => s.startsWith(`${d}/`)));
  assert.ok(runtimeDir, `the agent imports neither kube/ nor operator/: ${c.sources.join(' ')}`);
  const problems = imageProblems(spec, withoutContextCopy(parseRepoDockerfile(spec), runtimeDir), c, readRepoFile);
  assert.ok(problems.some((p) => p.includes(`imports ${runtimeDir}/`)), `no problem reported: ${problems.join('\n')}`);
});

test('the check fails when a folder of sources, the CRDs read at run time, package.json or the bundle is missing', async () => {
  const spec = imageSpecs.find((s) => s.program === 'weft-operator')!;
  const c = await closure('weft-operator');
  const stages = parseRepoDockerfile(spec);
  const cases: Array<[string, Stage[], RegExp]> = [
    ['render/ not copied into the build stage', withoutContextCopy(stages, 'render'), /imports render\//],
    ['api/ not copied into the build stage', withoutContextCopy(stages, 'api'), /imports api\//],
    ['crds/ not in the image', withoutFinalCopy(stages, '/src/crds'), /reads crds at run time/],
    ['package.json not in the image', withoutFinalCopy(stages, '/src/package.json'), /reads package\.json at run time/],
    ['the bundle not in the image', withoutFinalCopy(stages, '/src/dist/weft-operator.mjs'), /lacks \/opt\/weft\/dist\/weft-operator\.mjs\b/],
  ];
  for (const [what, broken, expected] of cases) {
    const problems = imageProblems(spec, broken, c, readRepoFile);
    assert.ok(problems.some((p) => expected.test(p)), `${what}: expected a problem matching ${expected}, got:\n${problems.join('\n')}`);
  }
  const external = { ...c, externals: ['some-native-addon'] };
  assert.ok(imageProblems(spec, stages, external, readRepoFile).some((p) => p.includes('some-native-addon')), 'an import left external must be in node_modules');
});

test('each optional external is asked for by some bundle and installed by none', async () => {
  const asked = new Set((await Promise.all(imageSpecs.map((s) => closure(s.program)))).flatMap((c) => c.optional));
  for (const name of Object.keys(optionalExternals)) {
    assert.ok(asked.has(name), `${name} is listed in optionalExternals but no image bundle imports it: drop it from the list`);
    assert.equal(readRepoFile(`node_modules/${name}/package.json`), undefined, `${name} is installed: bundle it instead of leaving it out`);
  }
});

test('run-time file references are found, and unknown uses of import.meta are reported', () => {
  assert.deepEqual(runtimeFilesOf('operator/crds.ts', "export const d = fileURLToPath(new URL('../crds/', import.meta.url));", false),
    { files: ['crds'], unknown: [] });
  assert.deepEqual(runtimeFilesOf('api/descriptor.ts', "export const schemaDir = join(dirname(fileURLToPath(import.meta.url)), 'schemas');", false),
    { files: ['api/schemas'], unknown: [] });
  assert.deepEqual(runtimeFilesOf('cli/main.ts', 'if (import.meta.url === `file://${process.argv[1]}`) main();', true).unknown, []);
  assert.equal(runtimeFilesOf('x/y.ts', 'const here = import.meta.dirname;', false).unknown.length, 1);
  assert.equal(runtimeFilesOf('x/y.ts', 'if (import.meta.url === process.argv[1]) main();', false).unknown.length, 1, 'a main check outside an entry point');
});

test('the Dockerfile model follows COPY --from back to the build context', () => {
  const stages = parseDockerfile([
    'FROM base AS build', 'WORKDIR /src', 'COPY package.json tsconfig.json ./', 'COPY api ./api', 'COPY hack/build.ts ./hack/',
    'RUN npm run build -- weft-node',
    'FROM debian', 'WORKDIR /opt/weft', 'COPY --from=build /src/api/schemas ./api/schemas', 'COPY --from=build /src/dist/weft-node.mjs ./dist/',
  ].join('\n'));
  assert.deepEqual(originOf(stages, stages[1]!, '/opt/weft/api/schemas/a.yaml'), { path: 'api/schemas/a.yaml' });
  assert.deepEqual(originOf(stages, stages[0]!, '/src/tsconfig.json'), { path: 'tsconfig.json' });
  assert.deepEqual(originOf(stages, stages[0]!, '/src/hack/build.ts'), { path: 'hack/build.ts' });
  assert.deepEqual(originOf(stages, stages[1]!, '/opt/weft/dist/weft-node.mjs'), { stage: 'build', path: '/src/dist/weft-node.mjs' });
  assert.equal(originOf(stages, stages[1]!, '/opt/weft/api/types/x.ts'), undefined);
  assert.equal(wrapperBundle('#!/bin/sh\nexec /usr/local/bin/node --enable-source-maps /opt/weft/dist/weft-node.mjs "$@"\n'), '/opt/weft/dist/weft-node.mjs');
});
