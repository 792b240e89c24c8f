import { focusedId } from './focus.js';
import { useEffect, useState } from 'preact/hooks';
import { api, type Idp } from './api.js';
import { directoryIdProblem, issuerProblem, realmUrlProblem } from '../../identity/preset-hints.js';
import { clientErrors, ConfirmButton, Empty, Field, FieldError, FormError, formErrors, NO_ERRORS, Notice, Status, type FormErrors, FormFooter, runThenReload, urlProblem } from './components.js';

type Kind = Idp['kind'];

interface FieldSpec {
  readonly name: string;
  readonly label: string;
  readonly help?: string;
  readonly placeholder?: string;
}

interface Preset {
  readonly kind: Kind;
  readonly title: string;
  readonly fields: readonly FieldSpec[];
}

const AUDIENCE: FieldSpec = {
  name: 'audience',
  label: 'Audience (optional)',
  help: "The aud value tokens must carry. Leave empty to require this server's MCP endpoint URL.",
};

const PRESETS: readonly Preset[] = [
  {
    kind: 'entra',
    title: 'Microsoft Entra ID',
    fields: [
      { name: 'directoryId', label: 'Directory (tenant) ID', help: 'Entra admin center → Overview → Tenant ID (a GUID).', placeholder: '00000000-0000-0000-0000-000000000000' },
      { ...AUDIENCE, help: 'The Application ID URI of the API app registration (api://…), as in the tokens’ aud.' },
    ],
  },
  { kind: 'google', title: 'Google', fields: [{ ...AUDIENCE, help: 'The audience the service accounts request their ID tokens for.' }] },
  {
    kind: 'keycloak',
    title: 'Keycloak',
    fields: [{ name: 'realmUrl', label: 'Realm URL', help: 'The realm’s URL, e.g. https://sso.example.com/realms/acme.', placeholder: 'https://sso.example.com/realms/acme' }, AUDIENCE],
  },
  {
    kind: 'custom',
    title: 'Custom OpenID provider',
    fields: [{ name: 'issuer', label: 'Issuer', help: 'Exactly as in the tokens’ iss claim; discovery is read from it.', placeholder: 'https://idp.example.com' }, AUDIENCE],
  },
];

const ADVANCED: readonly FieldSpec[] = [
  { name: 'subjectClaim', label: 'Agent identifier claim', help: 'The claim that names the agent (sub, azp, client_id, appid, oid…). Each preset has a sensible default.' },
  { name: 'jwksUri', label: 'JWKS URL', help: 'Fetch signing keys here instead of the URL found by discovery.' },
  { name: 'allowedAlgorithms', label: 'Allowed algorithms', help: 'Comma-separated, e.g. RS256, ES256.' },
  { name: 'clockSkewSeconds', label: 'Clock skew (seconds)', help: '0 to 300.' },
];

const presetOf = (kind: Kind): Preset => PRESETS.find((preset) => preset.kind === kind)!;

function formOf(idp: Idp): Record<string, string> {
  return {
    name: idp.name,
    directoryId: idp.settings.directoryId ?? '',
    tokenVersion: idp.settings.tokenVersion ?? 'v2',
    realmUrl: idp.kind === 'keycloak' ? idp.issuer : '',
    issuer: idp.kind === 'custom' ? idp.issuer : '',
    audience: idp.audience ?? '',
    subjectClaim: idp.subjectClaim,
    jwksUri: idp.kind === 'custom' || idp.kind === 'keycloak' ? (idp.jwksUri ?? '') : '',
    allowedAlgorithms: idp.allowedAlgorithms.join(', '),
    clockSkewSeconds: String(idp.clockSkewSeconds),
    tokenType: idp.tokenType,
  };
}

function bodyOf(kind: Kind, form: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const names = ['name', ...presetOf(kind).fields.map((field) => field.name), ...ADVANCED.map((field) => field.name), 'tokenType'];
  if (kind === 'entra') names.push('tokenVersion');
  for (const name of names) {
    const value = (form[name] ?? '').trim();
    if (!value) continue;
    if (name === 'allowedAlgorithms') body[name] = value.split(/[\s,]+/).filter(Boolean);
    else if (name === 'clockSkewSeconds') body[name] = /^\d+$/.test(value) ? Number(value) : value;
    else body[name] = value;
  }
  return body;
}

/** Every problem the page can see before saving: missing fields and the classic preset mistakes. */
function problemsOf(kind: Kind, form: Record<string, string>): FormErrors | undefined {
  const value = (name: string) => (form[name] ?? '').trim();
  const skew = value('clockSkewSeconds');
  return clientErrors({
    name: value('name') ? undefined : 'Enter a name: it is how this provider is shown to admins.',
    directoryId: kind === 'entra' ? directoryIdProblem(value('directoryId')) : undefined,
    realmUrl: kind === 'keycloak' ? (urlProblem(value('realmUrl'), 'realm URL') ?? realmUrlProblem(value('realmUrl'))) : undefined,
    issuer: kind === 'custom' ? (urlProblem(value('issuer'), 'issuer') ?? issuerProblem(value('issuer'))) : undefined,
    jwksUri: value('jwksUri') ? urlProblem(value('jwksUri'), 'JWKS URL') : undefined,
    clockSkewSeconds: skew && !(/^\d+$/.test(skew) && Number(skew) <= 300) ? 'Clock skew is a whole number of seconds from 0 to 300.' : undefined,
  });
}

export function IdpForm({ existing, onDone, onCancel }: { existing?: Idp; onDone: (saved: Idp) => void; onCancel: () => void }) {
  const [kind, setKind] = useState<Kind>(existing?.kind ?? 'entra');
  const [form, setForm] = useState<Record<string, string>>(existing ? formOf(existing) : { tokenVersion: 'v2', tokenType: 'any' });
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const set = (name: string) => (value: string) => setForm({ ...form, [name]: value });
  const preset = presetOf(kind);
  return (
    <form
      class="card form"
      aria-label={existing ? 'Edit identity provider' : 'Add identity provider'}
      onSubmit={async (event) => {
        event.preventDefault();
        const problems = problemsOf(kind, form);
        if (problems) return setErrors(problems);
        try {
          const body = bodyOf(kind, form);
          onDone(existing ? await api<Idp>('PATCH', `/api/v1/mcp/idp-providers/${existing.id}`, body) : await api<Idp>('POST', '/api/v1/mcp/idp-providers', { kind, ...body }));
        } catch (error) {
          setErrors(formErrors(error));
        }
      }}
    >
      <h2>{existing ? `Edit ${existing.name}` : 'Add an identity provider'}</h2>
      {existing ? null : (
        <fieldset class="presets">
          <legend>Preset</legend>
          {PRESETS.map((entry) => (
            <label key={entry.kind} class="choice">
              <input type="radio" name="kind" value={entry.kind} checked={kind === entry.kind} onChange={() => setKind(entry.kind)} />
              {entry.title}
            </label>
          ))}
          <FieldError errors={errors} name="kind" />
        </fieldset>
      )}
      <Field label="Name" name="name" errors={errors} value={form.name ?? ''} onInput={set('name')} help="How this provider is shown to admins." />
      {preset.fields.map((field) => (
        <Field key={field.name} label={field.label} name={field.name} errors={errors} value={form[field.name] ?? ''} onInput={set(field.name)} help={field.help} placeholder={field.placeholder} />
      ))}
      <details open={ADVANCED.some((field) => errors.fields[field.name]) || undefined}>
        <summary>Advanced settings</summary>
        {kind === 'entra' ? (
          <div class="field">
            <label for="field-tokenVersion">Token version</label>
            <select id="field-tokenVersion" name="tokenVersion" value={form.tokenVersion} onChange={(event) => set('tokenVersion')((event.target as HTMLSelectElement).value)}>
              <option value="v2">v2 (accessTokenAcceptedVersion = 2)</option>
              <option value="v1">v1</option>
            </select>
            <FieldError errors={errors} name="tokenVersion" />
          </div>
        ) : null}
        {ADVANCED.map((field) => (
          <Field key={field.name} label={field.label} name={field.name} errors={errors} value={form[field.name] ?? ''} onInput={set(field.name)} help={field.help} />
        ))}
        <div class="field">
          <label for="field-tokenType">Token type</label>
          <select id="field-tokenType" name="tokenType" value={form.tokenType} onChange={(event) => set('tokenType')((event.target as HTMLSelectElement).value)}>
            <option value="any">Any JWT</option>
            <option value="at+jwt">Only at+jwt access tokens</option>
          </select>
          <FieldError errors={errors} name="tokenType" />
        </div>
      </details>
      <FormFooter errors={errors} submitLabel={existing ? 'Save' : 'Add provider'} onCancel={onCancel} />
    </form>
  );
}

interface TestResult {
  ok: boolean;
  issuer: string;
  discovery?: string;
  jwksUri?: string;
  keyIds?: string[];
  keyCount?: number;
  error?: string;
  cause?: string;
  elapsedMs: number;
}

function TestOutcome({ result }: { result: TestResult }) {
  if (!result.ok) {
    return (
      <div class="test-result failed" role="status">
        <strong>Test failed</strong> ({result.elapsedMs} ms): {result.error}
        {result.cause ? <span> — {result.cause}</span> : null}
      </div>
    );
  }
  return (
    <div class="test-result passed" role="status">
      <strong>Test passed</strong> ({result.elapsedMs} ms)
      <dl>
        <dt>Discovery</dt>
        <dd>{result.discovery}</dd>
        <dt>JWKS</dt>
        <dd>{result.jwksUri}</dd>
        <dt>Signing keys</dt>
        <dd>
          {result.keyCount} ({(result.keyIds ?? []).join(', ') || 'no key ids'})
        </dd>
      </dl>
    </div>
  );
}

export function IdpsPage() {
  const [idps, setIdps] = useState<Idp[] | undefined>();
  const [editing, setEditing] = useState<Idp | 'new' | undefined>();
  const [tests, setTests] = useState<Record<string, TestResult | 'running'>>({});
  const [error, setError] = useState<string>();

  const load = () => api<Idp[]>('GET', '/api/v1/mcp/idp-providers').then(setIdps, (e: Error) => setError(e.message));
  useEffect(() => void load(), []);
  const focus = focusedId();
  useEffect(() => {
    if (focus && idps) document.getElementById(`idp-${focus}`)?.scrollIntoView({ block: 'center' });
  }, [focus, idps === undefined]);

  const act = (run: () => Promise<unknown>) => runThenReload(run, load, setError);

  async function test(idp: Idp) {
    setTests((all) => ({ ...all, [idp.id]: 'running' }));
    try {
      const result = await api<TestResult>('POST', `/api/v1/mcp/idp-providers/${idp.id}/test`);
      setTests((all) => ({ ...all, [idp.id]: result }));
    } catch (e) {
      setTests((all) => ({ ...all, [idp.id]: { ok: false, issuer: idp.issuer, error: (e as Error).message, elapsedMs: 0 } }));
    }
  }

  return (
    <section>
      <p class="lead">The identity providers whose tokens your agents present. Agents are bound to one of them.</p>
      <Notice message={error} />
      {editing ? (
        <IdpForm
          existing={editing === 'new' ? undefined : editing}
          onCancel={() => setEditing(undefined)}
          onDone={() => {
            setEditing(undefined);
            void load();
          }}
        />
      ) : (
        <button type="button" class="primary" onClick={() => setEditing('new')}>
          Add identity provider
        </button>
      )}
      {idps === undefined ? (
        <p class="loading">Loading…</p>
      ) : idps.length === 0 ? (
        <Empty title="No identity providers yet">Add your organisation's identity provider (Entra, Google, Keycloak or any OpenID provider) so agents can sign in with its tokens.</Empty>
      ) : (
        <div class="table-wrap">
          <table aria-label="Identity providers">
            <thead>
              <tr>
                <th>Name</th>
                <th>Kind</th>
                <th>Issuer</th>
                <th>Status</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {idps.map((idp) => {
                const result = tests[idp.id];
                return (
                  <tr key={idp.id} data-idp={idp.name} id={`idp-${idp.id}`} class={focus === idp.id ? 'selected' : undefined}>
                    <td>{idp.name}</td>
                    <td>{presetOf(idp.kind).title}</td>
                    <td class="mono">{idp.issuer}</td>
                    <td>
                      <Status active={idp.active} />
                    </td>
                    <td class="row-actions">
                      <button type="button" onClick={() => test(idp)} disabled={result === 'running'}>
                        {result === 'running' ? 'Testing…' : 'Test'}
                      </button>
                      <button type="button" onClick={() => setEditing(idp)}>
                        Edit
                      </button>
                      <button type="button" onClick={() => act(() => api('POST', `/api/v1/mcp/idp-providers/${idp.id}/${idp.active ? 'deactivate' : 'activate'}`))}>
                        {idp.active ? 'Deactivate' : 'Activate'}
                      </button>
                      <ConfirmButton label="Delete" question={`Delete ${idp.name}? Agents bound to it can no longer sign in with its tokens.`} onConfirm={() => act(() => api('DELETE', `/api/v1/mcp/idp-providers/${idp.id}`))} />
                      {result && result !== 'running' ? <TestOutcome result={result} /> : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
