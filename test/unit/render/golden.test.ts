/**
 * Golden files: test/golden/<case>/{installation.yaml, facts.yaml?} -> rendered.yaml and
 * explain.txt, exactly as `weft render` prints them. Any byte change fails; after an intended
 * change run `npm run update-golden` (or WEFT_UPDATE_GOLDEN=1 npx tsx --test this file) and
 * review the diff.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runRender } from '../../../cli/commands/render.ts';

const goldenDir = fileURLToPath(new URL('../../golden/', import.meta.url));
const update = process.env.WEFT_UPDATE_GOLDEN === '1';
/** Fixed, so a release does not rewrite every golden file. */
const options = { operatorVersion: '0.1.0', registry: 'ghcr.io/weft-dev' };

const cases = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function check(file: string, actual: string): void {
  if (update) {
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `${file} is missing; run npm run update-golden and review it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `${file} differs; if the change is intended run npm run update-golden and review the diff`);
}

describe('golden render cases', () => {
  test('there are cases', () => assert.ok(cases.length >= 11, `expected at least 11 cases in ${goldenDir}, found ${cases.length}`));
  for (const name of cases) {
    test(name, () => {
      const dir = join(goldenDir, name);
      const filename = join(dir, 'installation.yaml');
      const factsFile = join(dir, 'facts.yaml');
      const facts = existsSync(factsFile) ? factsFile : undefined;
      const objects = runRender({ filename, ...(facts ? { facts } : {}) }, options);
      assert.equal(objects.exitCode, 0, objects.stdout);
      const explain = runRender({ filename, ...(facts ? { facts } : {}), explain: true }, options);
      assert.equal(explain.exitCode, 0, explain.stdout);
      // Paths in golden files are relative to the case so they do not depend on the checkout.
      check(join(dir, 'rendered.yaml'), objects.stdout);
      check(join(dir, 'explain.txt'), explain.stdout);
    });
  }
});
