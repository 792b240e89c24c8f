import { useEffect, useRef, useState } from 'preact/hooks';
import { styleNonce, type PolicyProblem } from './api.js';
import type { PolicyEditor } from './cedar-editor.js';

/**
 * The policy's text: the highlighting editor, loaded on demand. Should its code fail to load, a
 * plain text area takes its place, so a policy can always be written and saved.
 */
export function PolicyText({
  text,
  problems,
  labelId,
  describedBy,
  onChange,
}: {
  text: string;
  problems: readonly PolicyProblem[];
  labelId: string;
  describedBy: string;
  onChange: (text: string) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<PolicyEditor>();
  const [state, setState] = useState<'loading' | 'ready' | 'plain'>('loading');
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    let gone = false;
    import('./cedar-editor.js').then(
      ({ createPolicyEditor }) => {
        if (gone || !host.current) return;
        editor.current = createPolicyEditor(host.current, {
          text,
          labelledBy: labelId,
          describedBy,
          nonce: styleNonce(),
          placeholder: 'permit (principal, action, resource) when { … };',
          onChange: (value) => changed.current(value),
        });
        setState('ready');
      },
      () => !gone && setState('plain'),
    );
    return () => {
      gone = true;
      editor.current?.destroy();
      editor.current = undefined;
    };
  }, []);

  useEffect(() => editor.current?.showProblems(problems), [problems, state]);

  return (
    <>
      <div ref={host} class="policy-editor" data-state={state} />
      {state === 'loading' ? <p class="loading">Loading the editor…</p> : null}
      {state === 'plain' ? (
        <textarea
          class="mono policy-plain"
          rows={12}
          spellcheck={false}
          aria-labelledby={labelId}
          aria-describedby={describedBy}
          aria-invalid={problems.length ? 'true' : undefined}
          value={text}
          onInput={(event) => onChange((event.target as HTMLTextAreaElement).value)}
        />
      ) : null}
    </>
  );
}
