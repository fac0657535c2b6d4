/**
 * `weft convert -f tigera.yaml [-f ippools.yaml]`: reads a Tigera operator Installation
 * (operator.tigera.io/v1) and Calico IPPools / BGPConfiguration / BGPPeers, writes the Weft
 * Installation to stdout and one line on stderr for every field it could not carry. Exit 0 when
 * the output validates, 1 when it does not (the problems are printed) or the input is unusable.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { validateInstallation } from '../../api/validation/validate.ts';
import { convertTigera } from '../convert/tigera.ts';
import { DocumentError, loadDocuments } from '../load-documents.ts';

export interface ConvertCommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs the command without touching process state, for the CLI and for tests. */
export function runConvert(files: string[]): ConvertCommandResult {
  const docs: unknown[] = [];
  for (const file of files) {
    try {
      for (const d of loadDocuments(file)) {
        // `kubectl get ... -o yaml` of several objects is a v1 List.
        const v = d.value as { kind?: unknown; items?: unknown };
        if (v?.kind === 'List' && Array.isArray(v.items)) docs.push(...v.items);
        else if (typeof (v as { kind?: unknown })?.kind === 'string' && /List$/.test(String(v.kind)) && Array.isArray(v.items)) docs.push(...v.items);
        else docs.push(v);
      }
    } catch (err) {
      if (err instanceof DocumentError) return { stdout: '', stderr: `weft convert: ${err.message}\n`, exitCode: 1 };
      throw err;
    }
  }
  let result;
  try {
    result = convertTigera(docs);
  } catch (err) {
    return { stdout: '', stderr: `weft convert: ${(err as Error).message}\n`, exitCode: 1 };
  }
  const stderr = result.notes.map((n) => `weft convert: ${n.where}: ${n.message}\n`);
  const problems = validateInstallation(result.installation);
  for (const p of problems) stderr.push(`weft convert: the output is not valid: ${p.path}: ${p.message}\n`);
  return { stdout: `# Converted by weft convert from ${files.join(', ')}\n${stringify(result.installation, { lineWidth: 0 })}`, stderr: stderr.join(''), exitCode: problems.length ? 1 : 0 };
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('convert a Tigera operator Installation (operator.tigera.io/v1) and Calico IPPools into a Weft Installation; one stderr line per field not carried')
    .requiredOption('-f, --filename <files...>', 'YAML of the Tigera Installation and Calico IPPools / BGPConfiguration / BGPPeers ("-" for stdin)')
    .action((opts: { filename: string[] }) => {
      const r = runConvert(opts.filename);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.exitCode;
    });
}
