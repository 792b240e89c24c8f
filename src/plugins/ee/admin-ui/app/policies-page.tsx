import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type Policy, type PolicyChange, type PolicyList, type PolicyProblem, type PolicySchema, type PolicyValidation } from './api.js';
import { Ago, clientErrors, ConfirmButton, Empty, Field, FormFooter, formErrors, NO_ERRORS, Notice, type FormErrors } from './components.js';
import { focusedId } from './focus.js';
import { PolicyText } from './policy-text.js';

/** How long the text rests before it is sent to the validator. */
const VALIDATE_AFTER_MS = 400;

type Check = 'idle' | 'checking' | 'valid' | 'invalid' | 'unavailable';

function where(problem: PolicyProblem): string {
  if (!problem.line) return '';
  return problem.column ? `Line ${problem.line}, column ${problem.column}: ` : `Line ${problem.line}: `;
}

/** The names a policy can use: the tools and their arguments, and the whole Cedar schema. */
function SchemaHelp({ schema }: { schema: PolicySchema | undefined }) {
  if (!schema) return null;
  return (
    <details class="schema-help">
      <summary>Names you can use (tools, arguments, the Cedar schema)</summary>
      <ul class="tool-names">
        {schema.tools.map((tool) => (
          <li key={tool.name}>
            <span class="mono">{tool.name}</span>
            {Object.keys(tool.inputSchema.properties ?? {}).length ? <span class="muted small"> — arguments: {Object.keys(tool.inputSchema.properties ?? {}).join(', ')}</span> : null}
          </li>
        ))}
      </ul>
      <pre class="mono" tabIndex={0} aria-label="Cedar schema">
        {schema.cedarSchema}
      </pre>
    </details>
  );
}

function PolicyForm({ existing, schema, onDone, onCancel }: { existing?: Policy; schema: PolicySchema | undefined; onDone: (saved: Policy) => void; onCancel: () => void }) {
  const [name, setName] = useState(existing?.name ?? '');
  const [description, setDescription] = useState(existing?.description ?? '');
  const [enabled, setEnabled] = useState(existing?.enabled ?? true);
  const [text, setText] = useState(existing?.text ?? '');
  const [problems, setProblems] = useState<PolicyProblem[]>([]);
  const [check, setCheck] = useState<Check>('idle');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [saving, setSaving] = useState(false);
  const latest = useRef(0);

  useEffect(() => document.getElementById('field-name')?.focus(), []);

  // As the admin types: the validator's verdict on the text, once it has rested a moment.
  useEffect(() => {
    const mine = ++latest.current;
    if (!text.trim()) {
      setProblems([]);
      setCheck('idle');
      return;
    }
    const timer = setTimeout(async () => {
      setCheck('checking');
      try {
        const verdict = await api<PolicyValidation>('POST', '/api/v1/mcp/policies/validate', { text });
        if (mine !== latest.current) return;
        setProblems(verdict.errors);
        setCheck(verdict.valid ? 'valid' : 'invalid');
      } catch {
        if (mine === latest.current) setCheck('unavailable');
      }
    }, VALIDATE_AFTER_MS);
    return () => clearTimeout(timer);
  }, [text]);

  return (
    <form
      class="card form policy-form"
      aria-label={existing ? 'Edit policy' : 'Create policy'}
      onSubmit={async (event) => {
        event.preventDefault();
        const problemsFound = clientErrors({
          name: name.trim() ? undefined : 'Enter a name: it is how this policy is shown in decisions and in the audit trail.',
          text: text.trim() ? undefined : 'Write the policy: one or more Cedar permit or forbid statements.',
        });
        if (problemsFound) return setErrors(problemsFound);
        const body: Record<string, unknown> = { name: name.trim(), text, enabled };
        if (description.trim() || existing?.description) body.description = description.trim();
        setSaving(true);
        // Whatever answers now supersedes a validation still on its way.
        latest.current++;
        try {
          const saved = existing ? await api<Policy>('PATCH', `/api/v1/mcp/policies/${existing.id}`, body) : await api<Policy>('POST', '/api/v1/mcp/policies', body);
          onDone(saved);
        } catch (error) {
          const found = formErrors(error);
          if (error instanceof ApiError) {
            const inText = error.details.filter((detail) => detail.field === 'text');
            if (inText.length) {
              setProblems(inText.map(({ message, line, column }) => ({ message, line, column })));
              setCheck('invalid');
              setErrors({ fields: { ...found.fields, text: '' }, form: 'Not saved: the policy has the problems marked in its text.' });
              return;
            }
          }
          setErrors(found);
        } finally {
          setSaving(false);
        }
      }}
    >
      <h2>{existing ? `Edit ${existing.name}` : 'Create a policy'}</h2>
      <Field label="Name" name="name" errors={errors} value={name} onInput={setName} />
      <Field label="Description (optional)" name="description" errors={errors} value={description} onInput={setDescription} />
      <div class={`field${problems.length || errors.fields.text ? ' invalid' : ''}`}>
        <label id="policy-text-label">Policy (Cedar)</label>
        <p class="help" id="policy-text-help">
          Roles decide first: a policy can forbid a call a role allows, or require approval for it, but cannot allow what no role grants. The text is checked against the tools’ schema as you type; a policy with problems is never saved.
        </p>
        <PolicyText text={text} problems={problems} labelId="policy-text-label" describedBy="policy-text-help policy-problems" onChange={setText} />
        <div id="policy-problems" class="policy-problems" aria-live="polite" data-check={check}>
          {check === 'checking' ? <p class="muted small">Checking…</p> : null}
          {check === 'unavailable' ? <p class="muted small">Could not check the text just now; it is checked again when you save.</p> : null}
          {problems.length ? (
            <ul class="problems">
              {problems.map((problem, index) => (
                <li key={index} class="field-error" data-line={problem.line} data-column={problem.column}>
                  {where(problem)}
                  {problem.message}
                </li>
              ))}
            </ul>
          ) : check === 'valid' ? (
            <p class="valid small">No problems found.</p>
          ) : null}
          {errors.fields.text ? <p class="field-error">{errors.fields.text}</p> : null}
        </div>
      </div>
      <SchemaHelp schema={schema} />
      <label class="choice">
        <input type="checkbox" name="enabled" checked={enabled} onChange={(event) => setEnabled((event.target as HTMLInputElement).checked)} />
        Enabled: enforce this policy from the moment it is saved
      </label>
      <FormFooter errors={errors} submitLabel={saving ? 'Saving…' : existing ? 'Save' : 'Create policy'} onCancel={onCancel} />
    </form>
  );
}

/** A unified diff, line by line: added lines as insertions, removed ones as deletions. */
export function Diff({ diff }: { diff: string }) {
  const lines = diff.replace(/\n$/, '').split('\n');
  return (
    <pre class="diff mono" tabIndex={0} aria-label="Changes to the text">
      {lines.map((line, index) => {
        // File headers say nothing here: the entry above names the versions.
        if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('Index:') || /^=+$/.test(line)) return null;
        if (line.startsWith('\\'))
          return (
            <span key={index} class="diff-line diff-hunk">
              {line}
            </span>
          );
        if (line.startsWith('@@'))
          return (
            <span key={index} class="diff-line diff-hunk">
              {line}
            </span>
          );
        if (line.startsWith('+'))
          return (
            <ins key={index} class="diff-line diff-add">
              {line}
            </ins>
          );
        if (line.startsWith('-'))
          return (
            <del key={index} class="diff-line diff-del">
              {line}
            </del>
          );
        return (
          <span key={index} class="diff-line">
            {line}
          </span>
        );
      })}
    </pre>
  );
}

function changeSummary(change: PolicyChange, before: PolicyChange | undefined): string {
  if (!before) return 'created';
  const parts: string[] = [];
  if (change.name !== before.name) parts.push(`renamed from “${before.name}”`);
  if (change.text !== before.text) parts.push('text changed');
  if (change.enabled !== before.enabled) parts.push(change.enabled ? 'enabled' : 'disabled');
  return parts.join(', ') || 'saved without changes';
}

function PolicyHistory({ policy, onClose }: { policy: Policy; onClose: () => void }) {
  const [history, setHistory] = useState<PolicyChange[] | undefined>();
  const [error, setError] = useState<string>();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
    api<{ history: PolicyChange[] }>('GET', `/api/v1/mcp/policies/${policy.id}/history`).then(
      (found) => setHistory(found.history),
      (e: Error) => setError(e.message),
    );
  }, [policy.id, policy.version]);
  return (
    <section class="card policy-history" aria-labelledby="policy-history-title">
      <div class="history-head">
        <h2 id="policy-history-title" tabIndex={-1} ref={heading}>
          History of {policy.name}
        </h2>
        <button type="button" onClick={onClose}>
          Close history
        </button>
      </div>
      <Notice message={error} />
      {history === undefined && !error ? <p class="loading">Loading…</p> : null}
      <ol class="history" reversed>
        {(history ?? []).map((change, index) => (
          <li key={change.version} data-version={change.version}>
            <p class="history-entry">
              <strong>Version {change.version}</strong> · {changeSummary(change, history![index + 1])}
              {history![index + 1] && history![index + 1]!.enabled !== change.enabled ? null : ` (${change.enabled ? 'enabled' : 'disabled'})`} · by {change.changedBy ?? 'unknown'} ·{' '}
              <Ago iso={change.changedAt} />
            </p>
            {change.diff.trim() ? <Diff diff={change.diff} /> : <p class="muted small">The text did not change.</p>}
          </li>
        ))}
      </ol>
    </section>
  );
}

export function PoliciesPage() {
  const [list, setList] = useState<PolicyList | undefined>();
  const [schema, setSchema] = useState<PolicySchema>();
  const [editing, setEditing] = useState<Policy | 'new' | undefined>();
  const [historyOf, setHistoryOf] = useState<Policy | undefined>();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const opener = useRef<HTMLElement | null>(null);

  const load = async (): Promise<PolicyList | undefined> => {
    try {
      const found = await api<PolicyList>('GET', '/api/v1/mcp/policies');
      setList(found);
      return found;
    } catch (e) {
      setError((e as Error).message);
      return undefined;
    }
  };
  useEffect(() => {
    void load();
    api<PolicySchema>('GET', '/api/v1/mcp/policies/schema').then(setSchema, () => undefined);
  }, []);
  const focus = focusedId();
  useEffect(() => {
    if (focus && list) document.getElementById(`policy-${focus}`)?.scrollIntoView({ block: 'center' });
  }, [focus, list === undefined]);

  /** Back to the control that opened a form or the history, or the create button. */
  const returnFocus = () => {
    const target = opener.current;
    setTimeout(() => (target?.isConnected ? target : document.getElementById('create-policy'))?.focus());
  };
  const open = (what: () => void) => {
    opener.current = document.activeElement as HTMLElement | null;
    setNotice(undefined);
    setError(undefined);
    what();
  };

  const failing = (list?.policies ?? []).filter((policy) => policy.lastError);
  return (
    <section>
      <p class="lead">
        Policies are rules on each call beyond roles, written in Cedar: conditions on the arguments, the time, the client’s address, the credential. Test them with the simulator on the <a href="#/access">Access check</a> page.
      </p>
      {failing.length ? (
        <div class="form-error policy-failures" role="alert">
          <p>
            <strong>{failing.length === 1 ? 'A policy failed when it was last evaluated' : `${failing.length} policies failed when they were last evaluated`}</strong>: calls they govern are refused until you fix or disable them.
          </p>
          <ul>
            {failing.map((policy) => (
              <li key={policy.id}>
                <strong>{policy.name}</strong>: {policy.lastError}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <Notice message={error} />
      <Notice message={notice} kind="ok" />
      {editing ? (
        <PolicyForm
          key={editing === 'new' ? 'new' : editing.id}
          existing={editing === 'new' ? undefined : editing}
          schema={schema}
          onCancel={() => {
            setEditing(undefined);
            returnFocus();
          }}
          onDone={async (saved) => {
            setEditing(undefined);
            const found = await load();
            setNotice(`Saved ${saved.name}${saved.enabled ? '' : ' (disabled)'}. Policy set version ${found?.version ?? '?'}.`);
            returnFocus();
          }}
        />
      ) : (
        <button type="button" id="create-policy" class="primary" onClick={() => open(() => setEditing('new'))}>
          Create policy
        </button>
      )}
      {list === undefined ? (
        error ? null : <p class="loading">Loading…</p>
      ) : list.policies.length === 0 ? (
        <Empty title="No policies yet">Without policies, roles alone decide. Create one to add conditions, such as “invoices only under 5,000 EUR” or “nothing outside office hours”.</Empty>
      ) : (
        <>
          <p class="policy-set-version">
            Policy set version <strong data-version={list.version}>{list.version}</strong> · {list.policies.filter((policy) => policy.enabled).length} of {list.policies.length} enabled
          </p>
          <div class="table-wrap">
            <table aria-label="Policies">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Enabled</th>
                  <th>Version</th>
                  <th>Last change</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.policies.map((policy) => (
                  <tr key={policy.id} id={`policy-${policy.id}`} data-policy={policy.name} class={[focus === policy.id ? 'selected' : '', policy.lastError ? 'failing' : ''].join(' ').trim() || undefined}>
                    <td class="policy-name" data-label="Name">
                      <strong>{policy.name}</strong>
                      {policy.description ? <span class="muted small"> — {policy.description}</span> : null}
                      {policy.lastError ? (
                        <p class="policy-error">
                          <span class="badge badge-off">error</span> {policy.lastError}
                        </p>
                      ) : null}
                    </td>
                    <td data-label="Enabled">
                      <label class="switch">
                        <input
                          type="checkbox"
                          role="switch"
                          checked={policy.enabled}
                          aria-label={`${policy.name} enabled`}
                          onChange={async (event) => {
                            const wanted = (event.target as HTMLInputElement).checked;
                            setError(undefined);
                            setNotice(undefined);
                            try {
                              await api('PATCH', `/api/v1/mcp/policies/${policy.id}`, { enabled: wanted });
                              const found = await load();
                              setNotice(`${wanted ? 'Enabled' : 'Disabled'} ${policy.name}. Policy set version ${found?.version ?? '?'}.`);
                            } catch (e) {
                              setError((e as Error).message);
                              await load();
                            }
                          }}
                        />
                        <span aria-hidden="true">{policy.enabled ? 'on' : 'off'}</span>
                      </label>
                    </td>
                    <td data-label="Version">{policy.version}</td>
                    <td data-label="Last change">
                      <Ago iso={policy.updatedAt} />
                      {policy.updatedBy ? <span class="muted small"> by {policy.updatedBy}</span> : null}
                    </td>
                    <td class="row-actions">
                      <button type="button" onClick={() => open(() => setEditing(policy))}>
                        Edit
                      </button>
                      <button type="button" aria-label={`History of ${policy.name}`} onClick={() => open(() => setHistoryOf(policy))}>
                        History
                      </button>
                      <ConfirmButton
                        label="Delete"
                        question={`Delete ${policy.name}? Calls are no longer checked against it.`}
                        onConfirm={async () => {
                          setNotice(undefined);
                          try {
                            await api('DELETE', `/api/v1/mcp/policies/${policy.id}`);
                            if (historyOf?.id === policy.id) setHistoryOf(undefined);
                            const found = await load();
                            setNotice(`Deleted ${policy.name}. Policy set version ${found?.version ?? '?'}.`);
                          } catch (e) {
                            setError((e as Error).message);
                          }
                          document.getElementById('create-policy')?.focus();
                        }}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {historyOf ? (
        <PolicyHistory
          policy={list?.policies.find((policy) => policy.id === historyOf.id) ?? historyOf}
          onClose={() => {
            setHistoryOf(undefined);
            returnFocus();
          }}
        />
      ) : null}
    </section>
  );
}
