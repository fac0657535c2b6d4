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

/** Problems of every Installation in the files; `against` holds the live versions for transition rules. */
export function validateFiles(files: string[], against?: string): FileProblem[] {
  const problems: FileProblem[] = [];
  const previous = new Map<string, unknown>();
  if (against) {
    for (const d of loadDocuments(against)) {
      if (isInstallation(d.value)) previous.set(nameOf(d.value), d.value);
    }
  }
  for (const file of files) {
    let docs: LoadedDocument[];
    try {
      docs = loadDocuments(file);
    } catch (err) {
      if (err instanceof DocumentError) {
        problems.push({ file, path: '<document>', message: err.message.replace(`${file}: `, '') });
        continue;
      }
      throw err;
    }
    const installations = docs.filter((d) => isInstallation(d.value));
    if (installations.length === 0) {
      problems.push({ file, path: 'kind', message: 'no Installation in this file; expected a document with kind: Installation' });
    }
    for (const d of installations) {
      for (const p of validateInstallation(d.value, previous.get(nameOf(d.value)))) problems.push({ file, ...p });
    }
  }
  return problems;
}

function nameOf(v: unknown): string {
  return String((v as { metadata?: { name?: unknown } }).metadata?.name ?? '');
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('validate Installation YAML offline with the same schema and CEL rules as the API server')
    .requiredOption('-f, --filename <files...>', 'Installation YAML files ("-" for stdin)')
    .option('--against <file>', 'the currently applied Installation, to check immutable fields (e.g. from git HEAD or kubectl get -o yaml)')
    .action((opts: { filename: string[]; against?: string }) => {
      const problems = validateFiles(opts.filename, opts.against);
      for (const p of problems) console.log(`${p.file}: ${p.path}: ${p.message}`);
      if (problems.length > 0) {
        process.exitCode = 1;
      } else {
        console.error(`${opts.filename.length} file(s) valid`);
      }
    });
}
