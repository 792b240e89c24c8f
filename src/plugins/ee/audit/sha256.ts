import crypto from 'node:crypto';

/**
 * SHA-256 of a text (UTF-8), in hex. Node's one-shot `crypto.hash` (Node 20.12 and later) where it
 * exists: it skips the Hash object a `createHash` call makes, about half the cost for the short
 * texts the audit chain hashes per row.
 */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');
