import type { Db, SqlParam } from '../platform/db/db.js';
import { type Viewer, visibleSql } from '../access/index.js';
import { keysetPage } from '../platform/db/keyset.js';

export interface SettingsRow {
  tenant_id: string;
  site_id: string;
  enabled: number;
  send_all_clear: number;
  email_enabled: number;
  /** JSON array of addresses */
  email_recipients: string;
  updated_at: string;
  updated_by: string;
}

export interface WebhookRow {
  tenant_id: string;
  site_id: string;
  id: string;
  url: string;
  secret: string;
  enabled: number;
  created_at: string;
  secret_created_at: string;
}

export type DeliveryState = 'sending' | 'retry' | 'sent' | 'failed' | 'skipped';

export interface DeliveryRow {
  tenant_id: string;
  id: string;
  site_id: string;
  digest_date: string;
  channel: 'email' | 'webhook';
  /** 'email', or the webhook's id */
  target_id: string;
  /** 'schedule', or 'manual:<uuid>' for a send-now */
  run_key: string;
  origin: 'schedule' | 'manual';
  /** What it went to, for people: the addresses, or the webhook's host. Never a secret. */
  target: string;
  out_of_tolerance: number;
  overdue: number;
  due_soon: number;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: string | null;
  lease_until: string | null;
  response_status: number | null;
  error: string | null;
  /** The digest (JSON) this delivery carries, the same on every attempt. */
  payload: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
}

export type NewDelivery = Omit<
  DeliveryRow,
  'tenant_id' | 'sent_at' | 'response_status' | 'error' | 'updated_at'
>;

export interface DeliveryOutcome {
  state: DeliveryState;
  nextAttemptAt: string | null;
  responseStatus: number | null;
  error: string | null;
  at: string;
}

/**
 * Reminder settings, webhooks and the delivery log (migration 7). Every statement runs for one
 * tenant except `tenantsWithWork`, the scheduler's one look across tenants (a SECURITY DEFINER
 * function on PostgreSQL, returning tenant ids only).
 */
export class RemindersRepository {
  constructor(private readonly db: Db) {}

  private t<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    return this.db.withTenant(tenantId, fn);
  }

  /** The site's name, if `v` sees the site. */
  async siteName(v: Viewer, siteId: string): Promise<string | undefined> {
    const scope = visibleSql(v, { site: 'id' });
    const row = await this.t(v.tenantId, () =>
      this.db.get<{ name: string }>(
        `SELECT name FROM sites WHERE tenant_id = ? AND id = ? AND ${scope.sql}`,
        [v.tenantId, siteId, ...scope.params],
      ),
    );
    return row?.name;
  }

  /**
   * The site's IANA time zone (UTC for a site not found or not seen by `v`): its digests' day and
   * send time are its own.
   */
  async siteZone(v: Viewer, siteId: string): Promise<string> {
    const scope = visibleSql(v, { site: 'id' });
    const row = await this.t(v.tenantId, () =>
      this.db.get<{ time_zone: string }>(
        `SELECT time_zone FROM sites WHERE tenant_id = ? AND id = ? AND ${scope.sql}`,
        [v.tenantId, siteId, ...scope.params],
      ),
    );
    return row?.time_zone ?? 'UTC';
  }

  /** The site's reminder settings, if `v` sees the site. */
  getSettings(v: Viewer, siteId: string): Promise<SettingsRow | undefined> {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.t(v.tenantId, () =>
      this.db.get<SettingsRow>(
        `SELECT * FROM reminder_settings WHERE tenant_id = ? AND site_id = ? AND ${scope.sql}`,
        [v.tenantId, siteId, ...scope.params],
      ),
    );
  }

  /** The site's webhooks, if `v` sees the site. */
  webhooks(v: Viewer, siteId: string): Promise<WebhookRow[]> {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.t(v.tenantId, () =>
      this.db.all<WebhookRow>(
        `SELECT * FROM reminder_webhooks WHERE tenant_id = ? AND site_id = ? AND ${scope.sql} ORDER BY created_at, id`,
        [v.tenantId, siteId, ...scope.params],
      ),
    );
  }

  async webhook(v: Viewer, siteId: string, id: string): Promise<WebhookRow | undefined> {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.t(v.tenantId, () =>
      this.db.get<WebhookRow>(
        `SELECT * FROM reminder_webhooks WHERE tenant_id = ? AND site_id = ? AND id = ? AND ${scope.sql}`,
        [v.tenantId, siteId, id, ...scope.params],
      ),
    );
  }

  /** Writes the settings row and the site's webhooks as given (others are removed). Call in a transaction. */
  async save(
    s: Omit<SettingsRow, 'email_recipients'> & { email_recipients: string },
    hooks: readonly WebhookRow[],
  ): Promise<void> {
    await this.t(s.tenant_id, async () => {
      await this.db.run(
        `INSERT INTO reminder_settings (tenant_id, site_id, enabled, send_all_clear, email_enabled, email_recipients, updated_at, updated_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, site_id) DO UPDATE SET enabled = excluded.enabled, send_all_clear = excluded.send_all_clear,
           email_enabled = excluded.email_enabled, email_recipients = excluded.email_recipients,
           updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
        [
          s.tenant_id,
          s.site_id,
          s.enabled === 1,
          s.send_all_clear === 1,
          s.email_enabled === 1,
          s.email_recipients,
          s.updated_at,
          s.updated_by,
        ],
      );
      const keep = hooks.map((h) => h.id);
      await this.db.run(
        `DELETE FROM reminder_webhooks WHERE tenant_id = ? AND site_id = ?${
          keep.length ? ` AND id NOT IN (${keep.map(() => '?').join(', ')})` : ''
        }`,
        [s.tenant_id, s.site_id, ...keep],
      );
      for (const h of hooks)
        await this.db.run(
          `INSERT INTO reminder_webhooks (tenant_id, site_id, id, url, secret, enabled, created_at, secret_created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (tenant_id, site_id, id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
             enabled = excluded.enabled, secret_created_at = excluded.secret_created_at`,
          [h.tenant_id, h.site_id, h.id, h.url, h.secret, h.enabled === 1, h.created_at, h.secret_created_at],
        );
    });
  }

  /** Tenants with reminders enabled on some site, or a delivery waiting for a retry (or abandoned mid-send). */
  async tenantsWithWork(now: string): Promise<string[]> {
    const rows = await this.db.all<{ tenant_id: string }>(
      this.db.dialect === 'postgres'
        ? 'SELECT tenant_id FROM rt_reminder_tenants(?)'
        : `SELECT tenant_id FROM reminder_settings WHERE enabled = 1
           UNION SELECT tenant_id FROM reminder_deliveries
             WHERE (state = 'retry' AND next_attempt_at <= ?1) OR (state = 'sending' AND lease_until <= ?1)`,
      [now],
    );
    return rows.map((r) => r.tenant_id).sort();
  }

  /** The sites `v` sees with reminders enabled (the scheduler: `wholeTenant`). */
  enabledSites(v: Viewer): Promise<SettingsRow[]> {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.t(v.tenantId, () =>
      this.db.all<SettingsRow>(
        `SELECT * FROM reminder_settings WHERE tenant_id = ? AND enabled = ? AND ${scope.sql} ORDER BY site_id`,
        [v.tenantId, true, ...scope.params],
      ),
    );
  }

  /** The targets (channel:target_id) already claimed for one site, date and run. */
  async claimed(v: Viewer, siteId: string, date: string, runKey: string): Promise<Set<string>> {
    const scope = visibleSql(v, { site: 'site_id' });
    const rows = await this.t(v.tenantId, () =>
      this.db.all<{ channel: string; target_id: string }>(
        `SELECT channel, target_id FROM reminder_deliveries
         WHERE tenant_id = ? AND site_id = ? AND digest_date = ? AND run_key = ? AND ${scope.sql}`,
        [v.tenantId, siteId, date, runKey, ...scope.params],
      ),
    );
    return new Set(rows.map((r) => `${r.channel}:${r.target_id}`));
  }

  /**
   * Inserts the delivery unless one exists for the same (site, date, channel, target, run): the
   * unique key makes this the claim, so of two processes only one sends. True if this one won.
   */
  async claim(tenantId: string, d: NewDelivery): Promise<boolean> {
    const r = await this.t(tenantId, () =>
      this.db.run(
        `INSERT INTO reminder_deliveries (tenant_id, id, site_id, digest_date, channel, target_id, run_key, origin, target,
           out_of_tolerance, overdue, due_soon, state, attempts, next_attempt_at, lease_until, payload, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [
          tenantId,
          d.id,
          d.site_id,
          d.digest_date,
          d.channel,
          d.target_id,
          d.run_key,
          d.origin,
          d.target,
          d.out_of_tolerance,
          d.overdue,
          d.due_soon,
          d.state,
          d.attempts,
          d.next_attempt_at,
          d.lease_until,
          d.payload,
          d.created_at,
          d.created_at,
        ],
      ),
    );
    return r.changes === 1;
  }

  /**
   * Deliveries of the sites `v` sees whose next attempt is due, or whose sender vanished mid-send
   * (lease ran out). The scheduler reads them as `wholeTenant`.
   */
  dueRetries(v: Viewer, now: string): Promise<DeliveryRow[]> {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.t(v.tenantId, () =>
      this.db.all<DeliveryRow>(
        `SELECT * FROM reminder_deliveries WHERE tenant_id = ? AND ${scope.sql}
           AND ((state = 'retry' AND next_attempt_at <= ?) OR (state = 'sending' AND lease_until <= ?))
         ORDER BY created_at, id LIMIT 1000`,
        [v.tenantId, ...scope.params, now, now],
      ),
    );
  }

  /** Takes a due retry for one more attempt, in one conditional UPDATE (one process wins). */
  async claimRetry(tenantId: string, id: string, now: string, leaseUntil: string): Promise<boolean> {
    const r = await this.t(tenantId, () =>
      this.db.run(
        `UPDATE reminder_deliveries SET state = 'sending', attempts = attempts + 1, lease_until = ?, updated_at = ?
         WHERE tenant_id = ? AND id = ?
           AND ((state = 'retry' AND next_attempt_at <= ?) OR (state = 'sending' AND lease_until <= ?))`,
        [leaseUntil, now, tenantId, id, now, now],
      ),
    );
    return r.changes === 1;
  }

  async finish(tenantId: string, id: string, o: DeliveryOutcome): Promise<void> {
    await this.t(tenantId, () =>
      this.db.run(
        `UPDATE reminder_deliveries SET state = ?, next_attempt_at = ?, lease_until = NULL, response_status = ?,
           error = ?, updated_at = ?, sent_at = ? WHERE tenant_id = ? AND id = ?`,
        [
          o.state,
          o.nextAttemptAt,
          o.responseStatus,
          o.error,
          o.at,
          o.state === 'sent' ? o.at : null,
          tenantId,
          id,
        ],
      ),
    );
  }

  /** The delivery, if `v` sees its site. */
  get(v: Viewer, id: string): Promise<DeliveryRow | undefined> {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.t(v.tenantId, () =>
      this.db.get<DeliveryRow>(
        `SELECT * FROM reminder_deliveries WHERE tenant_id = ? AND id = ? AND ${scope.sql}`,
        [v.tenantId, id, ...scope.params],
      ),
    );
  }

  /** The delivery log of the sites `v` may see (one site with `siteId`): newest first, keyset on (created_at, id). */
  list(
    v: Viewer,
    q: { siteId?: string | undefined; before?: { at: string; id: string }; limit: number },
  ): Promise<DeliveryRow[]> {
    const scope = visibleSql(v, { site: 'site_id' });
    const where = ['tenant_id = ?', scope.sql];
    const params: SqlParam[] = [v.tenantId, ...scope.params];
    if (q.siteId !== undefined) {
      where.push('site_id = ?');
      params.push(q.siteId);
    }
    if (q.before) {
      const page = keysetPage('created_at', 'id', 'before', q.before);
      where.push(page.sql);
      params.push(...page.params);
    }
    params.push(q.limit);
    return this.t(v.tenantId, () =>
      this.db.all<DeliveryRow>(
        `SELECT * FROM reminder_deliveries WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
        params,
      ),
    );
  }

  /**
   * The longest lead time among the site's equipment in service that `v` sees (null if none sets
   * its own).
   */
  async maxLeadDays(v: Viewer, siteId: string): Promise<number | null> {
    const scope = visibleSql(v, { site: 'site_id', regime: 'export_regime' });
    const row = await this.t(v.tenantId, () =>
      this.db.get<{ m: number | null }>(
        `SELECT MAX(due_soon_days) AS m FROM equipment
         WHERE tenant_id = ? AND site_id = ? AND retired_at IS NULL AND ${scope.sql}`,
        [v.tenantId, siteId, ...scope.params],
      ),
    );
    return row?.m ?? null;
  }
}
