import { visibleSql, type Viewer } from '../access/index.js';
import type { Db, SqlParam } from '../platform/db/db.js';
import { inChunks } from '../platform/db/in-chunks.js';
import { insertChunked } from '../platform/db/insert-chunked.js';
import { CALIBRATION_SITE, EFFECTIVE_CALIBRATION, calibrationsSeenBy } from '../calibration/index.js';
import { keysetPage } from '../platform/db/keyset.js';

/** An out-of-tolerance case (migration 42): one per calibration that found an instrument out of tolerance. */
export interface CaseRow {
  tenant_id: string;
  id: string;
  equipment: string;
  site_id: string | null;
  calibration_id: string;
  opened_at: string;
  state: 'open' | 'closed';
  closed_at: string | null;
  /** 'decided': every suspect record decided; 'voided': the entry that opened it was rejected or returned. */
  closed_reason: string | null;
  alert_id: string | null;
}

/** Who signed a decision or a notification, and the SHA-256 of what they signed. */
export interface SignedBy {
  user_id: string;
  user_email: string;
  user_name: string;
  user_role: string;
  meaning: string;
  signature_sha256: string;
}

export type DecisionScope = 'record' | 'part' | 'lot';

/** The impact assessment and disposition of one part, lot or record of a case (append-only). */
export interface DecisionRow extends SignedBy {
  tenant_id: string;
  case_id: string;
  id: string;
  scope: DecisionScope;
  /** The part serial, the work order (lot), or "<edge>:<seq>" of a record. */
  item: string;
  impact: string;
  assessment: string;
  disposition: string;
  decided_at: string;
}

/** A customer told about suspect product (append-only). */
export interface NotificationRow extends SignedBy {
  tenant_id: string;
  case_id: string;
  id: string;
  customer: string;
  contact: string;
  notified_at: string;
  method: string | null;
  reference: string;
  recorded_at: string;
}

export type ShipmentState = 'in-house' | 'shipped' | 'at-customer' | 'scrapped';

export interface ShipmentRow {
  part_serial: string;
  state: ShipmentState;
  customer: string | null;
  shipped_at: string | null;
  reference: string | null;
  updated_at: string;
  updated_by: string;
}

/** A case with its equipment's export flag (for callers not cleared) and type. */
export interface CaseListRow extends CaseRow {
  export_regime: string | null;
  type: string | null;
}

const CHUNK = 500;

/** Who reads: the request's viewer, or the part of it the scope needs. */
type Reader = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

/** The equipment entry of a case (aliased `c`), for its export flag and type. */
const CASE_EQUIPMENT = 'LEFT JOIN equipment e ON e.tenant_id = c.tenant_id AND e.tag = c.equipment';

/**
 * The cases (aliased `c`, joined to CASE_EQUIPMENT) `v` may see: of its sites (a case of no site
 * only to a reader of every site) and, unless cleared, not of export-controlled equipment.
 */
const casesSeenBy = (v: Reader) => visibleSql(v, { site: 'c.site_id', regime: 'e.export_regime' });

/** The only code with SQL over oot_cases, oot_decisions, oot_notifications and part_shipments. */
export class OotRepository {
  constructor(private readonly db: Db) {}

  /** Stored once per calibration: false when a case for it exists. */
  async insertCase(tenantId: string, c: Omit<CaseRow, 'tenant_id'>): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        `INSERT INTO oot_cases (tenant_id, id, equipment, site_id, calibration_id, opened_at, state, closed_at,
           closed_reason, alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [
          tenantId,
          c.id,
          c.equipment,
          c.site_id,
          c.calibration_id,
          c.opened_at,
          c.state,
          c.closed_at,
          c.closed_reason,
          c.alert_id,
        ],
      ),
    );
    return r.changes === 1;
  }

  /**
   * One case as `v` sees it: undefined when absent, of another site (or of no site, to a caller
   * limited to sites), or of export-controlled equipment and `v` not cleared.
   */
  async find(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    id: string,
  ): Promise<CaseListRow | undefined> {
    const seen = visibleSql(v, { site: 'c.site_id', regime: 'e.export_regime' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<CaseListRow>(
        `SELECT c.*, e.export_regime AS export_regime, e.type AS type FROM oot_cases c
         LEFT JOIN equipment e ON e.tenant_id = c.tenant_id AND e.tag = c.equipment
         WHERE c.tenant_id = ? AND c.id = ? AND ${seen.sql}`,
        [v.tenantId, id, ...seen.params],
      ),
    );
  }

  /** The case of a calibration, if `v` may see it. */
  async byCalibration(v: Reader, calibrationId: string): Promise<CaseRow | undefined> {
    const seen = casesSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<CaseRow>(
        `SELECT c.* FROM oot_cases c ${CASE_EQUIPMENT} WHERE c.tenant_id = ? AND c.calibration_id = ? AND ${seen.sql}`,
        [v.tenantId, calibrationId, ...seen.params],
      ),
    );
  }

  /** Cases of these calibrations that `v` may see (the out-of-tolerance report), by calibration id. */
  async byCalibrations(v: Reader, ids: readonly string[]): Promise<Map<string, CaseRow>> {
    const seen = casesSeenBy(v);
    const rows = await inChunks(ids, CHUNK, (chunk, marks) =>
      this.db.withTenant(v.tenantId, () =>
        this.db.all<CaseRow>(
          `SELECT c.* FROM oot_cases c ${CASE_EQUIPMENT}
           WHERE c.tenant_id = ? AND c.calibration_id IN (${marks}) AND ${seen.sql}`,
          [v.tenantId, ...chunk, ...seen.params],
        ),
      ),
    );
    return new Map(rows.map((r) => [r.calibration_id, r]));
  }

  /** The cases `v` may see (as `find`), newest first. */
  async list(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    q: {
      state?: 'open' | 'closed' | undefined;
      equipment?: string | undefined;
      siteId?: string | undefined;
      before?: { at: string; id: string } | undefined;
      limit: number;
    },
  ): Promise<CaseListRow[]> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'c.site_id', regime: 'e.export_regime' });
    const where = ['c.tenant_id = ?', seen.sql];
    const params: SqlParam[] = [tenantId, ...seen.params];
    if (q.state) {
      where.push('c.state = ?');
      params.push(q.state);
    }
    if (q.equipment) {
      where.push('c.equipment = ?');
      params.push(q.equipment);
    }
    if (q.siteId) {
      where.push('c.site_id = ?');
      params.push(q.siteId);
    }
    if (q.before) {
      const page = keysetPage('c.opened_at', 'c.id', 'before', q.before);
      where.push(page.sql);
      params.push(...page.params);
    }
    params.push(q.limit);
    return this.db.withTenant(tenantId, () =>
      this.db.all<CaseListRow>(
        `SELECT c.*, e.export_regime AS export_regime, e.type AS type FROM oot_cases c
         LEFT JOIN equipment e ON e.tenant_id = c.tenant_id AND e.tag = c.equipment
         WHERE ${where.join(' AND ')} ORDER BY c.opened_at DESC, c.id DESC LIMIT ?`,
        params,
      ),
    );
  }

  /** Open cases of these tags (tag-out checks at ingest, "do not use" on the board). */
  async openFor(v: Reader, tags: readonly string[]): Promise<CaseRow[]> {
    if (tags.length === 0) return [];
    const seen = casesSeenBy(v);
    return inChunks(tags, CHUNK, (chunk, marks) =>
      this.db.withTenant(v.tenantId, () =>
        this.db.all<CaseRow>(
          `SELECT c.* FROM oot_cases c ${CASE_EQUIPMENT} WHERE c.tenant_id = ? AND c.state = 'open'
             AND c.equipment IN (${marks}) AND ${seen.sql} ORDER BY c.opened_at`,
          [v.tenantId, ...chunk, ...seen.params],
        ),
      ),
    );
  }

  /**
   * Which of `tags` the tag-out rule has anything to read for, by source: an open case
   * (`case`), an out-of-service change (`service`, maintenance) or an event asking for a
   * calibration before use (`required`, maintenance). One statement per chunk of tags, with the
   * tenant setting and row-level security in force, each source scoped to `v` as its own read is:
   * after a batch, almost always nothing, and the rule's reads (`openFor`, maintenance's
   * `blocked`) are then not made at all; they are asked only about the tags found here.
   */
  async tagOutCandidates(
    v: Reader,
    tags: readonly string[],
  ): Promise<{ source: 'case' | 'service' | 'required'; equipment: string }[]> {
    if (tags.length === 0) return [];
    const cases = casesSeenBy(v);
    // Maintenance's own scope of its rows (maintenance.repository.ts: joined to the equipment).
    const kept = visibleSql(v, { site: 'e.site_id', tag: 'x.equipment' });
    const equipment = 'JOIN equipment e ON e.tenant_id = x.tenant_id AND e.tag = x.equipment';
    // Each tag is bound three times (once per source).
    return inChunks(tags, Math.floor(CHUNK / 3), (chunk, marks) =>
      this.db.withTenantStatement(v.tenantId, () =>
        this.db.all<{ source: 'case' | 'service' | 'required'; equipment: string }>(
          `SELECT DISTINCT 'case' AS source, c.equipment AS equipment FROM oot_cases c ${CASE_EQUIPMENT}
             WHERE c.tenant_id = ? AND c.state = 'open' AND c.equipment IN (${marks}) AND ${cases.sql}
           UNION ALL SELECT DISTINCT 'service', x.equipment FROM equipment_service x ${equipment}
             WHERE x.tenant_id = ? AND x.equipment IN (${marks}) AND ${kept.sql}
           UNION ALL SELECT DISTINCT 'required', x.equipment FROM maintenance_events x ${equipment}
             WHERE x.tenant_id = ? AND x.calibration_required = 1 AND x.equipment IN (${marks}) AND ${kept.sql}`,
          [
            v.tenantId,
            ...chunk,
            ...cases.params,
            v.tenantId,
            ...chunk,
            ...kept.params,
            v.tenantId,
            ...chunk,
            ...kept.params,
          ],
        ),
      ),
    );
  }

  /** Every open case `v` may see (few: each is a failed instrument). */
  async allOpen(v: Reader): Promise<CaseRow[]> {
    const seen = casesSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<CaseRow>(
        `SELECT c.* FROM oot_cases c ${CASE_EQUIPMENT} WHERE c.tenant_id = ? AND c.state = 'open' AND ${seen.sql}
         ORDER BY c.opened_at`,
        [v.tenantId, ...seen.params],
      ),
    );
  }

  /**
   * Calibrations that found an instrument out of tolerance and still count, without a case yet
   * (stored before cases existed), with the site of their equipment or edge.
   */
  async failuresWithoutCase(v: Reader): Promise<{ id: string; equipment: string; site_id: string | null }[]> {
    const seen = calibrationsSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<{ id: string; equipment: string; site_id: string | null }>(
        `SELECT c.id, c.equipment, ${CALIBRATION_SITE} AS site_id FROM calibrations c ${seen.join}
         WHERE c.tenant_id = ? AND (c.as_found = 'fail' OR COALESCE(c.as_left, c.as_found) = 'fail')
           AND ${EFFECTIVE_CALIBRATION} AND ${seen.sql}
           AND NOT EXISTS (SELECT 1 FROM oot_cases k WHERE k.tenant_id = c.tenant_id AND k.calibration_id = c.id)
         ORDER BY c.calibrated_at, c.id LIMIT 1000`,
        [v.tenantId, ...seen.params],
      ),
    );
  }

  /** Closes an open case once; false when it is closed already. */
  async close(tenantId: string, id: string, at: string, reason: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        `UPDATE oot_cases SET state = 'closed', closed_at = ?, closed_reason = ?
         WHERE tenant_id = ? AND id = ? AND state = 'open'`,
        [at, reason, tenantId, id],
      ),
    );
    return r.changes === 1;
  }

  async setAlert(tenantId: string, id: string, alertId: string): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run('UPDATE oot_cases SET alert_id = ? WHERE tenant_id = ? AND id = ?', [
        alertId,
        tenantId,
        id,
      ]),
    );
  }

  /** A case's decisions, oldest first (a later one on the same item supersedes an earlier one). */
  async decisions(v: Reader, caseId: string): Promise<DecisionRow[]> {
    const seen = casesSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<DecisionRow>(
        `SELECT x.* FROM oot_decisions x JOIN oot_cases c ON c.tenant_id = x.tenant_id AND c.id = x.case_id
         ${CASE_EQUIPMENT} WHERE x.tenant_id = ? AND x.case_id = ? AND ${seen.sql} ORDER BY x.decided_at, x.id`,
        [v.tenantId, caseId, ...seen.params],
      ),
    );
  }

  async insertDecisions(tenantId: string, rows: readonly DecisionRow[]): Promise<void> {
    await this.db.withTenant(tenantId, async () => {
      await insertChunked(
        this.db,
        'oot_decisions',
        'tenant_id, case_id, id, scope, item, impact, assessment, disposition, decided_at, user_id, user_email, user_name, user_role, meaning, signature_sha256',
        rows.map((d) => [
          tenantId,
          d.case_id,
          d.id,
          d.scope,
          d.item,
          d.impact,
          d.assessment,
          d.disposition,
          d.decided_at,
          d.user_id,
          d.user_email,
          d.user_name,
          d.user_role,
          d.meaning,
          d.signature_sha256,
        ]),
      );
    });
  }

  /** A case's customer notifications, oldest first, if `v` may see the case. */
  async notifications(v: Reader, caseId: string): Promise<NotificationRow[]> {
    const seen = casesSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<NotificationRow>(
        `SELECT x.* FROM oot_notifications x JOIN oot_cases c ON c.tenant_id = x.tenant_id AND c.id = x.case_id
         ${CASE_EQUIPMENT} WHERE x.tenant_id = ? AND x.case_id = ? AND ${seen.sql} ORDER BY x.notified_at, x.id`,
        [v.tenantId, caseId, ...seen.params],
      ),
    );
  }

  async insertNotification(tenantId: string, n: NotificationRow): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        `INSERT INTO oot_notifications (tenant_id, case_id, id, customer, contact, notified_at, method, reference,
           recorded_at, user_id, user_email, user_name, user_role, meaning, signature_sha256)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          tenantId,
          n.case_id,
          n.id,
          n.customer,
          n.contact,
          n.notified_at,
          n.method,
          n.reference,
          n.recorded_at,
          n.user_id,
          n.user_email,
          n.user_name,
          n.user_role,
          n.meaning,
          n.signature_sha256,
        ],
      ),
    );
  }

  /** Decisions and notifications per case (the out-of-tolerance report and the clause map). */
  async tallies(
    v: Reader,
    caseIds: readonly string[],
  ): Promise<Map<string, { decisions: DecisionRow[]; notifications: number }>> {
    const out = new Map<string, { decisions: DecisionRow[]; notifications: number }>();
    for (const id of caseIds) out.set(id, { decisions: [], notifications: 0 });
    const seen = casesSeenBy(v);
    const ofCase = `JOIN oot_cases c ON c.tenant_id = x.tenant_id AND c.id = x.case_id ${CASE_EQUIPMENT}`;
    await inChunks(caseIds, CHUNK, (chunk, marks) =>
      this.db.withTenant(v.tenantId, async () => {
        const ds = await this.db.all<DecisionRow>(
          `SELECT x.* FROM oot_decisions x ${ofCase}
           WHERE x.tenant_id = ? AND x.case_id IN (${marks}) AND ${seen.sql} ORDER BY x.decided_at, x.id`,
          [v.tenantId, ...chunk, ...seen.params],
        );
        for (const d of ds) out.get(d.case_id)!.decisions.push(d);
        const ns = await this.db.all<{ case_id: string; n: number | string }>(
          `SELECT x.case_id, COUNT(*) AS n FROM oot_notifications x ${ofCase}
           WHERE x.tenant_id = ? AND x.case_id IN (${marks}) AND ${seen.sql} GROUP BY x.case_id`,
          [v.tenantId, ...chunk, ...seen.params],
        );
        for (const n of ns) out.get(n.case_id)!.notifications = Number(n.n);
      }),
    );
    return out;
  }

  /**
   * Where these parts are (shipped, at a customer, ...). A part's shipment state is the tenant's,
   * of no site and no equipment: every reader of the tenant sees it for the parts it reads.
   */
  async shipments(
    v: Pick<Viewer, 'tenantId'>,
    serials: readonly string[],
  ): Promise<Map<string, ShipmentRow>> {
    const tenantId = v.tenantId;
    const rows = await inChunks([...new Set(serials)], CHUNK, (chunk, marks) =>
      this.db.withTenant(tenantId, () =>
        this.db.all<ShipmentRow>(
          `SELECT part_serial, state, customer, shipped_at, reference, updated_at, updated_by FROM part_shipments
           WHERE tenant_id = ? AND part_serial IN (${marks})`,
          [tenantId, ...chunk],
        ),
      ),
    );
    return new Map(rows.map((r) => [r.part_serial, r]));
  }

  async upsertShipments(tenantId: string, rows: readonly ShipmentRow[]): Promise<void> {
    await this.db.withTenant(tenantId, async () => {
      await insertChunked(
        this.db,
        'part_shipments',
        'tenant_id, part_serial, state, customer, shipped_at, reference, updated_at, updated_by',
        rows.map((r) => [
          tenantId,
          r.part_serial,
          r.state,
          r.customer,
          r.shipped_at,
          r.reference,
          r.updated_at,
          r.updated_by,
        ]),
        {
          onConflict: `ON CONFLICT (tenant_id, part_serial) DO UPDATE SET state = excluded.state, customer = excluded.customer,
             shipped_at = excluded.shipped_at, reference = excluded.reference, updated_at = excluded.updated_at,
             updated_by = excluded.updated_by`,
        },
      );
    });
  }
}
