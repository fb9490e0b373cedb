import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  verifyBatch,
  type BatchProblem,
  type BatchVerification,
  type Checkpoint,
  type LogState,
} from '@rigtrace/protocols';

/**
 * What a batch is verified against: the edge's key and log as read, and the stored leaf hashes
 * and older checkpoint root that the batch's re-sent records and checkpoint refer to.
 */
export interface VerifyInput {
  body: unknown;
  /**
   * The UTF-8 JSON text `body` was parsed from, if known: a worker is sent these bytes and
   * parses them itself, which costs this thread a copy instead of a structured clone of the
   * batch. The caller vouches that they parse to `body`.
   */
  text?: Uint8Array | undefined;
  publicKey: Uint8Array;
  state: LogState;
  known: ReadonlyMap<number, Uint8Array>;
  earlier?: { size: number; root: Uint8Array } | undefined;
}

/**
 * Batches of fewer records are verified on the event loop even with a pool: the hop to a worker
 * and back would cost a small batch (a live device change) more than it saves.
 */
export const OFF_LOOP_MIN_RECORDS = 64;

/** verifyBatch on this thread. */
export function verifyHere(input: VerifyInput): BatchVerification {
  return verifyBatch(input.body, {
    publicKey: input.publicKey,
    state: input.state,
    knownLeafHash: (seq) => input.known.get(seq),
    knownRoot: (size) => (input.earlier?.size === size ? input.earlier.root : undefined),
  });
}

/** @internal A verification as it crosses between threads (verify-worker.ts). */
export type WireVerification =
  | {
      ok: true;
      /** The new records are the batch's records from this index on (they follow the re-sent ones). */
      firstNew: number;
      /** Their leaf hashes, 32 bytes each, end to end. */
      leafHashes: Uint8Array;
      canonical: string[];
      checkpoint: Checkpoint;
      newState: LogState;
      duplicateCount: number;
    }
  | { ok: false; problems: BatchProblem[]; expectedSeq?: number; fork?: boolean };

/** @internal */
export interface VerifyRequest {
  id: number;
  /** The batch, or (when `text` is given) undefined. */
  body: unknown;
  text?: Uint8Array | undefined;
  publicKey: Uint8Array;
  state: LogState;
  known: [number, Uint8Array][];
  earlier?: { size: number; root: Uint8Array } | undefined;
}

/** @internal The batch of a request, as the worker reads it (body-parser's reading of UTF-8: a BOM dropped). */
export function requestBody(req: VerifyRequest): unknown {
  if (!req.text) return req.body;
  const s = Buffer.from(req.text.buffer, req.text.byteOffset, req.text.byteLength).toString('utf8');
  return JSON.parse(s.charCodeAt(0) === 0xfeff ? s.slice(1) : s) as unknown;
}

/** @internal */
export type VerifyResponse = { id: number; result: WireVerification } | { id: number; error: string };

/**
 * @internal The worker's side: the records of an accepted batch are not sent back (the caller
 * holds the same batch), only where they start in it; the leaf hashes travel as one buffer.
 */
export function toWire(body: unknown, v: BatchVerification): WireVerification {
  if (!v.ok) return v;
  const raw = (body as { records: unknown[] }).records;
  const firstNew = raw.length - v.records.length;
  // verifyBatch returns the new records as the very objects of the batch, in order, after the
  // re-sent ones; anything else is refused here (the caller then verifies on its own thread).
  for (let i = 0; i < v.records.length; i += 1)
    if (raw[firstNew + i] !== v.records[i]) throw new Error('verified records are not the batch tail');
  const leafHashes = new Uint8Array(v.leafHashes.length * 32);
  v.leafHashes.forEach((h, i) => leafHashes.set(h, i * 32));
  return {
    ok: true,
    firstNew,
    leafHashes,
    canonical: v.canonical,
    checkpoint: v.checkpoint,
    newState: v.newState,
    duplicateCount: v.duplicateCount,
  };
}

/** @internal The caller's side: `body` is the batch the worker verified a copy of. */
export function fromWire(body: unknown, w: WireVerification): BatchVerification {
  if (!w.ok) return w;
  const raw = (body as { records: unknown[] }).records;
  const records = raw.slice(w.firstNew) as Extract<BatchVerification, { ok: true }>['records'];
  if (records.length * 32 !== w.leafHashes.length || records.length !== w.canonical.length)
    throw new Error('verification does not match the batch');
  return {
    ok: true,
    records,
    leafHashes: records.map((_, i) => w.leafHashes.subarray(i * 32, i * 32 + 32)),
    canonical: w.canonical,
    checkpoint: w.checkpoint,
    newState: w.newState,
    duplicateCount: w.duplicateCount,
  };
}

/**
 * The worker's entry: the built file next to this one, or (when the cloud runs from its
 * TypeScript sources: tests, `tsx`) the source file, loaded through tsx in the worker.
 */
function workerEntry(): { code: string; execArgv: string[] } | { file: URL } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { file: new URL('./verify-worker.js', here) };
  const require = createRequire(here);
  const pkgFile = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  const api = pathToFileURL(path.join(path.dirname(pkgFile), pkg.exports['./esm/api']!.import.default)).href;
  const entry = new URL('./verify-worker.ts', here).href;
  return {
    code: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`,
    execArgv: ['--conditions=rigtrace-source'],
  };
}

interface Pending {
  resolve(v: BatchVerification): void;
  reject(err: Error): void;
  body: unknown;
}

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * Worker threads that verify batches (schema checks, canonical JSON, SHA-256, the Merkle root,
 * the checkpoint's signature) off the event loop, so that the loop parses, stores and answers
 * other batches meanwhile. A batch goes to the least busy worker; a worker that dies fails its
 * batches (the caller verifies them itself) and is replaced on the next one. The workers do not
 * keep the process alive.
 */
export class VerifyPool {
  private readonly slots: (Slot | undefined)[];
  private readonly pending = new Map<number, Pending>();
  private readonly owner = new Map<number, number>();
  private nextId = 1;
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('a verify pool has at least one worker');
    // Started with the first batch that needs one (a test cloud that never gets a large batch
    // starts none).
    this.slots = Array.from({ length: size }, () => undefined);
  }

  private spawn(index: number): Slot {
    const entry = workerEntry();
    const worker =
      'file' in entry
        ? new Worker(entry.file)
        : new Worker(entry.code, { eval: true, execArgv: entry.execArgv });
    worker.unref();
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (res: VerifyResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      this.owner.delete(res.id);
      slot.busy -= 1;
      if ('error' in res) p.reject(new Error(`batch verification failed on a worker: ${res.error}`));
      else {
        try {
          p.resolve(fromWire(p.body, res.result));
        } catch (err) {
          p.reject(err instanceof Error ? err : new Error(String(err)));
        }
      }
    });
    const lost = (err: Error) => {
      if (this.slots[index] === slot) this.slots[index] = undefined;
      for (const [id, at] of this.owner) {
        if (at !== index) continue;
        const p = this.pending.get(id);
        this.pending.delete(id);
        this.owner.delete(id);
        p?.reject(err);
      }
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`verify worker exited (${code})`)));
    this.slots[index] = slot;
    return slot;
  }

  /** verifyBatch on a worker; rejects if the worker fails (the batch is then not verified). */
  verify(input: VerifyInput): Promise<BatchVerification> {
    if (this.closed) return Promise.reject(new Error('the verify pool is closed'));
    let index = 0;
    let best = Infinity;
    for (let i = 0; i < this.slots.length; i += 1) {
      const busy = this.slots[i]?.busy ?? 0;
      if (busy < best) {
        best = busy;
        index = i;
      }
    }
    const slot = this.slots[index] ?? this.spawn(index);
    const id = this.nextId++;
    // The text is copied once into a buffer of its own, which is then moved, not copied again.
    const text = input.text ? new Uint8Array(input.text) : undefined;
    const req: VerifyRequest = {
      id,
      body: text ? undefined : input.body,
      text,
      publicKey: input.publicKey,
      state: input.state,
      known: [...input.known],
      earlier: input.earlier,
    };
    return new Promise<BatchVerification>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, body: input.body });
      this.owner.set(id, index);
      slot.busy += 1;
      try {
        slot.worker.postMessage(req, text ? [text.buffer] : []);
      } catch (err) {
        this.pending.delete(id);
        this.owner.delete(id);
        slot.busy -= 1;
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.flatMap((s) => (s ? [s.worker.terminate()] : [])));
  }
}
