import type { StreamParser, StringStream } from '@codemirror/language';

/**
 * Cedar's tokens for CodeMirror's stream highlighter: keywords, the four scope variables,
 * strings, numbers, comments, annotations, entity types (`Gatehouse::Tool::"tickets.close"`),
 * method and extension-function calls, and operators. Highlighting only: the server's validator
 * is what judges a policy.
 */

const KEYWORDS = new Set(['permit', 'forbid', 'when', 'unless', 'in', 'has', 'like', 'is', 'if', 'then', 'else']);
const VARIABLES = new Set(['principal', 'action', 'resource', 'context']);
const ATOMS = new Set(['true', 'false']);

interface CedarState {
  /** Inside a string that continues on the next line. */
  inString: boolean;
}

function readString(stream: StringStream, state: CedarState): string {
  let escaped = false;
  let next: string | void;
  while ((next = stream.next()) !== undefined) {
    if (next === '"' && !escaped) {
      state.inString = false;
      return 'string';
    }
    escaped = !escaped && next === '\\';
  }
  state.inString = true;
  return 'string';
}

export const cedarMode: StreamParser<CedarState> = {
  name: 'cedar',
  startState: () => ({ inString: false }),
  token(stream, state) {
    if (state.inString) return readString(stream, state);
    if (stream.eatSpace()) return null;
    if (stream.match('//')) {
      stream.skipToEnd();
      return 'comment';
    }
    if (stream.eat('"')) return readString(stream, state);
    if (stream.match(/^@[A-Za-z_][A-Za-z0-9_]*/)) return 'meta';
    if (stream.match(/^[0-9]+/)) return 'number';
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) {
      const text = word[0];
      // A path segment of an entity type or namespace: `Gatehouse::Agent::"…"`.
      if (stream.match('::', false)) return 'typeName';
      if (KEYWORDS.has(text)) return 'keyword';
      if (VARIABLES.has(text)) return 'variableName.special';
      if (ATOMS.has(text)) return 'bool';
      if (stream.match(/^\s*\(/, false)) return 'variableName.function';
      return 'propertyName';
    }
    if (stream.match('::')) return 'punctuation';
    if (stream.match(/^(==|!=|<=|>=|&&|\|\||[<>!+\-*])/)) return 'operator';
    if (stream.match(/^[{}()[\],;.]/)) return 'punctuation';
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: '//' } },
};
