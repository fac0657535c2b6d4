/**
 * Reads Kubernetes YAML/JSON files (multi-document) for the CLI, with file-and-line errors.
 *
 * Input is bounded before it can cost time or memory (issue 16: a YAML alias bomb, a 2 MB file
 * of keys and a 50 MB object each hung or exhausted `weft validate`):
 *  - size: at most INPUT_LIMITS.maxBytes per file (checked before reading a regular file, and
 *    while reading stdin);
 *  - aliases: at most INPUT_LIMITS.maxAliases `*alias` references per file (Kubernetes
 *    manifests need none; each can expand to a whole subtree);
 *  - nodes: at most INPUT_LIMITS.maxNodes keys and items per file (a count of lines and commas
 *    bounds it before parsing, since parsing costs ~0.1 ms per key on a busy machine), and
 *    nesting at most maxDepth;
 *  - duplicate keys are found in one linear pass (a Set per mapping), not the yaml library's
 *    pairwise comparison.
 * Every failure is a DocumentError whose message is one line: `FILE[:LINE]: what is wrong`.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Node as YamlNode } from 'yaml';

export interface LoadedDocument {
  file: string;
  index: number;
  value: unknown;
}

export class DocumentError extends Error {}

/** Bounds on one input file; far above any Installation (a few KiB, no aliases, < 1000 nodes). */
export const INPUT_LIMITS = {
  maxBytes: 1024 * 1024,
  maxAliases: 64,
  maxNodes: 10_000,
  maxDepth: 64,
} as const;

function readBounded(file: string, maxBytes: number): string {
  let fd: number;
  try {
    if (file !== '-') {
      const st = statSync(file);
      if (!st.isFile()) throw new DocumentError(`${file}: cannot read: not a regular file`);
      if (st.size > maxBytes) {
        throw new DocumentError(`${file}: too large (${st.size} bytes, at most ${maxBytes}); an Installation is a few KiB — is this the right file?`);
      }
    }
    fd = file === '-' ? 0 : openSync(file, 'r');
  } catch (err) {
    if (err instanceof DocumentError) throw err;
    throw new DocumentError(`${file}: cannot read: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      let n: number;
      try { n = readSync(fd, buf, 0, buf.length, null); } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        if ((err as NodeJS.ErrnoException).code === 'EOF') break;
        throw new DocumentError(`${file}: cannot read: ${(err as Error).message.split('\n')[0]}`);
      }
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new DocumentError(`${file}: too large (more than ${maxBytes} bytes); an Installation is a few KiB — is this the right file?`);
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

/** One pass over a document's tree: counts nodes and aliases, measures depth, finds duplicate
 *  keys. Throws DocumentError at the first violation, with the line and the field path. */
function checkTree(root: YamlNode | null, file: string, lines: LineCounter, budget: { nodes: number; aliases: number }): void {
  const at = (n: { range?: [number, number, number] | null } | null | undefined) => {
    const pos = n?.range ? lines.linePos(n.range[0]) : undefined;
    return pos ? `${file}:${pos.line}` : file;
  };
  const stack: { node: unknown; path: string; depth: number }[] = [{ node: root, path: '', depth: 0 }];
  while (stack.length) {
    const { node, path, depth } = stack.pop()!;
    if (node === null || node === undefined) continue;
    if (++budget.nodes > INPUT_LIMITS.maxNodes) {
      throw new DocumentError(`${at(node as YamlNode)}: more than ${INPUT_LIMITS.maxNodes} keys and items; an Installation has far fewer — is this the right file?`);
    }
    if (depth > INPUT_LIMITS.maxDepth) throw new DocumentError(`${at(node as YamlNode)}: ${path || '<document>'}: nested more than ${INPUT_LIMITS.maxDepth} levels deep`);
    if (isAlias(node)) {
      if (++budget.aliases > INPUT_LIMITS.maxAliases) {
        throw new DocumentError(`${at(node)}: ${path || '<document>'}: more than ${INPUT_LIMITS.maxAliases} YAML aliases (*name); Kubernetes objects need none — write the values out`);
      }
      continue;
    }
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const k = keyText(pair.key);
        const childPath = path ? `${path}.${k}` : k;
        if (seen.has(k)) throw new DocumentError(`${at(pair.key as YamlNode)}: ${childPath}: duplicate key "${k.slice(0, 80)}"`);
        seen.add(k);
        stack.push({ node: pair.value, path: childPath, depth: depth + 1 });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, path: `${path}[${i}]`, depth: depth + 1 }));
    }
  }
}

/** The documents of file ("-" = stdin), parsed within INPUT_LIMITS; throws DocumentError. */
export function loadDocuments(file: string): LoadedDocument[] {
  const text = readBounded(file, INPUT_LIMITS.maxBytes);
  // Every key or item needs its own line or a comma: more of those than the node budget means
  // more nodes than the budget, and the parser need not be run to know it.
  let separators = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c === 10 || c === 44) && ++separators > 2 * INPUT_LIMITS.maxNodes) {
      throw new DocumentError(`${file}: more than ${2 * INPUT_LIMITS.maxNodes} lines and commas; an Installation has far fewer keys — is this the right file?`);
    }
  }
  const lines = new LineCounter();
  // uniqueKeys: false — the library compares every pair of keys (quadratic); checkTree does it linearly.
  const docs = parseAllDocuments(text, { uniqueKeys: false, lineCounter: lines, prettyErrors: false });
  const out: LoadedDocument[] = [];
  const budget = { nodes: 0, aliases: 0 };
  for (const [index, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0] ? `:${e.linePos[0].line}` : '';
      throw new DocumentError(`${file}${line}: not valid YAML: ${e.message.split('\n')[0]}`);
    }
    checkTree(doc.contents as YamlNode | null, file, lines, budget);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: INPUT_LIMITS.maxAliases });
    } catch (err) {
      throw new DocumentError(`${file}: document ${index + 1}: ${(err as Error).message.split('\n')[0]}`);
    }
    if (value === null || value === undefined) continue;
    out.push({ file, index, value });
  }
  return out;
}
