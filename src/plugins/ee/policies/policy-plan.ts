import { CedarCrashedError, type Cedar, type PolicyJson } from './cedar.js';
import type { PrincipalFacts } from './agent-facts.js';
import type { Statement } from './policy-text.js';

/**
 * How the calls to one action are evaluated when nothing applies: the fast path of
 * `PolicyEngine.evaluate`. Most calls are allowed, and for an allowed call the verdict needs no
 * detail, only the certainty that no statement holds and none errs. Two things give that cheaply:
 *
 * - a statement that reads nothing of the call but what repeats from call to call — the caller's
 *   address, how it authenticated, the calendar fields of the time, or nothing of the call at all
 *   — holds or not for a principal and those values: it is evaluated once per principal and values
 *   (and again when the principal's facts change), not on every call. The instant may be read too
 *   when it is only ever compared with a datetime literal (`context.time.now < datetime("…")`):
 *   between two such literals (and at each) every comparison has one answer, so the instant counts
 *   as the span it falls in (see `InstantSpans`);
 * - the statements that do read the call are joined into one Cedar policy, `S1 || S2 || …`, each
 *   `Si` the statement's own condition (its scope, then its `when` and `unless` clauses, in
 *   Cedar's order). Cedar evaluates `||` left to right and stops at the first `true` or error, so
 *   the joined policy is false without an error exactly when every statement is. Cedar's cost is
 *   per policy as much as per condition, so one policy of fifty conditions costs far less than
 *   fifty policies.
 *
 * Whenever either says something might hold (or cannot tell), the full set is evaluated as it
 * always is, and its verdict — which statements decided, their reasons, approvals, errors — is
 * the answer. The fast path never changes a verdict; it only skips work when the verdict is
 * "no policy forbids it".
 */
export class ActionPlan {
  /** Statements that read only what repeats: whether they hold depends on the principal and those values. */
  readonly fixed: readonly Statement[];
  /** The spans of the instant the fixed statements tell apart (none when they do not read it). */
  readonly instants: InstantSpans;
  /** Statements that read the rest of the call (the arguments, the instant…). */
  readonly contextual: readonly Statement[];
  /** The contextual statements as one policy (undefined when there are none or they cannot be joined). */
  readonly joined: PolicyJson | undefined;
  /** Whether the joined policy can reach the principal's entity (`principal`, an `Agent::` literal) and the tenant's. */
  readonly joinedReaches: { readonly principal: boolean; readonly resource: boolean };
  /** What the fixed and the contextual statements read. */
  readonly fixedReads: FieldReads;
  readonly contextualReads: FieldReads;
  /** Per principal and values: its facts when the fixed statements were evaluated, and whether none of them held or erred. */
  private readonly outcomes = new Map<string, { readonly facts: PrincipalFacts | undefined; readonly clear: boolean }>();

  constructor(cedar: Cedar, action: string, statements: readonly Statement[]) {
    const instants = instantComparisons(cedar, statements);
    const isFixed = (statement: Statement): boolean => readsOnlyRepeating(statement.text) || instants.statements.has(statement);
    this.fixed = statements.filter(isFixed);
    this.contextual = statements.filter((statement) => !isFixed(statement));
    this.instants = new InstantSpans(this.fixed.some((statement) => instants.statements.has(statement)) ? instants.breakpoints : undefined);
    // Whatever else the words of their texts suggest, these statements read only the repeating
    // values (and the instant only as its span, which `instants` adds to the context).
    const reads = fieldReadsOf(this.fixed);
    this.fixedReads = { ...reads, arguments: false, time: reads.time.filter((field) => field !== 'now') };
    this.contextualReads = fieldReadsOf(this.contextual);
    this.joined = this.contextual.length ? joinStatements(cedar, action, this.contextual) : undefined;
    this.joinedReaches = this.joined ? reaches(this.joined) : { principal: true, resource: true };
  }

  /**
   * Whether no fixed statement holds or errs, if known for these facts. `key` names the principal
   * and the values the fixed statements were given.
   */
  clearFor(key: string, facts: PrincipalFacts | undefined): boolean | undefined {
    const known = this.outcomes.get(key);
    if (!known) return undefined;
    return sameFacts(known.facts, this.fixedReads.principal ? facts : undefined) ? known.clear : undefined;
  }

  remember(key: string, facts: PrincipalFacts | undefined, clear: boolean): void {
    if (this.outcomes.size >= MAX_OUTCOMES) this.outcomes.clear();
    this.outcomes.set(key, { facts: this.fixedReads.principal ? facts : undefined, clear });
  }
}

const MAX_OUTCOMES = 10_000;

/**
 * What may follow `context` in a statement that reads only values that repeat from call to call:
 * the address (`context.clientAddress`, `context has clientAddress`), the credential and the
 * calendar fields of the time. Anything else (the arguments, the instant, `context` as a whole, a
 * quoted attribute name, the word in a comment) makes the statement one that reads the call.
 */
const REPEATING = /^(?:\s*\.\s*clientAddress\b|\s+has\s+clientAddress\b|\s*\.\s*credential\b|\s*\.\s*time\s*\.\s*(?:date|hour|minute|weekday|timeZone)\b)/;

function readsOnlyRepeating(text: string, allowed = REPEATING): boolean {
  for (const match of text.matchAll(/\bcontext\b/g)) {
    if (!allowed.test(text.slice(match.index + match[0].length))) return false;
  }
  return true;
}

/** The same, with the instant (`context.time.now`) allowed too. */
const REPEATING_OR_INSTANT = new RegExp(`${REPEATING.source.slice(0, -1)}|\\s*\\.\\s*time\\s*\\.\\s*now\\b)`);

/**
 * The spans of the instant that a group of statements cannot tell apart: each breakpoint (a
 * datetime literal the statements compare the instant with, in milliseconds) is a span of its own,
 * and so is each stretch between two of them (and before the first, after the last). A comparison
 * of the instant with one of the literals (`<`, `<=`, `==`, `!=`, `>=`, `>`) has the same answer
 * for every instant of a span.
 */
export class InstantSpans {
  /** The breakpoints in increasing order (undefined: the statements do not read the instant). */
  readonly breakpoints: readonly number[] | undefined;

  constructor(breakpoints: Iterable<number> | undefined) {
    this.breakpoints = breakpoints ? [...new Set(breakpoints)].sort((a, b) => a - b) : undefined;
  }

  /**
   * The span of `at` (milliseconds since the epoch): 2i when it falls strictly between breakpoint
   * i-1 and breakpoint i, 2i+1 when it is breakpoint i; 0 when the instant is not read; undefined
   * for an instant outside the years 0000 to 9999 (the ones a datetime is written with), or not a
   * time at all: such a call is not answered from what another instant gave.
   */
  spanOf(at: number): number | undefined {
    const points = this.breakpoints;
    if (!points) return 0;
    if (!(at >= FIRST_INSTANT && at < END_INSTANT)) return undefined;
    let low = 0;
    let high = points.length;
    // The first breakpoint not below `at`.
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (points[middle]! < at) low = middle + 1;
      else high = middle;
    }
    return 2 * low + (points[low] === at ? 1 : 0);
  }
}

const COMPARISONS = new Set(['<', '<=', '==', '!=', '>=', '>']);

/** Whether a node of Cedar's JSON is `context.time.now`. */
function isInstant(node: unknown): boolean {
  const outer = (node as Record<string, unknown> | null)?.['.'] as { left?: unknown; attr?: unknown } | undefined;
  if (!outer || typeof outer !== 'object' || outer.attr !== 'now') return false;
  const inner = (outer.left as Record<string, unknown> | null)?.['.'] as { left?: unknown; attr?: unknown } | undefined;
  return !!inner && typeof inner === 'object' && inner.attr === 'time' && (inner.left as { Var?: unknown } | null)?.Var === 'context';
}

/** The string of a `datetime("…")` literal (undefined when the node is anything else). */
function datetimeLiteral(node: unknown): string | undefined {
  const args = (node as Record<string, unknown> | null)?.datetime;
  if (!Array.isArray(args) || args.length !== 1 || Object.keys(node as object).length !== 1) return undefined;
  const value = (args[0] as { Value?: unknown } | null)?.Value;
  return typeof value === 'string' ? value : undefined;
}

/**
 * The datetime literals a statement compares the instant with, when those comparisons are the only
 * way it reads the instant (undefined otherwise).
 */
function instantLiterals(policy: PolicyJson): Set<string> | undefined {
  const literals = new Set<string>();
  let other = false;
  const visit = (node: unknown): void => {
    if (other || !node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (isInstant(node)) {
      other = true;
      return;
    }
    const record = node as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && COMPARISONS.has(keys[0]!)) {
      const { left, right } = (record[keys[0]!] ?? {}) as { left?: unknown; right?: unknown };
      const literal = isInstant(left) ? datetimeLiteral(right) : isInstant(right) ? datetimeLiteral(left) : undefined;
      if (literal !== undefined) {
        literals.add(literal);
        return;
      }
    }
    for (const value of Object.values(record)) visit(value);
  };
  for (const clause of policy.conditions) visit(clause.body);
  return other ? undefined : literals;
}

/**
 * The instant (milliseconds) a datetime literal names, read as Cedar documents its forms
 * (`YYYY-MM-DD`, then optionally `Thh:mm:ss`, `.SSS`, and `Z` or `±hhmm`); undefined for any other
 * text. Cedar confirms each value before it is relied on (see `instantComparisons`).
 */
export function datetimeMillis(literal: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?(?:Z|([+-])(\d{2})(\d{2})))?$/.exec(literal);
  if (!match) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second = '0', millis = '0', sign, offsetHours = '0', offsetMinutes = '0'] = match;
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), Number(millis));
  // Out-of-range fields (a 31st of April, hour 24) roll over in Date: refused instead.
  if (date.getUTCFullYear() !== Number(year) || date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return undefined;
  if (date.getUTCHours() !== Number(hour) || date.getUTCMinutes() !== Number(minute) || date.getUTCSeconds() !== Number(second)) return undefined;
  const offset = (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  return date.getTime() - (sign === '-' ? -offset : offset);
}

/**
 * Which statements read the call only as repeating values and as comparisons of the instant with
 * datetime literals, and those literals' instants. A literal counts only when Cedar agrees that it
 * names the instant `datetimeMillis` read: Cedar is asked, once, whether `datetime(literal)` equals
 * `datetime(that instant as the context gives it)`; a statement with any literal Cedar does not
 * confirm stays with those that read the call.
 */
function instantComparisons(cedar: Cedar, statements: readonly Statement[]): { statements: Set<Statement>; breakpoints: number[] } {
  const candidates: { statement: Statement; literals: Set<string> }[] = [];
  for (const statement of statements) {
    if (readsOnlyRepeating(statement.text) || !readsOnlyRepeating(statement.text, REPEATING_OR_INSTANT)) continue;
    let json: ReturnType<Cedar['policyToJson']>;
    try {
      json = cedar.policyToJson(statement.text);
    } catch (error) {
      if (error instanceof CedarCrashedError) throw error;
      // A text Cedar cannot convert: the statement is evaluated on every call.
      continue;
    }
    if (json.type === 'failure') continue;
    const literals = instantLiterals(json.json);
    if (literals?.size) candidates.push({ statement, literals });
  }
  const found = { statements: new Set<Statement>(), breakpoints: [] as number[] };
  if (!candidates.length) return found;
  const read = new Map<string, number>();
  for (const { literals } of candidates) {
    for (const literal of literals) {
      const millis = datetimeMillis(literal);
      if (millis !== undefined && Number.isFinite(millis) && Math.abs(millis) <= MAX_DATE_MILLIS) read.set(literal, millis);
    }
  }
  const literals = [...read.keys()];
  const confirmed = new Set<string>();
  try {
    const answer = cedar.isAuthorized({
      principal: { type: 'Agent', id: 'instant' },
      action: { type: 'Action', id: 'instant' },
      resource: { type: 'Tenant', id: 'instant' },
      context: {},
      policies: {
        staticPolicies: Object.fromEntries(
          literals.map((literal, index) => [
            `literal${index}`,
            {
              effect: 'permit',
              principal: { op: 'All' },
              action: { op: 'All' },
              resource: { op: 'All' },
              conditions: [{ kind: 'when', body: { '==': { left: { datetime: [{ Value: literal }] }, right: { datetime: [{ Value: new Date(read.get(literal)!).toISOString() }] } } } }],
            } as unknown as PolicyJson,
          ]),
        ),
      },
      entities: [],
    });
    if (answer.type === 'success') for (const id of answer.response.diagnostics.reason) confirmed.add(literals[Number(id.slice('literal'.length))]!);
  } catch (error) {
    if (error instanceof CedarCrashedError) throw error;
    // Nothing confirmed: these statements are evaluated on every call.
  }
  for (const { statement, literals: used } of candidates) {
    if (![...used].every((literal) => confirmed.has(literal))) continue;
    found.statements.add(statement);
    for (const literal of used) found.breakpoints.push(read.get(literal)!);
  }
  return found;
}

/** The range of a JavaScript date. */
const MAX_DATE_MILLIS = 8.64e15;
/** 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the instants written with four-digit years. */
const FIRST_INSTANT = -62_167_219_200_000;
const END_INSTANT = 253_402_300_800_000;

export const TIME_FIELDS = ['now', 'date', 'hour', 'minute', 'weekday', 'timeZone'] as const;
export type TimeField = (typeof TIME_FIELDS)[number];
export const AGENT_ATTRIBUTES = ['name', 'roles', 'idp', 'issuer'] as const;
export type AgentAttribute = (typeof AGENT_ATTRIBUTES)[number];

/**
 * What a group of statements reads, field by field, so that only that is handed to Cedar.
 * Erring on the side of more: a word anywhere in the text (even in a string or an annotation)
 * counts as read.
 */
export interface FieldReads {
  readonly arguments: boolean;
  /** The fields of `context.time` named (every one when `time` is read as a whole). */
  readonly time: readonly TimeField[];
  readonly clientAddress: boolean;
  readonly credential: boolean;
  /** Whether the principal's attributes or tags are read at all; which attributes; its tags. */
  readonly principal: boolean;
  readonly attributes: readonly AgentAttribute[];
  readonly tags: boolean;
}

export function fieldReadsOf(statements: readonly Statement[]): FieldReads {
  const text = statements.map((statement) => statement.text).join('\n');
  return {
    arguments: /\barguments\b/.test(text),
    time: timeFieldsOf(text),
    clientAddress: /\bclientAddress\b/.test(text),
    credential: /\bcredential\b/.test(text),
    principal: /\bprincipal\s*(?:\.|\[|has\b)/.test(text),
    attributes: AGENT_ATTRIBUTES.filter((name) => new RegExp(`\\b${name}\\b`).test(text)),
    tags: /\b(?:hasTag|getTag)\b/.test(text),
  };
}

/** `time.hour` names one field; `time` followed by anything else (`has`, `==`, `]`…) reads them all. */
function timeFieldsOf(text: string): readonly TimeField[] {
  const named = new Set<TimeField>();
  for (const match of text.matchAll(/\btime\b(\s*\.\s*([A-Za-z_]\w*))?/g)) {
    const field = match[2] as TimeField | undefined;
    if (!field || !(TIME_FIELDS as readonly string[]).includes(field)) return TIME_FIELDS;
    named.add(field);
  }
  return TIME_FIELDS.filter((field) => named.has(field));
}

function sameFacts(a: PrincipalFacts | undefined, b: PrincipalFacts | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  if (a.id !== b.id || a.name !== b.name || a.idp !== b.idp || a.issuer !== b.issuer) return false;
  if (a.roles.length !== b.roles.length || a.roles.some((role, index) => role !== b.roles[index])) return false;
  const aKeys = Object.keys(a.attributes);
  return aKeys.length === Object.keys(b.attributes).length && aKeys.every((key) => Object.hasOwn(b.attributes, key) && a.attributes[key] === b.attributes[key]);
}

// Cedar's JSON policy format: expressions as `{ "&&": { left, right } }`, `{ "Var": "principal" }`…
type Expr = Record<string, unknown>;
type Uid = { type: string; id: string } | { __entity: { type: string; id: string } };
class Unjoinable extends Error {}

const entityValue = (uid: unknown): Expr => {
  const value = uid as Uid | undefined;
  if (!value || typeof value !== 'object') throw new Unjoinable('an entity reference');
  return { Value: '__entity' in value ? value : { __entity: value } };
};

/**
 * Which entities an expression can reach. Only the principal's (`Agent`) and the tenant's
 * (`Tenant`) are ever handed to Cedar; an expression that names neither variable nor any entity of
 * their types cannot read them.
 */
function reaches(policy: PolicyJson): { principal: boolean; resource: boolean } {
  const found = { principal: false, resource: false };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (record.Var === 'principal') found.principal = true;
    if (record.Var === 'resource') found.resource = true;
    if (record.type === 'Agent' || record.entity_type === 'Agent') found.principal = true;
    if (record.type === 'Tenant' || record.entity_type === 'Tenant') found.resource = true;
    for (const value of Object.values(record)) visit(value);
  };
  visit(policy);
  return found;
}

/** A scope constraint of the principal or the resource as the expression Cedar makes of it (undefined: any). */
function scopeOf(variable: 'principal' | 'resource', constraint: PolicyJson['principal']): Expr | undefined {
  const target = { Var: variable };
  const of = (value: unknown): Expr => {
    if (value && typeof value === 'object' && 'entity' in value) return entityValue(value.entity);
    throw new Unjoinable('a template slot');
  };
  switch (constraint.op) {
    case 'All':
      return undefined;
    case '==':
      return { '==': { left: target, right: of(constraint) } };
    case 'in':
      return { in: { left: target, right: of(constraint) } };
    case 'is':
      return { is: { left: target, entity_type: constraint.entity_type, ...(constraint.in ? { in: of(constraint.in) } : {}) } };
    default:
      throw new Unjoinable('an unknown scope');
  }
}

/** The action scope; undefined when it holds for every call to `action` (the statements at hand are that action's). */
function actionScopeOf(constraint: PolicyJson['action'], action: string): Expr | undefined {
  const target = { Var: 'action' };
  if (constraint.op === 'All') return undefined;
  const names = (uid: unknown): boolean => {
    const value = uid as Uid | undefined;
    const entity = value && typeof value === 'object' ? ('__entity' in value ? value.__entity : value) : undefined;
    return entity?.type === 'Action' && entity.id === action;
  };
  if ('entity' in constraint && names(constraint.entity)) return undefined;
  if ('entities' in constraint && constraint.entities.some(names)) return undefined;
  if (constraint.op === '==' && 'entity' in constraint) return { '==': { left: target, right: entityValue(constraint.entity) } };
  if (constraint.op === 'in' && 'entities' in constraint) return { in: { left: target, right: { Set: constraint.entities.map(entityValue) } } };
  if (constraint.op === 'in' && 'entity' in constraint) return { in: { left: target, right: entityValue(constraint.entity) } };
  throw new Unjoinable('an unknown action scope');
}

/** `a && b && …` in the given order (left to right, as Cedar evaluates it). */
const all = (parts: readonly Expr[]): Expr => (parts.length ? parts.reduce((left, right) => ({ '&&': { left, right } })) : { Value: true });

/** `a || b || …`, balanced (the JSON stays shallow) and still evaluated left to right. */
function any(parts: readonly Expr[]): Expr {
  if (parts.length === 1) return parts[0]!;
  const half = Math.ceil(parts.length / 2);
  return { '||': { left: any(parts.slice(0, half)), right: any(parts.slice(half)) } };
}

/** A statement's scope as one expression (undefined: it holds for every call to `action`). */
function scopeExpression(policy: PolicyJson, action: string): Expr | undefined {
  const parts = [scopeOf('principal', policy.principal), actionScopeOf(policy.action, action), scopeOf('resource', policy.resource)].filter((part): part is Expr => part !== undefined);
  return parts.length ? all(parts) : undefined;
}

/** A statement's clauses in order, `when { c }` as `c` and `unless { c }` as `!c`. */
const clausesOf = (policy: PolicyJson): Expr[] => policy.conditions.map((clause) => (clause.kind === 'when' ? (clause.body as Expr) : { '!': { arg: clause.body } }));

/**
 * The statements of `action` as one `permit` that holds when any of them would; undefined when
 * one cannot be expressed. A statement's condition as Cedar evaluates it is its scope (which
 * never errs) and then its clauses in order; statements of the same scope share it:
 * `s && (c1 || c2)` is false without an error exactly when `s && c1` and `s && c2` both are.
 */
export function joinStatements(cedar: Cedar, action: string, statements: readonly Statement[]): PolicyJson | undefined {
  try {
    const byScope = new Map<string, { scope: Expr | undefined; conditions: Expr[] }>();
    for (const statement of statements) {
      const json = cedar.policyToJson(statement.text);
      if (json.type === 'failure') throw new Unjoinable(statement.id);
      const scope = scopeExpression(json.json, action);
      const key = JSON.stringify(scope ?? null);
      let group = byScope.get(key);
      if (!group) byScope.set(key, (group = { scope, conditions: [] }));
      group.conditions.push(all(clausesOf(json.json)));
    }
    const conditions = [...byScope.values()].map(({ scope, conditions: list }) => (scope ? all([scope, any(list)]) : any(list)));
    return { effect: 'permit', principal: { op: 'All' }, action: { op: 'All' }, resource: { op: 'All' }, conditions: [{ kind: 'when', body: any(conditions) }] } as unknown as PolicyJson;
  } catch {
    // A statement that cannot be expressed (or that Cedar cannot convert): the whole set decides every call.
    return undefined;
  }
}
