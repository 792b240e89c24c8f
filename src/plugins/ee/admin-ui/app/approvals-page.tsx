import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Empty, Notice, when } from './components.js';
import './approvals.css';

/** A call held for approval, as `/api/v1/mcp/approvals` returns it (arguments already redacted). */
export interface Approval {
  id: string;
  tool: string;
  target: { kind: string; name: string };
  principal: { kind: string; id: string; label: string | null; agentId: string | null };
  arguments: unknown;
  policyReason: string;
  approversRequired: number;
  state: 'pending' | 'approved' | 'denied' | 'expired' | 'executed';
  withdrawn: boolean;
  approvals: { label: string; reason: string; at: string }[];
  decidedBy: string | null;
  decisionReason: string | null;
  createdAt: string;
  expiresAt: string;
  executedAt: string | null;
}

const REFRESH_MS = 3000;

const BADGES: Record<Approval['state'], string> = {
  pending: 'badge-warn',
  approved: 'badge-ok',
  executed: 'badge-ok',
  denied: 'badge-off',
  expired: 'badge-off',
};

function stateLabel(approval: Approval): string {
  if (approval.withdrawn) return 'withdrawn';
  return approval.state;
}

function Decision({ approval, onDone }: { approval: Approval; onDone: (message: string | undefined, ok?: boolean) => void }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const decide = async (verdict: 'approve' | 'deny') => {
    if (verdict === 'deny' && !reason.trim()) {
      onDone('Give a reason to deny: the caller sees it.');
      return;
    }
    setBusy(true);
    try {
      const updated = await api<Approval>('POST', `/api/v1/mcp/approvals/${approval.id}/${verdict}`, reason.trim() ? { reason: reason.trim() } : {});
      const waiting = updated.state === 'pending' ? ` It needs ${updated.approversRequired - updated.approvals.length} more approver.` : '';
      onDone(`${verdict === 'approve' ? 'Approved' : 'Denied'} ${approval.tool}.${waiting}`, true);
      setReason('');
    } catch (e) {
      onDone((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const field = `reason-${approval.id}`;
  return (
    <div class="decision">
      <label for={field}>Reason</label>
      <input id={field} name="reason" value={reason} maxLength={1000} placeholder="Why (required to deny)" onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
      <button type="button" class="primary" disabled={busy} onClick={() => decide('approve')}>
        Approve
      </button>
      <button type="button" class="danger" disabled={busy} onClick={() => decide('deny')}>
        Deny
      </button>
    </div>
  );
}

function Card({ approval, onDone }: { approval: Approval; onDone: (message: string | undefined, ok?: boolean) => void }) {
  const who = approval.principal.label ?? approval.principal.id;
  const via = approval.target.name !== approval.tool ? ` (${approval.target.kind} ${approval.target.name})` : '';
  return (
    <article class="card approval" data-approval={approval.id} data-state={approval.state} aria-label={`${approval.tool} requested by ${who}`}>
      <header class="approval-head">
        <strong class="mono">
          {approval.tool}
          {via}
        </strong>
        <span class={`badge ${BADGES[approval.state]}`}>{stateLabel(approval)}</span>
      </header>
      <dl class="facts">
        <dt>Requested by</dt>
        <dd>
          {who} <span class="muted">({approval.principal.kind})</span>
        </dd>
        <dt>Asked by the policy</dt>
        <dd>{approval.policyReason}</dd>
        <dt>Requested</dt>
        <dd>{when(approval.createdAt)}</dd>
        <dt>{approval.state === 'pending' ? 'Expires' : 'Expired / expires'}</dt>
        <dd>{when(approval.expiresAt)}</dd>
        <dt>Approvers</dt>
        <dd>
          {approval.approvals.length} of {approval.approversRequired}
          {approval.approvals.length ? `: ${approval.approvals.map((a) => a.label).join(', ')}` : ''}
        </dd>
        {approval.decisionReason ? (
          <>
            <dt>Decision</dt>
            <dd>
              {approval.decidedBy}: {approval.decisionReason}
            </dd>
          </>
        ) : null}
        {approval.executedAt ? (
          <>
            <dt>Ran</dt>
            <dd>{when(approval.executedAt)}</dd>
          </>
        ) : null}
      </dl>
      <pre class="arguments" aria-label="Arguments">
        {JSON.stringify(approval.arguments, null, 2)}
      </pre>
      {approval.state === 'pending' ? <Decision approval={approval} onDone={onDone} /> : null}
    </article>
  );
}

interface Webhook {
  url: string;
  active: boolean;
  secret?: string;
}

/** The tenant's outgoing webhook: where new requests are announced, and a test button. */
function WebhookPanel() {
  const [webhook, setWebhook] = useState<Webhook | null | undefined>();
  const [url, setUrl] = useState('');
  const [message, setMessage] = useState<{ text: string; ok: boolean }>();
  const load = async () => {
    try {
      const found = await api<Webhook | null>('GET', '/api/v1/mcp/approval-webhook');
      setWebhook(found);
      setUrl(found?.url ?? '');
    } catch (e) {
      setMessage({ text: (e as Error).message, ok: false });
    }
  };
  useEffect(() => void load(), []);
  const run = async (work: () => Promise<string>) => {
    try {
      setMessage({ text: await work(), ok: true });
    } catch (e) {
      setMessage({ text: (e as Error).message, ok: false });
    }
  };
  return (
    <section class="card webhook" aria-label="Approval webhook">
      <h2>Webhook</h2>
      <p class="muted">Each new request is POSTed to this URL, signed with HMAC-SHA256 (see the docs), with a link to this page.</p>
      <form
        class="decision"
        onSubmit={(event) => {
          event.preventDefault();
          void run(async () => {
            const saved = await api<Webhook>('PUT', '/api/v1/mcp/approval-webhook', { url: url.trim() });
            setWebhook(saved);
            return `Saved. Signing secret (shown once, keep it with the receiver): ${saved.secret}`;
          });
        }}
      >
        <label for="webhook-url">Webhook URL</label>
        <input id="webhook-url" name="url" type="url" value={url} placeholder="https://hooks.example.com/gatehouse" onInput={(e) => setUrl((e.target as HTMLInputElement).value)} required />
        <button type="submit" class="primary">
          Save
        </button>
        {webhook ? (
          <button
            type="button"
            onClick={() =>
              run(async () => {
                const result = await api<{ delivered: boolean; status?: number; error?: string }>('POST', '/api/v1/mcp/approval-webhook/test');
                if (!result.delivered) throw new Error(`The test event was not delivered: ${result.error ?? 'no answer'}.`);
                return `Test event delivered (HTTP ${result.status}).`;
              })
            }
          >
            Send test event
          </button>
        ) : null}
      </form>
      {message ? <Notice message={message.text} kind={message.ok ? 'ok' : 'error'} /> : null}
    </section>
  );
}

export function ApprovalsPage() {
  const [approvals, setApprovals] = useState<Approval[] | undefined>();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();

  const load = async () => {
    try {
      setApprovals(await api<Approval[]>('GET', '/api/v1/mcp/approvals'));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
    // Live: new requests and decisions made elsewhere appear without a reload.
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  const done = (message: string | undefined, ok = false) => {
    setError(ok ? undefined : message);
    setNotice(ok ? message : undefined);
    void load();
  };
  const pending = approvals?.filter((a) => a.state === 'pending') ?? [];
  const decided = approvals?.filter((a) => a.state !== 'pending') ?? [];

  return (
    <section>
      <p class="lead">
        Calls waiting for a person's approval. Approving lets the same agent run exactly this call, once, before it expires; you cannot approve a call made with your own
        credentials.
      </p>
      <Notice message={error} />
      <Notice message={notice} kind="ok" />
      {approvals === undefined ? (
        <p class="loading">Loading…</p>
      ) : (
        <>
          <h2>Pending ({pending.length})</h2>
          {pending.length === 0 ? (
            <Empty title="Nothing waits for approval">Calls to tools that require approval appear here as soon as an agent makes them.</Empty>
          ) : (
            pending.map((approval) => <Card key={approval.id} approval={approval} onDone={done} />)
          )}
          {decided.length ? <h2>Decided</h2> : null}
          {decided.map((approval) => (
            <Card key={approval.id} approval={approval} onDone={done} />
          ))}
        </>
      )}
      <WebhookPanel />
    </section>
  );
}
