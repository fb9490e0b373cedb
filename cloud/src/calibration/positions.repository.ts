import type { Db } from '../platform/db/db.js';
import { visibleSql, type Viewer } from '../access/index.js';
import { newestByMonths } from '../platform/db/newest-by-months.js';

type Reader = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

/**
 * The rows (of `alias`, whose `equipment` is the rig) in rigs `v` may see: the rig's register
 * entry of its sites and (unless cleared) not export-controlled.
 */
function inRigSeenBy(
  v: Reader,
  alias: string,
): { sql: string; params: ReturnType<typeof visibleSql>['params'] } {
  const seen = visibleSql(v, { site: 'e.site_id', regime: 'e.export_regime' });
  return {
    sql: `EXISTS (SELECT 1 FROM equipment e WHERE e.tenant_id = ${alias}.tenant_id AND e.tag = ${alias}.equipment
      AND ${seen.sql})`,
    params: seen.params,
  };
}

/** A place in a rig, bench or station ("RIG-01 / rail pressure"). */
export interface PositionRow {
  tenant_id: string;
  equipment: string;
  name: string;
  description: string | null;
  created_at: string;
  created_by: string;
}

/** A device in a position from installed_at until removed_at (null: still there). */
export interface InstallationRow {
  tenant_id: string;
  id: string;
  equipment: string;
  position: string;
  device: string;
  installed_at: string;
  removed_at: string | null;
  installed_by: string;
  removed_by: string | null;
  created_at: string;
}

/** A record that names a position of its equipment with nothing installed there at its observedAt. */
export interface UnresolvedRow {
  edge_id: string;
  seq: number | string;
  kind: 'telemetry' | 'inspection';
  position: string;
  observed_at: string;
}

/**
 * Positions and installations: a position is written once; an installation is written once and
 * closed once (its removal); nothing is deleted, so the history stays.
 */
export class PositionRepository {
  constructor(private readonly db: Db) {}

  async insertPosition(row: PositionRow): Promise<boolean> {
    const r = await this.db.withTenant(row.tenant_id, () =>
      this.db.run(
        `INSERT INTO equipment_positions (tenant_id, equipment, name, description, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [row.tenant_id, row.equipment, row.name, row.description, row.created_at, row.created_by],
      ),
    );
    return r.changes === 1;
  }

  /** One position of `equipment`, if the reader may see the rig. */
  async position(v: Reader, equipment: string, name: string): Promise<PositionRow | undefined> {
    const seen = inRigSeenBy(v, 'p');
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<PositionRow>(
        `SELECT p.* FROM equipment_positions p WHERE p.tenant_id = ? AND p.equipment = ? AND p.name = ?
           AND ${seen.sql}`,
        [v.tenantId, equipment, name, ...seen.params],
      ),
    );
  }

  /** The positions of `equipment`, if the reader may see it (its register entry's site and flag). */
  async positionsOf(v: Reader, equipment: string): Promise<PositionRow[]> {
    const seen = visibleSql(v, { site: 'e.site_id', regime: 'e.export_regime' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<PositionRow>(
        `SELECT p.* FROM equipment_positions p WHERE p.tenant_id = ? AND p.equipment = ?
           AND EXISTS (SELECT 1 FROM equipment e WHERE e.tenant_id = p.tenant_id AND e.tag = p.equipment
             AND ${seen.sql})
         ORDER BY p.name`,
        [v.tenantId, equipment, ...seen.params],
      ),
    );
  }

  /**
   * Every installation in the positions of `equipment`, oldest first: those of devices the reader
   * may see (site scope and export control of the device).
   */
  async installationsIn(v: Reader, equipment: string): Promise<InstallationRow[]> {
    const seen = visibleSql(v, { site: 'd.site_id', tag: 'i.device' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<InstallationRow>(
        `SELECT i.* FROM installations i JOIN equipment d ON d.tenant_id = i.tenant_id AND d.tag = i.device
         WHERE i.tenant_id = ? AND i.equipment = ? AND ${seen.sql}
         ORDER BY i.position, i.installed_at, i.id`,
        [v.tenantId, equipment, ...seen.params],
      ),
    );
  }

  /**
   * Every installation of `device` (wherever it sat), oldest first: in equipment the reader may
   * see (site scope and export control of the rig).
   */
  async installationsOf(v: Reader, device: string): Promise<InstallationRow[]> {
    const seen = visibleSql(v, { site: 'e.site_id', tag: 'i.equipment' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<InstallationRow>(
        `SELECT i.* FROM installations i JOIN equipment e ON e.tenant_id = i.tenant_id AND e.tag = i.equipment
         WHERE i.tenant_id = ? AND i.device = ? AND ${seen.sql}
         ORDER BY i.installed_at, i.id`,
        [v.tenantId, device, ...seen.params],
      ),
    );
  }

  /**
   * Installations that overlap [from, until) (until null: open-ended) either of `device` or in the
   * position (equipment, position): what a new installation may not overlap. In rigs the reader
   * may see: a write checks with `wholeTenant` (an installation in any rig clashes).
   */
  async overlapping(
    v: Reader,
    q: { device: string; equipment: string; position: string; from: string; until: string | null },
  ): Promise<InstallationRow[]> {
    const seen = inRigSeenBy(v, 'i');
    const end = q.until === null ? '' : ' AND i.installed_at < ?';
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<InstallationRow>(
        `SELECT i.* FROM installations i
         WHERE i.tenant_id = ? AND (i.device = ? OR (i.equipment = ? AND i.position = ?))
           AND (i.removed_at IS NULL OR i.removed_at > ?)${end} AND ${seen.sql}
         ORDER BY i.installed_at, i.id`,
        [
          v.tenantId,
          q.device,
          q.equipment,
          q.position,
          q.from,
          ...(q.until === null ? [] : [q.until]),
          ...seen.params,
        ],
      ),
    );
  }

  /** The device in a position now (the open installation), if any and the reader may see the rig. */
  async current(v: Reader, equipment: string, position: string): Promise<InstallationRow | undefined> {
    const seen = inRigSeenBy(v, 'i');
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<InstallationRow>(
        `SELECT i.* FROM installations i
         WHERE i.tenant_id = ? AND i.equipment = ? AND i.position = ? AND i.removed_at IS NULL AND ${seen.sql}`,
        [v.tenantId, equipment, position, ...seen.params],
      ),
    );
  }

  /**
   * Records of `equipment` that name a position (record_positions, RECORDS.md "Positions") with
   * no installation there at their observedAt (or no such position), newest first: records sent
   * by edges of the reader's sites. Read within the rig's span of such records (position_spans,
   * kept by ingest), newest months first until the page is full (newestByMonths): on PostgreSQL
   * each statement reads only its window's months of record_positions.
   */
  async unresolved(v: Reader, equipment: string, limit: number): Promise<UnresolvedRow[]> {
    const seen = visibleSql(v, {
      site: '(SELECT se.site_id FROM edges se WHERE se.tenant_id = rp.tenant_id AND se.id = rp.edge_id)',
      tag: 'rp.equipment',
    });
    return this.db.withTenant(v.tenantId, async () => {
      const span = await this.db.get<{ first_at: string; last_at: string }>(
        'SELECT first_at, last_at FROM position_spans WHERE tenant_id = ? AND equipment = ?',
        [v.tenantId, equipment],
      );
      return newestByMonths(span && { first: span.first_at, last: span.last_at }, limit, (from, to, n) =>
        this.db.all<UnresolvedRow>(
          `SELECT rp.edge_id, rp.seq, rp.kind, rp.position, rp.observed_at FROM record_positions rp
             WHERE rp.tenant_id = ? AND rp.equipment = ? AND rp.observed_at >= ? AND rp.observed_at < ? AND ${seen.sql}
               AND NOT EXISTS (SELECT 1 FROM installations i WHERE i.tenant_id = rp.tenant_id
                 AND i.equipment = rp.equipment AND i.position = rp.position AND i.installed_at <= rp.observed_at
                 AND (i.removed_at IS NULL OR rp.observed_at < i.removed_at))
             ORDER BY rp.observed_at DESC, rp.edge_id, rp.seq, rp.position LIMIT ?`,
          [v.tenantId, equipment, from, to, ...seen.params, n],
        ),
      );
    });
  }

  async insertInstallation(row: InstallationRow): Promise<void> {
    await this.db.withTenant(row.tenant_id, () =>
      this.db.run(
        `INSERT INTO installations (tenant_id, id, equipment, position, device, installed_at, removed_at,
           installed_by, removed_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          row.tenant_id,
          row.id,
          row.equipment,
          row.position,
          row.device,
          row.installed_at,
          row.removed_at,
          row.installed_by,
          row.removed_by,
          row.created_at,
        ],
      ),
    );
  }

  /** Closes an open installation; false when it was closed already (a concurrent removal). */
  async close(tenantId: string, id: string, at: string, by: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE installations SET removed_at = ?, removed_by = ? WHERE tenant_id = ? AND id = ? AND removed_at IS NULL',
        [at, by, tenantId, id],
      ),
    );
    return r.changes === 1;
  }
}
