// What makes the Dockerfiles reproducible and safe, checked statically (hack/images/build builds
// them with podman; image-closure.test.ts checks they hold everything their program needs):
// pinned bases, no `latest`, SOURCE_DATE_EPOCH, modes independent of the checkout, no TypeScript
// loader in the image, non-root operator, and that every path they copy exists and is let
// through .dockerignore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { entryPoints } from '../../../hack/build/bundles.ts';
import { dockerignoreAllows } from './image-closure.ts';

const root = join(import.meta.dirname, '../../..');
const images = ['operator', 'node'] as const;

interface Instruction { op: string; args: string }

function instructions(file: string): Instruction[] {
  const text = readFileSync(join(root, file), 'utf8').replace(/\\\n/g, ' ');
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op!.toUpperCase(), args: rest.join(' ') };
  });
}

function argDefaults(ins: Instruction[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const i of ins) if (i.op === 'ARG' && i.args.includes('=')) m.set(i.args.split('=')[0]!, i.args.slice(i.args.indexOf('=') + 1));
  return m;
}

for (const image of images) {
  const file = `images/${image}/Dockerfile`;
  test(`${file}: pinned bases, no latest, reproducible copies`, () => {
    const text = readFileSync(join(root, file), 'utf8');
    const ins = instructions(file);
    assert.match(text.split('\n')[0]!, /^# syntax=docker\/dockerfile:\d+\.\d+\.\d+$/, 'pin the Dockerfile frontend (COPY --chmod with symbolic modes needs >= 1.14)');
    assert.doesNotMatch(text, /:latest\b/);
    const args = argDefaults(ins);
    for (const from of ins.filter((i) => i.op === 'FROM')) {
      const ref = from.args.split(/\s+/)[0]!.replace(/^\$\{(\w+)\}$/, (_, v: string) => args.get(v) ?? `unset ARG ${v}`);
      if (/^[a-z]+$/.test(ref)) continue; // an earlier stage
      assert.match(ref, /^[a-z0-9./-]+:[\w.-]+$/, `${file}: base ${ref} must name a tag`);
      assert.ok(/\d/.test(ref.split(':')[1] ?? ''), `${file}: base ${ref} has no version in its tag`);
    }
    assert.ok(ins.some((i) => i.op === 'ARG' && i.args.startsWith('SOURCE_DATE_EPOCH')), 'SOURCE_DATE_EPOCH must be a build arg');
    // Modes must not depend on the checkout: the final stage copies from the context only with
    // --chmod, and the build stage normalises the modes of what leaves it.
    const finalStart = ins.map((i) => i.op).lastIndexOf('FROM');
    for (const c of ins.slice(finalStart).filter((i) => i.op === 'COPY' && !i.args.includes('--from='))) {
      assert.match(c.args, /--chmod=/, `${file}: COPY ${c.args} without --chmod (modes would depend on the checkout)`);
    }
    assert.ok(ins.some((i) => i.op === 'RUN' && /npm run build\b/.test(i.args) && /chmod -R u=rwX,go=rX/.test(i.args)), `${file}: the build stage must normalise the modes of what it hands on`);
    assert.match(text, /npm ci --ignore-scripts/);
    const entry = ins.find((i) => i.op === 'ENTRYPOINT');
    assert.ok(entry, 'no ENTRYPOINT');
    assert.match(entry.args, image === 'operator' ? /weft-operator/ : /weft-node/);
  });

  test(`${file}: everything it copies from the context exists and passes .dockerignore`, () => {
    for (const c of instructions(file).filter((i) => i.op === 'COPY' && !i.args.includes('--from='))) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        assert.ok(existsSync(join(root, src)), `${file}: COPY source ${src} does not exist`);
        assert.ok(dockerignoreAllows(src), `${file}: COPY source ${src} is excluded by .dockerignore`);
        if (src.startsWith('images/')) assert.ok((statSync(join(root, src)).mode & 0o111) !== 0 || c.args.includes('--chmod=0755'), `${src} must be executable`);
      }
    }
  });
}

test('the operator image runs as uid 65532 and needs no writable root filesystem', () => {
  const ins = instructions('images/operator/Dockerfile');
  const users = ins.filter((i) => i.op === 'USER');
  assert.equal(users.at(-1)?.args, '65532:65532');
  // A compiled bundle: nothing compiles at start, so nothing needs a cache dir.
  assert.doesNotMatch(readFileSync(join(root, 'images/operator/weft-operator'), 'utf8'), /tsx/);
});

for (const image of images) {
  test(`images/${image}: no TypeScript loader and no node_modules in the image`, () => {
    const ins = instructions(`images/${image}/Dockerfile`);
    const finalStart = ins.map((i) => i.op).lastIndexOf('FROM');
    for (const i of ins.slice(finalStart)) {
      assert.doesNotMatch(i.args, /tsx|node_modules|\.ts\b/, `images/${image}/Dockerfile final stage: ${i.op} ${i.args}`);
    }
  });
}

test('the node image has the agent, CNI plugins where install-cni looks, bird2, iproute2, nftables, all version-pinned', () => {
  const text = readFileSync(join(root, 'images/node/Dockerfile'), 'utf8');
  for (const pkg of ['bird2', 'iproute2', 'nftables', 'containernetworking-plugins']) {
    assert.match(text, new RegExp(`"${pkg}=\\$\\{[A-Z0-9_]+_VERSION\\}"`), `${pkg} must be installed at a pinned version`);
  }
  assert.match(text, /snapshot\.debian\.org\/archive\/debian\/%s/);
  assert.match(text, /ARG DEBIAN_SNAPSHOT=\d{8}T\d{6}Z/);
  assert.match(text, /COPY --from=node .*\/usr\/local\/bin\/node/);
  const install = readFileSync(join(root, 'components/node/cni/install.ts'), 'utf8');
  const dir = install.match(/image ships them in (\/[\w/-]+)/)?.[1];
  assert.ok(dir, 'components/node/cni/install.ts no longer says where the image ships the plugins');
  assert.match(text, new RegExp(`ln -s /usr/lib/cni ${dir}`), `the image must provide the CNI plugins in ${dir}`);
});

test('the entrypoint wrappers start the programs the Deployment and DaemonSet name', () => {
  const op = readFileSync(join(root, 'images/operator/weft-operator'), 'utf8');
  assert.match(op, /exec \/usr\/local\/bin\/node --enable-source-maps \/opt\/weft\/dist\/weft-operator\.mjs "\$@"/);
  assert.equal(entryPoints['weft-operator'], 'operator/main.ts');
  assert.ok(existsSync(join(root, 'operator/main.ts')));
  const node = readFileSync(join(root, 'images/node/weft-node'), 'utf8');
  assert.match(node, /exec \/usr\/local\/bin\/node --enable-source-maps \/opt\/weft\/dist\/weft-node\.mjs "\$@"/);
  assert.equal(entryPoints['weft-node'], 'components/node/main.ts');
  assert.ok(existsSync(join(root, 'components/node/main.ts')));
  const ds = readFileSync(join(root, 'render/daemonset.ts'), 'utf8');
  assert.match(ds, /command: \['weft-node', 'install-cni'\]/);
  assert.match(ds, /command: \['weft-node', 'agent'\]/);
});
