import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

/** `GET /api/v1/mcp/audit/verify`: the tenant's hash chain checked by the server. */
interface Verification {
  ok: boolean;
  rows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  checkpoints: number;
  lastCheckpoint: { seq: number; signedAt: string; keyId: string } | null;
  break?: { reason: string; seq: number; message: string };
  signingConfigured: boolean;
}

const REASONS: Record<string, string> = {
  'changed-row': 'a changed event',
  'missing-rows': 'missing events',
  'inserted-row': 'an inserted event',
  reordered: 'reordered events',
  'bad-signature': 'a checkpoint with a bad signature',
  'missing-checkpoint': 'a missing checkpoint',
};

/** The Audit page's verdict on the trail's integrity, checked when the page opens and on demand. */
export function AuditIntegrity() {
  const [result, setResult] = useState<Verification | undefined>();
  const [failure, setFailure] = useState<string | undefined>();
  const [checking, setChecking] = useState(true);
  const check = (): void => {
    setChecking(true);
    api<Verification>('GET', '/api/v1/mcp/audit/verify').then(
      (found) => {
        setResult(found);
        setFailure(undefined);
        setChecking(false);
      },
      (error: Error) => {
        setFailure(error.message);
        setChecking(false);
      },
    );
  };
  useEffect(check, []);

  let body;
  if (checking && !result) body = <p>Checking the audit trail’s hash chain…</p>;
  else if (failure) body = <p class="form-error">Could not check the audit trail: {failure}</p>;
  else if (result?.break) {
    body = (
      <p>
        <span class="badge decision-denied">Tampering detected</span> at event #{result.break.seq}: {REASONS[result.break.reason] ?? result.break.reason}. {result.break.message}.
      </p>
    );
  } else if (result && result.rows === 0) body = <p>No events recorded yet.</p>;
  else if (result) {
    body = (
      <p>
        <span class="badge decision-allowed">Verified</span> {result.rows} event(s), #{result.firstSeq}–#{result.lastSeq}, unchanged since they were written
        {result.lastCheckpoint
          ? `; last signed checkpoint at #${result.lastCheckpoint.seq}, ${new Date(result.lastCheckpoint.signedAt).toLocaleString()}.`
          : '.'}
        {result.signingConfigured ? null : ' Checkpoints are not signed on this server (audit.checkpoints.signingKey), so deleted recent events would go unnoticed.'}
      </p>
    );
  }
  return (
    <div class="card integrity" role="status" aria-label="Audit integrity">
      {body}
      <button type="button" disabled={checking} onClick={check}>
        {checking ? 'Checking…' : 'Check again'}
      </button>
    </div>
  );
}
