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

/**
 * Evidence bundles: chosen records of an edge, an inclusion proof for each against the edge's
 * latest accepted checkpoint (countersigned by this cloud), and the edge's key, verifiable
 * offline. A flagged (export-controlled) record is, to a caller not cleared, an absent one.
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
      const cp = await repo.latestCheckpoint(e.tenant_id, e.id);
      if (!cp) throw new ProblemError('CLOUD_NOT_FOUND', 'this edge has no accepted records yet');
      const leaves = await repo.allLeafHashes(e.tenant_id, e.id, cp.size);
      const records: EvidenceBundle['records'] = [];
      const served: AccessedObject[] = [];
      for (const seq of seqs) {
        const row = seq <= cp.size ? await repo.get(e.tenant_id, e.id, seq) : undefined;
        if (!row && seq <= cp.size && seq >= 1)
          throw new ProblemError(
            'CLOUD_NOT_FOUND',
            `record ${seq} was in a month the records retention dropped; its leaf hash still proves the edge's log`,
          );
        if (!row) throw absent(seq);
        const flag = flagOfStoredRecord(row.json, flags);
        // A flagged record is, to a caller not cleared, exactly an absent one (refusal audited below).
        if (flag && !by.cleared) return { refused: { seq, flag } } as const;
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
