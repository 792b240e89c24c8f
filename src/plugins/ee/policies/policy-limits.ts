import { lineAndColumn } from './cedar.js';

/**
 * How deeply one expression of a policy may nest. Cedar parses and evaluates expressions
 * recursively, and a text nested a few hundred levels deep exhausts the stack of its WebAssembly
 * instance, which then fails for every later call of the process. Texts are measured before Cedar
 * sees them (`textNestingProblem`) and their parsed form again after (`jsonNestingProblem`).
 * Cedar's stack also depends on how its code was compiled at the moment (a 64-level expression and
 * a chain of 257 conditions were each seen to run out of it once), so the limits keep a wide margin;
 * real policies stay under a dozen levels.
 */
export const MAX_NESTING = 32;

/** How many `&&` and `||` one statement may chain (Cedar walks long chains recursively too). */
export const MAX_CONDITIONS = 64;

const TOO_MANY_CONDITIONS = `the statement joins too many conditions: at most ${MAX_CONDITIONS} && and || in one statement are allowed (split it into separate statements, or test membership in a set with .contains or in)`;

const TOO_DEEP = `the expression nests too deeply: at most ${MAX_NESTING} levels of brackets, if-then-else, operators and attribute accesses in a row are allowed (split it into separate statements, or join conditions with && and ||)`;

/** Binary operators and operator keywords whose chains Cedar turns into deep trees. */
const OPERATOR_WORDS = new Set(['in', 'has', 'like', 'is', 'if']);

/**
 * Where (if anywhere) the text nests more deeply than `MAX_NESTING`, counted without parsing:
 * every open bracket (`(`, `[`, `{`), `if`, binary operator other than `&&` and `||`
 * (`==`, `<`, `+`, `in`, `has`, `like`…) and attribute access (`.`) adds a level, until the
 * expression at that bracket level ends (`&&`, `||`, `,`, `:`, `;`, `when`, `unless`); what a closing bracket
 * enclosed counts on in the expression around it. Strings and `//` comments are skipped.
 * This over-counts (`a.b == c.d` counts four) and never under-counts a level of Cedar's tree.
 * A statement may also chain at most `MAX_CONDITIONS` `&&` and `||`.
 */
export function textNestingProblem(text: string): { message: string; line: number; column: number } | undefined {
  // Per open bracket: the level at which its expression started.
  const bases: number[] = [];
  let base = 0;
  let level = 0;
  let conditions = 0;
  const deeper = (at: number): { message: string; line: number; column: number } | undefined => {
    level++;
    return level > MAX_NESTING ? { message: TOO_DEEP, ...lineAndColumn(text, at) } : undefined;
  };
  const length = text.length;
  let index = 0;
  while (index < length) {
    const char = text[index]!;
    const next = text[index + 1];
    if (char === '"') {
      index++;
      while (index < length && text[index] !== '"') index += text[index] === '\\' ? 2 : 1;
      index++;
      continue;
    }
    if (char === '/' && next === '/') {
      while (index < length && text[index] !== '\n') index++;
      continue;
    }
    if (char === '(' || char === '[' || char === '{') {
      bases.push(base);
      const problem = deeper(index);
      if (problem) return problem;
      base = level;
      index++;
      continue;
    }
    if (char === ')' || char === ']' || char === '}') {
      // The enclosed expression is one operand of the one around it, as deep as it went.
      base = bases.pop() ?? 0;
      index++;
      continue;
    }
    if ((char === '&' && next === '&') || (char === '|' && next === '|')) {
      if (++conditions > MAX_CONDITIONS) return { message: TOO_MANY_CONDITIONS, ...lineAndColumn(text, index) };
      level = base;
      index += 2;
      continue;
    }
    if (char === ',' || char === ';' || (char === ':' && next !== ':' && text[index - 1] !== ':')) {
      level = base;
      if (char === ';') {
        bases.length = 0;
        base = level = conditions = 0;
      }
      index++;
      continue;
    }
    if (char === '=' || char === '!' || char === '<' || char === '>') {
      // `==`, `!=`, `<=`, `>=` are one operator; a lone `!` is Cedar's (already limited) negation.
      const pair = next === '=';
      if (char !== '!' || pair) {
        const problem = deeper(index);
        if (problem) return problem;
      }
      index += pair ? 2 : 1;
      continue;
    }
    if (char === '+' || char === '-' || char === '*' || char === '.') {
      const problem = deeper(index);
      if (problem) return problem;
      index++;
      continue;
    }
    if (/[A-Za-z_]/.test(char)) {
      let end = index + 1;
      while (end < length && /\w/.test(text[end]!)) end++;
      const word = text.slice(index, end);
      // A clause starts an expression of its own.
      if (word === 'when' || word === 'unless') level = base;
      else if (OPERATOR_WORDS.has(word)) {
        const problem = deeper(index);
        if (problem) return problem;
      }
      index = end;
      continue;
    }
    index++;
  }
  return undefined;
}

/** Keys of Cedar's JSON form that are not a level of the expression (or that Cedar chains without one). */
const FLAT = new Set(['&&', '||', 'Value', 'Var', 'Slot', 'Unknown', '__entity', '__extn']);

/**
 * Whether Cedar's JSON form of a policy nests an expression more deeply than `MAX_NESTING`,
 * measured without recursion. Every expression node (`{ "+": … }`, `{ ".": … }`,
 * `{ "if-then-else": … }`, a set or record literal…) adds a level; `&&` and `||` do not, as
 * Cedar evaluates long chains of them without going deeper.
 */
export function jsonNestingProblem(json: unknown): string | undefined {
  const stack: [unknown, number][] = [[json, 0]];
  while (stack.length) {
    const [node, level] = stack.pop()!;
    if (level > MAX_NESTING) return TOO_DEEP;
    if (Array.isArray(node)) {
      for (const item of node) stack.push([item, level]);
      continue;
    }
    if (!node || typeof node !== 'object') continue;
    const record = node as Record<string, unknown>;
    const keys = Object.keys(record);
    const only = keys.length === 1 ? keys[0]! : undefined;
    if (only === 'Record' && record.Record && typeof record.Record === 'object') {
      // A record literal is one level, whatever its attributes are called.
      for (const value of Object.values(record.Record)) stack.push([value, level + 1]);
      continue;
    }
    const adds = only !== undefined && !FLAT.has(only) ? 1 : 0;
    for (const key of keys) stack.push([record[key], level + adds]);
  }
  return undefined;
}
