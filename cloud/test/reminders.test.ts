import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { verifyWebhookSignature } from '../src/reminders/signature.js';
import { postWebhook } from '../src/reminders/webhook.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const SINK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers/smtp-sink.py');
const DAY = 86_400_000;
const TODAY = new Date().toISOString().slice(0, 10);
const dayPlus = (n: number) =>
  new Date(Date.parse(`${TODAY}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
const at = (date: string, hhmm: string) => new Date(`${date}T${hhmm}:00.000Z`);
const PW = 'reminders test passphrase';
const SMTP_USER = 'rt-mailer';
const SMTP_PASSWORD = 'smtp-Pa55word-never-logged';
const URL_TOKEN = 'url-token-never-logged';

/** Debian's aiosmtpd, as a real SMTP server process writing each message to a folder. */
async function startSink(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    '/usr/bin/python3',
    [
      '-W',
      'ignore',
      SINK,
      '--port',
      String(port),
      '--dir',
      dir,
      '--user',
      SMTP_USER,
      '--password',
      SMTP_PASSWORD,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const err: string[] = [];
  createInterface({ input: child.stderr }).on('line', (l) => err.push(l));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`SMTP sink not ready: ${err.join('\n')}`)), 15_000);
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (l.startsWith('READY')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`SMTP sink exited ${code}: ${err.join('\n')}`)));
  });
  return child;
}

const stopChild = (c: ChildProcess | undefined) =>
  new Promise<void>((resolve) => {
    if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
  });

interface Mail {
  mailFrom: string;
  rcptTos: string[];
  data: string;
  authUser: string | null;
}
const mails = (dir: string): Mail[] =>
  readdirSync(dir)
    .filter((f) => /^\d+\.json$/.test(f))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Mail);

/** The decoded text/plain part of a message (nodemailer writes quoted-printable). */
function textPart(raw: string, type = 'text/plain'): string {
  const i = raw.indexOf(`Content-Type: ${type}`);
  expect(i, `a ${type} part`).toBeGreaterThan(-1);
  const start = raw.indexOf('\r\n\r\n', i) + 4;
  const end = raw.indexOf('\r\n----', start);
  const qp = raw.slice(start, end === -1 ? undefined : end);
  return Buffer.from(
    qp
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  )
    .toString('utf8')
    .replace(/\r\n/g, '\n');
}
/** The messages of one delivery (its id is in the X-RigTrace-Delivery header), oldest first. */
const mailsOf = (dir: string, deliveryId: string): Mail[] =>
  mails(dir).filter((m) => m.data.toLowerCase().includes(`x-rigtrace-delivery: ${deliveryId}\r\n`));
const subjectOf = (raw: string) => /\r\nSubject: (.*)\r\n/.exec(raw)?.[1];

/** A real HTTP receiver: keeps each request; answers the queued statuses first, then 200. */
async function startReceiver() {
  const got: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  const answers: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = answers.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    got,
    answers,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.each(BACKENDS)('calibration reminders on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let cloudB: RunningCloud | undefined;
  let sink: ChildProcess | undefined;
  let smtpPort = 0;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const mailDir = mkdtempSync(path.join(os.tmpdir(), 'rt-smtp-'));
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void logs.push(l) });
  let now = at(TODAY, '05:00');
  const clock = () => now;
  let token = '';
  let overrides: Record<string, string> = {};
  const sessions = new Map<string, { cookie: string; csrf: string }>();
  const secrets: string[] = [];
  let hookUrl = '';

  async function call(who: string, method: string, p: string, body?: unknown, base = cloud.url) {
    const headers: Record<string, string> = {};
    if (who === 'api-token') headers.authorization = `Bearer ${token}`;
    else {
      const s = sessions.get(who)!;
      headers.cookie = s.cookie;
      headers['x-csrf-token'] = s.csrf;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}/api/v1${p}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      text,
      body: text.startsWith('{') ? JSON.parse(text) : undefined,
    };
  }

  /** Calibrations arrive as they do in production: signed records ingested from an enrolled edge. */
  let edge: TestEdge;
  const calRecords: unknown[] = [];
  function calibration(tag: string, daysAgo: number, result: 'pass' | 'fail') {
    const calibratedAt = new Date(Date.now() - daysAgo * DAY).toISOString();
    calRecords.push(
      edge.record('calibration', tag, calibratedAt, {
        technician: 'J. Doe',
        standards: [],
        points: [
          {
            name: 'p',
            nominal: 1,
            unit: 'bar',
            asFound: result === 'pass' ? 1 : 3,
            lowerTolerance: -1,
            upperTolerance: 1,
            asFoundResult: result,
          },
        ],
        adjusted: false,
        asFoundResult: result,
        calibratedAt,
      }),
    );
  }

  async function register(
    tag: string,
    siteId: string,
    intervalDays: number,
    extra: Record<string, unknown> = {},
  ) {
    const res = await call('technician', 'POST', '/equipment', {
      tag,
      siteId,
      type: 'pressure gauge',
      intervalDays,
      location: 'Bay 3',
      ...extra,
    });
    expect(res.status, res.text).toBe(201);
  }

  const deliveriesOf = async (who: string, q = '') =>
    (await call(who, 'GET', `/reminders/deliveries?limit=500${q}`)).body.items as {
      id: string;
      siteId: string;
      digestDate: string;
      channel: string;
      target: string;
      origin: string;
      state: string;
      attempts: number;
      counts: { outOfTolerance: number; overdue: number; dueSoon: number } | null;
      responseStatus: number | null;
      error: string | null;
      nextAttemptAt: string | null;
    }[];

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    smtpPort = await freePort();
    sink = await startSink(smtpPort, mailDir);
    receiver = await startReceiver();
    hookUrl = `http://127.0.0.1:${receiver.port}/hooks/rigtrace?token=${URL_TOKEN}`;
    overrides = {
      ...storage.overrides,
      port: '0',
      publicUrl: 'https://rigtrace.example.com/',
      smtpHost: '127.0.0.1',
      smtpPort: String(smtpPort),
      smtpSecurity: 'none',
      smtpUser: SMTP_USER,
      smtpPassword: SMTP_PASSWORD,
      smtpFrom: 'RigTrace <reminders@rigtrace.test>',
      remindersDailyAt: '06:00',
      remindersScheduler: 'off',
      remindersMaxAttempts: '3',
      remindersRetrySeconds: '60',
      webhookAllowPrivate: 'true',
    };
    const cfg = loadCloudConfig({}, overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createTenant('other', 'Other');
    for (const [t, s, n] of [
      ['acme', 'plant-1', 'Plant 1'],
      ['acme', 'plant-2', 'Plant 2'],
      ['acme', 'plant-3', 'Plant 3'],
      ['acme', 'plant-4', 'Plant 4'],
      ['other', 'plant-1', 'Other Plant'],
    ] as const)
      await store.tenancy.createSite(t, s, n);
    token = await store.tenancy.createApiToken('acme', 'integration');
    const enrollToken = (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token;
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, string, string, string[] | null][] = [
      ['admin', 'acme', 'admin', null],
      ['manager', 'acme', 'manager', null],
      ['auditor', 'acme', 'auditor', null],
      ['technician', 'acme', 'technician', null],
      ['scoped', 'acme', 'manager', ['plant-2']],
      ['other-admin', 'other', 'admin', null],
      // Cleared for export-controlled data (a US person): registers the flagged equipment.
      ['cleared', 'acme', 'admin', null],
      // Cleared too, limited to one site: the flagged equipment of their own site only.
      ['cleared-p4', 'acme', 'technician', ['plant-4']],
      ['cleared-p2', 'acme', 'technician', ['plant-2']],
      // Cleared, every site, with a mailbox the SMTP server refuses.
      ['refused', 'acme', 'technician', null],
    ];
    for (const [who, tenant, role, sites] of users)
      await accounts.users.create(by, tenant, {
        email: `${who}@${tenant}.example`,
        role: role as 'admin',
        sites,
        password: PW,
        mustChangePassword: false,
        usPerson: who.startsWith('cleared') || who === 'refused',
      });
    await store.db.close();
    cloud = await startCloud(loadCloudConfig({}, overrides), logger, { clock });
    for (const [who, tenant] of users) {
      const res = await fetch(`${cloud.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenant, email: `${who}@${tenant}.example`, password: PW }),
      });
      const body = (await res.json()) as { csrfToken: string; state: string };
      expect(body.state).toBe('active');
      sessions.set(who, { cookie: res.headers.getSetCookie()[0]!.split(';')[0]!, csrf: body.csrfToken });
    }
    edge = await new TestEdge(cloud.url, {
      protocol: 'mqtt',
      endpoint: 'mqtt://edge.plant1.local:18830',
    }).enroll(enrollToken, 'line-1');
    // Plant 1: one of each case. The tenant default lead time stays 30 days.
    await register('PT-OOT', 'plant-1', 365);
    calibration('PT-OOT', 10, 'fail'); // out of tolerance
    await register('PT-OVERDUE', 'plant-1', 30);
    calibration('PT-OVERDUE', 40, 'pass'); // due 10 days ago
    await register('PT-NEVER', 'plant-1', 100); // never calibrated: overdue
    await register('PT-LEAD60', 'plant-1', 365, { dueSoonDays: 60 });
    calibration('PT-LEAD60', 320, 'pass'); // due in 45 days, inside its own 60-day lead time
    await register('PT-LEAD7', 'plant-1', 100, { dueSoonDays: 7 });
    calibration('PT-LEAD7', 80, 'pass'); // due in 20 days, outside its 7-day lead time
    await register('PT-DEFAULT', 'plant-1', 100);
    calibration('PT-DEFAULT', 80, 'pass'); // due in 20 days, inside the default 30
    await register('PT-OK', 'plant-1', 365);
    calibration('PT-OK', 10, 'pass'); // current
    await register('PT-P2', 'plant-2', 100); // another site
    expect((await edge.ingest(calRecords)).accepted).toBe(6);
  });

  afterAll(async () => {
    await cloudB?.close();
    await cloud?.close();
    await receiver?.close();
    await stopChild(sink);
    await storage?.cleanup();
  });

  it('refuses bad settings with problem+json listing each problem, and changes nothing', async () => {
    const res = await call('admin', 'PUT', '/sites/plant-1/reminders', {
      enabled: true,
      email: { enabled: true, recipients: ['qa@acme.example', 'not-an-email'] },
      webhooks: [
        { url: 'ftp://hooks.example.com/x' },
        { url: 'https://user:pw@hooks.example.com/x' },
        { url: 'not a url' },
      ],
      surprise: 1,
    });
    expect(res.status).toBe(400);
    expect(res.type).toContain('application/problem+json');
    expect(res.body.code).toBe('CLOUD_VALIDATION');
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path).sort();
    expect(paths).toEqual(['', 'email.recipients.1', 'webhooks.0.url', 'webhooks.1.url', 'webhooks.2.url']);
    expect(res.text).not.toMatch(/at .*\.ts:\d+/);

    const unknownHook = await call('admin', 'PUT', '/sites/plant-1/reminders', {
      enabled: true,
      webhooks: [{ id: 'wh_doesnotexist', url: 'https://hooks.example.com/x' }],
      email: { enabled: true, recipients: [] },
    });
    expect(unknownHook.status).toBe(400);
    expect((unknownHook.body.errors as { path: string }[]).map((e) => e.path).sort()).toEqual([
      'email.recipients',
    ]);
    const unknownOnly = await call('admin', 'PUT', '/sites/plant-1/reminders', {
      enabled: true,
      webhooks: [{ id: 'wh_doesnotexist', url: 'https://hooks.example.com/x' }],
    });
    expect(unknownOnly.body.errors).toEqual([
      { path: 'webhooks.0.id', message: 'no such webhook on this site' },
    ]);

    const after = await call('admin', 'GET', '/sites/plant-1/reminders');
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({
      enabled: false,
      webhooks: [],
      email: { enabled: false, recipients: [] },
    });
    expect(after.body.updatedAt).toBeNull();
  });

  it('stores settings: the webhook secret is shown once; managers see hosts; scoped per tenant and site; audited', async () => {
    const put = await call('admin', 'PUT', '/sites/plant-1/reminders', {
      enabled: true,
      email: { enabled: true, recipients: ['qa@acme.example', 'metrology@acme.example'] },
      webhooks: [{ url: hookUrl }],
    });
    expect(put.status, put.text).toBe(200);
    const hook = put.body.webhooks[0] as { id: string; secret: string; url: string; host: string };
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(hook.url).toBe(hookUrl);
    secrets.push(hook.secret);

    const admin = await call('admin', 'GET', '/sites/plant-1/reminders');
    expect(admin.body.webhooks).toEqual([
      expect.objectContaining({
        id: hook.id,
        url: hookUrl,
        host: `127.0.0.1:${receiver.port}`,
        enabled: true,
      }),
    ]);
    expect(admin.text).not.toContain(hook.secret);
    expect(admin.body).toMatchObject({
      enabled: true,
      dailyAt: '06:00',
      updatedBy: expect.stringMatching(/^user:/),
    });

    const manager = await call('manager', 'GET', '/sites/plant-1/reminders');
    expect(manager.status).toBe(200);
    expect(manager.body.webhooks[0].url).toBeUndefined();
    expect(manager.body.webhooks[0].host).toBe(`127.0.0.1:${receiver.port}`);
    expect(manager.text).not.toContain(URL_TOKEN);

    // Keeping the webhook by id keeps its secret; nothing new is shown.
    const again = await call('admin', 'PUT', '/sites/plant-1/reminders', {
      enabled: true,
      email: { enabled: true, recipients: ['qa@acme.example', 'metrology@acme.example'] },
      webhooks: [{ id: hook.id, url: hookUrl }],
    });
    expect(again.status).toBe(200);
    expect(again.body.webhooks[0].secret).toBeUndefined();

    // Another tenant's site of the same id is its own; unknown and out-of-scope sites are 404.
    const other = await call('other-admin', 'GET', '/sites/plant-1/reminders');
    expect(other.status).toBe(200);
    expect(other.body).toMatchObject({ enabled: false, webhooks: [], email: { recipients: [] } });
    expect((await call('admin', 'GET', '/sites/plant-9/reminders')).status).toBe(404);
    expect((await call('scoped', 'GET', '/sites/plant-1/reminders')).status).toBe(404);
    expect((await call('scoped', 'GET', '/sites/plant-2/reminders')).status).toBe(200);
    expect((await call('technician', 'GET', '/sites/plant-1/reminders')).body.code).toBe('CLOUD_FORBIDDEN');
    expect((await call('manager', 'PUT', '/sites/plant-1/reminders', { enabled: false })).body.code).toBe(
      'CLOUD_FORBIDDEN',
    );

    const audit = await call('admin', 'GET', '/audit?limit=1000');
    const entries = (
      audit.body.items as { entry: { action: string; target?: { id: string }; after?: unknown } }[]
    )
      .map((i) => i.entry)
      .filter((e) => e.action === 'reminders.settings.update');
    expect(entries).toHaveLength(2);
    expect(entries[0]!.target).toEqual({ type: 'site', id: 'plant-1' });
    expect(entries[0]!.after).toMatchObject({
      enabled: true,
      webhooks: [{ id: hook.id, host: `127.0.0.1:${receiver.port}`, enabled: true }],
    });
    expect(audit.text).not.toContain(hook.secret);
    expect(audit.text).not.toContain(URL_TOKEN);
  });

  it('sends the daily digest by email and signed webhook at the set time, with the exact instruments', async () => {
    now = at(TODAY, '05:59');
    await cloud.reminders.runOnce();
    expect(mails(mailDir)).toHaveLength(0);
    expect(receiver.got).toHaveLength(0);

    now = at(TODAY, '07:00');
    await cloud.reminders.runOnce();
    const m = mails(mailDir);
    expect(m).toHaveLength(1);
    expect(m[0]!.rcptTos.sort()).toEqual(['metrology@acme.example', 'qa@acme.example']);
    expect(m[0]!.authUser).toBe(SMTP_USER);
    expect(m[0]!.mailFrom).toBe('reminders@rigtrace.test');
    expect(subjectOf(m[0]!.data)).toBe('RigTrace: 1 out of tolerance, 2 overdue, 2 due soon at Plant 1');
    const text = textPart(m[0]!.data);
    const lines = text.split('\n').filter((l) => l.startsWith('- '));
    expect(lines).toEqual([
      '- PT-OOT (pressure gauge, Bay 3): out of tolerance: failed calibration, not yet restored',
      '- PT-NEVER (pressure gauge, Bay 3): never calibrated',
      `- PT-OVERDUE (pressure gauge, Bay 3): overdue by 10 days (due ${dayPlus(-10)})`,
      `- PT-DEFAULT (pressure gauge, Bay 3): due in 20 days (${dayPlus(20)}; lead time 30 days)`,
      `- PT-LEAD60 (pressure gauge, Bay 3): due in 45 days (${dayPlus(45)}; lead time 60 days)`,
    ]);
    expect(text).toContain('  https://rigtrace.example.com/#/equipment/PT-OOT');
    const html = textPart(m[0]!.data, 'text/html');
    expect(html).toContain('<a href="https://rigtrace.example.com/#/equipment/PT-LEAD60">PT-LEAD60</a>');
    for (const absent of ['PT-OK', 'PT-LEAD7', 'PT-P2']) {
      expect(text).not.toContain(absent);
      expect(html).not.toContain(absent);
    }

    expect(receiver.got).toHaveLength(1);
    const req = receiver.got[0]!;
    expect(req.path).toBe(`/hooks/rigtrace?token=${URL_TOKEN}`);
    expect(req.headers['content-type']).toBe('application/json');
    const sig = req.headers['rigtrace-signature'] as string;
    expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const nowSeconds = Math.floor(now.getTime() / 1000);
    expect(verifyWebhookSignature(secrets[0]!, sig, req.body, { nowSeconds })).toEqual({
      ok: true,
      timestamp: nowSeconds,
    });
    expect(verifyWebhookSignature(`${secrets[0]!}x`, sig, req.body, { nowSeconds }).ok).toBe(false);
    expect(verifyWebhookSignature(secrets[0]!, sig, `${req.body} `, { nowSeconds })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifyWebhookSignature(secrets[0]!, sig, req.body, { nowSeconds: nowSeconds + 301 })).toEqual({
      ok: false,
      reason: 'stale',
    });
    const body = JSON.parse(req.body);
    expect(body).toMatchObject({
      type: 'calibration.digest',
      version: 1,
      tenant: 'acme',
      site: { id: 'plant-1', name: 'Plant 1' },
      date: TODAY,
      counts: { outOfTolerance: 1, overdue: 2, dueSoon: 2 },
      truncated: false,
      url: 'https://rigtrace.example.com/#/',
    });
    expect(body.delivery).toBe(req.headers['rigtrace-delivery']);
    const tags = (l: { tag: string }[]) => l.map((i) => i.tag);
    expect(tags(body.outOfTolerance)).toEqual(['PT-OOT']);
    expect(tags(body.overdue)).toEqual(['PT-NEVER', 'PT-OVERDUE']);
    expect(tags(body.dueSoon)).toEqual(['PT-DEFAULT', 'PT-LEAD60']);
    expect(body.dueSoon[1]).toMatchObject({
      status: 'due-soon',
      nextDue: dayPlus(45),
      daysLeft: 45,
      leadTimeDays: 60,
      location: 'Bay 3',
      url: 'https://rigtrace.example.com/#/equipment/PT-LEAD60',
    });
    expect(body.overdue[1]).toMatchObject({ daysLeft: -10, leadTimeDays: 30 });

    const log = await deliveriesOf('auditor');
    expect(log).toHaveLength(2);
    const byChannel = Object.fromEntries(log.map((d) => [d.channel, d]));
    expect(byChannel.email).toMatchObject({
      siteId: 'plant-1',
      digestDate: TODAY,
      origin: 'schedule',
      target: 'qa@acme.example, metrology@acme.example',
      state: 'sent',
      attempts: 1,
      responseStatus: 250,
      error: null,
      counts: { outOfTolerance: 1, overdue: 2, dueSoon: 2 },
    });
    expect(byChannel.webhook).toMatchObject({
      target: `127.0.0.1:${receiver.port}`,
      state: 'sent',
      attempts: 1,
      responseStatus: 200,
      id: body.delivery,
    });

    // Once a day: later passes the same day send nothing more.
    now = at(TODAY, '18:00');
    await cloud.reminders.runOnce();
    expect(mails(mailDir)).toHaveLength(1);
    expect(receiver.got).toHaveLength(1);
  });

  it('delivers once per site, day and channel when two processes run at the same time', async () => {
    cloudB = await startCloud(loadCloudConfig({}, overrides), logger, { clock });
    now = at(dayPlus(1), '06:00');
    await Promise.all([
      cloud.reminders.runOnce(),
      cloudB.reminders.runOnce(),
      cloud.reminders.runOnce(),
      cloudB.reminders.runOnce(),
    ]);
    expect(mails(mailDir)).toHaveLength(2);
    expect(receiver.got).toHaveLength(2);
    const day = (await deliveriesOf('admin')).filter((d) => d.digestDate === dayPlus(1));
    expect(day.map((d) => `${d.channel} ${d.state}`).sort()).toEqual(['email sent', 'webhook sent']);
    // The digest is of its own date: PT-OVERDUE is now 11 days late.
    expect(JSON.parse(receiver.got[1]!.body).overdue[1]).toMatchObject({ tag: 'PT-OVERDUE', daysLeft: -11 });
  });

  it('retries a webhook that answers 500, after the backoff, with the same delivery', async () => {
    receiver.answers.push(500);
    now = at(dayPlus(2), '07:00');
    await cloud.reminders.runOnce();
    expect(receiver.got).toHaveLength(3);
    let hook = (await deliveriesOf('admin')).find(
      (d) => d.digestDate === dayPlus(2) && d.channel === 'webhook',
    )!;
    expect(hook).toMatchObject({
      state: 'retry',
      attempts: 1,
      responseStatus: 500,
      error: `127.0.0.1:${receiver.port} answered HTTP 500`,
      nextAttemptAt: new Date(now.getTime() + 60_000).toISOString(),
    });
    // Not yet due: nothing is sent.
    now = new Date(now.getTime() + 59_000);
    await cloud.reminders.runOnce();
    expect(receiver.got).toHaveLength(3);
    now = new Date(now.getTime() + 1_000);
    await Promise.all([cloud.reminders.runOnce(), cloudB!.reminders.runOnce()]);
    expect(receiver.got).toHaveLength(4);
    hook = (await deliveriesOf('admin')).find((d) => d.id === hook.id)!;
    expect(hook).toMatchObject({ state: 'sent', attempts: 2, responseStatus: 200, error: null });
    const [first, second] = receiver.got.slice(2);
    expect(second!.body).toBe(first!.body);
    expect(second!.headers['rigtrace-delivery']).toBe(hook.id);
    expect(
      verifyWebhookSignature(secrets[0]!, second!.headers['rigtrace-signature'] as string, second!.body, {
        nowSeconds: Math.floor(now.getTime() / 1000),
      }).ok,
    ).toBe(true);
  });

  it('skips a day with nothing to report unless all-clear is on; an admin can send now (audited)', async () => {
    const put = await call('admin', 'PUT', '/sites/plant-3/reminders', {
      enabled: true,
      webhooks: [{ url: `http://127.0.0.1:${receiver.port}/plant-3` }],
    });
    expect(put.status, put.text).toBe(200);
    secrets.push(put.body.webhooks[0].secret);
    now = at(dayPlus(3), '07:00');
    const before = receiver.got.length;
    await cloud.reminders.runOnce();
    const plant3 = () => receiver.got.filter((r) => r.path === '/plant-3');
    expect(plant3()).toHaveLength(0);
    const skipped = await deliveriesOf('admin', '&siteId=plant-3');
    expect(skipped.map((d) => [d.state, d.attempts, d.digestDate])).toEqual([['skipped', 0, dayPlus(3)]]);

    const sent = await call('admin', 'POST', '/sites/plant-3/reminders/send');
    expect(sent.status, sent.text).toBe(200);
    expect(sent.body).toMatchObject({
      date: dayPlus(3),
      counts: { outOfTolerance: 0, overdue: 0, dueSoon: 0 },
      deliveries: [{ channel: 'webhook', origin: 'manual', state: 'sent' }],
    });
    expect(plant3()).toHaveLength(1);
    expect(JSON.parse(plant3()[0]!.body)).toMatchObject({
      counts: { outOfTolerance: 0, overdue: 0, dueSoon: 0 },
    });
    expect(
      verifyWebhookSignature(
        secrets[1]!,
        plant3()[0]!.headers['rigtrace-signature'] as string,
        plant3()[0]!.body,
        {
          nowSeconds: Math.floor(now.getTime() / 1000),
        },
      ).ok,
    ).toBe(true);
    // The first site's webhook secret does not verify the third site's deliveries.
    expect(
      verifyWebhookSignature(
        secrets[0]!,
        plant3()[0]!.headers['rigtrace-signature'] as string,
        plant3()[0]!.body,
        {
          nowSeconds: Math.floor(now.getTime() / 1000),
        },
      ).ok,
    ).toBe(false);

    // With all-clear on, the next day's scheduled digest goes out though nothing is due.
    await call('admin', 'PUT', '/sites/plant-3/reminders', {
      enabled: true,
      sendAllClear: true,
      webhooks: [{ id: put.body.webhooks[0].id, url: `http://127.0.0.1:${receiver.port}/plant-3` }],
    });
    now = at(dayPlus(4), '07:00');
    await cloud.reminders.runOnce();
    expect(plant3()).toHaveLength(2);
    // Plant 1's webhook on days 3 and 4, plant 3's send-now and its day 4 all-clear.
    expect(receiver.got.length - before).toBe(4);

    const audit = await call('admin', 'GET', '/audit?limit=1000');
    const sends = (
      audit.body.items as { entry: { action: string; target?: { id: string }; outcome: string } }[]
    )
      .map((i) => i.entry)
      .filter((e) => e.action === 'reminders.send');
    expect(sends).toEqual([
      expect.objectContaining({ outcome: 'success', target: { type: 'site', id: 'plant-3' } }),
    ]);

    // No channel enabled: nothing to send (409); only admins send.
    expect((await call('admin', 'POST', '/sites/plant-2/reminders/send')).status).toBe(409);
    expect((await call('manager', 'POST', '/sites/plant-3/reminders/send')).body.code).toBe(
      'CLOUD_FORBIDDEN',
    );
    expect((await call('other-admin', 'POST', '/sites/plant-3/reminders/send')).status).toBe(404);
  });

  it('scopes the delivery log by tenant and site, and pages it', async () => {
    await call('admin', 'PUT', '/sites/plant-2/reminders', {
      enabled: true,
      webhooks: [{ url: `http://127.0.0.1:${receiver.port}/plant-2` }],
    });
    const otherPut = await call('other-admin', 'PUT', '/sites/plant-1/reminders', {
      enabled: true,
      sendAllClear: true,
      webhooks: [{ url: `http://127.0.0.1:${receiver.port}/other` }],
    });
    expect(otherPut.status).toBe(200);
    secrets.push(otherPut.body.webhooks[0].secret);
    now = at(dayPlus(5), '07:00');
    await cloud.reminders.runOnce();
    const otherReq = receiver.got.filter((r) => r.path === '/other');
    expect(otherReq).toHaveLength(1);
    expect(JSON.parse(otherReq[0]!.body)).toMatchObject({ tenant: 'other', site: { name: 'Other Plant' } });
    const p2 = receiver.got.filter((r) => r.path === '/plant-2');
    expect(JSON.parse(p2[0]!.body).overdue.map((i: { tag: string }) => i.tag)).toEqual(['PT-P2']);

    const other = await deliveriesOf('other-admin');
    expect(other.map((d) => d.target)).toEqual([`127.0.0.1:${receiver.port}`]);
    expect(other.every((d) => d.siteId === 'plant-1')).toBe(true);
    const acme = await deliveriesOf('admin');
    expect(acme.some((d) => d.id === other[0]!.id)).toBe(false);

    const scoped = await deliveriesOf('scoped');
    expect(scoped.length).toBeGreaterThan(0);
    expect(scoped.every((d) => d.siteId === 'plant-2')).toBe(true);
    expect((await call('scoped', 'GET', '/reminders/deliveries?siteId=plant-1')).status).toBe(404);
    expect(
      (await call('admin', 'GET', '/reminders/deliveries?siteId=plant-1')).body.items.length,
    ).toBeGreaterThan(0);
    expect((await call('other-admin', 'GET', '/reminders/deliveries?siteId=plant-2')).status).toBe(404);

    // Pages of one, newest first, reach every row once.
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page = await call(
        'api-token',
        'GET',
        `/reminders/deliveries?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      seen.push(...(page.body.items as { id: string }[]).map((d) => d.id));
      cursor = page.body.next as string | null;
    }
    expect(seen).toEqual(acme.map((d) => d.id));
    for (const q of ['cursor=nonsense', 'limit=0', 'site=plant-1']) {
      const bad = await call('admin', 'GET', `/reminders/deliveries?${q}`);
      expect(bad.status, q).toBe(400);
      expect(bad.body.code, q).toBe('CLOUD_VALIDATION');
    }
  });

  it('refuses webhooks to private addresses unless allowed', async () => {
    const guarded = await startCloud(
      loadCloudConfig({}, { ...overrides, webhookAllowPrivate: 'false' }),
      logger,
      { clock },
    );
    try {
      const res = await call('admin', 'POST', '/sites/plant-3/reminders/send', undefined, guarded.url);
      expect(res.status).toBe(200);
      expect(res.body.deliveries).toEqual([
        expect.objectContaining({
          state: 'retry',
          error: `127.0.0.1:${receiver.port} is a private or reserved address`,
        }),
      ]);
    } finally {
      await guarded.close();
    }
    // A host name is checked at connection time, on the address it resolves to.
    const before = receiver.got.length;
    const viaName = await postWebhook({
      url: `http://localhost:${receiver.port}/by-name`,
      secret: 'whsec_x',
      body: '{}',
      deliveryId: 'd',
      nowSeconds: 0,
      allowPrivate: false,
    });
    expect(viaName).toEqual({
      ok: false,
      status: null,
      error: expect.stringMatching(/^localhost resolves to a private or reserved address/),
    });
    expect(receiver.got.length).toBe(before);
  });

  it('logs a failed email (SMTP server down) as failed with its error after the retries', async () => {
    await stopChild(sink);
    now = at(dayPlus(6), '07:00');
    await cloud.reminders.runOnce();
    const email = async () =>
      (await deliveriesOf('admin')).find((d) => d.digestDate === dayPlus(6) && d.channel === 'email')!;
    let e = await email();
    expect(e).toMatchObject({ state: 'retry', attempts: 1, responseStatus: null });
    expect(e.error).toContain('ECONNREFUSED');
    now = new Date(now.getTime() + 60_000);
    await cloud.reminders.runOnce();
    e = await email();
    expect(e).toMatchObject({ state: 'retry', attempts: 2 });
    expect(e.nextAttemptAt).toBe(new Date(now.getTime() + 120_000).toISOString());
    now = new Date(now.getTime() + 120_000);
    await cloud.reminders.runOnce();
    e = await email();
    expect(e).toMatchObject({ state: 'failed', attempts: 3, nextAttemptAt: null });
    expect(e.error).toContain('ECONNREFUSED');
    now = new Date(now.getTime() + 3600_000);
    await cloud.reminders.runOnce();
    expect((await email()).attempts).toBe(3);
    const webhook = (await deliveriesOf('admin')).find(
      (d) => d.digestDate === dayPlus(6) && d.channel === 'webhook',
    );
    expect(webhook?.state).toBe('sent');
  });

  it('runs the scheduler in every process started by startCloud, and sends once', async () => {
    const on = { ...overrides, remindersScheduler: 'on', remindersTickSeconds: '1' };
    now = at(dayPlus(7), '06:30');
    const before = receiver.got.length;
    const c1 = await startCloud(loadCloudConfig({}, on), logger, { clock });
    const c2 = await startCloud(loadCloudConfig({}, on), logger, { clock });
    try {
      const want = ['/hooks/rigtrace', '/other', '/plant-2', '/plant-3'];
      await waitFor(
        () => Promise.resolve(receiver.got.slice(before).length >= want.length),
        20_000,
        'the scheduled webhooks of the day',
      );
      await new Promise((r) => setTimeout(r, 2500)); // more ticks of both processes
      const paths = receiver.got.slice(before).map((r) => r.path.split('?')[0]!);
      expect(paths.sort()).toEqual(want);
    } finally {
      await c1.close();
      await c2.close();
    }
  });

  it('never writes a secret to the logs', () => {
    const text = logs.join('');
    expect(text).toContain('reminder delivered');
    expect(text).toContain('reminder delivery failed');
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    for (const s of [...secrets, SMTP_PASSWORD, URL_TOKEN]) expect(text).not.toContain(s);
  });

  it('lists preventive maintenance due in the e-mail and the webhook, for the site’s own equipment only', async () => {
    now = at(TODAY, '12:00');
    // The SMTP server was stopped above: up again.
    if (sink?.exitCode !== null || sink?.signalCode !== null) sink = await startSink(smtpPort, mailDir);
    const plan = async (tag: string, task: string, firstDue: string) => {
      const r = await call('technician', 'POST', `/equipment/${tag}/maintenance/plans`, {
        task,
        intervalDays: 90,
        firstDue,
      });
      expect(r.status, r.text).toBe(201);
      return r.body.id as string;
    };
    await register('PM-P2-SOON', 'plant-2', 365);
    await register('PM-P2-LATER', 'plant-2', 365);
    const seals = await plan('PT-P2', 'Replace pump seals', dayPlus(-4));
    await plan('PM-P2-SOON', 'Grease bearings', dayPlus(3));
    await plan('PM-P2-LATER', 'Change the oil', dayPlus(30)); // not within its 7-day lead time
    await plan('PT-OK', 'Clean the port', dayPlus(-1)); // plant 1: not in plant 2's digest
    const put = await call('admin', 'PUT', '/sites/plant-2/reminders', {
      enabled: true,
      email: { enabled: true, recipients: ['plant2@acme.example'] },
      webhooks: [{ url: `http://127.0.0.1:${receiver.port}/plant-2-pm` }],
    });
    expect(put.status, put.text).toBe(200);
    const sent = await call('admin', 'POST', '/sites/plant-2/reminders/send');
    expect(sent.status, sent.text).toBe(200);
    expect(sent.body.counts).toMatchObject({ maintenance: 2 });
    expect(sent.body.deliveries.map((d: { state: string }) => d.state)).toEqual(['sent', 'sent']);

    const hook = receiver.got.filter((r) => r.path === '/plant-2-pm');
    expect(hook).toHaveLength(1);
    const body = JSON.parse(hook[0]!.body);
    expect(body.counts).toMatchObject({ maintenance: 2 });
    expect(body.maintenance).toEqual([
      {
        tag: 'PT-P2',
        type: 'pressure gauge',
        location: 'Bay 3',
        planId: seals,
        task: 'Replace pump seals',
        status: 'overdue',
        nextDue: dayPlus(-4),
        daysLeft: -4,
        url: 'https://rigtrace.example.com/#/equipment/PT-P2',
      },
      expect.objectContaining({ tag: 'PM-P2-SOON', status: 'due-soon', nextDue: dayPlus(3), daysLeft: 3 }),
    ]);

    const m = mails(mailDir).filter((x) => x.rcptTos.includes('plant2@acme.example'));
    expect(m).toHaveLength(1);
    expect(subjectOf(m[0]!.data)).toMatch(/2 maintenance due at Plant 2$/);
    const text = textPart(m[0]!.data);
    expect(text).toContain('Preventive maintenance due (2):');
    expect(text).toContain(
      `- PT-P2 (pressure gauge, Bay 3): Replace pump seals: overdue by 4 days (due ${dayPlus(-4)})`,
    );
    expect(text).toContain(
      `- PM-P2-SOON (pressure gauge, Bay 3): Grease bearings: due in 3 days (${dayPlus(3)})`,
    );
    for (const absent of ['Change the oil', 'PT-OK', 'Clean the port']) expect(text).not.toContain(absent);
    const html = textPart(m[0]!.data, 'text/html');
    expect(html).toContain('Preventive maintenance due (2)');
    expect(html).toContain('Grease bearings: due in 3 days');
  });
  it('decides a digest’s day and send time in the site’s time zone, not UTC (injected clock around midnight)', async () => {
    // Tokyo (UTC+9, no daylight saving): 15:30Z is 00:30 of the next local day there.
    const zone = await call('admin', 'PUT', '/sites/plant-3', { timeZone: 'Asia/Tokyo' });
    expect(zone.status, zone.text).toBe(200);
    const day = dayPlus(30);
    const next = dayPlus(31);
    const plant3 = async () =>
      (await deliveriesOf('admin', '&siteId=plant-3'))
        .filter((d) => d.digestDate === day || d.digestDate === next)
        .map((d) => [d.origin, d.digestDate]);

    // 14:59Z: 23:59 in Tokyo on `day`, after its 06:00: that day's digest (UTC says the same day).
    now = at(day, '14:59');
    await cloud.reminders.runOnce();
    expect(await plant3()).toEqual([['schedule', day]]);
    // 15:30Z: 00:30 in Tokyo on `next`, before 06:00 there: nothing yet (UTC would say 15:30 ≥ 06:00).
    now = at(day, '15:30');
    await cloud.reminders.runOnce();
    expect(await plant3()).toEqual([['schedule', day]]);
    // Send-now at that moment is the site's day, `next`, not the UTC date.
    const sent = await call('admin', 'POST', '/sites/plant-3/reminders/send');
    expect(sent.status, sent.text).toBe(200);
    expect(sent.body.date).toBe(next);
    // 21:00Z: 06:00 in Tokyo on `next`: its scheduled digest, dated `next`.
    now = at(day, '21:00');
    await cloud.reminders.runOnce();
    expect((await plant3()).sort()).toEqual(
      [
        ['manual', next],
        ['schedule', day],
        ['schedule', next],
      ].sort(),
    );
    const body = JSON.parse(receiver.got.filter((r) => r.path === '/plant-3').at(-1)!.body);
    expect(body.date).toBe(next);
    expect(body.site).toEqual({ id: 'plant-3', name: 'Plant 3', timeZone: 'Asia/Tokyo' });
  });
  it('names export-controlled equipment only to cleared users of the site, in a message of their own; never by webhook', async () => {
    now = at(TODAY, '12:00');
    if (sink?.exitCode !== null || sink?.signalCode !== null) sink = await startSink(smtpPort, mailDir);
    // Plant 4: an open and an ITAR-flagged instrument, both never calibrated (overdue) and with a
    // preventive task overdue.
    for (const [tag, flagged] of [
      ['PT-OPEN-4', false],
      ['PT-ITAR-4', true],
    ] as const) {
      const r = await call('cleared', 'POST', '/equipment', {
        tag,
        siteId: 'plant-4',
        type: 'pressure gauge',
        intervalDays: 100,
        location: 'Bay 4',
        ...(flagged ? { exportControl: { regime: 'ITAR', eccn: '3A001.b.2' } } : {}),
      });
      expect(r.status, r.text).toBe(201);
      const plan = await call('cleared', 'POST', `/equipment/${tag}/maintenance/plans`, {
        task: `Service ${tag}`,
        intervalDays: 90,
        firstDue: dayPlus(-2),
      });
      expect(plan.status, plan.text).toBe(201);
    }
    expect((await call('cleared', 'GET', '/due-list?site=plant-4')).text).toContain('PT-ITAR-4');

    // Cleared users whose scope covers plant 4 (every site; plant 4 only) get the flagged
    // instrument. An uncleared user, a cleared user of plant 2 and an outside address do not.
    const cleared = ['cleared@acme.example', 'Cleared-P4@acme.example'];
    const others = ['admin@acme.example', 'cleared-p2@acme.example', 'qa@supplier.example'];
    const put = await call('admin', 'PUT', '/sites/plant-4/reminders', {
      enabled: false,
      email: { enabled: true, recipients: [others[0], cleared[0], others[1], cleared[1], others[2]] },
      webhooks: [{ url: `http://127.0.0.1:${receiver.port}/plant-4` }],
    });
    expect(put.status, put.text).toBe(200);
    const sent = await call('admin', 'POST', '/sites/plant-4/reminders/send');
    expect(sent.status, sent.text).toBe(200);
    expect(
      sent.body.deliveries.map((d: { channel: string; target: string; state: string }) => [
        d.channel,
        d.target,
        d.state,
      ]),
    ).toEqual([
      ['email', others.join(', '), 'sent'],
      ['email', cleared.join(', '), 'sent'],
      ['webhook', `127.0.0.1:${receiver.port}`, 'sent'],
    ]);
    // The answer's counts are those of the digest without export-controlled equipment.
    expect(sent.body.counts).toMatchObject({ overdue: 1, maintenance: 1 });
    // The delivery log lists the cleared group's delivery to every reader of the site, but only a
    // cleared reader sees its counts: they count the flagged instrument (2 overdue, not 1).
    const [othersSent, clearedSent] = sent.body.deliveries as { id: string; counts: unknown }[];
    expect(clearedSent!.counts).toBeNull();
    expect(othersSent!.counts).toEqual({ outOfTolerance: 0, overdue: 1, dueSoon: 0 });
    for (const who of ['admin', 'auditor']) {
      const res = await call(who, 'GET', '/reminders/deliveries?limit=500&siteId=plant-4');
      expect(res.status).toBe(200);
      const seen = new Map((res.body.items as { id: string; counts: unknown }[]).map((d) => [d.id, d]));
      expect(seen.get(clearedSent!.id), who).toMatchObject({
        target: cleared.join(', '),
        state: 'sent',
        counts: null,
      });
      expect(seen.get(othersSent!.id)!.counts, who).toEqual({ outOfTolerance: 0, overdue: 1, dueSoon: 0 });
      expect(res.text).not.toMatch(/PT-ITAR-4|ITAR|3A001/);
    }
    const clearedLog = new Map((await deliveriesOf('cleared', '&siteId=plant-4')).map((d) => [d.id, d]));
    expect(clearedLog.get(clearedSent!.id)!.counts).toEqual({ outOfTolerance: 0, overdue: 2, dueSoon: 0 });

    const [toOthers, toCleared] = (sent.body.deliveries as { id: string }[]).slice(0, 2).map((d) => {
      const got = mailsOf(mailDir, d.id);
      expect(got).toHaveLength(1);
      return got[0]!;
    }) as [Mail, Mail];
    expect(toCleared.rcptTos.map((r) => r.toLowerCase()).sort()).toEqual(
      cleared.map((r) => r.toLowerCase()).sort(),
    );
    const text = textPart(toCleared.data);
    expect(text).toContain('- PT-ITAR-4 (pressure gauge, Bay 4): never calibrated');
    expect(text).toContain('- PT-OPEN-4 (pressure gauge, Bay 4): never calibrated');
    expect(text).toContain('- PT-ITAR-4 (pressure gauge, Bay 4): Service PT-ITAR-4: overdue by 2 days');
    expect(textPart(toCleared.data, 'text/html')).toContain('PT-ITAR-4');
    expect(subjectOf(toCleared.data)).toBe('RigTrace: 2 overdue, 2 maintenance due at Plant 4');

    expect(toOthers.rcptTos.sort()).toEqual([...others].sort());
    const otherText = textPart(toOthers.data);
    expect(otherText).toContain('- PT-OPEN-4 (pressure gauge, Bay 4): never calibrated');
    for (const part of [toOthers.data, otherText, textPart(toOthers.data, 'text/html')])
      expect(part).not.toMatch(/PT-ITAR-4|ITAR|3A001/);
    expect(subjectOf(toOthers.data)).toBe('RigTrace: 1 overdue, 1 maintenance due at Plant 4');

    const hook = receiver.got.filter((r) => r.path === '/plant-4');
    expect(hook).toHaveLength(1);
    const body = JSON.parse(hook[0]!.body);
    expect(body.counts).toMatchObject({ outOfTolerance: 0, overdue: 1, dueSoon: 0, maintenance: 1 });
    expect([...body.overdue, ...body.maintenance].map((i: { tag: string }) => i.tag)).toEqual([
      'PT-OPEN-4',
      'PT-OPEN-4',
    ]);
    expect(hook[0]!.body).not.toMatch(/PT-ITAR-4|ITAR|3A001/);

    // A cleared user of plant 2 is sent plant 2's digest without plant 4's flagged instrument.
    await call('admin', 'PUT', '/sites/plant-2/reminders', {
      enabled: false,
      email: { enabled: true, recipients: ['cleared-p2@acme.example'] },
    });
    const p2sent = await call('admin', 'POST', '/sites/plant-2/reminders/send');
    expect(p2sent.body.deliveries.map((d: { target: string }) => d.target)).toEqual([
      'cleared-p2@acme.example',
    ]);
    const p2 = mailsOf(mailDir, p2sent.body.deliveries[0].id as string);
    expect(p2).toHaveLength(1);
    expect(p2[0]!.data).not.toMatch(/PT-ITAR-4|PT-OPEN-4/);

    // Each group is a delivery of its own: when the cleared group's message fails, a retry sends
    // it again, and the group already delivered (and the webhook) get nothing more.
    await call('admin', 'PUT', '/sites/plant-4/reminders', {
      enabled: false,
      email: { enabled: true, recipients: ['cleared@acme.example', 'refused@acme.example', ...others] },
      webhooks: [{ id: put.body.webhooks[0].id, url: `http://127.0.0.1:${receiver.port}/plant-4` }],
    });
    const again = await call('admin', 'POST', '/sites/plant-4/reminders/send');
    expect(again.status, again.text).toBe(200);
    const ids = () => again.body.deliveries.map((d: { id: string }) => d.id) as string[];
    expect(again.body.deliveries.map((d: { target: string; state: string }) => [d.target, d.state])).toEqual([
      [others.join(', '), 'sent'],
      ['cleared@acme.example, refused@acme.example', 'retry'],
      [`127.0.0.1:${receiver.port}`, 'sent'],
    ]);
    const [othersId, clearedId, hookId] = ids() as [string, string, string];
    expect(mailsOf(mailDir, othersId)).toHaveLength(1);
    expect(mailsOf(mailDir, clearedId)).toHaveLength(1);
    const plant4Hooks = () => receiver.got.filter((r) => r.path === '/plant-4').length;
    const hooks = plant4Hooks();
    now = new Date(now.getTime() + 60_000);
    await cloud.reminders.runOnce();
    const log = new Map((await deliveriesOf('admin', '&siteId=plant-4')).map((d) => [d.id, d]));
    expect([othersId, clearedId, hookId].map((id) => log.get(id)!.attempts)).toEqual([1, 2, 1]);
    expect(log.get(clearedId)!.error).toContain('refused recipients: refused@acme.example');
    expect(mailsOf(mailDir, othersId)).toHaveLength(1);
    expect(plant4Hooks()).toBe(hooks);
    // The retry carried the same digest, flagged instrument included, to the cleared group only.
    const retried = mailsOf(mailDir, clearedId);
    expect(retried).toHaveLength(2);
    expect(retried[1]!.rcptTos).toEqual(['cleared@acme.example']);
    expect(textPart(retried[1]!.data)).toContain('PT-ITAR-4');

    // Clearance withdrawn before the next retry: the kept digest is not sent to anyone.
    const users = (await call('admin', 'GET', '/users')).body.items as { id: string; email: string }[];
    const refused = users.find((u) => u.email === 'refused@acme.example')!;
    const revoke = await call('admin', 'PUT', `/users/${refused.id}/us-person`, { usPerson: false });
    expect(revoke.status, revoke.text).toBe(200);
    now = new Date(now.getTime() + 120_000);
    await cloud.reminders.runOnce();
    const ended = (await deliveriesOf('admin', '&siteId=plant-4')).find((d) => d.id === clearedId)!;
    expect(ended).toMatchObject({
      state: 'failed',
      attempts: 3,
      error: 'no longer cleared for export-controlled equipment: refused@acme.example',
    });
    expect(mailsOf(mailDir, clearedId)).toHaveLength(2);
  });
});
