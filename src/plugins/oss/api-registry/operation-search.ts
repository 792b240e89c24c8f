import type { ApiOperation } from './api-operation.js';

const STOPWORDS = new Set(
  'a an the of for to in on at by with from and or is are be it its this that these those my our your their me i we you some any please can could would should will want need how do does what which who whom whose via as into about'.split(' '),
);

/**
 * Words that mean the same thing to someone looking for an operation. Query words are widened to
 * their group; a synonym counts a little less than the word itself.
 */
const SYNONYMS: readonly (readonly string[])[] = [
  ['create', 'add', 'new', 'make', 'insert', 'register', 'post', 'submit'],
  ['list', 'find', 'search', 'browse', 'all', 'query', 'enumerate', 'index'],
  ['get', 'retrieve', 'fetch', 'show', 'view', 'read', 'detail', 'lookup', 'details'],
  ['update', 'edit', 'modify', 'change', 'patch', 'amend', 'rename', 'set'],
  ['delete', 'remove', 'destroy', 'erase', 'drop', 'purge'],
  ['contact', 'person', 'people'],
  ['client', 'customer', 'company', 'organization', 'organisation'],
  ['invoice', 'bill'],
  ['ticket', 'issue', 'incident'],
  ['user', 'member', 'technician'],
  ['comment', 'note', 'reply'],
];

/** Words the method implies, so "create a ticket" finds `POST /tickets` with a terse summary. */
function methodWords(operation: ApiOperation): string[] {
  const onItem = /\}\/?$/.test(operation.path);
  switch (operation.method) {
    case 'GET':
      return onItem ? ['get', 'retrieve'] : ['list', 'find'];
    case 'POST':
      return onItem ? [] : ['create'];
    case 'PUT':
    case 'PATCH':
      return ['update'];
    case 'DELETE':
      return ['delete'];
    default:
      return [];
  }
}

/** A light suffix-stripping stemmer: enough to make plurals and tenses meet. */
export function stem(word: string): string {
  let w = word;
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.length > 4 && /(ss|x|ch|sh)es$/.test(w)) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

/** Lowercase word stems of a text, split on camelCase, snake_case, kebab-case and punctuation. */
export function tokens(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w && !STOPWORDS.has(w))
    .map(stem);
}

const SYNONYM_GROUPS = new Map<string, readonly string[]>();
for (const group of SYNONYMS) {
  const stems = group.map(stem);
  for (const s of stems) SYNONYM_GROUPS.set(s, stems);
}

/** Field weights: names say more than descriptions. */
const FIELDS: readonly [number, (op: ApiOperation) => string | readonly string[]][] = [
  [3, (op) => op.id],
  [3, (op) => op.displayName],
  [2, (op) => op.summary ?? ''],
  [2, (op) => op.tags],
  [2, (op) => op.path.split('/').filter((s) => !s.includes('{'))],
  [2, (op) => op.keywords],
  [1.5, methodWords],
  [1, (op) => op.description ?? ''],
  [0.5, (op) => op.parameters.flatMap((p) => [p.name, p.description ?? '', ...enumValues(p.schema)])],
];

function enumValues(schema: unknown): string[] {
  if (typeof schema !== 'object' || schema === null) return [];
  const s = schema as { enum?: unknown; items?: unknown; anyOf?: unknown };
  const own = Array.isArray(s.enum) ? s.enum.filter((v): v is string => typeof v === 'string') : [];
  return [...own, ...enumValues(s.items), ...(Array.isArray(s.anyOf) ? s.anyOf.flatMap(enumValues) : [])];
}

const K1 = 1.2;
const B = 0.6;
/** A synonym's match counts this much of the word's own. */
const SYNONYM_WEIGHT = 0.8;

export interface SearchHit {
  readonly operation: ApiOperation;
  /** Relevance in (0, 1]: how much of the query the operation answers, weighted by rarity. */
  readonly score: number;
}

/**
 * A BM25F-style ranking over the registry, built once. Deterministic (ties break on the id), and
 * with a relevance floor: an operation must answer a good share of the query — weighted by how
 * rare each word is — so an unrelated query returns nothing instead of whatever ranks first.
 */
export class OperationSearch {
  private readonly postings = new Map<string, Map<number, number>>();
  private readonly lengths: number[] = [];
  private readonly averageLength: number;
  /** The idf a word found nowhere would have: what an unanswered query word weighs. */
  private readonly unknownIdf: number;

  constructor(
    private readonly operations: readonly ApiOperation[],
    private readonly floor = 0.3,
  ) {
    operations.forEach((operation, index) => {
      let length = 0;
      for (const [weight, field] of FIELDS) {
        const value = field(operation);
        for (const term of (typeof value === 'string' ? [value] : value).flatMap(tokens)) {
          let posting = this.postings.get(term);
          if (!posting) this.postings.set(term, (posting = new Map()));
          posting.set(index, (posting.get(index) ?? 0) + weight);
          length += weight;
        }
      }
      this.lengths.push(length);
    });
    this.averageLength = this.lengths.reduce((a, b) => a + b, 0) / Math.max(1, this.lengths.length);
    this.unknownIdf = this.idf(0);
  }

  private idf(documentFrequency: number): number {
    const n = this.operations.length;
    return Math.log(1 + (n - documentFrequency + 0.5) / (documentFrequency + 0.5));
  }

  /** Operations relevant to `query`, best first. */
  search(query: string): SearchHit[] {
    const terms = [...new Set(tokens(query))];
    if (terms.length === 0) return [];
    const scores = new Map<number, number>();
    let possible = 0;
    for (const term of terms) {
      const candidates = SYNONYM_GROUPS.get(term) ?? [term];
      // The term weighs what its rarest form weighs; a word found nowhere weighs the most.
      const weights = candidates.map((c) => (this.postings.has(c) ? this.idf(this.postings.get(c)!.size) : undefined)).filter((w) => w !== undefined);
      const termIdf = this.postings.has(term) ? this.idf(this.postings.get(term)!.size) : weights.length ? Math.max(...weights) : this.unknownIdf;
      possible += termIdf;
      const best = new Map<number, number>();
      for (const candidate of candidates) {
        const posting = this.postings.get(candidate);
        if (!posting) continue;
        const factor = candidate === term ? 1 : SYNONYM_WEIGHT;
        for (const [index, frequency] of posting) {
          const norm = K1 * (1 - B + (B * this.lengths[index]!) / this.averageLength);
          const saturation = (frequency * (K1 + 1)) / (frequency + norm) / (K1 + 1);
          const value = termIdf * factor * saturation;
          if (value > (best.get(index) ?? 0)) best.set(index, value);
        }
      }
      for (const [index, value] of best) scores.set(index, (scores.get(index) ?? 0) + value);
    }
    const hits: SearchHit[] = [];
    for (const [index, raw] of scores) {
      const score = raw / possible;
      if (score < this.floor) continue;
      hits.push({ operation: this.operations[index]!, score: Math.round(score * 1e6) / 1e6 });
    }
    return hits.sort((a, b) => b.score - a.score || (a.operation.id < b.operation.id ? -1 : a.operation.id > b.operation.id ? 1 : 0));
  }
}
