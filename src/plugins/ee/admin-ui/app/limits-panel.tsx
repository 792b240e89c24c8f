import { useEffect, useState } from 'preact/hooks';
import { api, type KnownPermission, type Limit, type LimitWindow } from './api.js';
import { ConfirmButton, Field, FieldError, FormError, formErrors, NO_ERRORS, clientErrors, type FormErrors } from './components.js';

const WINDOWS: { value: LimitWindow; label: string }[] = [
  { value: 'second', label: 'per second' },
  { value: 'minute', label: 'per minute' },
  { value: 'hour', label: 'per hour' },
  { value: 'day', label: 'per day (UTC)' },
  { value: 'month', label: 'per month (UTC)' },
];
const PER: Record<LimitWindow, string> = { second: 'second', minute: 'minute', hour: 'hour', day: 'day', month: 'month' };
/** How often the counts are read again while the panel is open (instances report about every second). */
const REFRESH_MS = 5_000;

export type LimitTarget = { readonly scope: 'agent'; readonly agentId: string; readonly name: string } | { readonly scope: 'role'; readonly roleId: string; readonly name: string };

function origin(limit: Limit, target: LimitTarget, roleName: (id: string) => string): string {
  if (limit.scope === 'tenant') return 'whole tenant (all agents together)';
  if (limit.scope === 'role') return target.scope === 'role' ? 'each agent holding this role' : `role ${roleName(limit.roleId!)} (counted for this agent)`;
  return 'this agent';
}

function usageText(limit: Limit, target: LimitTarget, agentName: (id: string) => string): string {
  const resets = limit.usage.resetsAt ? ` · resets ${new Date(limit.usage.resetsAt).toLocaleTimeString()}` : '';
  if (target.scope === 'role' && limit.usage.counts.length) {
    const busiest = limit.usage.counts[0]!;
    return `${busiest.used} of ${limit.max} this ${PER[limit.window]} (busiest: ${agentName(busiest.agentId ?? '')}, ${limit.usage.counts.length} agent${limit.usage.counts.length === 1 ? '' : 's'} counted)${resets}`;
  }
  return `${limit.usage.used} of ${limit.max} this ${PER[limit.window]}${resets}`;
}

/**
 * Rate limits and quotas of one agent or one role, with each one's count in its current window.
 * An agent's panel also shows what applies to it from the tenant and its roles (set elsewhere).
 */
export function LimitsPanel({ target, roleNames = {}, agentNames = {} }: { target: LimitTarget; roleNames?: Record<string, string>; agentNames?: Record<string, string> }) {
  const [limits, setLimits] = useState<Limit[] | undefined>();
  const [tools, setTools] = useState<string[]>([]);
  const [max, setMax] = useState('');
  const [window, setWindow] = useState<LimitWindow>('minute');
  const [tool, setTool] = useState('');
  const [changing, setChanging] = useState<{ id: string; max: string } | undefined>();
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const path = target.scope === 'agent' ? `/api/v1/mcp/limits?agentId=${target.agentId}` : `/api/v1/mcp/limits?roleId=${target.roleId}`;
  const load = () => api<Limit[]>('GET', path).then(setLimits, (e) => setErrors(formErrors(e)));
  useEffect(() => {
    void load();
    void api<KnownPermission[]>('GET', '/admin/permissions').then((known) => setTools([...new Set(known.flatMap((entry) => entry.tools))].sort()), () => undefined);
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [path]);
  const own = (limit: Limit) => (target.scope === 'agent' ? limit.scope === 'agent' && limit.agentId === target.agentId : limit.scope === 'role' && limit.roleId === target.roleId);
  const roleName = (id: string) => roleNames[id] ?? 'unknown role';
  const agentName = (id: string) => agentNames[id] ?? id.slice(0, 8);
  const label = `Limits of ${target.name}`;
  const key = target.scope === 'agent' ? target.agentId : target.roleId;
  return (
    <div class="limits card" aria-label={label}>
      <h3>Rate limits and quotas</h3>
      <p class="help">
        {target.scope === 'agent'
          ? 'Calls this agent may make per window; a call over a limit is refused until the window resets. Limits of its roles and of the whole tenant apply too.'
          : 'Each agent holding this role gets its own count under these limits.'}
      </p>
      {limits === undefined ? null : limits.length === 0 ? (
        <p class="muted">No limits: calls are not counted.</p>
      ) : (
        <table aria-label={label}>
          <thead>
            <tr>
              <th>Applies to</th>
              <th>Tool</th>
              <th>Limit</th>
              <th>Current use</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {limits.map((limit) => (
              <tr key={limit.id} data-limit={`${limit.tool ?? '*'} ${limit.window}`}>
                <td>{origin(limit, target, roleName)}</td>
                <td class="mono">{limit.tool ?? <span class="muted">all tools</span>}</td>
                <td>
                  {changing?.id === limit.id ? (
                    <form
                      class="inline-form"
                      onSubmit={async (event) => {
                        event.preventDefault();
                        try {
                          await api('PATCH', `/api/v1/mcp/limits/${limit.id}`, { max: Number(changing.max) });
                          setChanging(undefined);
                          setErrors(NO_ERRORS);
                          await load();
                        } catch (error) {
                          setErrors(formErrors(error));
                        }
                      }}
                    >
                      <Field label="Calls" name="changeMax" errors={{ fields: { changeMax: errors.fields.max ?? '' } }} value={changing.max} onInput={(value) => setChanging({ id: limit.id, max: value })} />
                      <button type="submit">Save</button>
                      <button type="button" onClick={() => setChanging(undefined)}>
                        Cancel
                      </button>
                    </form>
                  ) : (
                    `${limit.max} per ${PER[limit.window]}`
                  )}
                </td>
                <td class="usage" data-usage>
                  {usageText(limit, target, agentName)}
                </td>
                <td class="row-actions">
                  {own(limit) ? (
                    <>
                      <button type="button" onClick={() => setChanging({ id: limit.id, max: String(limit.max) })}>
                        Change
                      </button>
                      <ConfirmButton
                        label="Remove"
                        question={`Remove the limit of ${limit.max} per ${PER[limit.window]}?`}
                        onConfirm={async () => {
                          await api('DELETE', `/api/v1/mcp/limits/${limit.id}`).catch((e) => setErrors(formErrors(e)));
                          await load();
                        }}
                      />
                    </>
                  ) : (
                    <span class="muted small">{limit.scope === 'role' ? 'set on the Roles page' : 'set for the tenant'}</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="inline-form"
        aria-label={`Add a limit to ${target.name}`}
        onSubmit={async (event) => {
          event.preventDefault();
          const calls = Number(max);
          const problems = clientErrors({ max: Number.isInteger(calls) && calls >= 1 ? undefined : 'Enter how many calls, a whole number of at least 1.' });
          if (problems) return setErrors(problems);
          const body: Record<string, unknown> = { ...(target.scope === 'agent' ? { scope: 'agent', agentId: target.agentId } : { scope: 'role', roleId: target.roleId }), window, max: calls };
          if (tool.trim()) body.tool = tool.trim();
          try {
            await api('POST', '/api/v1/mcp/limits', body);
            setMax('');
            setTool('');
            setErrors(NO_ERRORS);
            await load();
          } catch (error) {
            setErrors(formErrors(error));
          }
        }}
      >
        <Field label="Calls" name="max" type="number" errors={errors} value={max} onInput={setMax} />
        <div class="field">
          <label for={`limit-window-${key}`}>Window</label>
          <select id={`limit-window-${key}`} name="window" value={window} onChange={(event) => setWindow((event.target as HTMLSelectElement).value as LimitWindow)}>
            {WINDOWS.map((entry) => (
              <option key={entry.value} value={entry.value}>
                {entry.label}
              </option>
            ))}
          </select>
          <FieldError errors={errors} name="window" />
        </div>
        <div class="field">
          <label for={`limit-tool-${key}`}>Tool (optional)</label>
          <input id={`limit-tool-${key}`} name="tool" list={`limit-tools-${key}`} value={tool} placeholder="all tools" onInput={(event) => setTool((event.target as HTMLInputElement).value)} />
          <datalist id={`limit-tools-${key}`}>
            {tools.map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
          <FieldError errors={errors} name="tool" />
        </div>
        <button type="submit">Add limit</button>
        <button type="button" onClick={() => void load()}>
          Refresh use
        </button>
      </form>
      <FormError errors={errors} />
    </div>
  );
}
