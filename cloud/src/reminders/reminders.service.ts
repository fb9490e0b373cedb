import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  type Principal,
  uncleared,
  type Viewer,
  viewerOfPrincipal,
  viewerSees,
  wholeTenant,
} from '../access/index.js';
import type { CloudConfig } from '../platform/config.js';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import {
  type EquipmentRepository,
  type CalibrationService,
  type NextPm,
  type PreventiveTasks,
} from '../calibration/index.js';
import { addDays, localTime } from '../platform/time-zone.js';
import type { AuditActor, AuditService } from '../audit/index.js';
import { buildDigest, isAllClear, webhookBody, type Digest, type DigestPm } from './digest.js';
import { EmailSender, type SmtpConfig } from './email.js';
import type {
  DeliveryOutcome,
  DeliveryRow,
  NewDelivery,
  RemindersRepository,
  SettingsRow,
  WebhookRow,
} from './reminders.repository.js';
import { newWebhookSecret } from './signature.js';
import { postWebhook, webhookHost } from './webhook.js';

/** The time source: the scheduler and the digest date read it (tests pass their own). */
export type Clock = () => Date;

export type ReminderConfig = SmtpConfig &
  Pick<
    CloudConfig,
    | 'publicUrl'
    | 'remindersDailyAt'
    | 'remindersScheduler'
    | 'remindersTickSeconds'
    | 'remindersMaxAttempts'
    | 'remindersRetrySeconds'
    | 'webhookAllowPrivate'
  >;

/** At most this many instruments are listed in one digest (the rest: `truncated`). */
export const DIGEST_LIMIT = 1000;
export const MAX_WEBHOOKS = 5;
export const MAX_RECIPIENTS = 50;
/** The e-mail target of the recipients cleared for the site's export-controlled equipment. */
export const CLEARED_EMAIL = 'email:cleared';
/** A sender that vanished mid-send (process killed) leaves its claim; after this it is retried. */
const LEASE_MS = 5 * 60_000;

// ---------------------------------------------------------------------------------------------
// Input.

const webhookUrl = z
  .string()
  .max(2048)
  .superRefine((v, ctx) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a URL' });
      return;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
    if (u.username || u.password)
      ctx.addIssue({ code: 'custom', message: 'must not carry a user name or password' });
    if (u.hash) ctx.addIssue({ code: 'custom', message: 'must not have a #fragment' });
    if (!u.hostname) ctx.addIssue({ code: 'custom', message: 'must name a host' });
  });

const webhookInput = z.strictObject({
  /** An existing webhook (keeps its secret); absent: a new one, with a new secret. */
  id: z
    .string()
    .regex(/^wh_[A-Za-z0-9_-]{8,64}$/, 'a webhook id from GET')
    .optional(),
  url: webhookUrl,
  enabled: z.boolean().default(true),
  /** A new secret for an existing webhook, shown once in the answer. */
  rotateSecret: z.boolean().default(false),
});

export const settingsInput = z
  .strictObject({
    /** The daily digest for this site (the schedule); channels below say where it goes. */
    enabled: z.boolean(),
    /** Send a digest even when nothing needs attention. */
    sendAllClear: z.boolean().default(false),
    email: z
      .strictObject({
        enabled: z.boolean(),
        recipients: z.array(z.email('not an email address').max(254)).max(MAX_RECIPIENTS).default([]),
      })
      .default({ enabled: false, recipients: [] }),
    webhooks: z.array(webhookInput).max(MAX_WEBHOOKS).default([]),
  })
  .superRefine((s, ctx) => {
    if (s.email.enabled && s.email.recipients.length === 0)
      ctx.addIssue({ code: 'custom', path: ['email', 'recipients'], message: 'at least one recipient' });
    const seen = new Set<string>();
    s.email.recipients.forEach((r, i) => {
      if (seen.has(r.toLowerCase()))
        ctx.addIssue({ code: 'custom', path: ['email', 'recipients', i], message: 'listed twice' });
      seen.add(r.toLowerCase());
    });
    const ids = new Set<string>();
    s.webhooks.forEach((w, i) => {
      if (w.id && ids.has(w.id))
        ctx.addIssue({ code: 'custom', path: ['webhooks', i, 'id'], message: 'listed twice' });
      if (w.id) ids.add(w.id);
    });
  });
export type SettingsInput = z.output<typeof settingsInput>;

function invalid(errors: { path: string; message: string }[]): ProblemError {
  return new ProblemError('CLOUD_VALIDATION', 'the reminder settings are not valid', { errors });
}

// ---------------------------------------------------------------------------------------------
// Views.

export interface WebhookView {
  id: string;
  /** Admins see the URL; managers only its host (a URL may carry a token). */
  url?: string;
  host: string;
  enabled: boolean;
  createdAt: string;
  secretCreatedAt: string;
  /** Only in the answer to the PUT that created or rotated it: shown once, never again. */
  secret?: string;
}

export interface SettingsView {
  siteId: string;
  enabled: boolean;
  sendAllClear: boolean;
  email: { enabled: boolean; recipients: string[] };
  webhooks: WebhookView[];
  /** When the scheduler sends, HH:MM in the site's time zone (the cloud's setting). */
  dailyAt: string;
  updatedAt: string | null;
  updatedBy: string | null;
}

/**
 * A delivery as `reader` sees it in the log. The digest of the cleared recipients (`email:cleared`)
 * counts the site's export-controlled equipment: a reader not cleared for it sees that delivery
 * (to whom, when, its outcome: the log stays complete for an audit) but not its counts (null),
 * which would tell the flagged equipment's due and out-of-tolerance state by difference.
 */
export function deliveryView(r: DeliveryRow, reader: Pick<Viewer, 'cleared'>) {
  const hidden = r.target_id === CLEARED_EMAIL && !reader.cleared;
  return {
    id: r.id,
    siteId: r.site_id,
    digestDate: r.digest_date,
    channel: r.channel,
    target: r.target,
    origin: r.origin,
    counts: hidden ? null : { outOfTolerance: r.out_of_tolerance, overdue: r.overdue, dueSoon: r.due_soon },
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    responseStatus: r.response_status,
    error: r.error,
    createdAt: r.created_at,
    at: r.updated_at,
    sentAt: r.sent_at,
  };
}
export type DeliveryView = ReturnType<typeof deliveryView>;

/** What the audit trail keeps of the settings: no secrets, webhooks by host. */
function auditedSettings(v: SettingsView) {
  return {
    enabled: v.enabled,
    sendAllClear: v.sendAllClear,
    email: v.email,
    webhooks: v.webhooks.map((w) => ({ id: w.id, host: w.host, enabled: w.enabled })),
  };
}

export function encodeDeliveryCursor(r: { created_at: string; id: string }): string {
  return Buffer.from(JSON.stringify([r.created_at, r.id])).toString('base64url');
}
export function decodeDeliveryCursor(c: string): { at: string; id: string } | undefined {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string')
      return { at: v[0], id: v[1] };
  } catch {
    /* not a cursor */
  }
  return undefined;
}

interface Target {
  channel: 'email' | 'webhook';
  targetId: string;
  target: string;
  recipients?: string[];
  hook?: WebhookRow;
  /** Who the digest is read as: the site's recipients' reader (never cleared for a webhook). */
  reader: Viewer;
}

/** A reader narrowed to one site's digest (the reads then cover that site only). */
const siteReader = (v: Viewer, siteId: string): Viewer => ({ ...v, sites: [siteId] });

/**
 * Whether an address's reader (its active user's `Viewer`; undefined for an outside address) may
 * read the site's export-controlled equipment: cleared, and the site within its scope.
 */
const readsFlagged = (v: Viewer | undefined, siteId: string): v is Viewer =>
  v !== undefined && v.cleared && viewerSees(v, siteId);

// ---------------------------------------------------------------------------------------------

/**
 * Calibration reminders: per-site settings, the daily digest, its delivery by email and signed
 * webhook with retries, the delivery log, and the scheduler that runs in every cloud process.
 * Each (tenant, site, date, channel, target) is claimed by inserting its delivery row under a
 * unique key before anything is sent, so processes sharing one database send it once.
 */
export class ReminderService {
  private readonly clock: Clock;
  private readonly email: EmailSender;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly deps: {
      db: Db;
      repo: RemindersRepository;
      equipment: EquipmentRepository;
      calibration: CalibrationService;
      /** The active users behind recipient addresses, as their `Viewer`s (the access feature). */
      readers: (tenantId: string, emails: readonly string[]) => Promise<Map<string, Viewer>>;
      /** Preventive maintenance due (the maintenance feature); absent: digests of calibration only. */
      maintenance?: PreventiveTasks;
      audit: AuditService;
      config: ReminderConfig;
      logger: Logger;
      clock?: Clock;
    },
  ) {
    this.clock = deps.clock ?? (() => new Date());
    this.email = new EmailSender(deps.config);
  }

  private get cfg() {
    return this.deps.config;
  }

  // -- settings --------------------------------------------------------------------------------

  /** The site, if it exists in the tenant and the caller may see it; else 404. */
  async mustSeeSite(v: Viewer, siteId: string): Promise<string> {
    const name = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(siteId)
      ? await this.deps.repo.siteName(v, siteId)
      : undefined;
    if (name === undefined) throw new ProblemError('CLOUD_NOT_FOUND', 'no such site');
    return name;
  }

  private view(
    siteId: string,
    s: SettingsRow | undefined,
    hooks: readonly WebhookRow[],
    showUrls: boolean,
  ): SettingsView {
    return {
      siteId,
      enabled: s?.enabled === 1,
      sendAllClear: s?.send_all_clear === 1,
      email: {
        enabled: s?.email_enabled === 1,
        recipients: s ? (JSON.parse(s.email_recipients) as string[]) : [],
      },
      webhooks: hooks.map((h) => ({
        id: h.id,
        ...(showUrls ? { url: h.url } : {}),
        host: webhookHost(h.url),
        enabled: h.enabled === 1,
        createdAt: h.created_at,
        secretCreatedAt: h.secret_created_at,
      })),
      dailyAt: this.cfg.remindersDailyAt,
      updatedAt: s?.updated_at ?? null,
      updatedBy: s?.updated_by ?? null,
    };
  }

  async getSettings(p: Principal, siteId: string): Promise<SettingsView> {
    const v = viewerOfPrincipal(p);
    await this.mustSeeSite(v, siteId);
    const [s, hooks] = await Promise.all([
      this.deps.repo.getSettings(v, siteId),
      this.deps.repo.webhooks(v, siteId),
    ]);
    return this.view(siteId, s, hooks, p.role === 'admin');
  }

  /**
   * Replaces the site's settings. Webhooks without an id are new and get a secret; listed ids
   * keep theirs unless `rotateSecret`; webhooks not listed are removed. New secrets appear in
   * this answer only. Audited, without secrets.
   */
  async putSettings(p: Principal, actor: AuditActor, address: string | null, siteId: string, raw: unknown) {
    const v = viewerOfPrincipal(p);
    await this.mustSeeSite(v, siteId);
    const parsed = settingsInput.safeParse(raw);
    if (!parsed.success)
      throw invalid(
        parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
      );
    const input = parsed.data;
    const tenantId = p.tenantId;
    const now = new Date().toISOString();
    return this.deps.db.transaction(async () => {
      const existing = await this.deps.repo.webhooks(v, siteId);
      const before = this.view(siteId, await this.deps.repo.getSettings(v, siteId), existing, true);
      const byId = new Map(existing.map((h) => [h.id, h]));
      const problems: { path: string; message: string }[] = [];
      if (input.email.enabled && !this.email.configured)
        problems.push({ path: 'email.enabled', message: 'this cloud has no SMTP server configured' });
      const fresh = new Map<string, string>();
      const hooks: WebhookRow[] = [];
      input.webhooks.forEach((w, i) => {
        const old = w.id ? byId.get(w.id) : undefined;
        if (w.id && !old) {
          problems.push({ path: `webhooks.${i}.id`, message: 'no such webhook on this site' });
          return;
        }
        const secret = !old || w.rotateSecret ? newWebhookSecret() : old.secret;
        const id = old?.id ?? `wh_${randomBytes(9).toString('base64url')}`;
        if (secret !== old?.secret) fresh.set(id, secret);
        hooks.push({
          tenant_id: tenantId,
          site_id: siteId,
          id,
          url: w.url,
          secret,
          enabled: w.enabled ? 1 : 0,
          created_at: old?.created_at ?? now,
          secret_created_at: secret === old?.secret ? old.secret_created_at : now,
        });
      });
      if (problems.length) throw invalid(problems);
      const row: SettingsRow = {
        tenant_id: tenantId,
        site_id: siteId,
        enabled: input.enabled ? 1 : 0,
        send_all_clear: input.sendAllClear ? 1 : 0,
        email_enabled: input.email.enabled ? 1 : 0,
        email_recipients: JSON.stringify(input.email.recipients),
        updated_at: now,
        updated_by: `${actor.type}:${actor.id}`,
      };
      await this.deps.repo.save(row, hooks);
      const after = this.view(siteId, row, hooks, true);
      await this.deps.audit.record({
        tenantId,
        action: 'reminders.settings.update',
        outcome: 'success',
        actor,
        address,
        target: { type: 'site', id: siteId },
        before: auditedSettings(before),
        after: auditedSettings(after),
        ...(fresh.size ? { detail: `new webhook secret for ${[...fresh.keys()].join(', ')}` } : {}),
      });
      return {
        ...after,
        webhooks: after.webhooks.map((w) => (fresh.has(w.id) ? { ...w, secret: fresh.get(w.id)! } : w)),
      };
    });
  }

  // -- digest ----------------------------------------------------------------------------------

  /**
   * What needs attention at the site on `date`, each instrument judged with its own lead time, as
   * `reader` sees it: export-controlled equipment only when the reader is cleared.
   */
  async digest(reader: Viewer, siteId: string, date: string): Promise<Digest> {
    const tenantId = reader.tenantId;
    const name = (await this.deps.repo.siteName(reader, siteId)) ?? siteId;
    const dflt = await this.deps.calibration.dueSoonDefault(tenantId);
    const lead = Math.max(dflt, (await this.deps.repo.maxLeadDays(reader, siteId)) ?? 0);
    // Read as the reader, through the scoped reads: site scope and export control apply there.
    const rows = await this.deps.equipment.dueBy(reader, addDays(date, lead), siteId, DIGEST_LIMIT + 1);
    // Preventive maintenance overdue or due within its lead time on `date`, read as the same
    // reader, narrowed to the site.
    const pms = this.deps.maintenance
      ? await this.deps.maintenance.nextPmByTag(siteReader(reader, siteId), date)
      : new Map<string, NextPm>();
    const maintenance: DigestPm[] = [];
    for (const [tag, pm] of pms) {
      if (pm.status === 'current') continue;
      const e = await this.deps.equipment.find(reader, tag);
      if (!e) continue;
      maintenance.push({ e, pm });
    }
    return buildDigest({
      tenant: tenantId,
      site: { id: siteId, name, timeZone: await this.deps.repo.siteZone(reader, siteId) },
      date,
      rows: rows.slice(0, DIGEST_LIMIT),
      maintenance: maintenance.slice(0, DIGEST_LIMIT),
      defaultLeadDays: dflt,
      truncated: rows.length > DIGEST_LIMIT || maintenance.length > DIGEST_LIMIT,
      publicUrl: this.cfg.publicUrl,
    });
  }

  /**
   * Where the site's digest goes, each target with the reader it is read as. E-mail recipients
   * are split in two messages: the addresses of active users cleared for export-controlled data
   * whose site scope covers the site (`email:cleared`, the digest with the flagged equipment), and
   * every other address (`email`: outside addresses, uncleared users, cleared users of other
   * sites; the digest without it). Narrowed to the one site, every cleared reader of it reads the
   * same digest, so one message serves them all. A webhook never carries flagged equipment.
   */
  private async targets(tenantId: string, s: SettingsRow, hooks: readonly WebhookRow[]): Promise<Target[]> {
    const out: Target[] = [];
    const outside = siteReader(uncleared(tenantId), s.site_id);
    const recipients = JSON.parse(s.email_recipients) as string[];
    if (s.email_enabled === 1 && recipients.length) {
      const viewers = await this.deps.readers(tenantId, recipients);
      const cleared: string[] = [];
      const rest: string[] = [];
      let clearedReader: Viewer | undefined;
      for (const r of recipients) {
        const v = viewers.get(r.toLowerCase());
        if (readsFlagged(v, s.site_id)) {
          cleared.push(r);
          clearedReader ??= siteReader(v, s.site_id);
        } else rest.push(r);
      }
      if (rest.length)
        out.push({
          channel: 'email',
          targetId: 'email',
          target: rest.join(', '),
          recipients: rest,
          reader: outside,
        });
      if (clearedReader)
        out.push({
          channel: 'email',
          targetId: CLEARED_EMAIL,
          target: cleared.join(', '),
          recipients: cleared,
          reader: clearedReader,
        });
    }
    for (const h of hooks)
      if (h.enabled === 1)
        out.push({
          channel: 'webhook',
          targetId: h.id,
          target: webhookHost(h.url),
          hook: h,
          reader: outside,
        });
    return out;
  }

  // -- sending ---------------------------------------------------------------------------------

  private async attempt(
    tenantId: string,
    d: DeliveryRow | NewDelivery,
    digest: Digest,
    t: Omit<Target, 'reader'>,
  ) {
    const r =
      t.channel === 'email'
        ? await this.email.send(digest, t.recipients ?? [], d.id)
        : await postWebhook({
            url: t.hook!.url,
            secret: t.hook!.secret,
            body: webhookBody(digest, d.id),
            deliveryId: d.id,
            nowSeconds: Math.floor(this.clock().getTime() / 1000),
            allowPrivate: this.cfg.webhookAllowPrivate === 'true',
          });
    return this.settle(tenantId, d, r);
  }

  /** Records the outcome of an attempt: sent, a retry after a backoff, or failed for good. */
  private async settle(
    tenantId: string,
    d: DeliveryRow | NewDelivery,
    r: { ok: boolean; status: number | null; error: string | null },
  ): Promise<DeliveryOutcome> {
    const now = this.clock();
    const attempts = d.attempts;
    let outcome: DeliveryOutcome;
    if (r.ok)
      outcome = {
        state: 'sent',
        nextAttemptAt: null,
        responseStatus: r.status,
        error: null,
        at: now.toISOString(),
      };
    else if (attempts < this.cfg.remindersMaxAttempts) {
      const wait = this.cfg.remindersRetrySeconds * 1000 * 2 ** (attempts - 1);
      outcome = {
        state: 'retry',
        nextAttemptAt: new Date(now.getTime() + wait).toISOString(),
        responseStatus: r.status,
        error: r.error,
        at: now.toISOString(),
      };
    } else
      outcome = {
        state: 'failed',
        nextAttemptAt: null,
        responseStatus: r.status,
        error: r.error,
        at: now.toISOString(),
      };
    await this.deps.repo.finish(tenantId, d.id, outcome);
    const log = {
      tenantId,
      siteId: d.site_id,
      delivery: d.id,
      channel: d.channel,
      ...(d.channel === 'webhook' ? { host: d.target } : { recipients: d.target.split(', ').length }),
      digestDate: d.digest_date,
      attempt: attempts,
      state: outcome.state,
      responseStatus: r.status,
    };
    if (r.ok) this.deps.logger.info(log, 'reminder delivered');
    else this.deps.logger.warn({ ...log, error: r.error }, 'reminder delivery failed');
    return outcome;
  }

  /**
   * Sends the digest of `date` for one site to each enabled target not yet claimed for
   * `runKey`. With nothing to report (and no all-clear wanted) a scheduled run logs `skipped`.
   * The deliveries made are read back as `by` (the scheduler: `wholeTenant`; a send-now: its caller).
   */
  private async runSite(
    by: Viewer,
    s: SettingsRow,
    date: string,
    runKey: string,
    origin: 'schedule' | 'manual',
  ): Promise<{ digest: Digest | null; deliveries: DeliveryRow[] }> {
    const repo = this.deps.repo;
    const tenantId = by.tenantId;
    // Sending is the product's own work: every target and claim of the site counts.
    const all = wholeTenant(tenantId);
    const targets = await this.targets(tenantId, s, await repo.webhooks(all, s.site_id));
    const done = await repo.claimed(all, s.site_id, date, runKey);
    const todo = targets.filter((t) => !done.has(`${t.channel}:${t.targetId}`));
    if (todo.length === 0) return { digest: null, deliveries: [] };
    // The digest without export-controlled equipment (webhooks, most e-mail, the send-now answer's
    // counts), and the one with it, read only when a cleared recipient is to get it.
    const digest = await this.digest(siteReader(uncleared(tenantId), s.site_id), s.site_id, date);
    const clearedTarget = todo.find((t) => t.reader.cleared);
    const clearedDigest = clearedTarget ? await this.digest(clearedTarget.reader, s.site_id, date) : digest;
    const ids = await Promise.all(
      todo.map(async (t) => {
        const dg = t.reader.cleared ? clearedDigest : digest;
        const skip = origin === 'schedule' && isAllClear(dg) && s.send_all_clear !== 1;
        const now = this.clock();
        const d: NewDelivery = {
          id: randomUUID(),
          site_id: s.site_id,
          digest_date: date,
          channel: t.channel,
          target_id: t.targetId,
          run_key: runKey,
          origin,
          target: t.target,
          out_of_tolerance: dg.counts.outOfTolerance,
          overdue: dg.counts.overdue,
          due_soon: dg.counts.dueSoon,
          state: skip ? 'skipped' : 'sending',
          attempts: skip ? 0 : 1,
          next_attempt_at: null,
          lease_until: skip ? null : new Date(now.getTime() + LEASE_MS).toISOString(),
          payload: skip ? null : JSON.stringify(dg),
          created_at: now.toISOString(),
        };
        if (!(await repo.claim(tenantId, d))) return null;
        if (!skip) await this.attempt(tenantId, d, dg, t);
        return d.id;
      }),
    );
    const rows = await Promise.all(
      ids.filter((id): id is string => id !== null).map((id) => repo.get(by, id)),
    );
    return { digest, deliveries: rows.filter((r): r is DeliveryRow => r !== undefined) };
  }

  /** One more attempt of a delivery whose retry is due, with the digest it was created with. */
  private async retry(tenantId: string, d: DeliveryRow): Promise<void> {
    const now = this.clock();
    const lease = new Date(now.getTime() + LEASE_MS).toISOString();
    if (!(await this.deps.repo.claimRetry(tenantId, d.id, now.toISOString(), lease))) return;
    const claimed = { ...d, attempts: d.attempts + 1 };
    if (!d.payload)
      return void (await this.settle(tenantId, claimed, {
        ok: false,
        status: null,
        error: 'no digest kept',
      }));
    const digest = JSON.parse(d.payload) as Digest;
    if (d.channel === 'email') {
      const recipients = d.target.split(', ');
      if (d.target_id === CLEARED_EMAIL) {
        // The kept digest names export-controlled equipment: only to recipients still cleared.
        const viewers = await this.deps.readers(tenantId, recipients);
        const lost = recipients.filter((r) => !readsFlagged(viewers.get(r.toLowerCase()), d.site_id));
        if (lost.length)
          return void (await this.settle(
            tenantId,
            { ...claimed, attempts: this.cfg.remindersMaxAttempts },
            {
              ok: false,
              status: null,
              error: `no longer cleared for export-controlled equipment: ${lost.join(', ')}`,
            },
          ));
      }
      await this.attempt(tenantId, claimed, digest, {
        channel: 'email',
        targetId: d.target_id,
        target: d.target,
        recipients,
      });
      return;
    }
    const hook = await this.deps.repo.webhook(wholeTenant(tenantId), d.site_id, d.target_id);
    if (!hook || hook.enabled !== 1) {
      // Removed or switched off since: no further attempts.
      await this.settle(
        tenantId,
        { ...claimed, attempts: this.cfg.remindersMaxAttempts },
        {
          ok: false,
          status: null,
          error: hook ? 'the webhook was disabled' : 'the webhook was removed',
        },
      );
      return;
    }
    await this.attempt(tenantId, claimed, digest, {
      channel: 'webhook',
      targetId: hook.id,
      target: d.target,
      hook,
    });
  }

  /** Sends today's digest of one site now, to every enabled channel, whatever it holds. Audited. */
  async sendNow(p: Principal, actor: AuditActor, address: string | null, siteId: string) {
    const reader = viewerOfPrincipal(p);
    await this.mustSeeSite(reader, siteId);
    const s = await this.deps.repo.getSettings(reader, siteId);
    const hooks = await this.deps.repo.webhooks(reader, siteId);
    if (!s || (await this.targets(p.tenantId, s, hooks)).length === 0)
      throw new ProblemError('CLOUD_CONFLICT', 'no reminder channel is enabled for this site');
    const date = (await this.siteClock(p.tenantId, siteId)).day;
    const out = await this.runSite(reader, s, date, `manual:${randomUUID()}`, 'manual');
    const deliveries = out.deliveries.map((d) => deliveryView(d, reader));
    await this.deps.audit.record({
      tenantId: p.tenantId,
      action: 'reminders.send',
      outcome: deliveries.every((d) => d.state === 'sent') ? 'success' : 'failure',
      actor,
      address,
      target: { type: 'site', id: siteId },
      detail:
        `digest ${date}: ${deliveries.map((d) => `${d.channel} ${d.target} ${d.state}`).join('; ')}`.slice(
          0,
          2000,
        ),
    });
    return { date, counts: out.digest?.counts ?? null, deliveries };
  }

  /** The delivery log as `v` may read it: its sites, counts per `deliveryView`. */
  async deliveries(
    v: Viewer,
    q: { siteId?: string | undefined; cursor?: string | undefined; limit: number },
  ): Promise<{ items: DeliveryView[]; next: string | null }> {
    if (q.siteId !== undefined) await this.mustSeeSite(v, q.siteId);
    const before = q.cursor !== undefined ? decodeDeliveryCursor(q.cursor) : undefined;
    if (q.cursor !== undefined && !before)
      throw new ProblemError('CLOUD_VALIDATION', 'query parameters are not valid', {
        errors: [{ path: 'cursor', message: 'a cursor from a previous page (next)' }],
      });
    const rows = await this.deps.repo.list(v, {
      siteId: q.siteId,
      ...(before ? { before } : {}),
      limit: q.limit,
    });
    return {
      items: rows.map((r) => deliveryView(r, v)),
      next: rows.length === q.limit ? encodeDeliveryCursor(rows.at(-1)!) : null,
    };
  }

  // -- scheduler -------------------------------------------------------------------------------

  /**
   * The site's local day and minute of the day now (its calendar: a digest's day is the site's,
   * not UTC's); the product's scheduling, read as `wholeTenant`.
   */
  private async siteClock(tenantId: string, siteId: string) {
    return localTime(this.clock().getTime(), await this.deps.repo.siteZone(wholeTenant(tenantId), siteId));
  }

  /**
   * One pass of the scheduler: for every tenant with work, the due retries, then, for each
   * enabled site whose local time of day has reached the send time, its digest of its local day
   * (in the site's time zone) if not yet claimed. Safe to run concurrently in several processes.
   */
  async runOnce(): Promise<void> {
    const now = this.clock();
    const [hh, mm] = this.cfg.remindersDailyAt.split(':').map(Number) as [number, number];
    const sendAt = hh * 60 + mm;
    for (const tenantId of await this.deps.repo.tenantsWithWork(now.toISOString())) {
      try {
        // The scheduler's own work, for no reader: the whole tenant.
        const all = wholeTenant(tenantId);
        for (const d of await this.deps.repo.dueRetries(all, now.toISOString()))
          await this.retry(tenantId, d);
        for (const s of await this.deps.repo.enabledSites(all)) {
          const local = await this.siteClock(tenantId, s.site_id);
          if (local.minute >= sendAt) await this.runSite(all, s, local.day, 'schedule', 'schedule');
        }
      } catch (err) {
        this.deps.logger.error({ err, tenantId }, 'reminder run failed');
      }
    }
  }

  /** Starts the timer (unless RIGTRACE_REMINDERS_SCHEDULER=off): a pass now, then every tick. */
  start(): void {
    if (this.cfg.remindersScheduler === 'off' || this.timer) return;
    const tick = () => {
      if (this.running || !this.timer) return;
      this.running = this.runOnce()
        .catch((err: unknown) => this.deps.logger.error({ err }, 'reminder scheduler pass failed'))
        .finally(() => {
          this.running = null;
        });
    };
    this.timer = setInterval(tick, this.cfg.remindersTickSeconds * 1000);
    this.timer.unref();
    setImmediate(tick);
  }

  /** Stops the timer and waits for a pass in progress (call before closing the database). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    this.email.close();
  }
}
