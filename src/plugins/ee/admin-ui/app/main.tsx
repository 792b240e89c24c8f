import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, setCsrfToken, setSession as rememberSession, whenSignedOut, type SessionInfo } from './api.js';
import { FormError, Field, formErrors, NO_ERRORS, type FormErrors } from './components.js';
import { AccessPage } from './access-page.js';
import { AgentsPage } from './agents-page.js';
import { ApprovalsPage } from './approvals-page.js';
import { AuditPage } from './audit-page.js';
import { OnboardPage } from './onboard-page.js';
import { PoliciesPage } from './policies-page.js';
import { IdpsPage } from './idps-page.js';
import { RolesPage } from './roles-page.js';
import './styles.css';

const PAGES = [
  { id: 'onboard', title: 'Onboard an agent', view: OnboardPage },
  { id: 'idps', title: 'Identity providers', view: IdpsPage },
  { id: 'agents', title: 'Agents', view: AgentsPage },
  { id: 'roles', title: 'Roles', view: RolesPage },
  { id: 'policies', title: 'Policies', view: PoliciesPage },
  { id: 'approvals', title: 'Approvals', view: ApprovalsPage },
  { id: 'audit', title: 'Audit', view: AuditPage },
  { id: 'access', title: 'Access check', view: AccessPage },
] as const;

type PageId = (typeof PAGES)[number]['id'];

function pageFromHash(): PageId {
  const id = location.hash.replace(/^#\/?/, '').split('/')[0];
  return (PAGES.find((page) => page.id === id)?.id ?? 'idps') as PageId;
}

function SignIn({ onSignedIn }: { onSignedIn: (session: SessionInfo) => void }) {
  const [apiKey, setApiKey] = useState('');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  return (
    <main class="sign-in">
      <form
        class="card"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          try {
            onSignedIn(await api<SessionInfo>('POST', '/admin/session', { apiKey }));
          } catch (error) {
            const found = formErrors(error);
            // A refused key is about the one field, whatever the shape of the refusal.
            setErrors(found.form && error instanceof ApiError ? { fields: { apiKey: found.form } } : found);
          } finally {
            setBusy(false);
            setApiKey('');
          }
        }}
      >
        <h1>Gatehouse admin</h1>
        <p>Sign in with an admin API key (an API key with the <code>admin</code> scope).</p>
        <Field label="Admin API key" name="apiKey" type="password" errors={errors} value={apiKey} onInput={setApiKey} required />
        <FormError errors={errors} />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [page, setPage] = useState<PageId>(pageFromHash());
  const [hash, setHash] = useState(location.hash);

  useEffect(() => {
    const onHash = () => {
      setPage(pageFromHash());
      setHash(location.hash);
    };
    addEventListener('hashchange', onHash);
    whenSignedOut(() => {
      setCsrfToken(undefined);
      setSession(null);
    });
    api<SessionInfo>('GET', '/admin/session').then(
      (found) => signedIn(found),
      () => setSession(null),
    );
    return () => removeEventListener('hashchange', onHash);
  }, []);

  function signedIn(found: SessionInfo) {
    setCsrfToken(found.csrfToken);
    rememberSession(found);
    setSession(found);
  }

  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={signedIn} />;
  const current = PAGES.find((entry) => entry.id === page)!;
  const View = current.view;
  return (
    <div class="layout">
      <header class="top">
        <span class="brand">Gatehouse</span>
        <nav aria-label="Admin pages">
          {PAGES.map((entry) => (
            <a key={entry.id} href={`#/${entry.id}`} class={entry.id === page ? 'current' : undefined} aria-current={entry.id === page ? 'page' : undefined}>
              {entry.title}
            </a>
          ))}
        </nav>
        <span class="who">
          <span class="tenant" title="Tenant">
            {session.tenant}
          </span>
          <button
            type="button"
            onClick={async () => {
              try {
                await api('POST', '/admin/session/logout');
              } finally {
                setCsrfToken(undefined);
                setSession(null);
              }
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <main class="content">
        <h1>{current.title}</h1>
        <View key={hash.startsWith(`#/${page}/`) ? hash : page} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
