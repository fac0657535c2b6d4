/** Reads Kubernetes YAML/JSON files (multi-document) for the CLI, with file-and-line errors. */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

export interface LoadedDocument {
  file: string;
  index: number;
  value: unknown;
}

export class DocumentError extends Error {}

export function loadDocuments(file: string): LoadedDocument[] {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    throw new DocumentError(`${file}: cannot read: ${(err as Error).message}`);
  }
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const out: LoadedDocument[] = [];
  for (const [index, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0] ? `:${e.linePos[0].line}` : '';
      throw new DocumentError(`${file}${line}: not valid YAML: ${e.message.split('\n')[0]}`);
    }
    const value = doc.toJS();
    if (value === null || value === undefined) continue;
    out.push({ file, index, value });
  }
  return out;
}
