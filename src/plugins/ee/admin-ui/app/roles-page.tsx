import { focusedId } from './focus.js';
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type Agent, type KnownPermission, type Role } from './api.js';
import { LimitsPanel } from './limits-panel.js';
import { PERMISSION_PATTERN } from '../../rbac/permission-pattern.js';
import { clientErrors, ConfirmButton, Empty, Field, FieldError, FormError, formErrors, NO_ERRORS, Notice, type FormErrors, FormFooter } from './components.js';

function RoleForm({ existing, known, onDone, onCancel }: { existing?: Role; known: KnownPermission[]; onDone: () => void; onCancel: () => void }) {
  const knownNames = known.map((entry) => entry.permission);
  const [name, setName] = useState(existing?.name ?? '');
  const [description, setDescription] = useState(existing?.description ?? '');
  const [checked, setChecked] = useState<string[]>(existing?.permissions.filter((p) => knownNames.includes(p)) ?? []);
  const [patterns, setPatterns] = useState(existing?.permissions.filter((p) => !knownNames.includes(p)).join(', ') ?? '');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  return (
    <form
      class="card form"
      aria-label={existing ? 'Edit role' : 'Create role'}
      onSubmit={async (event) => {
        event.preventDefault();
        const extra = patterns.split(/[\s,]+/).filter(Boolean);
        const bad = extra.filter((pattern) => !PERMISSION_PATTERN.test(pattern));
        const problems = clientErrors({
          name: name.trim() ? undefined : 'Enter a name: it is how this role is offered when you give roles to agents.',
          permissions: bad.length ? `Not a permission pattern: ${bad.join(', ')}. Each looks like resource:action, resource:* or *.` : undefined,
        });
        if (problems) return setErrors(problems);
        const body: Record<string, unknown> = { name: name.trim(), permissions: [...new Set([...checked, ...extra])] };
        if (description.trim() || existing?.description) body.description = description.trim();
        try {
          if (existing) await api('PATCH', `/api/v1/mcp/roles/${existing.id}`, body);
          else await api('POST', '/api/v1/mcp/roles', body);
          onDone();
        } catch (error) {
          setErrors(formErrors(error));
        }
      }}
    >
      <h2>{existing ? `Edit ${existing.name}` : 'Create a role'}</h2>
      <Field label="Name" name="name" errors={errors} value={name} onInput={setName} />
      <Field label="Description (optional)" name="description" errors={errors} value={description} onInput={setDescription} />
      <fieldset class="choices">
        <legend>Permissions of the registered tools</legend>
        {known.length === 0 ? <p class="help">No tool declares a permission yet.</p> : null}
        {known.map((entry) => (
          <label key={entry.permission} class="choice">
            <input
              type="checkbox"
              name="permissions"
              value={entry.permission}
              checked={checked.includes(entry.permission)}
              onChange={(event) => setChecked((event.target as HTMLInputElement).checked ? [...checked, entry.permission] : checked.filter((p) => p !== entry.permission))}
            />
            <span class="mono">{entry.permission}</span> <span class="muted small">({entry.tools.join(', ')})</span>
          </label>
        ))}
      </fieldset>
      <Field
        label="Wildcard patterns"
        name="patterns"
        errors={{ fields: { patterns: errors.fields.permissions ?? '' } }}
        value={patterns}
        onInput={setPatterns}
        help={'Comma-separated: "tickets:*" grants every tickets action, "*" grants everything, "tickets:delete+approval" grants it only with a person’s approval of each call.'}
      />
      <FieldError errors={errors} name="permissions" />
      <FormFooter errors={errors} submitLabel={existing ? 'Save' : 'Create role'} onCancel={onCancel} />
    </form>
  );
}

export function RolesPage() {
  const [roles, setRoles] = useState<Role[] | undefined>();
  const [known, setKnown] = useState<KnownPermission[]>([]);
  const [editing, setEditing] = useState<Role | 'new' | undefined>();
  const [limitsOf, setLimitsOf] = useState<string | undefined>();
  const [agentNames, setAgentNames] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();

  const load = async () => {
    try {
      const [r, k] = await Promise.all([api<Role[]>('GET', '/api/v1/mcp/roles'), api<KnownPermission[]>('GET', '/admin/permissions')]);
      setRoles(r);
      setKnown(k);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => void load(), []);
  const focus = focusedId();
  useEffect(() => {
    if (focus && roles) document.getElementById(`role-${focus}`)?.scrollIntoView({ block: 'center' });
  }, [focus, roles === undefined]);

  return (
    <section>
      <p class="lead">A role is a set of permissions; an agent may call a tool when one of its roles grants the tool's permission.</p>
      <Notice message={error} />
      {editing ? (
        <RoleForm
          existing={editing === 'new' ? undefined : editing}
          known={known}
          onCancel={() => setEditing(undefined)}
          onDone={() => {
            setEditing(undefined);
            void load();
          }}
        />
      ) : (
        <button type="button" class="primary" onClick={() => setEditing('new')}>
          Create role
        </button>
      )}
      {roles === undefined ? (
        <p class="loading">Loading…</p>
      ) : roles.length === 0 ? (
        <Empty title="No roles yet">Create a role with the permissions an agent needs, then give it to agents on the Agents page. Without a role an agent may call nothing.</Empty>
      ) : (
        <div class="table-wrap">
          <table aria-label="Roles">
            <thead>
              <tr>
                <th>Name</th>
                <th>Permissions</th>
                <th>Description</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {roles.map((role) => (
                <Fragment key={role.id}>
                  <tr data-role={role.name} id={`role-${role.id}`} class={focus === role.id ? 'selected' : undefined}>
                    <td>{role.name}</td>
                    <td class="mono">{role.permissions.join(', ') || <span class="muted">none</span>}</td>
                    <td>{role.description}</td>
                    <td class="row-actions">
                      <button type="button" onClick={() => setEditing(role)}>
                        Edit
                      </button>
                      <button
                        type="button"
                        aria-expanded={limitsOf === role.id}
                        onClick={() => {
                          setLimitsOf(limitsOf === role.id ? undefined : role.id);
                          void api<Agent[]>('GET', '/api/v1/mcp/agents').then((agents) => setAgentNames(Object.fromEntries(agents.map((agent) => [agent.id, agent.name]))), () => undefined);
                        }}
                      >
                        {limitsOf === role.id ? 'Hide limits' : 'Limits'}
                      </button>
                      <ConfirmButton
                        label="Delete"
                        question={`Delete ${role.name}? Agents lose what it grants.`}
                        onConfirm={async () => {
                          await api('DELETE', `/api/v1/mcp/roles/${role.id}`).catch((e: Error) => setError(e.message));
                          await load();
                        }}
                      />
                    </td>
                  </tr>
                  {limitsOf === role.id ? (
                    <tr class="keys-row">
                      <td colSpan={4}>
                        <LimitsPanel target={{ scope: 'role', roleId: role.id, name: role.name }} agentNames={agentNames} />
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
