import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { GENESIS_HASH, checkpointMessage, type ChainRow, type Checkpoint } from './audit-chain.js';

/** Why a chain does not verify. */
export type ChainBreakReason = 'changed-row' | 'missing-rows' | 'inserted-row' | 'reordered' | 'bad-signature' | 'missing-checkpoint';

export interface ChainBreak {
  readonly reason: ChainBreakReason;
  /** The first seq concerned. */
  readonly seq: number;
  /** What was found, in a sentence. */
  readonly message: string;
  /** The database row id or export line of the row concerned, when there is one. */
  readonly locator?: string;
}

export interface ChainVerification {
  readonly ok: boolean;
  readonly tenant: string;
  /** Rows checked. */
  readonly rows: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  /** The hash of the last row checked. */
  readonly headHash: string | null;
  /** Checkpoints whose signature was checked. */
  readonly checkpoints: number;
  /** The latest valid checkpoint in the range. */
  readonly lastCheckpoint: { readonly seq: number; readonly signedAt: string; readonly keyId: string } | null;
  /** Whether the first row is linked to the genesis or to a signed checkpoint (else the range start is taken on trust). */
  readonly anchored: boolean;
  /** The first broken link, when `ok` is false. */
  readonly break?: ChainBreak;
  /** Published checkpoints signed after the rows were read (`readAt`): check them against a newer export. */
  readonly publishedLater?: number;
}

/** What the verifier reads: rows in (seq, storage) order, and the tenant's checkpoints. */
export interface ChainSource {
  /** The rows, a page at a time. */
  pages(): AsyncIterable<readonly ChainRow[]>;
  /** A row whose `prev_hash` is `hash`, wherever it sits (used to explain a gap). */
  findByPrevHash(hash: string): Promise<ChainRow | undefined>;
  /** Every stored checkpoint of the tenant, any order. */
  readonly checkpoints: readonly Checkpoint[];
  /** Checkpoints published outward (a file sink), which must all be among the stored ones. */
  readonly published?: readonly Checkpoint[];
  /** The whole chain is read (not a range): its start must be seq 1 or a checkpoint, its end must reach every checkpoint. */
  readonly whole: boolean;
  /**
   * When the rows were read (an export's `exportedAt`): a published checkpoint signed later cannot
   * be in them and is not held against them. Unset for the live database, which must hold them all.
   */
  readonly readAt?: string;
}

/** `ed25519:` and the first 16 base64url characters of the SHA-256 of the public key's SPKI DER. */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return `ed25519:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url').slice(0, 16)}`;
}

/** Public keys by key id. */
export function keyRing(keys: readonly (KeyObject | string)[]): Map<string, KeyObject> {
  const ring = new Map<string, KeyObject>();
  for (const key of keys) {
    const object = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
    ring.set(keyIdOf(object), object);
  }
  return ring;
}

function checkSignature(checkpoint: Checkpoint, keys: ReadonlyMap<string, KeyObject>): string | undefined {
  const key = keys.get(checkpoint.keyId);
  if (!key) return `checkpoint at seq ${checkpoint.seq} is signed with key ${checkpoint.keyId}, which is not among the public keys given`;
  let good = false;
  try {
    const { signature, ...signed } = checkpoint;
    good = verify(null, checkpointMessage(signed), key, Buffer.from(signature, 'base64url'));
  } catch {
    good = false;
  }
  return good ? undefined : `checkpoint at seq ${checkpoint.seq} has a signature that does not verify with key ${checkpoint.keyId}`;
}

/**
 * Verify one tenant's chain: every row's hash, every link, seq continuity, every checkpoint's
 * signature and agreement with the rows. Stops at the first broken link and reports it.
 */
export async function verifyChain(tenant: string, source: ChainSource, keys: ReadonlyMap<string, KeyObject>): Promise<ChainVerification> {
  const checkpoints = [...source.checkpoints].sort((a, b) => a.seq - b.seq);
  const wanted = new Set(checkpoints.map((c) => c.seq));
  const seen = new Map<number, string>();
  let rows = 0;
  let first: ChainRow | undefined;
  let prev: ChainRow | undefined;
  let rowBreak: ChainBreak | undefined;

  // Answers at once, but for a gap in the seq numbers, which takes a lookup to explain.
  const check = (cur: ChainRow, next: ChainRow | undefined): ChainBreak | undefined | Promise<ChainBreak> => {
    const at = (reason: ChainBreakReason, seq: number, message: string, row: ChainRow | undefined = cur): ChainBreak => ({ reason, seq, message, locator: row?.locator });
    if (!prev) {
      if (cur.computedHash !== cur.hash) return at('changed-row', cur.seq, `row ${cur.seq} does not match its hash: its content was changed`);
      if (cur.seq === 1 && cur.prevHash !== GENESIS_HASH) return at('changed-row', 1, 'row 1 does not start from the genesis hash');
      return undefined;
    }
    if (cur.seq === prev.seq) return at('inserted-row', cur.seq, `two rows claim seq ${cur.seq} (${prev.locator ?? '?'} and ${cur.locator ?? '?'}): a row was inserted`);
    if (next && cur.prevHash === next.hash && next.prevHash === prev.hash) {
      return at('reordered', cur.seq, `rows ${cur.seq} and ${next.seq} are in each other's place: the trail was reordered`);
    }
    if (cur.computedHash !== cur.hash) return at('changed-row', cur.seq, `row ${cur.seq} does not match its hash: its content was changed`);
    if (cur.seq > prev.seq + 1) {
      const before = prev;
      return source.findByPrevHash(before.hash).then((moved) => {
        if (moved && moved.seq !== before.seq + 1) {
          return at('changed-row', before.seq + 1, `row ${before.seq + 1} now claims seq ${moved.seq}: its seq was changed`, moved);
        }
        const missing = cur.seq - before.seq - 1;
        return at('missing-rows', before.seq + 1, `${missing} row(s) missing: seq ${before.seq + 1}${missing > 1 ? `–${cur.seq - 1}` : ''} were deleted`);
      });
    }
    if (cur.prevHash !== prev.hash) {
      return at('changed-row', prev.seq, `row ${prev.seq} was rewritten: row ${cur.seq} links to a different hash`, prev);
    }
    return undefined;
  };

  let pending: ChainRow | undefined;
  /** Take `cur` into the chain (true), or record the break it shows (false, later for a gap). */
  const step = (cur: ChainRow, next: ChainRow | undefined): boolean | Promise<false> => {
    const problem = check(cur, next);
    if (problem instanceof Promise) {
      return problem.then((found) => {
        rowBreak = found;
        return false as const;
      });
    }
    if (problem) {
      rowBreak = problem;
      return false;
    }
    rows++;
    first ??= cur;
    if (wanted.has(cur.seq)) seen.set(cur.seq, cur.hash);
    prev = cur;
    return true;
  };
  let going = true;
  pages: for await (const page of source.pages()) {
    for (const row of page) {
      if (pending) {
        const taken = step(pending, row);
        if (taken !== true) {
          await taken;
          going = false;
          break pages;
        }
      }
      pending = row;
    }
  }
  if (going && pending) await step(pending, undefined);

  const breaks: ChainBreak[] = rowBreak ? [rowBreak] : [];
  const firstSeq = first?.seq ?? null;
  const lastSeq = prev?.seq ?? null;
  let anchored = firstSeq === 1;
  if (first && firstSeq !== null && firstSeq > 1) {
    const anchor = checkpoints.find((c) => c.seq === firstSeq - 1);
    if (anchor && anchor.hash === first.prevHash) {
      anchored = true;
      seen.set(anchor.seq, first.prevHash);
    } else if (source.whole) {
      breaks.push({
        reason: 'missing-rows',
        seq: 1,
        message: `the chain starts at seq ${firstSeq} with no checkpoint anchoring it: rows 1–${firstSeq - 1} are missing (or the checkpoint left by pruning was deleted)`,
      });
    }
  }

  let verified = 0;
  let lastCheckpoint: ChainVerification['lastCheckpoint'] = null;
  const byIndex = [...checkpoints].sort((a, b) => a.index - b.index);
  const stored = new Map(checkpoints.map((c) => [c.index, c]));
  let previous: Checkpoint | undefined;
  for (const checkpoint of byIndex) {
    const badSignature = checkSignature(checkpoint, keys);
    if (badSignature) {
      breaks.push({ reason: 'bad-signature', seq: checkpoint.seq, message: badSignature });
      break;
    }
    verified++;
    const expectedIndex = previous ? previous.index + 1 : 1;
    if (checkpoint.index !== expectedIndex && (previous || source.whole)) {
      breaks.push({
        reason: 'missing-checkpoint',
        seq: previous?.seq ?? 0,
        message: `checkpoint ${expectedIndex}${checkpoint.index - expectedIndex > 1 ? `–${checkpoint.index - 1}` : ''} of the tenant is missing (the next one stored is ${checkpoint.index}, at seq ${checkpoint.seq})`,
      });
      break;
    }
    previous = checkpoint;
    const hash = seen.get(checkpoint.seq);
    if (hash !== undefined && hash !== checkpoint.hash) {
      breaks.push({ reason: 'changed-row', seq: checkpoint.seq, message: `row ${checkpoint.seq} differs from what the checkpoint signed at ${checkpoint.signedAt} attests: the chain was rewritten` });
      break;
    }
    if (source.whole && lastSeq !== null && checkpoint.seq > lastSeq && !rowBreak) {
      breaks.push({
        reason: 'missing-rows',
        seq: lastSeq + 1,
        message: `the checkpoint signed at ${checkpoint.signedAt} attests seq ${checkpoint.seq}, but the chain ends at seq ${lastSeq}: the tail was deleted`,
      });
      break;
    }
    if (!lastCheckpoint || checkpoint.seq >= lastCheckpoint.seq) lastCheckpoint = { seq: checkpoint.seq, signedAt: checkpoint.signedAt, keyId: checkpoint.keyId };
  }
  const readAt = source.readAt === undefined ? undefined : Date.parse(source.readAt);
  const lastIndex = Math.max(0, ...stored.keys());
  let publishedLater = 0;
  for (const published of source.published ?? []) {
    if (published.tenant !== tenant) continue;
    const badSignature = checkSignature(published, keys);
    if (badSignature) {
      breaks.push({ reason: 'bad-signature', seq: published.seq, message: `published ${badSignature}` });
      continue;
    }
    const match = stored.get(published.index);
    if (!match && readAt !== undefined && published.index > lastIndex && Date.parse(published.signedAt) > readAt) {
      // Signed after the rows were read, and after every checkpoint they carry: it attests rows they cannot hold.
      publishedLater++;
      continue;
    }
    if (!match) breaks.push({ reason: 'missing-checkpoint', seq: published.seq, message: `published checkpoint ${published.index} (seq ${published.seq}) is missing from the trail` });
    else if (match.hash !== published.hash || match.seq !== published.seq) {
      breaks.push({ reason: 'changed-row', seq: published.seq, message: `stored checkpoint ${published.index} differs from the published one` });
    }
  }

  breaks.sort((a, b) => a.seq - b.seq);
  return {
    ok: breaks.length === 0,
    tenant,
    rows,
    firstSeq,
    lastSeq,
    headHash: prev?.hash ?? null,
    checkpoints: verified,
    lastCheckpoint,
    anchored,
    ...(breaks[0] ? { break: breaks[0] } : {}),
    ...(publishedLater ? { publishedLater } : {}),
  };
}
