import { createPrivateKey, type KeyObject } from 'node:crypto';
import { checkDurationMs, ConfigError } from '../../../core/index.js';
import { keyIdOf, keyRing } from './chain-verifier.js';

/** `enterpriseEdition({ audit: { checkpoints } })`: how the chain heads are signed and published. */
export interface CheckpointOptions {
  /** The Ed25519 private key (PEM text or a `KeyObject`). Configure it; it is never stored in the database. */
  readonly signingKey?: string | KeyObject;
  /** Public keys (PEM or `KeyObject`) of earlier signing keys, so checkpoints they signed still verify after a rotation. */
  readonly previousKeys?: readonly (string | KeyObject)[];
  /** How often moved chain heads are signed. Default 60 000 ms. */
  readonly intervalMs?: number;
  /** Append every checkpoint, as a JSON line, to this file (ideally on storage the database administrators cannot change). */
  readonly file?: string;
  /** POST `{ checkpoints: [...] }` to this URL after each signing. */
  readonly webhook?: string;
}

export interface CheckpointSettings {
  readonly signingKey: KeyObject | undefined;
  /** `ed25519:` + 16 characters derived from the public key; checkpoints name the key that signed them. */
  readonly keyId: string | undefined;
  readonly verificationKeys: ReadonlyMap<string, KeyObject>;
  readonly intervalMs: number;
  readonly file: string | undefined;
  readonly webhook: string | undefined;
}

export const CheckpointSettings = Symbol.for('gatehouse.ee.CheckpointSettings');

const KNOWN = ['signingKey', 'previousKeys', 'intervalMs', 'file', 'webhook'];

export function checkpointSettings(options: CheckpointOptions = {}): CheckpointSettings {
  if (typeof options !== 'object' || options === null) throw new ConfigError('enterpriseEdition(options): audit.checkpoints must be an object.');
  for (const name of Object.keys(options)) {
    if (!KNOWN.includes(name)) throw new ConfigError(`enterpriseEdition(options): unknown option "audit.checkpoints.${name}".`);
  }
  let signingKey: KeyObject | undefined;
  if (options.signingKey !== undefined) {
    try {
      signingKey = typeof options.signingKey === 'string' ? createPrivateKey(options.signingKey) : options.signingKey;
    } catch (error) {
      throw new ConfigError(`enterpriseEdition(options): audit.checkpoints.signingKey is not a private key: ${(error as Error).message}`);
    }
    if (signingKey.type !== 'private' || signingKey.asymmetricKeyType !== 'ed25519') {
      throw new ConfigError('enterpriseEdition(options): audit.checkpoints.signingKey must be an Ed25519 private key.');
    }
  }
  let previous: Map<string, KeyObject>;
  try {
    previous = keyRing(options.previousKeys ?? []);
  } catch (error) {
    throw new ConfigError(`enterpriseEdition(options): audit.checkpoints.previousKeys holds something that is not a public key: ${(error as Error).message}`);
  }
  const verificationKeys = new Map([...previous, ...(signingKey ? keyRing([signingKey]) : [])]);
  const intervalMs = options.intervalMs ?? 60_000;
  checkDurationMs(intervalMs, 'enterpriseEdition(options): audit.checkpoints.intervalMs');
  if (options.file !== undefined && typeof options.file !== 'string') throw new ConfigError('enterpriseEdition(options): audit.checkpoints.file must be a path.');
  if (options.webhook !== undefined && !/^https?:\/\//.test(String(options.webhook))) {
    throw new ConfigError('enterpriseEdition(options): audit.checkpoints.webhook must be an http(s) URL.');
  }
  return Object.freeze({
    signingKey,
    keyId: signingKey ? keyIdOf(signingKey) : undefined,
    verificationKeys,
    intervalMs,
    file: options.file,
    webhook: options.webhook,
  });
}
