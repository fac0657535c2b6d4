/**
 * `weft validate -f FILE...`: the API server's verdict on Installations before they are
 * committed — the CRD schema and CEL rules, plus checks across the document (overlapping pools).
 */
import type { Command } from 'commander';
import { validateInstallation, type Problem } from '../../api/validation/validate.ts';
import { DocumentError, loadDocuments, type LoadedDocument } from '../load-documents.ts';

export interface FileProblem extends Problem {
  file: string;
}

function isInstallation(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'Installation';
}

/** A document that is not an Installation, named so the user knows it was not checked. */
export interface IgnoredDocument { file: string; index: number; what: string }

function describe(v: unknown): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `a ${Array.isArray(v) ? 'list' : typeof v}`;
  const o = v as { kind?: unknown; metadata?: { name?: unknown } };
  const kind = typeof o.kind === 'string' ? o.kind.slice(0, 64) : 'an object without kind';
  const name = typeof o.metadata?.name === 'string' ? ` ${o.metadata.name.slice(0, 64)}` : '';
  return `${kind}${name}`;
}

/** Problems of every Installation in the files; `against` holds the live versions for transition
 *  rules. Documents of other kinds are returned in `ignored` (when given). An unreadable or
 *  oversized file (including `against`) is a problem of that file, never an exception. */
export function validateFiles(files: string[], against?: string, ignored?: IgnoredDocument[]): FileProblem[] {
  const problems: FileProblem[] = [];
  const previous = new Map<string, unknown>();
  if (against) {
    try {
      for (const d of loadDocuments(against)) {
        if (isInstallation(d.value)) previous.set(nameOf(d.value), d.value);
      }
    } catch (err) {
      if (!(err instanceof DocumentError)) throw err;
      problems.push({ file: against, path: '--against', message: withoutFile(err.message, against) });
      return problems;
    }
  }
  for (const file of files) {
    let docs: LoadedDocument[];
    try {
      docs = loadDocuments(file);
    } catch (err) {
      if (err instanceof DocumentError) {
        problems.push({ file, path: '<document>', message: withoutFile(err.message, file) });
        continue;
      }
      throw err;
    }
    const installations = docs.filter((d) => isInstallation(d.value));
    for (const d of docs) if (!isInstallation(d.value)) ignored?.push({ file, index: d.index, what: describe(d.value) });
    if (installations.length === 0) {
      problems.push({ file, path: 'kind', message: 'no Installation in this file; expected a document with kind: Installation' });
    }
    for (const d of installations) {
      for (const p of validateInstallation(d.value, previous.get(nameOf(d.value)))) problems.push({ file, ...p });
    }
  }
  return problems;
}

/** "FILE:12: msg" -> "line 12: msg"; "FILE: msg" -> "msg" (the caller prints FILE itself). */
function withoutFile(message: string, file: string): string {
  if (!message.startsWith(`${file}:`)) return message;
  const rest = message.slice(file.length + 1);
  const m = /^(\d+): (.*)$/s.exec(rest);
  return m ? `line ${m[1]}: ${m[2]}` : rest.replace(/^ /, '');
}

function nameOf(v: unknown): string {
  return String((v as { metadata?: { name?: unknown } }).metadata?.name ?? '');
}

/** One line per problem: newlines in a message (from a CEL messageExpression, say) are folded. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').slice(0, 2000);
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('validate Installation YAML offline with the same schema and CEL rules as the API server')
    .requiredOption('-f, --filename <files...>', 'Installation YAML files ("-" for stdin)')
    .option('--against <file>', 'the currently applied Installation, to check immutable fields (e.g. from git HEAD or kubectl get -o yaml)')
    .addHelpText('after', '\nExit codes: 0 every Installation is valid; 1 a file is invalid, unreadable or too large (one line per problem on stderr: FILE: FIELD: MESSAGE), or the command line is wrong; 2 an unexpected error (one line on stderr).')
    .action((opts: { filename: string[]; against?: string }) => {
      const ignored: IgnoredDocument[] = [];
      const problems = validateFiles(opts.filename, opts.against, ignored);
      for (const d of ignored) console.error(`${d.file}: document ${d.index + 1} (${oneLine(d.what)}) ignored: not an Installation`);
      for (const p of problems) console.error(oneLine(`${p.file}: ${p.path}: ${p.message}`));
      if (problems.length > 0) {
        process.exitCode = 1;
      } else {
        console.error(`${opts.filename.length} file(s) valid`);
      }
    });
}
