import { useEffect, useRef, useState } from 'preact/hooks';
import { api, currentSession, type Agent, type AgentKey, type Idp, type Role } from './api.js';
import { RoleChoices, subjectHelp } from './agents-page.js';
import { clientErrors, Field, FieldError, FormError, formErrors, NO_ERRORS, type FormErrors } from './components.js';
import { linkTo } from './focus.js';
import { IdpForm } from './idps-page.js';
import { operatorKit } from './operator-kit.js';

const API_KEY = 'api-key';
const NEW_IDP = 'new';
const POLL_MS = 2000;

/** A value to hand over, with a copy button. */
function Handover({ label, value, id }: { label: string; value: string; id: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="handover">
      <div class="handover-head">
        <h3 id={`${id}-label`}>{label}</h3>
        <button
          type="button"
          aria-label={`Copy ${label.toLowerCase()}`}
          onClick={async () => {
            await navigator.clipboard?.writeText(value).catch(() => undefined);
            setCopied(true);
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <pre class="mono" aria-labelledby={`${id}-label`} data-handover={id} tabIndex={0}>
        {value}
      </pre>
    </div>
  );
}

/** Waits for the agent's first authenticated call, then turns green. */
function FirstCall({ agent }: { agent: Agent }) {
  const [seen, setSeen] = useState<string | null>(agent.lastSeenAt);
  useEffect(() => {
    if (seen) return;
    let stopped = false;
    const timer = setInterval(async () => {
      const found = await api<Agent>('GET', `/api/v1/mcp/agents/${agent.id}`).catch(() => undefined);
      if (!stopped && found?.lastSeenAt) setSeen(found.lastSeenAt);
    }, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [seen]);
  return (
    <div class={`first-call ${seen ? 'first-call-done' : 'first-call-waiting'}`} role="status" aria-live="polite" data-state={seen ? 'done' : 'waiting'}>
      <span class="dot" aria-hidden="true" />
      {seen ? (
        <span>
          <strong>First call received</strong> at {new Date(seen).toLocaleTimeString()}: {agent.name} is connected. Follow its calls on the <a href="#/audit">Audit</a> page.
        </span>
      ) : (
        <span>
          <strong>Waiting for the first call…</strong> This turns green as soon as {agent.name} makes its first authenticated call.
        </span>
      )}
    </div>
  );
}

function Done({ agent, idp, apiKey }: { agent: Agent; idp: Idp | undefined; apiKey: string | undefined }) {
  const mcpUrl = currentSession()?.mcpUrl ?? '';
  const kit = operatorKit(idp, agent.subject ?? '', mcpUrl, apiKey);
  return (
    <section class="card" aria-labelledby="onboard-done">
      <h2 id="onboard-done">Give this to {agent.name}’s operator</h2>
      <p class="lead">
        <a href={linkTo('agents', agent.id)}>{agent.name}</a> is created{idp ? ` and bound to ${agent.subject} at ${idp.name}` : ' with its own API key'}. Send its operator these three things.
      </p>
      <Handover label="MCP URL" id="mcp-url" value={mcpUrl} />
      {kit.tokenRequest ? <Handover label="Token request" id="token-request" value={kit.tokenRequest} /> : null}
      <p class="help">{kit.audienceNote}</p>
      {apiKey ? <p class="help">The key is shown only here, once: copy the command now.</p> : <p class="help">The token request and the connector read the agent’s client secret from the environment variable GATEHOUSE_CLIENT_SECRET; it never goes on a command line.</p>}
      {kit.connector ? <Handover label="Connector command" id="connector" value={kit.connector} /> : <p class="help">The connector obtains client-credentials tokens only: run the agent with the token above as its bearer token.</p>}
      <FirstCall agent={agent} />
    </section>
  );
}

export function OnboardPage() {
  const [idps, setIdps] = useState<Idp[] | undefined>();
  const [roles, setRoles] = useState<Role[]>([]);
  const [choice, setChoice] = useState<string>('');
  const [name, setName] = useState('');
  const [subject, setSubject] = useState('');
  const [contact, setContact] = useState('');
  const [roleIds, setRoleIds] = useState<string[]>([]);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [created, setCreated] = useState<{ agent: Agent; idp: Idp | undefined; apiKey: string | undefined }>();
  const [busy, setBusy] = useState(false);
  const top = useRef<HTMLDivElement>(null);

  useEffect(() => {
    Promise.all([api<Idp[]>('GET', '/api/v1/mcp/idp-providers'), api<Role[]>('GET', '/api/v1/mcp/roles')]).then(
      ([i, r]) => {
        setIdps(i);
        setRoles(r);
        setChoice(i.find((idp) => idp.active)?.id ?? (i.length ? API_KEY : NEW_IDP));
      },
      (error) => setErrors(formErrors(error)),
    );
  }, []);
  useEffect(() => {
    if (created) top.current?.scrollIntoView({ block: 'start' });
  }, [created]);

  if (created) {
    return (
      <div ref={top}>
        <Done {...created} />
        <button
          type="button"
          onClick={() => {
            setCreated(undefined);
            setName('');
            setSubject('');
            setContact('');
          }}
        >
          Onboard another agent
        </button>
      </div>
    );
  }
  if (idps === undefined) return <p class="loading">Loading…</p>;
  const idp = idps.find((entry) => entry.id === choice);

  return (
    <div ref={top}>
      <p class="lead">Three steps: the identity provider the agent signs in with, the agent itself, and what it may call. At the end you get what to give the agent’s operator.</p>
      <section class="card step" aria-labelledby="step-idp">
        <h2 id="step-idp">1. Identity provider</h2>
        <fieldset>
          <legend>How does the agent sign in?</legend>
          {idps.map((entry) => (
            <label key={entry.id} class="choice">
              <input type="radio" name="idp" value={entry.id} checked={choice === entry.id} onChange={() => setChoice(entry.id)} />
              {entry.name}
              {entry.active ? '' : ' (deactivated: its tokens are refused)'}
            </label>
          ))}
          <label class="choice">
            <input type="radio" name="idp" value={NEW_IDP} checked={choice === NEW_IDP} onChange={() => setChoice(NEW_IDP)} />
            Add an identity provider
          </label>
          <label class="choice">
            <input type="radio" name="idp" value={API_KEY} checked={choice === API_KEY} onChange={() => setChoice(API_KEY)} />
            No identity provider: an API key issued here
          </label>
        </fieldset>
        {choice === NEW_IDP ? (
          <IdpForm
            onCancel={() => setChoice(idps.find((entry) => entry.active)?.id ?? API_KEY)}
            onDone={(saved) => {
              setIdps([...idps, saved]);
              setChoice(saved.id);
            }}
          />
        ) : null}
      </section>
      {choice === NEW_IDP ? null : (
        <form
          class="card step"
          aria-label="Onboard an agent"
          onSubmit={async (event) => {
            event.preventDefault();
            const problems = clientErrors({
              name: name.trim() ? undefined : 'Enter a name: it is how this agent appears in lists and in the audit trail.',
              subject: idp && !subject.trim() ? `Enter the agent’s identifier at ${idp.name}.` : undefined,
            });
            if (problems) return setErrors(problems);
            setBusy(true);
            try {
              const body: Record<string, unknown> = { name: name.trim(), roleIds, idpId: idp?.id ?? null, subject: idp ? subject.trim() : null };
              if (contact.trim()) body.contact = contact.trim();
              const agent = await api<Agent>('POST', '/api/v1/mcp/agents', body);
              const key = idp ? undefined : await api<AgentKey>('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: `${agent.name} key` });
              setCreated({ agent, idp, apiKey: key?.secret });
              setErrors(NO_ERRORS);
            } catch (error) {
              setErrors(formErrors(error));
            } finally {
              setBusy(false);
            }
          }}
        >
          <h2>2. The agent</h2>
          <Field label="Name" name="name" errors={errors} value={name} onInput={setName} help="How the agent appears in lists and in the audit trail, e.g. Ticket bot." />
          {idp ? <Field label="Client id" name="subject" errors={errors} value={subject} onInput={setSubject} help={subjectHelp(idp)} /> : <FieldError errors={errors} name="subject" />}
          <Field label="Owner / contact (optional)" name="contact" errors={errors} value={contact} onInput={setContact} help="Who to ask about this agent." />
          <h2>3. What it may call</h2>
          <RoleChoices roles={roles} chosen={roleIds} onChange={setRoleIds} errors={errors} />
          {roleIds.length === 0 ? <p class="help">Without a role the agent can call nothing; you can give it roles later on the Agents page.</p> : null}
          <FieldError errors={errors} name="idpId" />
          <FormError errors={errors} />
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              Create the agent
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
