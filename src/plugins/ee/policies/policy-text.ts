import { jsonNestingProblem, textNestingProblem } from './policy-limits.js';
import { cedarMessage, lineAndColumn, type Cedar, type DetailedError, type PolicyJson, type SchemaJson } from './cedar.js';

/** One problem with a policy text: Cedar's message (or ours), where Cedar located it. */
export interface PolicyProblem {
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/** One Cedar statement of a stored policy, with what the engine reads from it. */
export interface Statement {
  /** Unique in the tenant's set: `<policy id>/<index>`. */
  readonly id: string;
  readonly policyId: string;
  readonly policyName: string;
  readonly text: string;
  readonly effect: 'permit' | 'forbid';
  /** Present when the statement asks for approval (`@approval("required")`) instead of deciding. */
  readonly approval?: { readonly approvers: 1 | 2 };
  /** `@reason("…")`: the words the caller and the audit trail see when it applies. */
  readonly reason?: string;
  /** The actions it can apply to: every action, or the ones its scope names. */
  readonly actions: 'all' | ReadonlySet<string>;
}

const PERMIT_GRANTS_NOTHING =
  'a permit policy cannot grant anything: roles grant, policies only restrict. Write a forbid policy, or mark this permit @approval("required") to require approval when it matches.';

function located(text: string, error: DetailedError, base = 0): PolicyProblem {
  const start = error.sourceLocations?.[0]?.start;
  return start === undefined ? { message: cedarMessage(error) } : { message: cedarMessage(error), ...lineAndColumn(text, base + start) };
}

function entityIds(constraint: PolicyJson['action']): 'all' | Set<string> {
  if (constraint.op === 'All') return 'all';
  const uid = (value: unknown): string | undefined => {
    const entity = (value as { __entity?: { id?: unknown } }).__entity ?? (value as { id?: unknown });
    return typeof entity?.id === 'string' ? entity.id : undefined;
  };
  if ('entities' in constraint) return new Set(constraint.entities.map(uid).filter((id): id is string => id !== undefined));
  if ('entity' in constraint) {
    const id = uid(constraint.entity);
    return new Set(id === undefined ? [] : [id]);
  }
  return 'all';
}

/**
 * Parse a policy's text into its statements, checking what Cedar cannot: no templates, a permit
 * only with `@approval("required")`, `@approvers` 1 or 2. Problems carry the line and column in
 * `text`. A text nested too deeply for Cedar is refused before Cedar reads it.
 */
export function statementsOf(cedar: Cedar, text: string, policy: { id: string; name: string }): { statements: Statement[]; problems: PolicyProblem[] } {
  // Measured before Cedar parses it: a text nested deeply enough crashes Cedar's parser.
  const tooDeep = textNestingProblem(text);
  if (tooDeep) return { statements: [], problems: [tooDeep] };
  return parsedStatements(cedar, text, policy);
}

function parsedStatements(cedar: Cedar, text: string, policy: { id: string; name: string }): { statements: Statement[]; problems: PolicyProblem[] } {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') return { statements: [], problems: parts.errors.map((error) => located(text, error)) };
  if (parts.policy_templates.length) {
    return { statements: [], problems: [{ message: 'templates (policies with ?principal or ?resource slots) are not supported: name the principal or resource, or leave it open' }] };
  }
  if (!parts.policies.length) return { statements: [], problems: [{ message: 'the text contains no policy: write at least one forbid(…) or permit(…) statement' }] };
  const statements: Statement[] = [];
  const problems: PolicyProblem[] = [];
  let cursor = 0;
  parts.policies.forEach((part, index) => {
    const found = text.indexOf(part, cursor);
    const at = found < 0 ? 0 : found;
    if (found >= 0) cursor = found + part.length;
    const where = lineAndColumn(text, at);
    const json = cedar.policyToJson(part);
    if (json.type === 'failure') {
      problems.push(...json.errors.map((error) => located(text, error, at)));
      return;
    }
    // Measured again as Cedar parsed it, before anything evaluates it.
    const deep = jsonNestingProblem(json.json);
    if (deep) {
      problems.push({ message: deep, ...where });
      return;
    }
    const { effect, annotations = {}, action } = json.json;
    const approval = annotations.approval;
    if (approval !== undefined && approval !== 'required') problems.push({ message: '@approval must be "required"', ...where });
    const approvers = annotations.approvers;
    if (approvers !== undefined && approvers !== '1' && approvers !== '2') problems.push({ message: '@approvers must be "1" or "2"', ...where });
    if (approvers !== undefined && approval !== 'required') problems.push({ message: '@approvers needs @approval("required")', ...where });
    if (effect === 'permit' && approval !== 'required') problems.push({ message: PERMIT_GRANTS_NOTHING, ...where });
    statements.push({
      id: `${policy.id}/${index}`,
      policyId: policy.id,
      policyName: policy.name,
      text: part,
      effect,
      ...(approval === 'required' ? { approval: { approvers: approvers === '2' ? 2 : 1 } } : {}),
      ...(typeof annotations.reason === 'string' && annotations.reason.trim() ? { reason: annotations.reason.trim() } : {}),
      actions: entityIds(action),
    });
  });
  return { statements, problems };
}

/**
 * Everything wrong with a policy text: parse errors, our own rules, then Cedar's strict
 * validation against the schema (an unknown tool, an argument of the wrong type, an attribute read
 * without `has`…), each with Cedar's own message.
 */
export function checkPolicyText(cedar: Cedar, schema: SchemaJson<string>, text: string): PolicyProblem[] {
  if (!text.trim()) return [{ message: 'the text is empty: write at least one forbid(…) or permit(…) statement' }];
  const { problems } = statementsOf(cedar, text, { id: 'check', name: 'check' });
  if (problems.length) return problems;
  const answer = cedar.validate({ schema, policies: { staticPolicies: text }, validationSettings: { mode: 'strict' } });
  if (answer.type === 'failure') return answer.errors.map((error) => located(text, error));
  return answer.validationErrors.map(({ error }) => located(text, error));
}
