import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, apiResponse, basePath, query, type Agent, type AuditEntry, type Idp, type Role } from './api.js';
import { auditObject, auditSentence, type AuditNames } from './audit-sentences.js';
import { linkTo } from './focus.js';
import { AuditIntegrity } from './audit-integrity.js';
import { Empty, FieldError, FormError, formErrors, NO_ERRORS, type FormErrors } from './components.js';

const PAGE_SIZE = 25;
const DECISIONS = ['allowed', 'denied', 'needs-approval', 'auth-failed', 'admin'];

interface Filter {
  agent: string;
  tool: string;
  decision: string;
  from: string;
  to: string;
}

const latency = (ms: number | null): string => (ms === null ? '' : `${ms < 10 ? ms.toFixed(2) : Math.round(ms)} ms`);

const EMPTY_FILTER: Filter = { agent: '', tool: '', decision: '', from: '', to: '' };

/** `datetime-local` values are local times; the API wants ISO 8601 instants. */
const iso = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

function filterQuery(filter: Filter): Record<string, string | undefined> {
  return { agent: filter.agent || undefined, tool: filter.tool.trim() || undefined, decision: filter.decision || undefined, from: iso(filter.from), to: iso(filter.to) };
}

function Detail({ entry, names, onClose }: { entry: AuditEntry; names: AuditNames; onClose: () => void }) {
  const object = auditObject(entry, names);
  const principal = entry.principal.label ? `${entry.principal.label}${entry.principal.kind ? ` (${entry.principal.kind})` : ''}` : '';
  // Only what this event has: an admin change has no latency, a refusal no arguments.
  const rows = (
    [
      ['When', new Date(entry.occurredAt).toLocaleString()],
      ['Who', principal],
      ['Action', entry.action],
      ['Tool / target', entry.decision === 'admin' ? '' : (entry.target ?? '')],
      ['Decision', entry.decision],
      ['Reason', entry.reason ?? ''],
      ['Outcome', entry.outcome],
      ['Latency', latency(entry.latencyMs)],
      ['Issuer', entry.issuer ?? ''],
      ['Subject', entry.subject ?? ''],
      ['Key', entry.keyId ?? ''],
      ['Request id', entry.requestId],
      ['Client address', entry.clientAddress ?? ''],
      ['Arguments digest', entry.argumentsDigest ?? ''],
    ] as [string, string][]
  ).filter(([, value]) => value !== '');
  const hasDetails = entry.details !== null && typeof entry.details === 'object' && Object.keys(entry.details as object).length > 0;
  return (
    <aside class="card detail" aria-label="Audit event" id="audit-detail" tabIndex={-1}>
      <h2>{auditSentence(entry, names)}</h2>
      {object ? (
        <p>
          <a href={linkTo(object.page, object.id)}>
            Open {object.page === 'idps' ? 'identity provider' : object.page === 'roles' ? 'role' : 'agent'} {object.name}
          </a>
        </p>
      ) : null}
      <dl>
        {rows.map(([label, value]) => (
          <Fragment key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </Fragment>
        ))}
      </dl>
      {entry.arguments !== null && entry.arguments !== undefined ? (
        <>
          <h3>Arguments (redacted)</h3>
          <pre class="mono">{JSON.stringify(entry.arguments, null, 2)}</pre>
        </>
      ) : null}
      {hasDetails ? (
        <>
          <h3>Details</h3>
          <pre class="mono">{JSON.stringify(entry.details, null, 2)}</pre>
        </>
      ) : null}
      <button type="button" onClick={onClose}>
        Close
      </button>
    </aside>
  );
}

export function AuditPage() {
  const [agents, setAgents] = useState<Agent[]>([]);
  const [names, setNames] = useState<AuditNames>({ agents: new Map(), roles: new Map(), idps: new Map() });
  const [draft, setDraft] = useState<Filter>(EMPTY_FILTER);
  const [filter, setFilter] = useState<Filter>(EMPTY_FILTER);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<{ entries: AuditEntry[]; next: string | null } | undefined>();
  const [selected, setSelected] = useState<AuditEntry | undefined>();
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);

  useEffect(() => {
    const byId = (list: { id: string; name: string }[]) => new Map(list.map((item) => [item.id, item.name]));
    Promise.all([api<Agent[]>('GET', '/api/v1/mcp/agents'), api<Role[]>('GET', '/api/v1/mcp/roles'), api<Idp[]>('GET', '/api/v1/mcp/idp-providers')]).then(
      ([a, r, i]) => {
        setAgents(a);
        setNames({ agents: byId(a), roles: byId(r), idps: byId(i) });
      },
      () => undefined,
    );
  }, []);
  useEffect(() => {
    if (selected) document.getElementById('audit-detail')?.scrollIntoView({ block: 'nearest' });
  }, [selected?.id]);

  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    let stale = false;
    const path = `/api/v1/mcp/audit${query({ ...filterQuery(filter), limit: String(PAGE_SIZE), cursor })}`;
    fetchPage(path).then(
      (found) => {
        if (!stale) {
          setPage(found);
          setErrors(NO_ERRORS);
        }
      },
      (error) => !stale && setErrors(formErrors(error)),
    );
    return () => {
      stale = true;
    };
  }, [filter, cursor]);

  const set = (name: keyof Filter) => (event: Event) => setDraft({ ...draft, [name]: (event.target as HTMLInputElement).value });
  const exportUrl = (format: string) => `${basePath}/api/v1/mcp/audit/export${query({ ...filterQuery(filter), format })}`;

  return (
    <section>
      <p class="lead">Every tool call, refusal and admin change, newest first.</p>
      <AuditIntegrity />
      <form
        class="filters card"
        aria-label="Audit filters"
        onSubmit={(event) => {
          event.preventDefault();
          setFilter(draft);
          setCursors([undefined]);
          setSelected(undefined);
        }}
      >
        <div class="field">
          <label for="filter-agent">Agent</label>
          <select id="filter-agent" name="agent" value={draft.agent} onChange={set('agent')}>
            <option value="">Any agent</option>
            {agents.map((agent) => (
              <option key={agent.id} value={agent.id}>
                {agent.name}
              </option>
            ))}
          </select>
          <FieldError errors={errors} name="agent" />
        </div>
        <div class="field">
          <label for="filter-tool">Tool</label>
          <input id="filter-tool" name="tool" value={draft.tool} onInput={set('tool')} placeholder="e.g. tickets.read" />
          <FieldError errors={errors} name="tool" />
        </div>
        <div class="field">
          <label for="filter-decision">Decision</label>
          <select id="filter-decision" name="decision" value={draft.decision} onChange={set('decision')}>
            <option value="">Any decision</option>
            {DECISIONS.map((decision) => (
              <option key={decision} value={decision}>
                {decision}
              </option>
            ))}
          </select>
          <FieldError errors={errors} name="decision" />
        </div>
        <div class="field">
          <label for="filter-from">From</label>
          <input id="filter-from" name="from" type="datetime-local" value={draft.from} onInput={set('from')} />
          <FieldError errors={errors} name="from" />
        </div>
        <div class="field">
          <label for="filter-to">To</label>
          <input id="filter-to" name="to" type="datetime-local" value={draft.to} onInput={set('to')} />
          <FieldError errors={errors} name="to" />
        </div>
        <div class="actions">
          <button type="submit" class="primary">
            Apply filters
          </button>
          <button type="button" onClick={() => setCursors([...cursors.slice(0, -1), undefined])}>
            Refresh
          </button>
        </div>
      </form>
      <p class="exports">
        Export the current filter:{' '}
        <a href={exportUrl('csv')} download>
          CSV
        </a>{' '}
        ·{' '}
        <a href={exportUrl('jsonl')} download>
          JSON Lines
        </a>
      </p>
      <FormError errors={errors} />
      <div class={selected ? 'audit-body with-detail' : 'audit-body'}>
      {page === undefined ? (
        <p class="loading">Loading…</p>
      ) : page.entries.length === 0 ? (
        <Empty title="No audit events match">
          {cursors.length > 1 ? 'This is past the last page.' : 'Widen the filters, or wait for agents to call tools: every call, refusal and admin change is recorded here.'}
        </Empty>
      ) : (
        <div class="table-wrap">
          <table aria-label="Audit events" class="clickable">
            <thead>
              <tr>
                <th>When</th>
                <th>Event</th>
                <th>Decision</th>
              </tr>
            </thead>
            <tbody>
              {page.entries.map((entry) => (
                <tr key={entry.id} data-audit-id={entry.id} class={selected?.id === entry.id ? 'selected' : undefined} onClick={() => setSelected(entry)}>
                  <td>
                    <button type="button" class="link" onClick={() => setSelected(entry)}>
                      {new Date(entry.occurredAt).toLocaleString()}
                    </button>
                  </td>
                  <td class="sentence">{auditSentence(entry, names)}</td>
                  <td>
                    <span class={`badge decision-${entry.decision}`}>{entry.decision}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {selected ? <Detail entry={selected} names={names} onClose={() => setSelected(undefined)} /> : null}
      </div>
      <div class="pager">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button type="button" disabled={!page?.next} onClick={() => page?.next && setCursors([...cursors, page.next])}>
          Next page
        </button>
      </div>
    </section>
  );
}

/** A page of the audit list: the API returns `nextCursor` beside `data`. */
async function fetchPage(path: string): Promise<{ entries: AuditEntry[]; next: string | null }> {
  const body = await apiResponse<{ data: AuditEntry[]; nextCursor: string | null }>('GET', path);
  return { entries: body.data, next: body.nextCursor ?? null };
}
