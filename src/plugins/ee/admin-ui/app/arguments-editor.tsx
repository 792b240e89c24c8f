import { useEffect, useState } from 'preact/hooks';
import type { JsonSchema } from './api.js';

/**
 * An argument editor generated from a tool's input schema: text fields for strings, number fields,
 * a checkbox (or, when optional, a yes/no/unset choice) for booleans, a list for enums, a group of
 * fields for nested objects, and JSON for whatever else the schema says (arrays of objects,
 * unions). "Edit as JSON" switches the whole value to raw JSON and back.
 */

export type Arguments = Record<string, unknown>;

type Kind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'object' | 'list' | 'json';

/** The schema without a `null` alternative (`anyOf: [X, { type: 'null' }]` is edited as X). */
function unwrap(schema: JsonSchema): JsonSchema {
  const options = schema.anyOf ?? schema.oneOf;
  if (options) {
    const real = options.filter((option) => option.type !== 'null');
    if (real.length === 1) return { ...real[0], description: schema.description ?? real[0]!.description };
  }
  if (Array.isArray(schema.type)) {
    const real = schema.type.filter((type) => type !== 'null');
    if (real.length === 1) return { ...schema, type: real[0] };
  }
  return schema;
}

function kindOf(schema: JsonSchema): Kind {
  if (Array.isArray(schema.enum) && schema.enum.length > 0 && schema.enum.every((value) => ['string', 'number'].includes(typeof value))) return 'enum';
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    case 'object':
      return schema.properties ? 'object' : 'json';
    case 'array': {
      const items = schema.items ? unwrap(schema.items) : undefined;
      return items && (items.type === 'string' || items.type === 'number' || items.type === 'integer') && !items.enum ? 'list' : 'json';
    }
    default:
      return 'json';
  }
}

function withValue(target: Arguments, key: string, value: unknown): Arguments {
  const next = { ...target };
  if (value === undefined) delete next[key];
  else next[key] = value;
  return next;
}

const asObject = (value: unknown): Arguments => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Arguments) : {});

/** A safe element id for a field path. */
const idOf = (path: readonly string[]) => `arg-${path.map((part) => part.replace(/[^A-Za-z0-9_-]/g, '_')).join('-')}`;

/**
 * The text a field shows while the admin types it: what they typed, not the value re-formatted
 * (so "7000." or "audit, " stay as typed). Follows the value when it changes elsewhere.
 */
function useDraft(value: unknown, format: (value: unknown) => string, parse: (text: string) => unknown): [string, (text: string) => void] {
  const [draft, setDraft] = useState(() => format(value));
  useEffect(() => {
    if (JSON.stringify(parse(draft)) !== JSON.stringify(value)) setDraft(format(value));
  }, [JSON.stringify(value)]);
  return [draft, setDraft];
}

const formatNumber = (value: unknown) => (typeof value === 'number' ? String(value) : '');
const parseNumber = (text: string) => (text.trim() === '' || !Number.isFinite(Number(text)) ? undefined : Number(text));
const formatList = (value: unknown) => (Array.isArray(value) ? value.join(', ') : '');
const splitList = (text: string) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

interface FieldProps {
  readonly name: string;
  readonly path: readonly string[];
  readonly schema: JsonSchema;
  readonly required: boolean;
  readonly value: unknown;
  readonly onChange: (value: unknown) => void;
}

function Label({ id, name, required }: { id: string; name: string; required: boolean }) {
  return (
    <label for={id}>
      <span class="mono">{name}</span>
      {required ? <span class="muted small"> (required)</span> : null}
    </label>
  );
}

function Help({ schema, extra }: { schema: JsonSchema; extra?: string }) {
  const text = [schema.description, extra].filter(Boolean).join(' ');
  return text ? <p class="help">{text}</p> : null;
}

/** A field edited as JSON text: its own draft, an error while the text is not JSON. */
function JsonField({ id, value, onChange, describedBy, rows = 3 }: { id: string; value: unknown; onChange: (value: unknown) => void; describedBy?: string; rows?: number }) {
  const shown = value === undefined ? '' : JSON.stringify(value, null, 2);
  const [draft, setDraft] = useState(shown);
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    // Follow changes made elsewhere (the form view) unless the draft already means the same.
    let same = false;
    try {
      same = draft.trim() === '' ? value === undefined : JSON.stringify(JSON.parse(draft)) === JSON.stringify(value);
    } catch {
      same = false;
    }
    if (!same && !problem) setDraft(shown);
  }, [shown]);
  return (
    <>
      <textarea
        id={id}
        class="mono"
        rows={rows}
        spellcheck={false}
        value={draft}
        aria-invalid={problem ? 'true' : undefined}
        aria-describedby={[describedBy, problem ? `${id}-error` : undefined].filter(Boolean).join(' ') || undefined}
        onInput={(event) => {
          const text = (event.target as HTMLTextAreaElement).value;
          setDraft(text);
          if (text.trim() === '') {
            setProblem(undefined);
            onChange(undefined);
            return;
          }
          try {
            const parsed: unknown = JSON.parse(text);
            setProblem(undefined);
            onChange(parsed);
          } catch (error) {
            setProblem(`Not JSON yet: ${(error as Error).message}`);
          }
        }}
      />
      {problem ? (
        <p class="field-error" id={`${id}-error`}>
          {problem}
        </p>
      ) : null}
    </>
  );
}

function SchemaField({ name, path, schema: raw, required, value, onChange }: FieldProps) {
  const schema = unwrap(raw);
  const kind = kindOf(schema);
  const id = idOf(path);
  const helpId = `${id}-help`;
  const [numberProblem, setNumberProblem] = useState<string>();
  const itemType = unwrap(schema.items ?? {}).type;
  const parseList = (text: string) => {
    const parts = splitList(text);
    return parts.length ? parts.map((part) => (itemType === 'string' ? part : Number(part))) : undefined;
  };
  const [numberDraft, setNumberDraft] = useDraft(value, formatNumber, parseNumber);
  const [listDraft, setListDraft] = useDraft(value, formatList, parseList);

  if (kind === 'object') {
    const object = asObject(value);
    return (
      <fieldset class="arguments-group" data-argument={path.join('.')}>
        <legend>
          <span class="mono">{name}</span>
          {required ? <span class="muted small"> (required)</span> : null}
        </legend>
        <Help schema={schema} />
        <ObjectFields path={path} schema={schema} value={object} onChange={(next) => onChange(Object.keys(next).length ? next : undefined)} />
      </fieldset>
    );
  }

  const input = (() => {
    switch (kind) {
      case 'enum':
        return (
          <select
            id={id}
            value={value === undefined ? '' : String(value)}
            onChange={(event) => {
              const text = (event.target as HTMLSelectElement).value;
              const found = schema.enum!.find((option) => String(option) === text);
              onChange(text === '' ? undefined : found);
            }}
          >
            <option value="">{required ? 'Choose…' : 'Not set'}</option>
            {schema.enum!.map((option) => (
              <option key={String(option)} value={String(option)}>
                {String(option)}
              </option>
            ))}
          </select>
        );
      case 'boolean':
        return required ? (
          <input id={id} type="checkbox" checked={value === true} onChange={(event) => onChange((event.target as HTMLInputElement).checked)} />
        ) : (
          <select id={id} value={value === undefined ? '' : String(value)} onChange={(event) => onChange({ '': undefined, true: true, false: false }[(event.target as HTMLSelectElement).value])}>
            <option value="">Not set</option>
            <option value="true">true</option>
            <option value="false">false</option>
          </select>
        );
      case 'number':
      case 'integer':
        return (
          <input
            id={id}
            type="number"
            inputMode={kind === 'integer' ? 'numeric' : 'decimal'}
            step={kind === 'integer' ? 1 : 'any'}
            min={schema.minimum}
            max={schema.maximum}
            value={numberDraft}
            aria-invalid={numberProblem ? 'true' : undefined}
            aria-describedby={numberProblem ? `${helpId} ${id}-error` : helpId}
            onInput={(event) => {
              const input = event.target as HTMLInputElement;
              const text = input.value.trim();
              setNumberDraft(input.value);
              // A number field reports "" while its text is not a number yet ("7000.", "-").
              if (input.validity.badInput) return setNumberProblem(kind === 'integer' ? 'Enter a whole number.' : 'Enter a number.');
              if (text === '') {
                setNumberProblem(undefined);
                return onChange(undefined);
              }
              const number = Number(text);
              if (!Number.isFinite(number) || (kind === 'integer' && !Number.isInteger(number))) {
                return setNumberProblem(kind === 'integer' ? 'Enter a whole number.' : 'Enter a number.');
              }
              setNumberProblem(undefined);
              onChange(number);
            }}
          />
        );
      case 'list':
        return (
          <input
            id={id}
            type="text"
            autocomplete="off"
            value={listDraft}
            onInput={(event) => {
              const text = (event.target as HTMLInputElement).value;
              setListDraft(text);
              onChange(parseList(text));
            }}
          />
        );
      case 'string':
        return (
          <input
            id={id}
            type="text"
            autocomplete="off"
            placeholder={schema.format === 'date-time' ? '2026-01-31T17:00:00Z' : undefined}
            value={typeof value === 'string' ? value : ''}
            onInput={(event) => {
              const text = (event.target as HTMLInputElement).value;
              onChange(text === '' ? undefined : text);
            }}
          />
        );
      default:
        return <JsonField id={id} value={value} onChange={onChange} describedBy={helpId} />;
    }
  })();

  const extra = kind === 'list' ? 'Comma-separated.' : kind === 'json' ? 'As JSON.' : undefined;
  return (
    <div class={`field${kind === 'boolean' && required ? ' checkbox-field' : ''}`} data-argument={path.join('.')}>
      <Label id={id} name={name} required={required} />
      {input}
      <div id={helpId}>
        <Help schema={schema} extra={extra} />
      </div>
      {numberProblem ? (
        <p class="field-error" id={`${id}-error`}>
          {numberProblem}
        </p>
      ) : null}
    </div>
  );
}

function ObjectFields({ path, schema, value, onChange }: { path: readonly string[]; schema: JsonSchema; value: Arguments; onChange: (value: Arguments) => void }) {
  const required = new Set(schema.required ?? []);
  const properties = Object.entries(schema.properties ?? {});
  if (properties.length === 0) return <p class="help">This takes no arguments.</p>;
  return (
    <>
      {properties.map(([key, property]) => (
        <SchemaField key={key} name={key} path={[...path, key]} schema={property} required={required.has(key)} value={value[key]} onChange={(next) => onChange(withValue(value, key, next))} />
      ))}
    </>
  );
}

/** Whether the form can edit this schema (an object with properties); otherwise only JSON can. */
export function formEditable(schema: JsonSchema | undefined): boolean {
  return !!schema && unwrap(schema).type === 'object' && !!unwrap(schema).properties;
}

export function ArgumentsEditor({ schema, value, onChange }: { schema: JsonSchema | undefined; value: Arguments; onChange: (value: Arguments, valid: boolean) => void }) {
  const editable = formEditable(schema);
  const [raw, setRaw] = useState(!editable);
  const [jsonProblem, setJsonProblem] = useState<string>();
  const [draft, setDraft] = useState(() => JSON.stringify(value, null, 2));
  useEffect(() => setRaw(!editable), [editable]);

  return (
    <fieldset class="arguments">
      <legend>Arguments</legend>
      {editable ? (
        <div class="arguments-mode">
          <button
            type="button"
            class="link"
            aria-pressed={raw}
            onClick={() => {
              if (raw) {
                if (jsonProblem) return;
                setRaw(false);
              } else {
                setDraft(JSON.stringify(value, null, 2));
                setRaw(true);
              }
            }}
          >
            {raw ? 'Edit as a form' : 'Edit as JSON'}
          </button>
          {raw && jsonProblem ? <span class="muted small"> (fix the JSON first)</span> : null}
        </div>
      ) : null}
      {raw ? (
        <div class="field">
          <label for="arguments-json">Arguments as JSON</label>
          <textarea
            id="arguments-json"
            class="mono"
            rows={6}
            spellcheck={false}
            value={draft}
            aria-invalid={jsonProblem ? 'true' : undefined}
            aria-describedby={jsonProblem ? 'arguments-json-error' : undefined}
            onInput={(event) => {
              const text = (event.target as HTMLTextAreaElement).value;
              setDraft(text);
              try {
                const parsed: unknown = JSON.parse(text.trim() === '' ? '{}' : text);
                if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the arguments are one JSON object, like {"id": "T-1"}');
                setJsonProblem(undefined);
                onChange(parsed as Arguments, true);
              } catch (error) {
                setJsonProblem(`Not a JSON object: ${(error as Error).message}`);
                onChange(value, false);
              }
            }}
          />
          {jsonProblem ? (
            <p class="field-error" id="arguments-json-error">
              {jsonProblem}
            </p>
          ) : null}
        </div>
      ) : (
        <ObjectFields path={[]} schema={unwrap(schema!)} value={value} onChange={(next) => onChange(next, true)} />
      )}
    </fieldset>
  );
}
