/**
 * The node selectors of pools and BGP peers: one parser for validate, render, the operator, the
 * node agent and diagnose. Two syntaxes are accepted, told apart by their characters:
 *
 * - **Calico selectors** (projectcalico.org/v3, what Tigera users paste): `all()`, `has(k)`,
 *   `k == 'v'`, `k != 'v'`, `k in {'a', 'b'}`, `k not in {'a'}`, `k contains 's'`,
 *   `k starts with 's'`, `k ends with 's'`, `!`, `&&`, `||` and parentheses. A selector is Calico
 *   syntax when it contains a quote, `&&`, `||`, `{`, or starts a call `all(` / `has(`. As in
 *   Calico, `k != 'v'` and `k not in {...}` also match nodes without the label.
 * - **Kubernetes label selectors** otherwise (`zone=a,tier!=edge`, `env in (a,b)`, `gpu`, `!spot`):
 *   api/label-selector.ts, as k8s.io/apimachinery parses them.
 *
 * The empty selector (or only whitespace) selects every node in both.
 */
import { matchesRequirements, parseSelector, SelectorSyntaxError, type Requirement } from './label-selector.ts';

export { SelectorSyntaxError } from './label-selector.ts';

/** A parsed node selector. */
export type NodeSelector =
  | { op: 'all' }
  | { op: 'has'; key: string }
  | { op: 'eq' | 'ne' | 'contains' | 'startswith' | 'endswith'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'not'; expr: NodeSelector }
  | { op: 'and' | 'or'; left: NodeSelector; right: NodeSelector }
  | { op: 'labels'; requirements: Requirement[] };

/** Whether a selector text is Calico syntax (see the module comment); otherwise Kubernetes. */
export function isCalicoSyntax(text: string): boolean {
  return /['"{]|&&|\|\||\b(all|has)\s*\(/.test(text);
}

type Tok = { kind: 'id' | 'str' | 'op' | 'end'; text: string; pos: number };

const KEY_CHARS = /[A-Za-z0-9_.\-/]/;

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '\'' || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) throw new SelectorSyntaxError(s, i, `unterminated string starting with ${c}`);
      out.push({ kind: 'str', text: s.slice(i + 1, end), pos: i });
      i = end + 1;
      continue;
    }
    const two = s.slice(i, i + 2);
    if (['==', '!=', '&&', '||'].includes(two)) { out.push({ kind: 'op', text: two, pos: i }); i += 2; continue; }
    if ('!(){},'.includes(c)) { out.push({ kind: 'op', text: c, pos: i }); i++; continue; }
    if (KEY_CHARS.test(c)) {
      const start = i;
      while (i < s.length && KEY_CHARS.test(s[i]!)) i++;
      out.push({ kind: 'id', text: s.slice(start, i), pos: start });
      continue;
    }
    throw new SelectorSyntaxError(s, i, `unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ kind: 'end', text: '', pos: s.length });
  return out;
}

/** Parses Calico selector syntax (see the module comment). */
function parseCalico(s: string): NodeSelector {
  const toks = tokenize(s);
  let i = 0;
  const peek = () => toks[i]!;
  const next = () => toks[i++]!;
  const found = (t: Tok) => (t.kind === 'end' ? 'the end' : JSON.stringify(t.text));
  const expectOp = (op: string) => {
    const t = next();
    if (t.kind !== 'op' || t.text !== op) throw new SelectorSyntaxError(s, t.pos, `expected '${op}', found ${found(t)}`);
  };
  const str = (): string => {
    const t = next();
    if (t.kind !== 'str') throw new SelectorSyntaxError(s, t.pos, `expected a quoted value such as 'a', found ${found(t)}`);
    return t.text;
  };
  const isOp = (op: string) => peek().kind === 'op' && peek().text === op;
  const isWord = (w: string) => peek().kind === 'id' && peek().text === w;

  function or(): NodeSelector {
    let left = and();
    while (isOp('||')) { next(); left = { op: 'or', left, right: and() }; }
    return left;
  }
  function and(): NodeSelector {
    let left = unary();
    while (isOp('&&')) { next(); left = { op: 'and', left, right: unary() }; }
    return left;
  }
  function unary(): NodeSelector {
    if (isOp('!')) { next(); return { op: 'not', expr: unary() }; }
    if (isOp('(')) { next(); const e = or(); expectOp(')'); return e; }
    return term();
  }
  function set(): string[] {
    expectOp('{');
    const values: string[] = [];
    if (!isOp('}')) {
      for (;;) {
        values.push(str());
        if (isOp(',')) { next(); continue; }
        break;
      }
    }
    expectOp('}');
    return [...new Set(values)].sort();
  }
  function term(): NodeSelector {
    const t = next();
    if (t.kind !== 'id') throw new SelectorSyntaxError(s, t.pos, `expected all(), has(key) or a label key, found ${found(t)}`);
    if ((t.text === 'all' || t.text === 'has') && isOp('(')) {
      next();
      if (t.text === 'all') { expectOp(')'); return { op: 'all' }; }
      const k = next();
      if (k.kind !== 'id') throw new SelectorSyntaxError(s, k.pos, `expected a label key in has(), found ${found(k)}`);
      expectOp(')');
      return { op: 'has', key: k.text };
    }
    const key = t.text;
    if (isOp('==') || isOp('!=')) { const op = next().text === '==' ? 'eq' : 'ne'; return { op, key, value: str() }; }
    if (isWord('in')) { next(); return { op: 'in', key, values: set() }; }
    if (isWord('not')) {
      next();
      const w = next();
      if (w.kind !== 'id' || w.text !== 'in') throw new SelectorSyntaxError(s, w.pos, `expected 'in' after 'not', found ${found(w)}`);
      return { op: 'notin', key, values: set() };
    }
    if (isWord('contains')) { next(); return { op: 'contains', key, value: str() }; }
    if (isWord('starts') || isWord('ends')) {
      const which = next().text;
      const w = next();
      if (w.kind !== 'id' || w.text !== 'with') throw new SelectorSyntaxError(s, w.pos, `expected 'with' after '${which}', found ${found(w)}`);
      return { op: which === 'starts' ? 'startswith' : 'endswith', key, value: str() };
    }
    const op = peek();
    throw new SelectorSyntaxError(s, op.pos, `expected ==, !=, in, not in, contains, starts with or ends with after label key ${JSON.stringify(key)}, found ${found(op)}`);
  }

  const e = or();
  const rest = peek();
  if (rest.kind !== 'end') throw new SelectorSyntaxError(s, rest.pos, `expected && or || between expressions, found ${found(rest)}`);
  return e;
}

/**
 * Parses a node selector in either syntax. Throws SelectorSyntaxError (with the position) for one
 * that does not parse; its message says which syntax it was read as.
 */
export function parseNodeSelector(text: string): NodeSelector {
  if (text.trim() === '') return { op: 'all' };
  if (isCalicoSyntax(text)) {
    try {
      return parseCalico(text);
    } catch (e) {
      if (e instanceof SelectorSyntaxError) throw new SelectorSyntaxError(text, e.position, `${e.message.replace(/^invalid label selector .* at character \d+: /, '')} (read as a Calico selector, e.g. "has(zone) && zone in {'a', 'b'}")`);
      throw e;
    }
  }
  return { op: 'labels', requirements: parseSelector(text) };
}

/** Whether a node with these labels is selected. */
export function nodeSelectorMatches(sel: NodeSelector, labels: Readonly<Record<string, string>> = {}): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  switch (sel.op) {
    case 'all': return true;
    case 'has': return has(sel.key);
    case 'eq': return has(sel.key) && labels[sel.key] === sel.value;
    case 'ne': return !has(sel.key) || labels[sel.key] !== sel.value;
    case 'contains': return has(sel.key) && labels[sel.key]!.includes(sel.value);
    case 'startswith': return has(sel.key) && labels[sel.key]!.startsWith(sel.value);
    case 'endswith': return has(sel.key) && labels[sel.key]!.endsWith(sel.value);
    case 'in': return has(sel.key) && sel.values.includes(labels[sel.key]!);
    case 'notin': return !has(sel.key) || !sel.values.includes(labels[sel.key]!);
    case 'not': return !nodeSelectorMatches(sel.expr, labels);
    case 'and': return nodeSelectorMatches(sel.left, labels) && nodeSelectorMatches(sel.right, labels);
    case 'or': return nodeSelectorMatches(sel.left, labels) || nodeSelectorMatches(sel.right, labels);
    case 'labels': return matchesRequirements(sel.requirements, labels);
  }
}

/** Parses and matches in one step; throws SelectorSyntaxError for a selector that does not parse. */
export function selectsNode(text: string, labels: Readonly<Record<string, string>> = {}): boolean {
  return nodeSelectorMatches(parseNodeSelector(text), labels);
}
