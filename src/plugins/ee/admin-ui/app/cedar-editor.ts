/**
 * The policy text editor: CodeMirror 6 with the Cedar highlighter, line numbers, undo, and the
 * validator's problems drawn at their line and column. Loaded only when the Policies page opens
 * an editor (a chunk of its own).
 *
 * Styles under the page's CSP: CodeMirror's structural styles go into a `<style>` element carrying
 * the page's nonce (`EditorView.cspNonce`); colours come from the app's stylesheet through the
 * static `cedar-*` classes below.
 */
import { Compartment, EditorState, type Text } from '@codemirror/state';
import { EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers, placeholder } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { StreamLanguage, bracketMatching, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { tagHighlighter, tags } from '@lezer/highlight';
import { cedarMode } from './cedar-mode.js';

/** One problem the validator found, at a 1-based line and column when it says where. */
export interface PolicyProblem {
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

export interface PolicyEditor {
  text(): string;
  setText(text: string): void;
  /** Draws these problems in the text (those with a line), replacing the ones shown before. */
  showProblems(problems: readonly PolicyProblem[]): void;
  focus(): void;
  destroy(): void;
}

export interface PolicyEditorOptions {
  readonly text: string;
  /** Id of the element naming the editor (its label). */
  readonly labelledBy: string;
  /** Ids of the elements describing it (help, the problem list). */
  readonly describedBy: string;
  readonly placeholder?: string;
  readonly nonce?: string;
  readonly onChange: (text: string) => void;
}

const cedar = StreamLanguage.define(cedarMode);

/** Token classes, coloured by the app's stylesheet. */
const cedarClasses = tagHighlighter([
  { tag: tags.keyword, class: 'cedar-keyword' },
  { tag: tags.special(tags.variableName), class: 'cedar-scope' },
  { tag: tags.function(tags.variableName), class: 'cedar-function' },
  { tag: tags.typeName, class: 'cedar-type' },
  { tag: tags.string, class: 'cedar-string' },
  { tag: [tags.number, tags.bool], class: 'cedar-literal' },
  { tag: tags.comment, class: 'cedar-comment' },
  { tag: tags.meta, class: 'cedar-annotation' },
  { tag: tags.operator, class: 'cedar-operator' },
  { tag: tags.propertyName, class: 'cedar-name' },
]);

/** The range a problem points at: from its column to the end of the word there (at least one character). */
export function problemRange(doc: Text, problem: PolicyProblem): { from: number; to: number } | undefined {
  if (!problem.line || problem.line < 1) return undefined;
  const line = doc.line(Math.min(problem.line, doc.lines));
  const column = Math.max(1, problem.column ?? 1);
  let from = Math.min(line.from + column - 1, line.to);
  if (from === line.to && line.length > 0) from = line.to - 1;
  let to = from;
  const rest = line.text.slice(from - line.from);
  const word = /^[A-Za-z0-9_:."]+/.exec(rest);
  to += word ? word[0].length : Math.min(1, rest.length);
  return { from, to };
}

export function createPolicyEditor(parent: HTMLElement, options: PolicyEditorOptions): PolicyEditor {
  const invalid = new Compartment();
  const described = (problems: boolean) =>
    EditorView.contentAttributes.of({
      'aria-labelledby': options.labelledBy,
      'aria-describedby': options.describedBy,
      'aria-multiline': 'true',
      ...(problems ? { 'aria-invalid': 'true' } : {}),
    });
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.text,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        history(),
        drawSelection(),
        highlightActiveLine(),
        bracketMatching(),
        cedar,
        syntaxHighlighting(cedarClasses),
        lintGutter(),
        placeholder(options.placeholder ?? ''),
        EditorView.lineWrapping,
        // Tab stays the browser's: keyboard users move on to the next control with it.
        keymap.of([...defaultKeymap, ...historyKeymap]),
        invalid.of(described(false)),
        ...(options.nonce ? [EditorView.cspNonce.of(options.nonce)] : []),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) options.onChange(update.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    text: () => view.state.doc.toString(),
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    showProblems(problems) {
      const diagnostics: Diagnostic[] = [];
      for (const problem of problems) {
        const range = problemRange(view.state.doc, problem);
        if (range) diagnostics.push({ ...range, severity: 'error', message: problem.message });
      }
      view.dispatch(setDiagnostics(view.state, diagnostics), { effects: invalid.reconfigure(described(problems.length > 0)) });
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
