import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type PolicySchema, type Simulation } from './api.js';
import { ArgumentsEditor, type Arguments } from './arguments-editor.js';
import { formErrors, FormError, NO_ERRORS, type FormErrors } from './components.js';
import { linkTo } from './focus.js';

const DECISIONS: Record<Simulation['decision'], { label: string; badge: string }> = {
  allow: { label: 'Allowed', badge: 'badge-ok' },
  deny: { label: 'Refused', badge: 'badge-off' },
  approval: { label: 'Needs approval', badge: 'badge-attention' },
};

const STAGES: Record<Simulation['stage'], string> = {
  agent: 'the agent’s status and credentials',
  rbac: 'its roles',
  policy: 'the tenant’s policies',
  quota: 'its quotas',
};

type Tools = PolicySchema['tools'];

const SHOWN_FIELDS = ['tool', 'at', 'clientAddress'];

/** `datetime-local` text (the admin's local time) as an ISO instant; undefined when empty or invalid. */
function instant(local: string): string | undefined {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function Result({ result }: { result: Simulation }) {
  const decision = DECISIONS[result.decision] ?? { label: result.decision, badge: '' };
  return (
    <>
      <p class="decision">
        <span class={`badge ${decision.badge}`} data-decision={result.decision}>
          {decision.label}
        </span>{' '}
        decided by {STAGES[result.stage] ?? result.stage}
      </p>
      <p class="reason">{result.reason}</p>
      {result.decision === 'approval' && result.approvers ? <p>{result.approvers === 1 ? 'One person approves each call.' : `${result.approvers} different people approve each call.`}</p> : null}
      {result.policies.length ? (
        <p>
          {result.policies.length === 1 ? 'Policy that decided: ' : 'Policies that decided: '}
          {result.policies.map((policy, index) => (
            <span key={policy.id}>
              {index ? ', ' : ''}
              <a href={linkTo('policies', policy.id)}>{policy.name}</a>
            </span>
          ))}
        </p>
      ) : null}
      {result.errors.length ? (
        <div class="form-error">
          <p>Errors while evaluating (the call is refused when a policy cannot be evaluated):</p>
          <ul>
            {result.errors.map((error, index) => (
              <li key={index}>
                {error.policy && error.policyId ? (
                  <>
                    <a href={linkTo('policies', error.policyId)}>{error.policy}</a>:{' '}
                  </>
                ) : error.policy ? (
                  <strong>{error.policy}: </strong>
                ) : null}
                {error.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </>
  );
}

/**
 * "Would this exact call be allowed?": the agent's call of one tool with these arguments, at this
 * time, from this address, with this kind of credential, run through every check a real call
 * meets (agent, roles, policies, quotas) without calling the tool.
 */
export function Simulator({ agentId, pick, fallbackTools }: { agentId: string; pick?: { tool: string }; fallbackTools: string[] }) {
  const [tools, setTools] = useState<Tools | undefined>();
  const [tool, setTool] = useState(pick?.tool ?? '');
  const [args, setArgs] = useState<Arguments>({});
  const [argsValid, setArgsValid] = useState(true);
  const [at, setAt] = useState('');
  const [clientAddress, setClientAddress] = useState('');
  const [credential, setCredential] = useState('');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [result, setResult] = useState<Simulation | undefined>();
  const [busy, setBusy] = useState(false);
  const [answered, setAnswered] = useState(0);
  const toolSelect = useRef<HTMLSelectElement>(null);

  useEffect(() => {
    api<PolicySchema>('GET', '/api/v1/mcp/policies/schema').then(
      (schema) => setTools(schema.tools),
      // Without the schema the tools are still listed; their arguments are edited as JSON.
      () => setTools(fallbackTools.map((name) => ({ name, description: null, inputSchema: {} }))),
    );
  }, []);
  /**
   * Another tool: its arguments start empty, in the same update. (Reset in an effect, after the
   * next paint, arguments typed in the new tool's editor before that paint were wiped.)
   */
  const choose = (next: string): void => {
    if (next === tool) return;
    setTool(next);
    setArgs({});
    setArgsValid(true);
    setResult(undefined);
  };
  // A "Simulate" button of the tool table picks its tool and brings the admin here.
  useEffect(() => {
    if (pick) {
      choose(pick.tool);
      toolSelect.current?.scrollIntoView({ block: 'center' });
      toolSelect.current?.focus();
    }
  }, [pick]);
  useEffect(() => setResult(undefined), [agentId]);

  const schema = tools?.find((entry) => entry.name === tool);
  return (
    <form
      class="card form simulator"
      aria-labelledby="simulator-title"
      onSubmit={async (event) => {
        event.preventDefault();
        setResult(undefined);
        if (!tool) return setErrors({ fields: { tool: 'Choose the tool to call.' } });
        if (!argsValid) return setErrors({ fields: {}, form: 'The arguments are not a JSON object yet: fix them, or switch back to the form.' });
        if (at && !instant(at)) return setErrors({ fields: { at: 'Enter a date and time, or leave it empty for now.' } });
        setErrors(NO_ERRORS);
        setBusy(true);
        try {
          const body: Record<string, unknown> = { agent: agentId, tool, arguments: args };
          if (at) body.at = instant(at);
          if (clientAddress.trim()) body.clientAddress = clientAddress.trim();
          if (credential) body.credential = credential;
          setResult(await api<Simulation>('POST', '/api/v1/mcp/access-check/simulate', body));
          setAnswered((count) => count + 1);
        } catch (error) {
          setResult(undefined);
          const found = formErrors(error);
          // Problems of fields this form shows sit by them; any other (the arguments, say) above the button.
          const elsewhere = Object.entries(found.fields).filter(([field]) => !SHOWN_FIELDS.includes(field));
          setErrors(elsewhere.length ? { fields: found.fields, form: elsewhere.map(([field, message]) => `${field}: ${message}`).join(' ') } : found);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2 id="simulator-title">Simulate a call</h2>
      <p class="help">Would this exact call be allowed, and what decided? Runs the checks a real call meets — the agent and its credential, its roles, the tenant’s policies — without calling the tool.</p>
      <div class={`field${errors.fields.tool ? ' invalid' : ''}`}>
        <label for="simulate-tool">Tool</label>
        <select id="simulate-tool" ref={toolSelect} value={tool} onChange={(event) => choose((event.target as HTMLSelectElement).value)}>
          <option value="">Choose a tool…</option>
          {(tools ?? []).map((entry) => (
            <option key={entry.name} value={entry.name}>
              {entry.name}
            </option>
          ))}
        </select>
        {schema?.description ? <p class="help">{schema.description}</p> : null}
        {errors.fields.tool ? (
          <p class="field-error" role="alert">
            {errors.fields.tool}
          </p>
        ) : null}
      </div>
      {tool ? <ArgumentsEditor key={tool} schema={schema?.inputSchema} value={args} onChange={(value, valid) => (setArgs(value), setArgsValid(valid))} /> : null}
      <div class="simulator-context">
        <div class={`field${errors.fields.at ? ' invalid' : ''}`}>
          <label for="simulate-at">Time of the call (optional)</label>
          <input id="simulate-at" type="datetime-local" step={1} value={at} onInput={(event) => setAt((event.target as HTMLInputElement).value)} />
          <p class="help">In your local time; empty means now.</p>
          {errors.fields.at ? (
            <p class="field-error" role="alert">
              {errors.fields.at}
            </p>
          ) : null}
        </div>
        <div class={`field${errors.fields.clientAddress ? ' invalid' : ''}`}>
          <label for="simulate-address">Client address (optional)</label>
          <input id="simulate-address" type="text" autocomplete="off" placeholder="203.0.113.7" value={clientAddress} onInput={(event) => setClientAddress((event.target as HTMLInputElement).value)} />
          {errors.fields.clientAddress ? (
            <p class="field-error" role="alert">
              {errors.fields.clientAddress}
            </p>
          ) : null}
        </div>
        <div class="field">
          <label for="simulate-credential">Credential kind</label>
          <select id="simulate-credential" value={credential} onChange={(event) => setCredential((event.target as HTMLSelectElement).value)}>
            <option value="">Either</option>
            <option value="api_key">API key</option>
            <option value="jwt">Identity provider token (JWT)</option>
          </select>
        </div>
      </div>
      <FormError errors={errors} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Simulate
        </button>
      </div>
      <div class="simulation" role="status" aria-live="polite" aria-label="Simulated decision" data-simulations={answered}>
        {result ? <Result result={result} /> : null}
      </div>
    </form>
  );
}
