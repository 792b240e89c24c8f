/**
 * Validation messages for people. The admin API's field errors are shown next to the form field
 * that caused them, so each message names the field as the form labels it and says what to do,
 * instead of repeating the validator's wording ("name must be longer than or equal to 1 characters").
 */

/** How the admin forms label each field of the admin API's bodies. */
const LABELS: Readonly<Record<string, string>> = {
  name: 'Name',
  description: 'Description',
  contact: 'Owner / contact',
  idpId: 'Identity provider',
  subject: 'Agent identifier',
  roleIds: 'Roles',
  permissions: 'Permissions',
  kind: 'Preset',
  directoryId: 'Directory (tenant) ID',
  tokenVersion: 'Token version',
  realmUrl: 'Realm URL',
  issuer: 'Issuer',
  jwksUri: 'JWKS URL',
  subjectClaim: 'Agent identifier claim',
  allowedAlgorithms: 'Allowed algorithms',
  audience: 'Audience',
  clockSkewSeconds: 'Clock skew',
  tokenType: 'Token type',
  expiresAt: 'Expiry',
  apiKey: 'Admin API key',
};

/** The label of a field (`permissions.2` → `Permissions`); unknown fields keep their name. */
export function fieldLabel(field: string): string {
  return LABELS[field.split('.')[0] ?? field] ?? field;
}

const REWRITES: readonly [RegExp, (label: string, match: RegExpMatchArray, value: unknown) => string][] = [
  [/must be longer than or equal to (\d+) characters/, (label, m, value) => (value === '' || value === undefined || value === null ? `Enter a ${label.toLowerCase()}.` : `${label} needs at least ${m[1]} characters.`)],
  [/must be shorter than or equal to (\d+) characters/, (label, m) => `${label} is too long: at most ${m[1]} characters.`],
  [/^each value in \S+ must be a string$/, (label) => `Each of the ${label.toLowerCase()} must be a string.`],
  [/must be a string/, (label, _m, value) => (value === undefined || value === null ? `Enter a ${label.toLowerCase()}.` : `${label} must be a string.`)],
  [/must be an array/, (label, _m, value) => (value === undefined ? `${label} is required (an array).` : `${label} must be an array.`)],
  [/must be a boolean value/, (label) => `${label} must be true or false.`],
  [/must contain no more than (\d+) elements/, (label, m) => `${label} can have at most ${m[1]} entries.`],
  [/must be an integer number/, (label) => `${label} must be a whole number.`],
  [/must not be greater than (\d+)/, (label, m) => `${label} must be at most ${m[1]}.`],
  [/must not be less than (-?\d+)/, (label, m) => `${label} must be at least ${m[1]}.`],
  [/should not exist/, (_label, _m) => 'This field is not part of this form.'],
];

/**
 * Rewrite one field error for people. Validator defaults become sentences; a message that starts
 * with the field's API name starts with its label instead ("subjectClaim must be…" → "Agent identifier claim must be…").
 */
export function humanMessage(field: string, message: string, value?: unknown): string {
  const label = fieldLabel(field);
  for (const [pattern, rewrite] of REWRITES) {
    const match = message.match(pattern);
    if (match) return rewrite(label, match, value);
  }
  const name = field.split('.')[0] ?? field;
  if (name && message.startsWith(`${name} `) && label !== name) return `${label} ${message.slice(name.length + 1)}`;
  if (name && message.startsWith(`each of ${name} `) && label !== name) return `Each of the ${label.toLowerCase()} ${message.slice(name.length + 9)}`;
  return message;
}
