import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from './api.js';

/** Errors of a form: by field, plus one for the form as a whole. */
export interface FormErrors {
  readonly fields: Record<string, string>;
  readonly form?: string;
}

export const NO_ERRORS: FormErrors = { fields: {} };

/** Turn a failure into form errors: field errors next to their fields, the rest above the form. */
export function formErrors(error: unknown): FormErrors {
  if (error instanceof ApiError) {
    const fields = error.fields();
    return { fields, form: Object.keys(fields).length ? undefined : error.message };
  }
  return { fields: {}, form: error instanceof Error ? error.message : String(error) };
}

/**
 * Problems found in the page before anything is sent (shape, and the classic preset mistakes): as
 * form errors when there are any, so every field's problem shows at once; undefined otherwise.
 */
export function clientErrors(problems: Record<string, string | undefined>): FormErrors | undefined {
  const fields: Record<string, string> = {};
  for (const [name, message] of Object.entries(problems)) if (message) fields[name] = message;
  return Object.keys(fields).length ? { fields } : undefined;
}

/** A URL the server can accept (https, or http on a loopback host), or a message saying what is wrong. */
export function urlProblem(value: string, what: string): string | undefined {
  const text = value.trim();
  if (!text) return `Enter the ${what}.`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `Enter the ${what} as a full URL starting with https://.`;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) return `The ${what} must start with https://.`;
  return undefined;
}

export function FieldError({ errors, name }: { errors: FormErrors; name: string }) {
  const message = errors.fields[name];
  return message ? (
    <p class="field-error" role="alert" data-field={name}>
      {message}
    </p>
  ) : null;
}

export function Field(props: {
  label: string;
  name: string;
  errors: FormErrors;
  value: string;
  onInput: (value: string) => void;
  help?: ComponentChildren;
  type?: string;
  placeholder?: string;
  required?: boolean;
}) {
  const id = `field-${props.name}`;
  return (
    <div class={`field${props.errors.fields[props.name] ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value}
        placeholder={props.placeholder}
        required={props.required}
        autocomplete="off"
        aria-invalid={props.errors.fields[props.name] ? 'true' : undefined}
        onInput={(event) => props.onInput((event.target as HTMLInputElement).value)}
      />
      {props.help ? <p class="help">{props.help}</p> : null}
      <FieldError errors={props.errors} name={props.name} />
    </div>
  );
}

/** The end of an edit form: the form-level error, then submit and cancel. */
export function FormFooter({ errors, submitLabel, onCancel }: { errors: FormErrors; submitLabel: string; onCancel: () => void }) {
  return (
    <>
      <FormError errors={errors} />
      <div class="actions">
        <button type="submit" class="primary">
          {submitLabel}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </>
  );
}

/** Run a list page's action, show its error on the page, and reload the list either way. */
export async function runThenReload(run: () => Promise<unknown>, reload: () => Promise<unknown>, setError: (message: string | undefined) => void): Promise<void> {
  setError(undefined);
  try {
    await run();
  } catch (e) {
    setError((e as Error).message);
  }
  await reload();
}

export function FormError({ errors }: { errors: FormErrors }) {
  return errors.form ? (
    <p class="form-error" role="alert">
      {errors.form}
    </p>
  ) : null;
}

export function Notice({ message, kind = 'error' }: { message: string | undefined; kind?: 'error' | 'ok' }) {
  return message ? (
    <p class={kind === 'error' ? 'form-error' : 'notice'} role={kind === 'error' ? 'alert' : 'status'}>
      {message}
    </p>
  ) : null;
}

export function Empty({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      <p>{children}</p>
    </div>
  );
}

export function Status({ active }: { active: boolean }) {
  return <span class={`badge ${active ? 'badge-ok' : 'badge-off'}`}>{active ? 'active' : 'inactive'}</span>;
}

/** A button that asks for confirmation inline before it acts. */
export function ConfirmButton({ label, question, onConfirm }: { label: string; question: string; onConfirm: () => void | Promise<void> }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="danger" onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group">
      <span>{question}</span>
      <button
        type="button"
        class="danger"
        onClick={async () => {
          setAsking(false);
          await onConfirm();
        }}
      >
        Confirm {label.toLowerCase()}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** How long ago, in words ("12 seconds ago", "3 minutes ago"), with the exact time on hover. */
export function Ago({ iso, now = Date.now() }: { iso: string | null; now?: number }) {
  if (!iso) return <span class="muted">never</span>;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return <span>{iso}</span>;
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  const [count, unit] =
    seconds < 60 ? [seconds, 'second'] : seconds < 3600 ? [Math.floor(seconds / 60), 'minute'] : seconds < 86_400 ? [Math.floor(seconds / 3600), 'hour'] : [Math.floor(seconds / 86_400), 'day'];
  const text = seconds < 5 ? 'just now' : `${count} ${unit}${count === 1 ? '' : 's'} ago`;
  return (
    <time dateTime={date.toISOString()} title={date.toLocaleString()}>
      {text}
    </time>
  );
}

export function when(iso: string | null): string {
  if (!iso) return 'never';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
