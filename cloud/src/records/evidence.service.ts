import { formatVerifierKey, inclusionProof, toBase64, type EvidenceBundle } from '@rigtrace/protocols';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import type { EdgeRow } from '../tenancy/index.js';
import {
  flagOfStoredRecord,
  type AccessedObject,
  type ExportCaller,
  type ExportControlService,
} from '../export-control/index.js';
import type { RecordsRepository } from './records.repository.js';
import { wholeTenant } from '../access/index.js';

/**
 * Evidence bundles: chosen records of an edge, an inclusion proof for each against the edge's
 * latest accepted checkpoint (countersigned by this cloud), and the edge's key, verifiable
 * offline. Each record is read as the caller (of its sites; export-controlled ones only when
 * cleared): one it may not see is, to it, an absent one. The proofs are computed from every leaf.
 */
export class EvidenceService {
  constructor(
    private readonly deps: { db: Db; records: RecordsRepository; exportControl: ExportControlService },
  ) {}

  /** The bundle of records `seqs` of edge `e` (one the caller sees). */
  async bundle(by: ExportCaller, e: EdgeRow, seqs: readonly number[]): Promise<EvidenceBundle> {
    const { records: repo, exportControl } = this.deps;
    const flags = await exportControl.flags(by.tenantId);
    const absent = (seq: number) =>
      new ProblemError('CLOUD_NOT_FOUND', `record ${seq} is not in the accepted log`);
    // One transaction, on one connection, for the whole bundle.
    const out = await this.deps.db.withTenant(e.tenant_id, async () => {
      const cp = await repo.latestCheckpoint(by, e.id);
      if (!cp) throw new ProblemError('CLOUD_NOT_FOUND', 'this edge has no accepted records yet');
      // The proofs need every leaf of the log, flagged records' included: read as the whole
      // tenant. What the bundle holds is each record read as the caller (`get`).
      const whole = wholeTenant(e.tenant_id);
      const leaves = await repo.allLeafHashes(whole, e.id, cp.size);
      const records: EvidenceBundle['records'] = [];
      const served: AccessedObject[] = [];
      for (const seq of seqs) {
        if (seq < 1 || seq > cp.size) throw absent(seq);
        const row = await repo.get(by, e.id, seq);
        if (!row) {
          // Not one the caller may see (the edge is, so it is export-controlled), or in a month
          // the records retention dropped: read as the whole tenant only to tell which, and to
          // name the refusal on the audit trail. Its content is not served.
          const hidden = await repo.get(whole, e.id, seq);
          const flag = hidden ? flagOfStoredRecord(hidden.json, flags) : null;
          // A flagged record is, to a caller not cleared, exactly an absent one (refusal audited below).
          if (flag) return { refused: { seq, flag } } as const;
          if (hidden) throw absent(seq);
          throw new ProblemError(
            'CLOUD_NOT_FOUND',
            `record ${seq} was in a month the records retention dropped; its leaf hash still proves the edge's log`,
          );
        }
        const flag = flagOfStoredRecord(row.json, flags);
        if (flag) served.push({ type: 'record', id: `${e.id}:${seq}`, flag });
        records.push({
          record: JSON.parse(row.json) as unknown,
          index: seq - 1,
          proof: inclusionProof(leaves, seq - 1, cp.size).map(toBase64),
        });
      }
      return { cp, records, served };
    });
    if (out.refused) {
      const { seq, flag } = out.refused;
      await exportControl.refused(by, { type: 'record', id: `${e.id}:${seq}`, flag });
      throw absent(seq);
    }
    const { cp, records, served } = out;
    await exportControl.logAccess(by, served);
    return {
      v: 1,
      edge: e.id,
      verifierKey: formatVerifierKey(e.id, new Uint8Array(e.public_key)),
      checkpoint: cp.cosigned_note,
      records,
    };
  }
}
