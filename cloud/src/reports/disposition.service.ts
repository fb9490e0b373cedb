import { z } from 'zod';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import { CalibrationRepository, calLite, isFailure } from '../calibration/index.js';
import type { AuditActor, AuditService } from '../audit/index.js';
import type { DispositionRow, ReportsRepository } from './reports.repository.js';
import { validationProblem } from './reports.service.js';

/**
 * What was decided about the product a failed instrument may have measured (IATF 16949
 * 7.1.5.2.1: risk assessment, disposition, customer notification when suspect product shipped).
 */
export const DISPOSITIONS = [
  'under-investigation',
  'no-impact',
  'use-as-is',
  'rework',
  're-inspect',
  'scrap',
  'recall',
] as const;

export const dispositionSchema = z.strictObject({
  disposition: z.enum(DISPOSITIONS),
  customerNotified: z.boolean(),
  /** The risk assessment and reasoning, free text. */
  notes: z.string().max(4000).nullable().optional(),
});

export interface DispositionView {
  calibrationId: string;
  disposition: string;
  customerNotified: boolean;
  notes: string | null;
  decidedBy: string;
  decidedAt: string;
}

export function dispositionView(d: DispositionRow): DispositionView {
  return {
    calibrationId: d.calibration_id,
    disposition: d.disposition,
    customerNotified: d.customer_notified === 1,
    notes: d.notes,
    decidedBy: d.decided_by,
    decidedAt: d.decided_at,
  };
}

/** Records (or replaces) a failed calibration's disposition, with its audit entry, in one transaction. */
export class DispositionService {
  private readonly calibrations: CalibrationRepository;
  constructor(
    private readonly db: Db,
    private readonly repo: ReportsRepository,
    private readonly audit: AuditService,
  ) {
    this.calibrations = new CalibrationRepository(db);
  }

  async set(
    tenantId: string,
    calibrationId: string,
    raw: unknown,
    who: { actor: AuditActor; address: string | null; label: string },
  ): Promise<DispositionView> {
    const r = dispositionSchema.safeParse(raw);
    if (!r.success) throw validationProblem(r.error);
    const cal =
      calibrationId.length <= 300 ? await this.calibrations.get(tenantId, calibrationId) : undefined;
    if (!cal) throw new ProblemError('CLOUD_NOT_FOUND', 'no such calibration');
    if (!isFailure(calLite(cal)))
      throw new ProblemError(
        'CLOUD_CONFLICT',
        'the calibration did not find the instrument out of tolerance: there is nothing to disposition',
      );
    const row: DispositionRow = {
      tenant_id: tenantId,
      calibration_id: calibrationId,
      disposition: r.data.disposition,
      customer_notified: r.data.customerNotified ? 1 : 0,
      notes: r.data.notes ?? null,
      decided_by: who.label,
      decided_at: new Date().toISOString(),
    };
    await this.db.transaction(async () => {
      const before = await this.repo.disposition(tenantId, calibrationId);
      await this.repo.setDisposition(row);
      await this.audit.record({
        tenantId,
        action: 'calibration.disposition',
        outcome: 'success',
        actor: who.actor,
        address: who.address,
        target: { type: 'calibration', id: calibrationId },
        ...(before ? { before: dispositionView(before) } : {}),
        after: dispositionView(row),
      });
    });
    return dispositionView(row);
  }
}
