/**
 * PostgreSQL's refusals of a statement's values: SQLSTATE class 22 (data exception: a NUL in text,
 * a value too long or out of range, text that is no UUID or number) and class 23 (integrity
 * constraint violation: a duplicate, a reference to nothing, a missing required value). A handler
 * that passes its caller's arguments to the database meets them when the arguments are wrong, not
 * when the engine or the plugin is broken, so the caller is told which rule the value broke, in
 * words of our own: PostgreSQL's message quotes the statement's text and values, and names
 * constraints and columns of the host's schema.
 */
const REFUSALS: Readonly<Record<string, string>> = {
  '22001': 'a text value is longer than its column allows',
  '22003': 'a number is out of the range its column allows',
  '22004': 'a value is missing where one is required',
  '22007': 'a date or time value is not valid',
  '22008': 'a date or time value is out of range',
  '22012': 'a computation divided by zero',
  '22019': 'a search pattern has an invalid escape character',
  '22021': 'a text value holds a character the database cannot store (a NUL character, or bytes that are not UTF-8)',
  '22025': 'a search pattern has an invalid escape sequence (for example a trailing backslash)',
  '2202E': 'an array index is out of range',
  '22P02': 'a value is not in the form its column expects (for example not a UUID, a number or a boolean)',
  '22P05': 'a text value holds a character the database cannot store',
  '23502': 'a required value is missing',
  '23503': 'it refers to a record that does not exist, or removes one that others still refer to',
  '23505': 'a record with the same unique value already exists',
  '23514': 'a value breaks a rule of its table (a check constraint)',
  '23P01': 'it conflicts with an existing record',
};

export interface RefusedValue {
  /** The SQLSTATE, e.g. `22021`. */
  readonly code: string;
  /** What the value broke, for the caller: no text, value or name from the database. */
  readonly description: string;
}

/** The refusal `thrown` carries when PostgreSQL refused a value of the statement, else undefined. */
export function refusedValue(thrown: unknown): RefusedValue | undefined {
  if (typeof thrown !== 'object' || thrown === null) return undefined;
  const { code } = thrown as { code?: unknown };
  if (typeof code !== 'string' || !/^2[23][0-9A-Z]{3}$/.test(code)) return undefined;
  return { code, description: REFUSALS[code] ?? (code.startsWith('22') ? 'a value is not one the database accepts' : 'it breaks a rule of the data (an integrity constraint)') };
}
