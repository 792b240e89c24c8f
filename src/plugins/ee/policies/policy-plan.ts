import type { Cedar, PolicyJson } from './cedar.js';
import type { PrincipalFacts } from './agent-facts.js';
import type { Statement } from './policy-text.js';

/**
 * How the calls to one action are evaluated when nothing applies: the fast path of
 * `PolicyEngine.evaluate`. Most calls are allowed, and for an allowed call the verdict needs no
 * detail, only the certainty that no statement holds and none errs. Two things give that cheaply:
 *
 * - a statement that reads nothing of the call but what repeats from call to call — the caller's
 *   address, how it authenticated, the calendar fields of the time (not the instant), or nothing
 *   of the call at all — holds or not for a principal and those values: it is evaluated once per
 *   principal and values (and again when the principal's facts change), not on every call;
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
    this.fixed = statements.filter((statement) => readsOnlyRepeating(statement.text));
    this.contextual = statements.filter((statement) => !readsOnlyRepeating(statement.text));
    // Whatever else the words of their texts suggest, these statements read only the repeating values.
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

function readsOnlyRepeating(text: string): boolean {
  for (const match of text.matchAll(/\bcontext\b/g)) {
    if (!REPEATING.test(text.slice(match.index + match[0].length))) return false;
  }
  return true;
}

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
