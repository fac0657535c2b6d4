/**
 * Kubernetes label selectors in their string form ("zone=a,tier!=edge,gpu,!spot,
 * env in (prod,staging)"), parsed like k8s.io/apimachinery/pkg/labels.Parse and matched
 * against a node's labels. Used for pool and BGP peer node selectors.
 */

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface Requirement {
  key: string;
  operator: SelectorOperator;
  /** In/NotIn: the set (sorted, unique); Gt/Lt: one integer; Exists/DoesNotExist: empty. */
  values: string[];
}

export class SelectorSyntaxError extends Error {
  constructor(readonly selector: string, readonly position: number, detail: string) {
    super(`invalid label selector ${JSON.stringify(selector)} at character ${position + 1}: ${detail}`);
    this.name = 'SelectorSyntaxError';
  }
}

type TokenKind = 'word' | '!' | '=' | '==' | '!=' | '>' | '<' | ',' | '(' | ')' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

const WORD_CHAR = /[A-Za-z0-9_.\-/]/;

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (WORD_CHAR.test(c)) {
      const start = i;
      while (i < s.length && WORD_CHAR.test(s[i]!)) i++;
      out.push({ kind: 'word', text: s.slice(start, i), pos: start });
    } else if (s.startsWith('!=', i) || s.startsWith('==', i)) {
      out.push({ kind: s.slice(i, i + 2) as TokenKind, text: s.slice(i, i + 2), pos: i });
      i += 2;
    } else if ('!=><,()'.includes(c)) {
      out.push({ kind: c as TokenKind, text: c, pos: i });
      i++;
    } else {
      throw new SelectorSyntaxError(s, i, `unexpected character ${JSON.stringify(c)}`);
    }
  }
  out.push({ kind: 'end', text: '', pos: s.length });
  return out;
}

// Label keys: optional DNS-subdomain prefix and '/', then a name of at most 63 characters.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkKey(s: string, t: Token): string {
  const slash = t.text.indexOf('/');
  const prefix = slash >= 0 ? t.text.slice(0, slash) : undefined;
  const name = slash >= 0 ? t.text.slice(slash + 1) : t.text;
  if (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix))) {
    throw new SelectorSyntaxError(s, t.pos, `label key prefix ${JSON.stringify(prefix)} must be a DNS subdomain such as example.com`);
  }
  if (!NAME.test(name)) {
    throw new SelectorSyntaxError(s, t.pos, `label key ${JSON.stringify(t.text)} must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);
  }
  return t.text;
}

function checkValue(s: string, t: Token): string {
  if (t.text !== '' && !NAME.test(t.text)) {
    throw new SelectorSyntaxError(s, t.pos, `label value ${JSON.stringify(t.text)} must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);
  }
  return t.text;
}

/** Parses a selector; '' (or only whitespace) selects everything and yields no requirements. */
export function parseSelector(selector: string): Requirement[] {
  const tokens = tokenize(selector);
  let i = 0;
  const peek = (): Token => tokens[i]!;
  const next = (): Token => tokens[i++]!;
  const expect = (kind: TokenKind, what: string): Token => {
    const t = next();
    if (t.kind !== kind) throw new SelectorSyntaxError(selector, t.pos, `expected ${what}, found ${t.kind === 'end' ? 'the end' : JSON.stringify(t.text)}`);
    return t;
  };
  const reqs: Requirement[] = [];
  if (peek().kind === 'end') return reqs;
  for (;;) {
    reqs.push(parseRequirement());
    const t = next();
    if (t.kind === 'end') return reqs;
    if (t.kind !== ',') throw new SelectorSyntaxError(selector, t.pos, `expected ',' between requirements, found ${JSON.stringify(t.text)}`);
  }

  function parseRequirement(): Requirement {
    if (peek().kind === '!') {
      next();
      return { key: checkKey(selector, expect('word', 'a label key after "!"')), operator: 'DoesNotExist', values: [] };
    }
    const key = checkKey(selector, expect('word', 'a label key'));
    const op = peek();
    switch (op.kind) {
      case ',':
      case 'end':
        return { key, operator: 'Exists', values: [] };
      case '=':
      case '==':
      case '!=': {
        next();
        const v = peek().kind === 'word' ? checkValue(selector, next()) : '';
        return { key, operator: op.kind === '!=' ? 'NotIn' : 'In', values: [v] };
      }
      case '>':
      case '<': {
        next();
        const t = expect('word', 'an integer');
        if (!/^-?\d+$/.test(t.text)) throw new SelectorSyntaxError(selector, t.pos, `${op.kind} needs an integer, found ${JSON.stringify(t.text)}`);
        return { key, operator: op.kind === '>' ? 'Gt' : 'Lt', values: [t.text] };
      }
      case 'word': {
        if (op.text !== 'in' && op.text !== 'notin') break;
        next();
        expect('(', `'(' after ${op.text}`);
        const values = new Set<string>();
        if (peek().kind === ')') {
          next();
        } else {
          for (;;) {
            values.add(peek().kind === 'word' ? checkValue(selector, next()) : '');
            const t = next();
            if (t.kind === ')') break;
            if (t.kind !== ',') throw new SelectorSyntaxError(selector, t.pos, `expected ',' or ')' in the value set, found ${t.kind === 'end' ? 'the end' : JSON.stringify(t.text)}`);
          }
        }
        if (values.size === 0) throw new SelectorSyntaxError(selector, op.pos, `${op.text} needs at least one value, e.g. ${key} ${op.text} (a,b)`);
        return { key, operator: op.text === 'in' ? 'In' : 'NotIn', values: [...values].sort() };
      }
      default:
        break;
    }
    throw new SelectorSyntaxError(selector, op.pos, `expected =, ==, !=, in, notin, >, < or ',' after label key ${JSON.stringify(key)}, found ${JSON.stringify(op.text)}`);
  }
}

function matchesOne(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = has ? labels[r.key]! : undefined;
  switch (r.operator) {
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'In':
      return has && r.values.includes(value!);
    case 'NotIn':
      return !has || !r.values.includes(value!);
    case 'Gt':
    case 'Lt': {
      if (!has || !/^-?\d+$/.test(value!)) return false;
      const a = BigInt(value!);
      const b = BigInt(r.values[0]!);
      return r.operator === 'Gt' ? a > b : a < b;
    }
  }
}

/** Whether labels satisfy every requirement (an empty list matches everything). */
export function matchesRequirements(reqs: readonly Requirement[], labels: Readonly<Record<string, string>> = {}): boolean {
  return reqs.every((r) => matchesOne(r, labels));
}

/** Parses and matches in one step; throws SelectorSyntaxError for a bad selector. */
export function selectorMatches(selector: string, labels: Readonly<Record<string, string>> = {}): boolean {
  return matchesRequirements(parseSelector(selector), labels);
}
