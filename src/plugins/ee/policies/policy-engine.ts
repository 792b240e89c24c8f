import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { inject, injectable, multiInject, optional } from 'inversify';
import { ChangeFeed, Database, Logger, safeLog, RegistrySource, ToolCatalogToken, z, type Principal, type ToolCatalog } from '../../../core/index.js';
import { CedarCrashedError, cedarIfLoaded, cedarMessage, loadCedar, onCedarReplaced, type Cedar, type CedarValueJson, type DetailedError, type PolicyJson } from './cedar.js';
import { ArgumentConversionError, buildPolicySchema, toCedarValue, type PolicyAction, type PolicySchema, type PolicyTarget } from './cedar-schema.js';
import type { PrincipalFacts } from './agent-facts.js';
import { PolicySettings } from './policy-settings.js';
import { checkPolicyText, statementsOf, type PolicyProblem, type Statement } from './policy-text.js';
import { ActionPlan, type FieldReads } from './policy-plan.js';

/** Published when a tenant's policies change: every instance drops its compiled set. */
export const POLICIES_CHANGED = 'ee.policies.changed';

/** How the caller authenticated, as policies see it (`context.credential`). */
export type CredentialKind = 'api_key' | 'jwt';

/** The facts of one call that policies read. */
export interface CallFacts {
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly at: Date;
  readonly clientAddress?: string;
  readonly credential: CredentialKind;
}

/** What the tenant's policies say about one call. */
export interface PolicyVerdict {
  readonly decision: 'allow' | 'deny' | 'approval';
  readonly reason: string;
  /** The policies that decided (for `deny` and `approval`). */
  readonly policies: readonly { readonly id: string; readonly name: string }[];
  /** Why the set could not be evaluated (the call is then refused). */
  readonly errors: readonly { readonly policy?: string; readonly policyId?: string; readonly message: string }[];
  /** For `approval`: how many people must approve, and a fingerprint of the statements that asked. */
  readonly approvers?: 1 | 2;
  readonly fingerprint?: string;
}

/** A stored policy as the engine compiles it. */
interface PolicyRow {
  id: string;
  name: string;
  text: string;
  last_error: string | null;
}

/** A problem that keeps a stored policy from being used (it no longer validates). */
interface Broken {
  readonly policyId: string;
  readonly name: string;
  readonly message: string;
  /** The actions it would apply to ('all' when it cannot even be parsed). */
  readonly actions: Statement['actions'];
}

const appliesTo = (actions: Statement['actions'], action: string): boolean => actions === 'all' || actions.has(action);

const BASE_ID = 'gatehouse-base';
const BASE = 'permit(principal, action, resource);';

/**
 * Which parts of the request the statements of an action read. Whatever no statement names is
 * left out of the request: handing values to Cedar costs more than evaluating them.
 */
export interface Reads {
  readonly arguments: boolean;
  readonly time: boolean;
  readonly clientAddress: boolean;
  readonly credential: boolean;
  /** The principal's attributes and tags. */
  readonly principal: boolean;
}

function readsOf(statements: readonly Statement[]): Reads {
  const text = statements.map((statement) => statement.text).join('\n');
  return {
    arguments: /\barguments\b/.test(text),
    time: /\btime\b/.test(text),
    clientAddress: /\bclientAddress\b/.test(text),
    credential: /\bcredential\b/.test(text),
    principal: /\bprincipal\s*(?:\.|\[|has\b)/.test(text),
  };
}

/** A tenant's enabled policies, compiled: statements by action, prepared in Cedar on first use. */
export class CompiledPolicySet {
  private readonly byAction = new Map<string, readonly Statement[]>();
  private readonly readsByAction = new Map<string, Reads>();
  private readonly plans = new Map<string, ActionPlan>();
  readonly byId: ReadonlyMap<string, Statement>;
  /** Run-time errors already stored as the policies' `lastError`. */
  readonly reported = new Set<string>();

  constructor(
    readonly tenant: string,
    readonly version: number,
    readonly statements: readonly Statement[],
    readonly broken: readonly Broken[],
  ) {
    this.byId = new Map(statements.map((statement) => [statement.id, statement]));
  }

  statementsFor(action: string): readonly Statement[] {
    let found = this.byAction.get(action);
    if (!found) {
      found = this.statements.filter((statement) => appliesTo(statement.actions, action));
      this.byAction.set(action, found);
    }
    return found;
  }

  /** What the statements of `action` read. */
  readsFor(action: string): Reads {
    let found = this.readsByAction.get(action);
    if (!found) {
      found = readsOf(this.statementsFor(action));
      this.readsByAction.set(action, found);
    }
    return found;
  }

  /** How calls to `action` are answered when nothing holds (see `ActionPlan`). */
  planFor(cedar: Cedar, action: string): ActionPlan {
    let found = this.plans.get(action);
    if (!found) {
      found = new ActionPlan(cedar, action, this.statementsFor(action));
      this.plans.set(action, found);
    }
    return found;
  }

  /** Policies that would apply to `action` but do not validate any more. */
  brokenFor(action: string): readonly Broken[] {
    return this.broken.length ? this.broken.filter((problem) => appliesTo(problem.actions, action)) : this.broken;
  }
}

/** The JSON Schema of what a tool's handler receives (defaults applied), when zod can give it. */
function outputSchemaOf(input: z.ZodType): Record<string, unknown> | undefined {
  try {
    return z.toJSONSchema(input, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Which compiled set each prepared Cedar policy set (by key) currently holds. */
const prepared = new Map<string, CompiledPolicySet>();
/** The same for the fast path's policy sets, and whether Cedar took them. */
const preparedQuick = new Map<string, { readonly set: CompiledPolicySet; readonly ok: boolean }>();

// The sets preparsed in a WebAssembly instance that was replaced are gone with it: preparsed again on next use.
onCedarReplaced(() => {
  prepared.clear();
  preparedQuick.clear();
});

type Entities = Parameters<Cedar['statefulIsAuthorized']>[0]['entities'];

/** The principal's entity with what `reads` names of its facts, and the tenant's: those the policies can reach. */
function entitiesOf(tenant: string, principalId: string, facts: PrincipalFacts | undefined, reads: FieldReads, reaches = { principal: true, resource: true }): Entities {
  const entities: Entities = [];
  if (reaches.principal) {
    const attrs: Record<string, CedarValueJson> = {};
    if (facts && reads.principal) {
      for (const name of reads.attributes) attrs[name] = name === 'roles' ? [...facts.roles] : facts[name];
    }
    entities.push({
      uid: { type: 'Agent', id: principalId },
      attrs,
      parents: [{ type: 'Tenant', id: tenant }],
      ...(facts && reads.principal && reads.tags ? { tags: { ...facts.attributes } } : {}),
    });
  }
  if (reaches.resource) entities.push({ uid: { type: 'Tenant', id: tenant }, attrs: {}, parents: [] });
  return entities;
}

const names = (statements: readonly Statement[]): string => {
  const unique = [...new Set(statements.map((statement) => statement.policyName))];
  return unique.map((name) => `"${name}"`).join(', ');
};
const policiesOf = (statements: readonly Statement[]): { id: string; name: string }[] => {
  const seen = new Map<string, string>();
  for (const statement of statements) seen.set(statement.policyId, statement.policyName);
  return [...seen].map(([id, name]) => ({ id, name }));
};

/** `context.time.now`: the instant as a Cedar datetime (milliseconds, UTC). */
const instantOf = (at: Date): CedarValueJson => ({ __extn: { fn: 'datetime', arg: at.toISOString() } });

/** An address as Cedar's `ip()` takes it: IPv4-mapped IPv6 as IPv4, no zone; undefined if not an address. */
export function cedarAddress(address: string | undefined): string | undefined {
  if (!address) return undefined;
  let value = address.trim();
  const zone = value.indexOf('%');
  if (zone >= 0) value = value.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(value);
  if (mapped) value = mapped[1]!;
  return isIP(value) ? value : undefined;
}

/**
 * Tenant policies: the schema generated from the tool catalog, validation of policy texts, the
 * compiled set of each tenant (cached; dropped on every instance when a policy changes, through
 * the change feed; its version re-checked after `cacheTtlMs`) and evaluation of one call.
 */
@injectable()
export class PolicyEngine {
  private schemaBuilt: PolicySchema | undefined;
  private readonly sets = new Map<string, { set: CompiledPolicySet; checkedAt: number }>();
  private readonly loading = new Map<string, Promise<CompiledPolicySet>>();
  private generation = 0;
  private readonly timeFormat: Intl.DateTimeFormat;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(ToolCatalogToken) private readonly catalog: ToolCatalog,
    @inject(PolicySettings) private readonly settings: PolicySettings,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
    @multiInject(RegistrySource) @optional() private readonly sources: readonly RegistrySource[] = [],
  ) {
    this.timeFormat = new Intl.DateTimeFormat('en-US', {
      timeZone: settings.timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
    });
    changes.subscribe(
      POLICIES_CHANGED,
      (payload) => {
        if (typeof payload.tenant === 'string') this.forget(payload.tenant);
      },
      () => {
        this.generation++;
        this.sets.clear();
      },
    );
  }

  /** Every target policies can name: the engine's tools and the operations of the registry sources. */
  async targets(): Promise<PolicyTarget[]> {
    const targets: PolicyTarget[] = this.catalog.entries.map(({ tool }) => ({
      kind: 'tool',
      name: tool.name,
      description: tool.description,
      inputSchema: tool.inputJsonSchema,
      argumentSchema: outputSchemaOf(tool.input) ?? tool.inputJsonSchema,
    }));
    const asker: Principal = { tenant: 'policy-schema', kind: 'policy-schema', id: 'policy-schema', label: 'policy schema', scopes: [], attributes: {} };
    for (const source of this.sources ?? []) {
      for (const entry of await source.entries(asker)) {
        if (entry.kind === 'operation') targets.push({ kind: 'operation', name: entry.name, description: entry.description, inputSchema: entry.inputSchema });
      }
    }
    return targets;
  }

  /** The generated schema (built once: the catalog is fixed at start-up). */
  async schema(): Promise<PolicySchema> {
    this.schemaBuilt ??= buildPolicySchema(await this.targets());
    return this.schemaBuilt;
  }

  /** The schema as Cedar text, for people. */
  async schemaText(): Promise<string> {
    const cedar = await loadCedar();
    const answer = cedar.schemaToText((await this.schema()).json);
    if (answer.type === 'failure') throw new Error(`the generated policy schema is not valid Cedar: ${answer.errors.map(cedarMessage).join('; ')}`);
    return answer.text.replaceAll('__cedar::', '');
  }

  /** The action of a target, when policies can name it. */
  async actionOf(kind: string, name: string): Promise<PolicyAction | undefined> {
    return (await this.schema()).actionOf(kind, name);
  }

  /** Everything wrong with a policy text ([] when it may be saved). */
  async check(text: string): Promise<PolicyProblem[]> {
    const cedar = await loadCedar();
    const schema = (await this.schema()).json;
    try {
      return checkPolicyText(cedar, schema, text);
    } catch (error) {
      if (!(error instanceof CedarCrashedError)) throw error;
      safeLog(this.logger, 'error', { err: error }, 'a policy text crashed the policy engine; it was restarted');
      return [{ message: `the policy engine could not read this text: ${error.message}` }];
    }
  }

  /** Drop the tenant's compiled set here and on every other instance. */
  changed(tenant: string): void {
    this.forget(tenant);
  }

  private forget(tenant: string): void {
    this.generation++;
    this.sets.delete(tenant);
  }

  /** The tenant's compiled set: cached, its version re-checked after the cache lifetime. */
  async compiled(tenant: string): Promise<CompiledPolicySet> {
    const entry = this.sets.get(tenant);
    if (entry && performance.now() - entry.checkedAt < this.settings.cacheTtlMs) return entry.set;
    let pending = this.loading.get(tenant);
    if (!pending) {
      pending = this.refresh(tenant, entry?.set).finally(() => this.loading.delete(tenant));
      this.loading.set(tenant, pending);
    }
    return pending;
  }

  private async refresh(tenant: string, current: CompiledPolicySet | undefined): Promise<CompiledPolicySet> {
    const generation = this.generation;
    const db = this.database.forTenant(tenant);
    const row = (await this.database.read(() => db.table('mcp_policy_sets').first('version'))) as { version: number } | undefined;
    const version = row?.version ?? 0;
    let set = current;
    if (!set || set.version !== version) {
      const rows = (await this.database.read(() => db.table('mcp_policies').where({ enabled: true }).orderBy('created_at').orderBy('id').select('id', 'name', 'text', 'last_error'))) as PolicyRow[];
      set = await this.compile(tenant, version, rows);
    }
    if (generation === this.generation) this.sets.set(tenant, { set, checkedAt: performance.now() });
    return set;
  }

  private async compile(tenant: string, version: number, rows: readonly PolicyRow[]): Promise<CompiledPolicySet> {
    if (!rows.length) return new CompiledPolicySet(tenant, version, [], []);
    const cedar = await loadCedar();
    const schema = await this.schema();
    const statements: Statement[] = [];
    const broken: Broken[] = [];
    for (const row of rows) {
      let parsed: ReturnType<typeof statementsOf>;
      try {
        parsed = statementsOf(cedar, row.text, row);
      } catch (error) {
        if (!(error instanceof CedarCrashedError)) throw error;
        safeLog(this.logger, 'error', { err: error, tenant, policyId: row.id }, 'a stored policy crashed the policy engine; it was restarted');
        parsed = { statements: [], problems: [{ message: `the policy engine could not read this text: ${error.message}` }] };
      }
      if (parsed.problems.length) broken.push({ policyId: row.id, name: row.name, message: parsed.problems.map((problem) => problem.message).join('; '), actions: 'all' });
      else statements.push(...parsed.statements);
    }
    // The catalog may have changed since a policy was saved (a tool removed, an argument retyped).
    if (statements.length) {
      const answer = this.validateStored(cedar, tenant, schema.json, statements);
      const byId = new Map(statements.map((statement) => [statement.id, statement]));
      if (answer.type === 'failure') {
        for (const row of rows) broken.push({ policyId: row.id, name: row.name, message: answer.errors.map(cedarMessage).join('; '), actions: 'all' });
      } else {
        for (const { policyId, error } of answer.validationErrors) {
          const statement = byId.get(policyId);
          if (statement) broken.push({ policyId: statement.policyId, name: statement.policyName, message: `no longer valid for this engine's tools: ${cedarMessage(error)}`, actions: statement.actions });
        }
      }
    }
    const set = new CompiledPolicySet(tenant, version, statements, broken);
    for (const problem of broken) this.report(set, problem.policyId, problem.message);
    return set;
  }

  /** Cedar's validation of a tenant's statements (a failure when it crashed the engine). */
  private validateStored(cedar: Cedar, tenant: string, schema: PolicySchema['json'], statements: readonly Statement[]): ReturnType<Cedar['validate']> {
    try {
      return cedar.validate({
        schema,
        policies: { staticPolicies: Object.fromEntries(statements.map((statement) => [statement.id, statement.text])) },
        validationSettings: { mode: 'strict' },
      });
    } catch (error) {
      if (!(error instanceof CedarCrashedError)) throw error;
      safeLog(this.logger, 'error', { err: error, tenant }, "a tenant's policies crashed the policy engine; it was restarted");
      return { type: 'failure', errors: [{ message: `the policy engine could not validate these policies: ${error.message}` } as DetailedError], warnings: [] } as ReturnType<Cedar['validate']>;
    }
  }

  /** Store a policy's run-time error (once per compiled set), so the admin UI shows it. */
  private report(set: CompiledPolicySet, policyId: string, message: string): void {
    const memo = `${policyId}\u0000${message}`;
    if (set.reported.has(memo)) return;
    set.reported.add(memo);
    this.database
      .forTenant(set.tenant)
      .table('mcp_policies')
      .where({ id: policyId })
      .andWhere((w) => w.whereNull('last_error').orWhereNot('last_error', message))
      .update({ last_error: message, last_error_at: new Date() })
      .catch((error: unknown) => safeLog(this.logger, 'warn', { err: error, tenant: set.tenant, policyId }, 'could not store a policy error'));
  }

  /** The statements of the tenant's set that apply to `action` (none: the policies have nothing to say). */
  async applicable(tenant: string, action: PolicyAction): Promise<{ set: CompiledPolicySet; statements: readonly Statement[]; broken: readonly Broken[] }> {
    const set = await this.compiled(tenant);
    return { set, statements: set.statementsFor(action.id), broken: set.brokenFor(action.id) };
  }

  /** `context.time` in the configured zone. */
  timeOf(at: Date): Record<string, CedarValueJson> {
    // The calendar fields change once a minute: computed once per minute, not per call.
    return { now: instantOf(at), ...this.calendarFieldsOf(at) };
  }

  /** The calendar fields of `context.time` (computed once per minute, not per call). */
  private calendarFieldsOf(at: Date): Record<string, CedarValueJson> {
    const minute = Math.floor(at.getTime() / 60_000);
    if (this.minute?.at !== minute) this.minute = { at: minute, fields: this.calendarOf(at) };
    return this.minute.fields;
  }

  private minute: { at: number; fields: Record<string, CedarValueJson> } | undefined;

  private calendarOf(at: Date): Record<string, CedarValueJson> {
    const parts = Object.fromEntries(this.timeFormat.formatToParts(at).map((part) => [part.type, part.value]));
    const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday ?? '') + 1;
    return {
      date: `${parts.year}-${parts.month}-${parts.day}`,
      hour: Number(parts.hour),
      minute: Number(parts.minute),
      weekday,
      timeZone: this.settings.timeZone,
    };
  }

  /**
   * What the tenant's policies say about one call by `principal` (loaded only when a policy applies).
   * Fails closed: a set that does not validate any more, arguments Cedar cannot take, or a policy
   * that errs while evaluating refuses the call, naming the policy and the error.
   */
  async evaluate(tenant: string, action: PolicyAction, principal: { readonly id: string; facts(): Promise<PrincipalFacts | undefined> }, call: CallFacts): Promise<PolicyVerdict> {
    const { set, statements, broken } = await this.applicable(tenant, action);
    if (broken.length) {
      const errors = broken.map((problem) => ({ policy: problem.name, policyId: problem.policyId, message: problem.message }));
      return { decision: 'deny', reason: `policy ${errors.map((e) => `"${e.policy}"`).join(', ')} cannot be evaluated: ${errors[0]!.message}`, policies: [], errors };
    }
    if (!statements.length) return { decision: 'allow', reason: 'no policy applies', policies: [], errors: [] };
    const cedar = cedarIfLoaded() ?? (await loadCedar());
    const reads = set.readsFor(action.id);
    const facts = reads.principal ? await principal.facts() : undefined;
    if (reads.principal && !facts) return { decision: 'deny', reason: 'the agent no longer exists', policies: [], errors: [] };
    let args: CedarValueJson | undefined;
    try {
      if (reads.arguments) args = toCedarValue(call.arguments, action.arguments, '');
    } catch (error) {
      if (!(error instanceof ArgumentConversionError)) throw error;
      return { decision: 'deny', reason: `policy evaluation failed: ${error.message}`, policies: [], errors: [{ message: error.message }] };
    }
    try {
      return this.decide(cedar, set, action, statements, principal.id, facts, call, args, reads);
    } catch (error) {
      // Cedar throws on input it cannot take (a value nested beyond its reader's limit) or when it crashes: refused.
      if (!(error instanceof Error)) throw error;
      if (error instanceof CedarCrashedError) safeLog(this.logger, 'error', { err: error, tenant, action: action.id }, 'evaluating a policy crashed the policy engine; it was restarted');
      else safeLog(this.logger, 'warn', { err: error, tenant, action: action.id }, 'the policy engine could not evaluate a call');
      const message = `the policy engine could not evaluate this call: ${error.message}`;
      return { decision: 'deny', reason: `policy evaluation failed: ${message}`, policies: [], errors: [{ message }] };
    }
  }

  /** The verdict on a call whose arguments Cedar can take (may throw what Cedar throws). */
  private decide(cedar: Cedar, set: CompiledPolicySet, action: PolicyAction, statements: readonly Statement[], principalId: string, facts: PrincipalFacts | undefined, call: CallFacts, args: CedarValueJson | undefined, reads: Reads): PolicyVerdict {
    if (this.nothingHolds(cedar, set, action, principalId, facts, call, args)) return { decision: 'allow', reason: 'no policy forbids it', policies: [], errors: [] };
    // Something may hold: the whole set, for the exact verdict (which statements, reasons, errors).
    const context: Record<string, CedarValueJson> = {};
    if (args !== undefined) context.arguments = args;
    if (reads.time) context.time = this.timeOf(call.at);
    if (reads.credential) context.credential = call.credential;
    const address = reads.clientAddress ? cedarAddress(call.clientAddress) : undefined;
    if (address) context.clientAddress = { __extn: { fn: 'ip', arg: address } };
    const answer = this.authorize(cedar, set, action, statements, principalId, facts, context);
    if (answer.type === 'failure') {
      const message = answer.errors.map(cedarMessage).join('; ');
      return { decision: 'deny', reason: `policy evaluation failed: ${message}`, policies: [], errors: [{ message }] };
    }
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length) {
      const errors = diagnostics.errors.map(({ policyId, error }) => {
        const statement = set.byId.get(policyId);
        const message = cedarMessage(error);
        if (statement) this.report(set, statement.policyId, `evaluation error: ${message}`);
        return { ...(statement ? { policy: statement.policyName, policyId: statement.policyId } : {}), message };
      });
      const named = errors.filter((error) => error.policy).map((error) => `"${error.policy}"`);
      return { decision: 'deny', reason: `policy ${[...new Set(named)].join(', ')} failed to evaluate: ${errors[0]!.message}`, policies: [], errors };
    }
    const decided = diagnostics.reason.map((id) => set.byId.get(id)).filter((statement): statement is Statement => statement !== undefined);
    const reasonOf = (list: readonly Statement[], fallback: string): string => list.find((statement) => statement.reason)?.reason ?? fallback;
    if (decision === 'deny') {
      const forbidding = decided.filter((statement) => !statement.approval);
      if (forbidding.length || !decided.length) {
        return { decision: 'deny', reason: reasonOf(forbidding, `forbidden by policy ${names(forbidding)}`), policies: policiesOf(forbidding), errors: [] };
      }
      return this.approval(decided, reasonOf);
    }
    const asking = decided.filter((statement) => statement.approval);
    if (asking.length) return this.approval(asking, reasonOf);
    return { decision: 'allow', reason: 'no policy forbids it', policies: [], errors: [] };
  }

  /**
   * Whether no applicable statement holds or errs for this call, when that can be told cheaply
   * (see `ActionPlan`); false when it cannot, or when something holds.
   */
  private nothingHolds(cedar: Cedar, set: CompiledPolicySet, action: PolicyAction, principalId: string, facts: PrincipalFacts | undefined, call: CallFacts, args: CedarValueJson | undefined): boolean {
    const plan = set.planFor(cedar, action.id);
    if (plan.fixed.length) {
      // The span of the instant the fixed statements tell apart (0 when they do not read it).
      const span = plan.instants.spanOf(call.at.getTime());
      if (span === undefined) return false;
      const context = this.contextOf(plan.fixedReads, call, undefined);
      const key = `${principalId}\u0000${span}\u0000${JSON.stringify(context)}`;
      let clear = plan.clearFor(key, facts);
      if (clear === undefined) {
        // Cedar is given this call's instant: every instant of the span gets the same answer.
        if (plan.instants.breakpoints) context.time = { ...(context.time as Record<string, CedarValueJson> | undefined), now: instantOf(call.at) };
        const policies = Object.fromEntries(plan.fixed.map((statement) => [statement.id, statement.text]));
        const answer = this.quick(cedar, set, action, 'fixed', policies, principalId, context, entitiesOf(set.tenant, principalId, facts, plan.fixedReads));
        // Without the base permit, Cedar names the forbids that hold, else the permits that hold: nothing holds when it names none.
        clear = answer?.type === 'success' && !answer.response.diagnostics.reason.length && !answer.response.diagnostics.errors.length;
        plan.remember(key, facts, clear);
      }
      if (!clear) return false;
    }
    if (!plan.contextual.length) return true;
    if (!plan.joined) return false;
    const reads = plan.contextualReads;
    const answer = this.quick(cedar, set, action, 'any', { any: plan.joined }, principalId, this.contextOf(reads, call, args), entitiesOf(set.tenant, principalId, facts, reads, plan.joinedReaches));
    // The joined permit does not hold, without an error: no statement holds, none errs.
    return answer?.type === 'success' && answer.response.decision === 'deny' && !answer.response.diagnostics.errors.length;
  }

  /** The context with what `reads` names of the call. */
  private contextOf(reads: FieldReads, call: CallFacts, args: CedarValueJson | undefined): Record<string, CedarValueJson> {
    const context: Record<string, CedarValueJson> = {};
    if (reads.arguments && args !== undefined) context.arguments = args;
    if (reads.time.length) {
      const calendar = this.calendarFieldsOf(call.at);
      const time: Record<string, CedarValueJson> = {};
      for (const field of reads.time) time[field] = field === 'now' ? instantOf(call.at) : calendar[field]!;
      context.time = time;
    }
    if (reads.credential) context.credential = call.credential;
    const address = reads.clientAddress ? cedarAddress(call.clientAddress) : undefined;
    if (address) context.clientAddress = { __extn: { fn: 'ip', arg: address } };
    return context;
  }

  /** One of the fast path's evaluations (undefined when Cedar does not take its policy set). */
  private quick(cedar: Cedar, set: CompiledPolicySet, action: PolicyAction, part: string, policies: Record<string, string | PolicyJson>, principalId: string, context: Record<string, CedarValueJson>, entities: Entities) {
    const key = `${set.tenant}\u0000${action.id}\u0000${part}`;
    let known = preparedQuick.get(key);
    if (known?.set !== set) {
      let ok = false;
      try {
        ok = cedar.preparsePolicySet(key, { staticPolicies: policies }).type === 'success';
      } catch (error) {
        if (error instanceof CedarCrashedError) throw error;
        // Cedar throws on input it cannot even read (a joined condition nested beyond its JSON reader's limit): no shortcut then.
      }
      known = { set, ok };
      preparedQuick.set(key, known);
    }
    if (!known.ok) return undefined;
    return cedar.statefulIsAuthorized({
      principal: { type: 'Agent', id: principalId },
      action: { type: 'Action', id: action.id },
      resource: { type: 'Tenant', id: set.tenant },
      context,
      preparsedPolicySetId: key,
      entities,
    });
  }

  private approval(asking: readonly Statement[], reasonOf: (list: readonly Statement[], fallback: string) => string): PolicyVerdict {
    const approvers = asking.some((statement) => statement.approval?.approvers === 2) ? 2 : 1;
    const fingerprint = createHash('sha256')
      .update(JSON.stringify(asking.map((statement) => [statement.id, statement.text]).sort()))
      .digest('hex')
      .slice(0, 16);
    return { decision: 'approval', reason: reasonOf(asking, `policy ${names(asking)} requires approval`), policies: policiesOf(asking), errors: [], approvers, fingerprint };
  }

  private authorize(cedar: Cedar, set: CompiledPolicySet, action: PolicyAction, statements: readonly Statement[], principalId: string, facts: PrincipalFacts | undefined, context: Record<string, CedarValueJson>) {
    const key = `${set.tenant}\u0000${action.id}`;
    if (prepared.get(key) !== set) {
      const policies = Object.fromEntries([...statements.map((statement) => [statement.id, statement.text]), [BASE_ID, BASE]]);
      const answer = cedar.preparsePolicySet(key, { staticPolicies: policies });
      if (answer.type === 'failure') return { type: 'failure' as const, errors: answer.errors, warnings: [] };
      prepared.set(key, set);
    }
    return cedar.statefulIsAuthorized({
      principal: { type: 'Agent', id: principalId },
      action: { type: 'Action', id: action.id },
      resource: { type: 'Tenant', id: set.tenant },
      context,
      preparsedPolicySetId: key,
      entities: [
        {
          uid: { type: 'Agent', id: principalId },
          attrs: facts ? { name: facts.name, roles: [...facts.roles], idp: facts.idp, issuer: facts.issuer } : {},
          parents: [{ type: 'Tenant', id: set.tenant }],
          ...(facts ? { tags: { ...facts.attributes } } : {}),
        },
        { uid: { type: 'Tenant', id: set.tenant }, attrs: {}, parents: [] },
      ],
    });
  }
}
