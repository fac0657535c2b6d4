/**
 * `weft render -f installation.yaml [--facts facts.yaml] [--explain] [-o yaml|json]`: the objects
 * the operator would apply for an Installation, offline. `--explain` prints, instead of the
 * objects, one line per decision (and one per problem that would set Degraded), so the objects
 * on stdout can always be piped to `kubectl apply -f -`.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import type { Installation } from '../../api/index.ts';
import { validateInstallation } from '../../api/validation/validate.ts';
import {
  DEFAULT_REGISTRY,
  RenderInputError,
  explainText,
  formatProblem,
  render,
  toJsonList,
  toYaml,
  type ClusterFacts,
  type RenderOptions,
} from '../../render/index.ts';
import { DocumentError, loadDocuments, type LoadedDocument } from '../load-documents.ts';

export interface RenderCommandOptions {
  filename: string;
  facts?: string;
  explain?: boolean;
  output?: 'yaml' | 'json';
}

export interface RenderCommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

interface Line {
  file: string;
  path: string;
  message: string;
}

const lines = (problems: Line[]): string => problems.map((p) => `${p.file}: ${p.path}: ${p.message}\n`).join('');

function load(file: string): LoadedDocument[] | Line {
  try {
    return loadDocuments(file);
  } catch (err) {
    if (err instanceof DocumentError) return { file, path: '<document>', message: err.message.replace(`${file}: `, '') };
    throw err;
  }
}

/** Reads a facts file: `nodes: [{name, address: 198.18.0.5/24, mtu: 1500, labels: {}}]`. */
function loadFacts(file: string): ClusterFacts | Line {
  const docs = load(file);
  if (!Array.isArray(docs)) return docs;
  const value = docs[0]?.value as { nodes?: unknown } | undefined;
  if (docs.length !== 1 || typeof value !== 'object' || value === null || !Array.isArray(value.nodes)) {
    return { file, path: 'nodes', message: 'a facts file is one document with a list of nodes, e.g. nodes: [{name: a, address: 198.18.0.5/24, mtu: 1500, labels: {}}]' };
  }
  return { nodes: value.nodes as ClusterFacts['nodes'] };
}

/** Runs the command without touching process state, for the CLI and for tests. */
export function runRender(opts: RenderCommandOptions, renderOptions: RenderOptions): RenderCommandResult {
  const fail = (problems: Line[]): RenderCommandResult => ({ stdout: lines(problems), stderr: '', exitCode: 1 });
  const file = opts.filename;
  const docs = load(file);
  if (!Array.isArray(docs)) return fail([docs]);
  // Same checks and messages as `weft validate` (cli/commands/validate.ts).
  const installations = docs.filter((d) => (d.value as { kind?: unknown })?.kind === 'Installation');
  if (installations.length === 0) {
    return fail([{ file, path: 'kind', message: 'no Installation in this file; expected a document with kind: Installation' }]);
  }
  const invalid = installations.flatMap((d) => validateInstallation(d.value).map((p) => ({ file, ...p })));
  if (invalid.length > 0) return fail(invalid);
  if (installations.length > 1) {
    return fail([{ file, path: 'kind', message: `found ${installations.length} Installations; weft render takes one, put each in its own file` }]);
  }

  let facts: ClusterFacts = { nodes: [] };
  if (opts.facts) {
    const loaded = loadFacts(opts.facts);
    if ('file' in loaded) return fail([loaded]);
    facts = loaded;
  }
  let result;
  try {
    result = render(installations[0]!.value as Installation, facts, renderOptions);
  } catch (err) {
    if (!(err instanceof RenderInputError)) throw err;
    return fail(
      err.problems.map((p) =>
        p.path.startsWith('facts.') ? { file: opts.facts ?? '<facts>', path: p.path.slice('facts.'.length), message: p.message } : { file, ...p },
      ),
    );
  }
  if (opts.explain) return { stdout: explainText(result.explain, result.degraded), stderr: '', exitCode: 0 };
  return {
    stdout: opts.output === 'json' ? toJsonList(result.objects) : toYaml(result.objects),
    stderr: result.degraded.map((p) => `warning: ${formatProblem(p)}\n`).join(''),
    exitCode: 0,
  };
}

function operatorVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('print the objects the operator would apply for an Installation (offline, no cluster needed)')
    .requiredOption('-f, --filename <file>', 'Installation YAML ("-" for stdin)')
    .option('--facts <file>', 'cluster facts: nodes: [{name, address: 198.18.0.5/24, mtu: 1500, labels: {}}]; without it MTU and Auto encapsulation are provisional')
    .option('--explain', 'print one line per decision (MTU, encapsulation, ...) instead of the objects')
    .addOption(new Option('-o, --output <format>', 'output format of the objects').choices(['yaml', 'json']).default('yaml'))
    .action((opts: RenderCommandOptions) => {
      const r = runRender(opts, { operatorVersion: operatorVersion(), registry: DEFAULT_REGISTRY });
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.exitCode;
    });
}
