import { randomUUID } from 'node:crypto';
import { assetTagSchema, dateSchema, label, text, timestampSchema } from '@rigtrace/protocols';
import { z } from 'zod';
import type { Db } from '../platform/db/db.js';
import { ProblemError, validationProblem } from '../platform/errors.js';
import { committed } from '../platform/after-commit.js';
import type { AuditActor, AuditService } from '../audit/index.js';
import { wholeTenant, type Viewer } from '../access/index.js';
import type { EquipmentRepository, EquipmentRow } from './equipment.repository.js';
import type { InstallationRow, PositionRepository, PositionRow } from './positions.repository.js';

/**
 * Positions and devices: a rig, bench or station (equipment in the register) has positions, the
 * places in it ("RIG-01 / rail pressure"); a device (another registered instrument) is installed
 * in a position from a time and removed at a time. One device in one position at a time, one
 * device per position at a time; the history stays and each change is on the audit trail. The
 * suspect trace of a failed device follows its installations (production/inspection.repository.ts,
 * `suspect`).
 */

/** A time as a date (midnight UTC) or an RFC 3339 UTC timestamp, normalised to milliseconds. */
const when = z
  .union([timestampSchema, dateSchema], { error: 'must be a date YYYY-MM-DD or an RFC 3339 UTC timestamp' })
  .transform((s) => new Date(s.length === 10 ? `${s}T00:00:00Z` : s).toISOString());

export const positionInputSchema = z.strictObject({
  name: label(64),
  description: text(500).optional(),
});
export const installInputSchema = z.strictObject({
  /** The device's asset tag (a registered instrument). */
  device: assetTagSchema,
  /** Installed from (inclusive). */
  from: when,
  /** Removed at (exclusive); absent: still installed. For recording a past installation. */
  until: when.optional(),
});
export const removeInputSchema = z.strictObject({ at: when });

/** "RIG-01 / rail pressure" */
export const positionLabel = (equipment: string, position: string) => `${equipment} / ${position}`;

export interface InstallationView {
  id: string;
  equipment: string;
  position: string;
  /** "RIG-01 / rail pressure" */
  label: string;
  device: string;
  from: string;
  /** null: still installed */
  until: string | null;
  installedBy: string;
  removedBy: string | null;
}

export interface PositionView {
  name: string;
  label: string;
  description: string | null;
  createdAt: string;
  createdBy: string;
  /** The device there now (null: empty). */
  current: InstallationView | null;
  /** Every installation there, newest first (the current one included). */
  history: InstallationView[];
}

export function installationView(r: InstallationRow): InstallationView {
  return {
    id: r.id,
    equipment: r.equipment,
    position: r.position,
    label: positionLabel(r.equipment, r.position),
    device: r.device,
    from: r.installed_at,
    until: r.removed_at,
    installedBy: r.installed_by,
    removedBy: r.removed_by,
  };
}

/** A record naming a position where nothing was installed at its observedAt. */
export interface UnresolvedView {
  edge: string;
  seq: number;
  kind: 'telemetry' | 'inspection';
  observedAt: string;
  position: string;
  /** "RIG-01 / rail pressure" */
  label: string;
}

/** Who changes positions and installations: the audit trail's actor and the stored principal. */
export interface PositionActor {
  actor: AuditActor;
  address: string | null;
  /** `user:<id>` */
  principal: string;
}

/** Clock skew allowed for "not in the future". */
const SKEW_MS = 60_000;

const isUniqueViolation = (e: unknown) =>
  /UNIQUE constraint failed|duplicate key value violates unique constraint/i.test(String(e));

export class PositionService {
  constructor(
    private readonly db: Db,
    private readonly repo: PositionRepository,
    private readonly equipment: EquipmentRepository,
    private readonly audit: AuditService,
  ) {}

  /** The equipment's positions, each with the device there now and its history (devices the viewer may see). */
  async positionsOf(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    tag: string,
  ): Promise<{ equipment: string; positions: PositionView[] }> {
    const positions = await this.repo.positionsOf(v, tag);
    const installs = await this.repo.installationsIn(v, tag);
    return {
      equipment: tag,
      positions: positions.map((p) => this.positionView(p, installs)),
    };
  }

  /** Where a device is and was installed, newest first (in equipment the viewer may see). */
  async installationsOf(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    device: string,
  ): Promise<{ device: string; current: InstallationView | null; history: InstallationView[] }> {
    const rows = await this.repo.installationsOf(v, device);
    const history = rows.map(installationView).reverse();
    return { device, current: history.find((i) => i.until === null) ?? null, history };
  }

  /**
   * Records of the equipment that name a position with nothing installed there at their
   * observedAt, or a position it does not have: kept as they came, listed here, newest first.
   */
  async unresolved(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    tag: string,
    limit: number,
  ): Promise<{ equipment: string; items: UnresolvedView[] }> {
    const rows = await this.repo.unresolved(v, tag, limit);
    return {
      equipment: tag,
      items: rows.map((r) => ({
        edge: r.edge_id,
        seq: Number(r.seq),
        kind: r.kind,
        observedAt: r.observed_at,
        position: r.position,
        label: positionLabel(tag, r.position),
      })),
    };
  }

  async createPosition(
    tenantId: string,
    tag: string,
    raw: unknown,
    by: PositionActor,
  ): Promise<PositionView> {
    const r = positionInputSchema.safeParse(raw);
    if (!r.success) throw validationProblem(r.error);
    await this.mustBeInService(tenantId, tag);
    return committed(this.db, async () => {
      const row: PositionRow = {
        tenant_id: tenantId,
        equipment: tag,
        name: r.data.name,
        description: r.data.description ?? null,
        created_at: new Date().toISOString(),
        created_by: by.principal,
      };
      if (!(await this.repo.insertPosition(row)))
        throw new ProblemError('CLOUD_CONFLICT', `${positionLabel(tag, row.name)} exists already`);
      await this.audit.record({
        tenantId,
        action: 'position.create',
        outcome: 'success',
        actor: by.actor,
        address: by.address,
        target: { type: 'position', id: positionLabel(tag, row.name) },
        after: { equipment: tag, name: row.name, description: row.description },
      });
      return this.positionView(row, []);
    });
  }

  /**
   * Installs a device in a position from `from` (until `until`, for a past installation). The
   * device must be registered, in service, seen by the caller and not the equipment itself; no
   * installation of the device (anywhere) or in the position may overlap the new one.
   */
  async install(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    tag: string,
    position: string,
    raw: unknown,
    by: PositionActor,
  ): Promise<InstallationView> {
    const tenantId = v.tenantId;
    const r = installInputSchema.safeParse(raw);
    if (!r.success) throw validationProblem(r.error);
    const { device, from } = r.data;
    const until = r.data.until ?? null;
    const errors: { path: string; message: string }[] = [];
    const now = Date.now();
    if (Date.parse(from) > now + SKEW_MS) errors.push({ path: 'from', message: 'must not be in the future' });
    if (until !== null && Date.parse(until) > now + SKEW_MS)
      errors.push({
        path: 'until',
        message: 'must not be in the future (remove the device when it comes out)',
      });
    if (until !== null && until <= from) errors.push({ path: 'until', message: 'must be after from' });
    // The device as the caller sees it (site scope and export control in the register's query).
    const d = await this.equipment.find(v, device);
    if (!d) errors.push({ path: 'device', message: `no equipment ${device} in the register` });
    else if (d.retired_at !== null) errors.push({ path: 'device', message: `${device} is retired` });
    else if (device === tag)
      errors.push({ path: 'device', message: 'equipment cannot be installed in itself' });
    if (errors.length > 0)
      throw new ProblemError('CLOUD_VALIDATION', 'the installation is not valid', { errors });
    await this.mustBeInService(tenantId, tag);
    await this.mustHavePosition(tenantId, tag, position);
    return committed(this.db, async () => {
      const clash = await this.repo.overlapping(wholeTenant(tenantId), {
        device,
        equipment: tag,
        position,
        from,
        until,
      });
      if (clash.length > 0) throw this.conflict(clash[0]!, device);
      const row: InstallationRow = {
        tenant_id: tenantId,
        id: randomUUID(),
        equipment: tag,
        position,
        device,
        installed_at: from,
        removed_at: until,
        installed_by: by.principal,
        removed_by: until !== null ? by.principal : null,
        created_at: new Date().toISOString(),
      };
      try {
        await this.repo.insertInstallation(row);
      } catch (e) {
        if (isUniqueViolation(e))
          throw new ProblemError(
            'CLOUD_CONFLICT',
            `${device} or ${positionLabel(tag, position)} changed meanwhile`,
          );
        throw e;
      }
      const view = installationView(row);
      await this.audit.record({
        tenantId,
        action: 'device.install',
        outcome: 'success',
        actor: by.actor,
        address: by.address,
        target: { type: 'position', id: view.label },
        after: { device, from, until },
      });
      return view;
    });
  }

  /** Removes the device installed in a position now, at `at` (after it was installed, not in the future). */
  async remove(
    tenantId: string,
    tag: string,
    position: string,
    raw: unknown,
    by: PositionActor,
  ): Promise<InstallationView> {
    const r = removeInputSchema.safeParse(raw);
    if (!r.success) throw validationProblem(r.error);
    const { at } = r.data;
    await this.mustHavePosition(tenantId, tag, position);
    return committed(this.db, async () => {
      const open = await this.repo.current(wholeTenant(tenantId), tag, position);
      if (!open)
        throw new ProblemError('CLOUD_CONFLICT', `nothing is installed in ${positionLabel(tag, position)}`);
      const errors: { path: string; message: string }[] = [];
      if (at <= open.installed_at)
        errors.push({
          path: 'at',
          message: `must be after ${open.device} was installed (${open.installed_at})`,
        });
      if (Date.parse(at) > Date.now() + SKEW_MS)
        errors.push({ path: 'at', message: 'must not be in the future' });
      if (errors.length > 0)
        throw new ProblemError('CLOUD_VALIDATION', 'the removal is not valid', { errors });
      if (!(await this.repo.close(tenantId, open.id, at, by.principal)))
        throw new ProblemError('CLOUD_CONFLICT', `${open.device} was removed meanwhile`);
      const view = installationView({ ...open, removed_at: at, removed_by: by.principal });
      await this.audit.record({
        tenantId,
        action: 'device.remove',
        outcome: 'success',
        actor: by.actor,
        address: by.address,
        target: { type: 'position', id: view.label },
        before: { device: open.device, from: open.installed_at, until: null },
        after: { device: open.device, from: open.installed_at, until: at },
      });
      return view;
    });
  }

  private positionView(p: PositionRow, installs: readonly InstallationRow[]): PositionView {
    const here = installs.filter((i) => i.position === p.name).map(installationView);
    return {
      name: p.name,
      label: positionLabel(p.equipment, p.name),
      description: p.description,
      createdAt: p.created_at,
      createdBy: p.created_by,
      current: here.find((i) => i.until === null) ?? null,
      history: here.reverse(),
    };
  }

  private async mustBeInService(tenantId: string, tag: string): Promise<EquipmentRow> {
    const e = await this.equipment.find(wholeTenant(tenantId), tag);
    if (!e) throw new ProblemError('CLOUD_NOT_FOUND', 'no such equipment');
    if (e.retired_at !== null) throw new ProblemError('CLOUD_CONFLICT', `equipment ${tag} is retired`);
    return e;
  }

  private async mustHavePosition(tenantId: string, tag: string, position: string): Promise<PositionRow> {
    const p = await this.repo.position(wholeTenant(tenantId), tag, position);
    if (!p) throw new ProblemError('CLOUD_NOT_FOUND', `no position "${position}" in ${tag}`);
    return p;
  }

  private conflict(c: InstallationRow, device: string): ProblemError {
    const where = positionLabel(c.equipment, c.position);
    const span = `from ${c.installed_at}${c.removed_at ? ` until ${c.removed_at}` : ''}`;
    return new ProblemError(
      'CLOUD_CONFLICT',
      c.device === device
        ? `${device} is installed in ${where} ${span}: one device is in one position at a time (remove it there first)`
        : `${where} holds ${c.device} ${span}: remove it first`,
      { installation: installationView(c) },
    );
  }
}
