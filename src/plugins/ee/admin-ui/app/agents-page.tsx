import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { focusedId } from './focus.js';
import { api, type Agent, type AgentKey, type Idp, type Role } from './api.js';
import { LimitsPanel } from './limits-panel.js';
import { Ago, clientErrors, ConfirmButton, Empty, Field, FieldError, FormError, formErrors, NO_ERRORS, Notice, Status, when, type FormErrors, FormFooter, runThenReload } from './components.js';

/** Where an admin finds the agent's identifier in each kind of provider. */
export function subjectHelp(idp: Idp | undefined): string {
  if (!idp) return 'Without an identity provider the agent signs in with an API key issued here.';
  const claim = idp.subjectClaim;
  switch (idp.kind) {
    case 'entra':
      return claim === 'oid'
        ? 'The Object ID of the agent’s enterprise application: Entra admin center → Enterprise applications → the app → Object ID.'
        : `The Application (client) ID of the agent’s app registration (token claim ${claim}): Entra admin center → App registrations → the app → Overview.`;
    case 'google':
      return `The service account’s Unique ID (token claim ${claim}): Google Cloud console → IAM & Admin → Service accounts → the account → Unique ID.`;
    case 'keycloak':
      return `The Client ID of the agent’s confidential client (token claim ${claim}): Keycloak admin console → the realm → Clients.`;
    default:
      return `The value of the ${claim} claim in the agent’s tokens; for a client-credentials client this is usually its client id.`;
  }
}

export function RoleChoices({ roles, chosen, onChange, errors }: { roles: Role[]; chosen: string[]; onChange: (ids: string[]) => void; errors: FormErrors }) {
  return (
    <fieldset class="choices">
      <legend>Roles</legend>
      {roles.length === 0 ? <p class="help">No roles yet: create one on the Roles page, then give it to this agent.</p> : null}
      {roles.map((role) => (
        <label key={role.id} class="choice">
          <input
            type="checkbox"
            name="roleIds"
            value={role.id}
            checked={chosen.includes(role.id)}
            onChange={(event) => onChange((event.target as HTMLInputElement).checked ? [...chosen, role.id] : chosen.filter((id) => id !== role.id))}
          />
          {role.name}
        </label>
      ))}
      <FieldError errors={errors} name="roleIds" />
    </fieldset>
  );
}

function AgentForm({ existing, idps, roles, onDone, onCancel }: { existing?: Agent; idps: Idp[]; roles: Role[]; onDone: () => void; onCancel: () => void }) {
  const [name, setName] = useState(existing?.name ?? '');
  const [description, setDescription] = useState(existing?.description ?? '');
  const [contact, setContact] = useState(existing?.contact ?? '');
  const [idpId, setIdpId] = useState(existing?.idpId ?? idps.find((idp) => idp.active)?.id ?? '');
  const [subject, setSubject] = useState(existing?.subject ?? '');
  const [roleIds, setRoleIds] = useState<string[]>(existing?.roles.map((role) => role.id) ?? []);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const idp = idps.find((entry) => entry.id === idpId);
  return (
    <form
      class="card form"
      aria-label={existing ? 'Edit agent' : 'Create agent'}
      onSubmit={async (event) => {
        event.preventDefault();
        const problems = clientErrors({
          name: name.trim() ? undefined : 'Enter a name: it is how this agent appears in lists and in the audit trail.',
          subject: idpId && !subject.trim() ? `Enter the agent’s identifier at ${idp?.name ?? 'the identity provider'}.` : undefined,
        });
        if (problems) return setErrors(problems);
        const body: Record<string, unknown> = { name: name.trim(), roleIds, idpId: idpId || null, subject: idpId ? subject.trim() || null : null };
        if (description.trim() || existing?.description) body.description = description.trim();
        if (contact.trim() || existing?.contact) body.contact = contact.trim();
        try {
          if (existing) await api('PATCH', `/api/v1/mcp/agents/${existing.id}`, body);
          else await api('POST', '/api/v1/mcp/agents', body);
          onDone();
        } catch (error) {
          setErrors(formErrors(error));
        }
      }}
    >
      <h2>{existing ? `Edit ${existing.name}` : 'Create an agent'}</h2>
      <Field label="Name" name="name" errors={errors} value={name} onInput={setName} />
      <Field label="Description (optional)" name="description" errors={errors} value={description} onInput={setDescription} />
      <Field label="Owner / contact (optional)" name="contact" errors={errors} value={contact} onInput={setContact} help="Who to ask about this agent: a person, a team or an address." />
      <div class="field">
        <label for="field-idpId">Identity provider</label>
        <select id="field-idpId" name="idpId" value={idpId} onChange={(event) => setIdpId((event.target as HTMLSelectElement).value)}>
          <option value="">None (API keys only)</option>
          {idps.map((entry) => (
            <option key={entry.id} value={entry.id}>
              {entry.name}
              {entry.active ? '' : ' (inactive)'}
            </option>
          ))}
        </select>
        <FieldError errors={errors} name="idpId" />
      </div>
      {idpId ? <Field label="Agent identifier in the identity provider" name="subject" errors={errors} value={subject} onInput={setSubject} help={subjectHelp(idp)} /> : <p class="help">{subjectHelp(undefined)}</p>}
      <RoleChoices roles={roles} chosen={roleIds} onChange={setRoleIds} errors={errors} />
      <FormFooter errors={errors} submitLabel={existing ? 'Save' : 'Create agent'} onCancel={onCancel} />
    </form>
  );
}

/** A rotated key lives as long as the key it replaces did. */
function sameLifetime(key: AgentKey): string | null {
  if (!key.expiresAt) return null;
  const lifetime = new Date(key.expiresAt).getTime() - new Date(key.createdAt).getTime();
  return lifetime > 0 ? new Date(Date.now() + lifetime).toISOString() : null;
}

const HEALTH_LABELS = { ready: 'ready', attention: 'needs attention', blocked: 'blocked' } as const;

/** The agent's whole status: the agent, its provider, its keys and its roles, with the reasons. */
function Health({ agent }: { agent: Agent }) {
  const health = agent.health ?? { state: agent.active ? 'ready' : 'blocked', notes: [] };
  const label = agent.active ? HEALTH_LABELS[health.state] : 'inactive';
  return (
    <div class="health" data-state={health.state}>
      <span class={`badge badge-${health.state}`}>{label}</span>
      {health.notes.length ? (
        <ul class="notes">
          {health.notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function AgentKeys({ agent, onChange }: { agent: Agent; onChange: () => void }) {
  const [keys, setKeys] = useState<AgentKey[] | undefined>();
  const [name, setName] = useState('');
  const [issued, setIssued] = useState<AgentKey | undefined>();
  const [copied, setCopied] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const load = () => api<AgentKey[]>('GET', `/api/v1/mcp/agents/${agent.id}/keys`).then(setKeys, (e) => setErrors(formErrors(e)));
  const issue = async (keyName: string, expiresAt?: string | null) => {
    const key = await api<AgentKey>('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: keyName, ...(expiresAt ? { expiresAt } : {}) });
    setIssued(key);
    setCopied(false);
    setErrors(NO_ERRORS);
    await load();
    onChange();
  };
  useEffect(() => void load(), [agent.id]);
  return (
    <div class="keys card" aria-label={`API keys of ${agent.name}`}>
      <h3>API keys</h3>
      {issued ? (
        <div class="secret" role="status">
          <p>
            <strong>Copy this key now: it is shown only once.</strong> Until you revoke the old key, both work: give the new one to the agent's operator, check below that it is used, then revoke the old one.
          </p>
          <code class="mono" data-secret>
            {issued.secret}
          </code>
          <button
            type="button"
            onClick={async () => {
              await navigator.clipboard?.writeText(issued.secret ?? '').catch(() => undefined);
              setCopied(true);
            }}
          >
            {copied ? 'Copied' : 'Copy'}
          </button>
          <button type="button" onClick={() => setIssued(undefined)}>
            Done
          </button>
        </div>
      ) : null}
      <form
        class="inline-form"
        onSubmit={async (event) => {
          event.preventDefault();
          try {
            await issue(name.trim());
            setName('');
          } catch (error) {
            setErrors(formErrors(error));
          }
        }}
      >
        <Field label="New key name" name="keyName" errors={{ fields: { keyName: errors.fields.name ?? '' } }} value={name} onInput={setName} />
        <button type="submit">Issue key</button>
      </form>
      <FormError errors={errors} />
      {keys === undefined ? null : keys.length === 0 ? (
        <Empty title="No API keys">Issue a key if this agent cannot obtain tokens from an identity provider.</Empty>
      ) : (
        <ul class="key-list">
          {keys.map((key) => (
            <li key={key.id} data-key={key.name}>
              <span class="mono">{key.prefix}…</span> {key.name} <span class={`badge ${key.status === 'active' ? 'badge-ok' : 'badge-off'}`}>{key.status}</span>
              <span class="muted small">
                last used <Ago iso={key.lastUsedAt} />
                {key.expiresAt ? ` · expires ${when(key.expiresAt)}` : ''}
              </span>
              {key.status === 'active' ? (
                <button
                  type="button"
                  onClick={() => issue(`${key.name} (rotated ${new Date().toISOString().slice(0, 10)})`, sameLifetime(key)).catch((e) => setErrors(formErrors(e)))}
                >
                  Rotate
                </button>
              ) : null}
              {key.status === 'active' ? (
                <ConfirmButton
                  label="Revoke"
                  question={`Revoke ${key.name}?`}
                  onConfirm={async () => {
                    await api('DELETE', `/api/v1/mcp/agents/${agent.id}/keys/${key.id}`).catch((e) => setErrors(formErrors(e)));
                    await load();
                    onChange();
                  }}
                />
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function AgentsPage() {
  const [agents, setAgents] = useState<Agent[] | undefined>();
  const [idps, setIdps] = useState<Idp[]>([]);
  const [roles, setRoles] = useState<Role[]>([]);
  const [editing, setEditing] = useState<Agent | 'new' | undefined>();
  const [keysOf, setKeysOf] = useState<string | undefined>();
  const [limitsOf, setLimitsOf] = useState<string | undefined>();
  const [chosen, setChosen] = useState<string[]>([]);
  const [error, setError] = useState<string>();
  const focus = focusedId();

  const load = async () => {
    try {
      const [a, i, r] = await Promise.all([api<Agent[]>('GET', '/api/v1/mcp/agents'), api<Idp[]>('GET', '/api/v1/mcp/idp-providers'), api<Role[]>('GET', '/api/v1/mcp/roles')]);
      setAgents(a);
      setIdps(i);
      setRoles(r);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
    // "Last seen" and health move on their own: refresh while the page is open.
    const timer = setInterval(() => void load(), 15_000);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    if (focus && agents) document.getElementById(`agent-${focus}`)?.scrollIntoView({ block: 'center' });
  }, [focus, agents === undefined]);

  const act = (run: () => Promise<unknown>) => runThenReload(run, load, setError);

  const idpName = (id: string | null) => (id ? (idps.find((idp) => idp.id === id)?.name ?? 'unknown') : 'API keys only');

  return (
    <section>
      <p class="lead">The agents allowed to call tools, the identity they sign in with, and the roles that decide what they may call.</p>
      <Notice message={error} />
      {editing ? (
        <AgentForm
          existing={editing === 'new' ? undefined : editing}
          idps={idps}
          roles={roles}
          onCancel={() => setEditing(undefined)}
          onDone={() => {
            setEditing(undefined);
            void load();
          }}
        />
      ) : (
        <button type="button" class="primary" onClick={() => setEditing('new')}>
          Create agent
        </button>
      )}
      {agents === undefined ? (
        <p class="loading">Loading…</p>
      ) : agents.length === 0 ? (
        <Empty title="No agents yet">
          Create an agent for each automated client: bind it to its identity in your identity provider (add one on the Identity providers page first) or issue it an API key, and give it roles.
        </Empty>
      ) : (
        <>
          <div class="bulk" role="group" aria-label="Selected agents">
            <span>{chosen.length ? `${chosen.length} selected` : 'Select agents to act on several at once.'}</span>
            <button
              type="button"
              disabled={!chosen.some((id) => agents.find((agent) => agent.id === id)?.active)}
              onClick={() =>
                act(async () => {
                  for (const id of chosen) if (agents.find((agent) => agent.id === id)?.active) await api('POST', `/api/v1/mcp/agents/${id}/deactivate`);
                  setChosen([]);
                })
              }
            >
              Deactivate selected
            </button>
          </div>
          <div class="table-wrap">
            <table aria-label="Agents" class="stack">
              <thead>
                <tr>
                  <th>
                    <input
                      type="checkbox"
                      aria-label="Select all agents"
                      checked={chosen.length > 0 && chosen.length === agents.length}
                      onChange={(event) => setChosen((event.target as HTMLInputElement).checked ? agents.map((agent) => agent.id) : [])}
                    />
                  </th>
                  <th>Name</th>
                  <th>Status</th>
                  <th>Identity</th>
                  <th>Roles</th>
                  <th>Last seen</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {agents.map((agent) => (
                  <Fragment key={agent.id}>
                    <tr data-agent-id={agent.id} id={`agent-${agent.id}`} class={focus === agent.id ? 'selected' : undefined}>
                      <td>
                        <input
                          type="checkbox"
                          aria-label={`Select ${agent.name}`}
                          checked={chosen.includes(agent.id)}
                          onChange={(event) => setChosen((event.target as HTMLInputElement).checked ? [...chosen, agent.id] : chosen.filter((id) => id !== agent.id))}
                        />
                      </td>
                      <td class="agent-name" data-label="Name">
                        <strong>{agent.name}</strong>
                        {agent.contact ? <div class="muted small">Owner: {agent.contact}</div> : null}
                      </td>
                      <td data-label="Status">
                        <Health agent={agent} />
                      </td>
                      <td data-label="Identity">
                        {idpName(agent.idpId)}
                        {agent.subject ? <div class="mono small">{agent.subject}</div> : null}
                      </td>
                      <td data-label="Roles">{agent.roles.length ? agent.roles.map((role) => role.name).join(', ') : <span class="muted">none</span>}</td>
                      <td data-label="Last seen" class="last-seen">
                        <Ago iso={agent.lastSeenAt} />
                      </td>
                      <td class="row-actions">
                        <button type="button" onClick={() => setEditing(agent)}>
                          Edit
                        </button>
                        <button type="button" onClick={() => act(() => api('POST', `/api/v1/mcp/agents/${agent.id}/${agent.active ? 'deactivate' : 'reactivate'}`))}>
                          {agent.active ? 'Deactivate' : 'Reactivate'}
                        </button>
                        <button type="button" aria-expanded={keysOf === agent.id} onClick={() => setKeysOf(keysOf === agent.id ? undefined : agent.id)}>
                          {keysOf === agent.id ? 'Hide keys' : 'Keys'}
                        </button>
                        <button type="button" aria-expanded={limitsOf === agent.id} onClick={() => setLimitsOf(limitsOf === agent.id ? undefined : agent.id)}>
                          {limitsOf === agent.id ? 'Hide limits' : 'Limits'}
                        </button>
                        <ConfirmButton label="Delete" question={`Delete ${agent.name}? Its audit trail is kept.`} onConfirm={() => act(() => api('DELETE', `/api/v1/mcp/agents/${agent.id}`))} />
                      </td>
                    </tr>
                    {keysOf === agent.id ? (
                      <tr class="keys-row">
                        <td colSpan={7}>
                          <AgentKeys agent={agent} onChange={() => void load()} />
                        </td>
                      </tr>
                    ) : null}
                    {limitsOf === agent.id ? (
                      <tr class="keys-row">
                        <td colSpan={7}>
                          <LimitsPanel target={{ scope: 'agent', agentId: agent.id, name: agent.name }} roleNames={Object.fromEntries(roles.map((role) => [role.id, role.name]))} />
                        </td>
                      </tr>
                    ) : null}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
