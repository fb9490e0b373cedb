import {
  CompactRange,
  bytesEqual,
  canonicalJson,
  leafHashOfText,
  toBase64,
  verifyCheckpoint,
  type CompactRangeState,
} from '@rigtrace/protocols';
import { wholeTenant, type Viewer } from '../access/index.js';
import type { Db } from '../platform/db/db.js';
import type { AuditRepository, AuditRow } from './audit.repository.js';
import type { SecurityEvent } from './security-events.repository.js';
import type { Witness } from '../platform/witness.js';

/** Who did it. `anonymous` is a sign-in attempt for an account that may not exist. */
export interface AuditActor {
  type: 'user' | 'api-token' | 'system' | 'edge' | 'anonymous';
  id: string;
  email?: string;
  /** The signer's name, on entries of an electronic signature. */
  name?: string;
  role?: string;
}

export interface AuditEvent {
  tenantId: string;
  action: string;
  outcome: 'success' | 'failure';
  actor: AuditActor;
  address?: string | null;
  target?: { type: string; id: string };
  before?: unknown;
  after?: unknown;
  detail?: string;
}

/** The leaf of the audit log: its canonical JSON is hashed as SHA-256(0x00 ‖ bytes). */
export interface AuditEntry {
  v: 1;
  seq: number;
  tenant: string;
  at: string;
  action: string;
  outcome: 'success' | 'failure';
  actor: AuditActor;
  address: string | null;
  target?: { type: string; id: string };
  before?: unknown;
  after?: unknown;
  detail?: string;
}

export type AuditVerification =
  | { ok: true; size: number; root: string; checkpoint: string | null }
  | { ok: false; size: number; verified: number; firstBad: { seq: number; reason: string } };

/**
 * The tenant's tamper-evident audit trail: one RFC 6962 Merkle log per tenant (the record
 * library's, the same as the edges' logs), whose leaves are the entries' canonical JSON. Each
 * append stores the entry, its leaf hash and a checkpoint of the log at that size signed with
 * the cloud's witness key, so an entry changed later (even with its leaf hash recomputed) no
 * longer matches the signed root of its own size, and verification names it.
 */
export class AuditService {
  constructor(
    private readonly db: Db,
    private readonly repo: AuditRepository,
    private readonly witness: Witness,
  ) {}

  origin(tenantId: string): string {
    return `${this.witness.name}/audit/${tenantId}`;
  }

  /** Appends one entry; joins the caller's transaction if there is one. Returns its seq. */
  async record(e: AuditEvent): Promise<number> {
    return this.db.transaction(async () => {
      const head = await this.repo.lockHead(e.tenantId);
      const range = CompactRange.fromState(JSON.parse(head.range) as CompactRangeState);
      const seq = head.size + 1;
      const at = new Date().toISOString();
      // A JSON round trip drops undefined fields, which canonical JSON cannot carry.
      const entry = JSON.parse(
        JSON.stringify({
          v: 1,
          seq,
          tenant: e.tenantId,
          at,
          action: e.action,
          outcome: e.outcome,
          actor: e.actor,
          address: e.address ?? null,
          target: e.target,
          before: e.before,
          after: e.after,
          detail: e.detail,
        } satisfies AuditEntry),
      ) as AuditEntry;
      const text = canonicalJson(entry);
      const leaf = leafHashOfText(text);
      range.append(leaf);
      const checkpoint = this.witness.sign({
        origin: this.origin(e.tenantId),
        size: seq,
        root: range.root(),
        extensions: [],
      });
      await this.repo.append(
        {
          tenant_id: e.tenantId,
          seq,
          at,
          action: e.action,
          actor: `${e.actor.type}:${e.actor.id}`,
          outcome: e.outcome,
          entry: text,
          leaf_hash: Buffer.from(leaf),
          checkpoint,
        },
        JSON.stringify(range.toState()),
      );
      return seq;
    });
  }

  /** A security event of the ingest or enrollment path, into the tenant's audit trail. */
  async securityEvent(e: SecurityEvent): Promise<void> {
    if (e.tenantId === null) return; // no tenant: the operator's system_security_events only
    await this.record({
      tenantId: e.tenantId,
      action: `security.${e.code.toLowerCase()}`,
      outcome: 'failure',
      actor: e.edgeId ? { type: 'edge', id: e.edgeId } : { type: 'anonymous', id: '-' },
      address: e.address ?? null,
      detail: e.detail.slice(0, 2000),
    });
  }

  /** Entries after `afterSeq` as `v` reads them (none for a reader limited to sites). */
  page(v: Viewer, afterSeq: number, limit: number): Promise<AuditRow[]> {
    return this.repo.page(v, afterSeq, limit);
  }

  static view(row: AuditRow, withhold?: (entryText: string) => boolean) {
    const entry = JSON.parse(row.entry) as AuditEntry;
    const base = {
      seq: row.seq,
      leafHash: toBase64(new Uint8Array(row.leaf_hash)),
      checkpoint: row.checkpoint,
    };
    if (withhold?.(row.entry)) {
      // What happened, when and by whom; not what it was done to (export-controlled equipment).
      const { v, seq, tenant, at, action, outcome, actor, address } = entry;
      return {
        ...base,
        entry: { v, seq, tenant, at, action, outcome, actor, address },
        withheld: 'export-controlled',
      };
    }
    return { ...base, entry };
  }

  /**
   * Recomputes the whole log from the stored entries: each entry must be canonical, agree with
   * its indexed columns and its seq, hash to its stored leaf hash, and the root over it and every
   * entry before it must equal the root of its own witness-signed checkpoint. The first entry
   * that fails is named; entries missing at the end (the head says more) are named too.
   */
  async verify(tenantId: string): Promise<AuditVerification> {
    const range = CompactRange.empty();
    const origin = this.origin(tenantId);
    // The whole log, every entry: verification is the product's own work.
    const all = wholeTenant(tenantId);
    const head = await this.repo.head(all);
    let last: AuditRow | undefined;
    let expected = 1;
    const fail = (seq: number, reason: string): AuditVerification => ({
      ok: false,
      size: head,
      verified: expected - 1,
      firstBad: { seq, reason },
    });
    for (;;) {
      const rows = await this.repo.page(all, expected - 1, 1000);
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.seq !== expected) return fail(expected, `entry ${expected} is missing`);
        let entry: AuditEntry;
        try {
          entry = JSON.parse(row.entry) as AuditEntry;
        } catch {
          return fail(row.seq, 'the entry is not JSON');
        }
        if (canonicalJson(entry) !== row.entry) return fail(row.seq, 'the entry is not in canonical form');
        if (
          entry.seq !== row.seq ||
          entry.tenant !== tenantId ||
          entry.action !== row.action ||
          entry.outcome !== row.outcome ||
          entry.at !== row.at ||
          `${entry.actor?.type}:${entry.actor?.id}` !== row.actor
        ) {
          return fail(row.seq, 'the indexed columns do not match the entry');
        }
        const leaf = leafHashOfText(row.entry);
        if (!bytesEqual(leaf, new Uint8Array(row.leaf_hash)))
          return fail(row.seq, 'the stored leaf hash does not match the entry');
        range.append(leaf);
        const cp = verifyCheckpoint(row.checkpoint, this.witness.name, this.witness.publicKey);
        if (!cp.ok) return fail(row.seq, `checkpoint: ${cp.message}`);
        if (cp.checkpoint.origin !== origin || cp.checkpoint.size !== row.seq)
          return fail(row.seq, 'the checkpoint is for another log or size');
        if (!bytesEqual(cp.checkpoint.root, range.root()))
          return fail(row.seq, 'the log up to this entry does not match its signed checkpoint');
        last = row;
        expected += 1;
      }
    }
    if (head > expected - 1)
      return fail(expected, `entry ${expected} is missing (the log's head is ${head})`);
    return {
      ok: true,
      size: expected - 1,
      root: toBase64(range.root()),
      checkpoint: last?.checkpoint ?? null,
    };
  }
}
