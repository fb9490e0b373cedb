import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { exampleRecords } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import type { Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { SqliteDb } from '../src/platform/db/sqlite.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { asOwner, BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const PW: Record<string, string> = {
  tech: 'torque wrench on shelf 3',
  tech2: 'second bench in room 12',
  manager: 'quality review on friday',
  scoped: 'plant two manager desk 9',
  auditor: 'reads every trail entry',
};

const calibrationBody = (asFound: 'pass' | 'fail', minutesAgo = 60) => ({
  technician: 'A. Smith (level 3)',
  standards: [],
  points: [
    {
      name: 'p@800',
      nominal: 800,
      unit: 'bar',
      asFound: asFound === 'pass' ? 800.4 : 806,
      lowerTolerance: -2,
      upperTolerance: 2,
      asFoundResult: asFound,
    },
  ],
  adjusted: false,
  asFoundResult: asFound,
  calibratedAt: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
});

describe.each(BACKENDS)('electronic signatures and separation of duties on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  const s: Record<string, Session> = {};
  const ids: Record<string, string> = {};
  const call = (who: string | Session, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, typeof who === 'string' && who in s ? s[who]! : who, method, p, body);

  /** A statement as the database owner (bypassing the app's privileges and row-level security). */
  async function asOwnerSql(sql: string, params: (string | number | null)[] = []) {
    if (backend === 'postgres') {
      let n = 0;
      return asOwner(
        storage.databaseUrl!,
        sql.replace(/\?/g, () => `$${++n}`),
        params,
      );
    }
    const db = await SqliteDb.open(path.join(storage.dataDir, 'cloud.sqlite'));
    try {
      return await db.all(sql, params);
    } finally {
      await db.close();
    }
  }
  const auditEntries = async (who = 'auditor') => {
    const r = await call(who, 'GET', '/audit?limit=1000');
    return r.body.items.map((i: { entry: unknown }) => i.entry) as {
      action: string;
      outcome: string;
      actor: { id: string };
      target?: { id: string };
      detail?: string;
      after?: Record<string, unknown>;
    }[];
  };

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, Role, string[] | null][] = [
      ['tech', 'technician', null],
      ['tech2', 'technician', null],
      ['manager', 'manager', null],
      ['scoped', 'manager', ['plant-2']],
      ['auditor', 'auditor', null],
    ];
    for (const [who, role, sites] of users) {
      const u = await accounts.users.create(by, 'acme', {
        email: `${who}@acme.example`,
        name: `${who} name`,
        role,
        sites,
        password: PW[who]!,
        mustChangePassword: false,
      });
      ids[who] = u.user.id;
    }
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
    for (const tag of ['PT-RAIL-03', 'PT-RAIL-04'])
      expect(
        (
          await call('tech', 'POST', '/equipment', {
            tag,
            siteId: 'plant-1',
            type: 'transducer',
            intervalDays: 180,
          })
        ).status,
      ).toBe(201);
    // An edge calibration of PT-RAIL-03 (the example records carry one).
    const edge = await new TestEdge(cloud.url).enroll(enroll.token, 'line-1');
    await edge.ingest(exampleRecords(edge.id, 1, 5));
    ids.edgeCal = `${edge.id}:4`;
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('signs a manual entry (re-authentication, meaning, time, content hash); a failure takes effect at once', async () => {
    const r = await call('tech', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-03',
      enteredBy: 'A. Smith',
      body: calibrationBody('fail'),
      signature: { password: PW.tech, meaning: 'performed' },
    });
    expect(r.status, r.text).toBe(201);
    ids.a = r.body.calibration.id;
    const c = r.body.calibration;
    expect(c.signature).toMatchObject({
      by: { id: ids.tech, email: 'tech@acme.example', name: 'tech name', role: 'technician' },
      meaning: 'performed',
      contentSha256: c.evidenceSha256,
      valid: true,
    });
    expect(Date.parse(c.signature.signedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(c.signature.signatureSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(c.approval).toEqual({ state: 'pending' });
    // Safety first: out of tolerance now, before anyone approves.
    expect(r.body.equipment.calibration.status).toBe('out-of-tolerance');
    expect((await call('auditor', 'GET', '/equipment/PT-RAIL-03')).body.calibration.status).toBe(
      'out-of-tolerance',
    );
    // The same view in the equipment's history, and in the approvals queue.
    const hist = await call('auditor', 'GET', '/equipment/PT-RAIL-03/calibrations');
    expect(hist.body.items.find((x: { id: string }) => x.id === ids.a)).toEqual(c);
    const pending = await call('manager', 'GET', '/calibrations?approval=pending');
    expect(pending.body.items.map((x: { id: string }) => x.id)).toEqual([ids.a]);
    expect(pending.body.items[0]).toMatchObject({ siteId: 'plant-1', approval: { state: 'pending' } });
    // An edge calibration keeps its own record/approval fields.
    const edge = hist.body.items.find((x: { id: string }) => x.id === ids.edgeCal);
    expect(edge).toMatchObject({ source: 'record', signature: null, approval: null });

    const audit = await auditEntries();
    const signed = audit.find((e) => e.action === 'calibration.sign' && e.outcome === 'success');
    expect(signed).toMatchObject({
      actor: { id: ids.tech },
      target: { id: ids.a },
      after: {
        meaning: 'performed',
        contentSha256: c.evidenceSha256,
        signatureSha256: c.signature.signatureSha256,
      },
    });
  });

  it('refuses a wrong password (audited, nothing stored, counted toward the lockout) and an approval in the body', async () => {
    const before = (await call('auditor', 'GET', '/equipment/PT-RAIL-04/calibrations')).body.items.length;
    const wrong = await call('tech2', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-04',
      enteredBy: 'B. Jones',
      body: calibrationBody('pass'),
      signature: { password: 'not my password at all', meaning: 'performed' },
    });
    expect(wrong.status).toBe(403);
    expect(wrong.type).toContain('application/problem+json');
    expect(wrong.body.code).toBe('CLOUD_REAUTH_FAILED');
    expect(wrong.text).not.toContain('at ');
    expect((await call('auditor', 'GET', '/equipment/PT-RAIL-04/calibrations')).body.items).toHaveLength(
      before,
    );
    const refused = (await auditEntries()).filter(
      (e) => e.action === 'calibration.sign' && e.outcome === 'failure',
    );
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ actor: { id: ids.tech2 }, target: { id: 'PT-RAIL-04' } });

    const selfApproved = await call('tech2', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-04',
      enteredBy: 'B. Jones',
      body: {
        ...calibrationBody('pass'),
        approval: { by: 'B. Jones', meaning: 'approved', at: new Date().toISOString() },
      },
      signature: { password: PW.tech2, meaning: 'performed' },
    });
    expect(selfApproved.status).toBe(400);
    expect(selfApproved.body.errors.map((e: { path: string }) => e.path)).toEqual(['body.approval']);

    // Four more wrong passwords lock the account: even the right one is refused for now, and
    // so is signing in (the signature's failures count like sign-in failures).
    for (let i = 0; i < 4; i++) {
      const r = await call('tech2', 'POST', '/calibrations', {
        equipment: 'PT-RAIL-04',
        enteredBy: 'B. Jones',
        body: calibrationBody('pass'),
        signature: { password: `wrong ${i} password here`, meaning: 'performed' },
      });
      expect(r.body.code).toBe('CLOUD_REAUTH_FAILED');
    }
    const locked = await call('tech2', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-04',
      enteredBy: 'B. Jones',
      body: calibrationBody('pass'),
      signature: { password: PW.tech2, meaning: 'performed' },
    });
    expect(locked.status).toBe(429);
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'acme', email: 'tech2@acme.example', password: PW.tech2 }),
    });
    expect(login.status).toBe(429);
    expect((await call('auditor', 'GET', '/equipment/PT-RAIL-04/calibrations')).body.items).toHaveLength(
      before,
    );
  });

  it("refuses approving one's own entry (403, security event), and a replayed signature of someone else", async () => {
    const self = await call('tech', 'POST', `/calibrations/${encodeURIComponent(ids.a!)}/approve`, {
      password: PW.tech,
      meaning: 'approved',
    });
    expect(self.status).toBe(403);
    expect(self.type).toContain('application/problem+json');
    expect(self.body.code).toBe('CLOUD_SEPARATION_OF_DUTIES');
    const ev = (await auditEntries()).filter(
      (e) => e.action === 'calibration.approve' && e.outcome === 'failure',
    );
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ actor: { id: ids.tech }, target: { id: ids.a } });
    expect(ev[0]!.detail).toMatch(/self-approval/);

    // The technician's signature body replayed by the manager's session: the password is
    // checked against the signer's own account, so it does not sign.
    const replay = await call('manager', 'POST', `/calibrations/${encodeURIComponent(ids.a!)}/approve`, {
      password: PW.tech,
      meaning: 'approved',
    });
    expect(replay.status).toBe(403);
    expect(replay.body.code).toBe('CLOUD_REAUTH_FAILED');
    // API tokens, auditors and a manager of another site cannot approve.
    expect(
      (
        await call(apiToken, 'POST', `/calibrations/${encodeURIComponent(ids.a!)}/approve`, {
          password: PW.tech,
          meaning: 'approved',
        })
      ).body.code,
    ).toBe('CLOUD_FORBIDDEN');
    expect(
      (
        await call('auditor', 'POST', `/calibrations/${encodeURIComponent(ids.a!)}/approve`, {
          password: PW.auditor,
          meaning: 'approved',
        })
      ).body.code,
    ).toBe('CLOUD_FORBIDDEN');
    expect(
      (
        await call('scoped', 'POST', `/calibrations/${encodeURIComponent(ids.a!)}/approve`, {
          password: PW.scoped,
          meaning: 'approved',
        })
      ).status,
    ).toBe(404);
    expect((await call('scoped', 'GET', '/calibrations?approval=pending')).body.items).toEqual([]);
    const c = (await call('auditor', 'GET', '/equipment/PT-RAIL-03/calibrations')).body.items.find(
      (x: { id: string }) => x.id === ids.a,
    );
    expect(c.approval).toEqual({ state: 'pending' });
  });

  it('lets a second person approve, bound to the same content hash; once', async () => {
    const ok = await call('manager', 'POST', `/calibrations/${encodeURIComponent(ids.a!)}/approve`, {
      password: PW.manager,
      meaning: 'reviewed and approved',
    });
    expect(ok.status, ok.text).toBe(200);
    const c = ok.body.calibration;
    expect(c.approval).toMatchObject({
      state: 'approved',
      by: { id: ids.manager, role: 'manager' },
      meaning: 'reviewed and approved',
      contentSha256: c.evidenceSha256,
      valid: true,
    });
    expect(c.signature.by.id).toBe(ids.tech);
    expect(c.approval.signatureSha256).not.toBe(c.signature.signatureSha256);
    expect((await call('manager', 'GET', '/calibrations?approval=pending')).body.items).toEqual([]);
    expect(
      (await call('manager', 'GET', '/calibrations?approval=approved')).body.items.map(
        (x: { id: string }) => x.id,
      ),
    ).toEqual([ids.a]);
    const again = await call('tech2', 'POST', `/calibrations/${encodeURIComponent(ids.a!)}/approve`, {
      password: PW.tech2,
      meaning: 'approved',
    });
    // tech2 is locked out from the previous test: the state check comes first (409), not the password.
    expect(again.status).toBe(409);
    const edge = await call('manager', 'POST', `/calibrations/${encodeURIComponent(ids.edgeCal!)}/approve`, {
      password: PW.manager,
      meaning: 'approved',
    });
    expect(edge.status).toBe(409);
    const audit = await auditEntries();
    expect(audit.find((e) => e.action === 'calibration.approve' && e.outcome === 'success')).toMatchObject({
      actor: { id: ids.manager },
      target: { id: ids.a },
      after: {
        contentSha256: c.evidenceSha256,
        signatureSha256: c.approval.signatureSha256,
        enteredBy: ids.tech,
      },
    });
    expect((await call('auditor', 'GET', '/audit/verify')).body.ok).toBe(true);
  });

  it('shows a signature copied onto another entry, or a changed entry, as not valid, and refuses to approve it', async () => {
    const b = await call('tech', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-03',
      enteredBy: 'A. Smith',
      body: calibrationBody('pass', 30),
      signature: { password: PW.tech, meaning: 'performed' },
    });
    expect(b.status).toBe(201);
    ids.b = b.body.calibration.id;
    // Replay at the storage level: A's approval signature row, copied onto B.
    await asOwnerSql(
      `INSERT INTO calibration_signatures (tenant_id, calibration_id, purpose, user_id, user_email, user_name, user_role,
         meaning, signed_at, content_sha256, signature_sha256, address)
       SELECT tenant_id, ?, purpose, user_id, user_email, user_name, user_role, meaning, signed_at, content_sha256,
         signature_sha256, address FROM calibration_signatures WHERE calibration_id = ? AND purpose = 'approval'`,
      [ids.b!, ids.a!],
    );
    const view = (await call('auditor', 'GET', '/equipment/PT-RAIL-03/calibrations')).body.items.find(
      (x: { id: string }) => x.id === ids.b,
    );
    expect(view.signature.valid).toBe(true);
    expect(view.approval).toMatchObject({ state: 'approved', valid: false });

    // An entry changed after signing no longer matches its signature, and cannot be approved.
    const c = await call('tech', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-04',
      enteredBy: 'A. Smith',
      body: calibrationBody('pass', 20),
      signature: { password: PW.tech, meaning: 'performed' },
    });
    ids.c = c.body.calibration.id;
    await asOwnerSql("UPDATE calibrations SET entered_by = 'Someone Else' WHERE id = ?", [ids.c!]);
    const changed = (await call('auditor', 'GET', '/equipment/PT-RAIL-04/calibrations')).body.items.find(
      (x: { id: string }) => x.id === ids.c,
    );
    expect(changed.signature.valid).toBe(false);
    const refused = await call('manager', 'POST', `/calibrations/${encodeURIComponent(ids.c!)}/approve`, {
      password: PW.manager,
      meaning: 'approved',
    });
    expect(refused.status).toBe(409);
    // The signatures table itself refuses changes, even from the owner.
    await expect(asOwnerSql("UPDATE calibration_signatures SET meaning = 'x'")).rejects.toThrow(
      /append-only/,
    );
    await expect(asOwnerSql('DELETE FROM calibration_signatures')).rejects.toThrow(/append-only/);
  });
  it('rejects or returns an entry with a signed reason: it stops counting; a correction names the returned one', async () => {
    const enter = async (
      asFound: 'pass' | 'fail',
      minutesAgo: number,
      extra: Record<string, unknown> = {},
    ) => {
      const r = await call('tech', 'POST', '/calibrations', {
        equipment: 'PT-RAIL-03',
        enteredBy: 'A. Smith',
        body: calibrationBody(asFound, minutesAgo),
        signature: { password: PW.tech, meaning: 'performed' },
        ...extra,
      });
      expect(r.status, r.text).toBe(201);
      return r.body.calibration.id as string;
    };
    const status = async () =>
      (await call('auditor', 'GET', '/equipment/PT-RAIL-03')).body.calibration.status;
    const path = (id: string, what: string) => `/calibrations/${encodeURIComponent(id)}/${what}`;

    // Who may review comes from the access policy: the session and the policy say the same.
    expect((await call('manager', 'GET', '/auth/session')).body.permissions).toContain(
      'calibrations:approve',
    );
    expect((await call('auditor', 'GET', '/auth/session')).body.permissions).not.toContain(
      'calibrations:approve',
    );
    const policy = (await call('auditor', 'GET', '/auth/policy')).body.roles as {
      role: string;
      permissions: string[];
    }[];
    expect(policy.filter((r) => r.permissions.includes('calibrations:approve')).map((r) => r.role)).toEqual([
      'admin',
      'manager',
      'technician',
    ]);

    // A typo: the as-found reading fails, so the gauge is out of tolerance at once (safety first).
    const typo = await enter('fail', 10);
    expect(await status()).toBe('out-of-tolerance');
    const noReason = await call('manager', 'POST', path(typo, 'reject'), {
      password: PW.manager,
      meaning: 'rejected',
    });
    expect(noReason.status).toBe(400);
    expect(noReason.body.errors.map((e: { path: string }) => e.path)).toEqual(['reason']);
    const self = await call('tech', 'POST', path(typo, 'reject'), {
      password: PW.tech,
      meaning: 'rejected',
      reason: 'mine',
    });
    expect(self.body.code).toBe('CLOUD_SEPARATION_OF_DUTIES');
    expect(
      (
        await call('auditor', 'POST', path(typo, 'reject'), {
          password: PW.auditor,
          meaning: 'x',
          reason: 'y',
        })
      ).body.code,
    ).toBe('CLOUD_FORBIDDEN');

    const rejected = await call('manager', 'POST', path(typo, 'reject'), {
      password: PW.manager,
      meaning: 'rejected',
      reason: 'As found 806 bar was typed for 800.6 bar: the certificate says 800.6.',
    });
    expect(rejected.status, rejected.text).toBe(200);
    expect(rejected.body.calibration.approval).toMatchObject({
      state: 'rejected',
      by: { id: ids.manager },
      reason: 'As found 806 bar was typed for 800.6 bar: the certificate says 800.6.',
      valid: true,
    });
    // It no longer counts (the status is back), but stays in the history.
    expect(await status()).not.toBe('out-of-tolerance');
    const history = (await call('auditor', 'GET', '/equipment/PT-RAIL-03/calibrations')).body.items;
    expect(history.find((x: { id: string }) => x.id === typo).approval.state).toBe('rejected');
    // Reviewed once: no approval after a rejection.
    const late = await call('manager', 'POST', path(typo, 'approve'), {
      password: PW.manager,
      meaning: 'approved',
    });
    expect(late.status).toBe(409);
    expect(late.body.detail).toContain('already rejected');

    // Returned for correction, then corrected by a new entry that names it.
    const wrong = await enter('pass', 8);
    const returned = await call('manager', 'POST', path(wrong, 'return'), {
      password: PW.manager,
      meaning: 'returned for correction',
      reason: 'The reference standard used is missing.',
    });
    expect(returned.body.calibration.approval).toMatchObject({
      state: 'returned',
      reason: 'The reference standard used is missing.',
    });
    expect(
      (await call('tech', 'GET', '/calibrations?approval=returned')).body.items.map(
        (x: { id: string }) => x.id,
      ),
    ).toEqual([wrong]);
    const notReturned = await call('tech', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-03',
      enteredBy: 'A. Smith',
      corrects: typo,
      body: calibrationBody('pass', 5),
      signature: { password: PW.tech, meaning: 'performed' },
    });
    expect(notReturned.status).toBe(400);
    expect(notReturned.body.errors).toEqual([
      { path: 'corrects', message: 'it was not returned for correction' },
    ]);
    const fixed = await enter('pass', 5, { corrects: wrong });
    const fixedView = (await call('auditor', 'GET', '/calibrations?approval=pending')).body.items.find(
      (x: { id: string }) => x.id === fixed,
    );
    expect(fixedView.corrects).toBe(wrong);

    const audit = await auditEntries();
    expect(audit.find((e) => e.action === 'calibration.reject' && e.outcome === 'success')).toMatchObject({
      actor: { id: ids.manager },
      target: { id: typo },
      after: { purpose: 'rejection', reason: expect.stringContaining('806 bar') },
    });
    expect(audit.find((e) => e.action === 'calibration.return' && e.outcome === 'success')).toMatchObject({
      target: { id: wrong },
      after: { purpose: 'return', reason: 'The reference standard used is missing.' },
    });
    // The reason is bound into the signature: changing it in storage makes the review not valid.
    if (backend === 'sqlite') {
      await expect(asOwnerSql("UPDATE calibration_signatures SET reason = 'x'")).rejects.toThrow(
        /append-only/,
      );
    }
    expect((await call('auditor', 'GET', '/audit/verify')).body.ok).toBe(true);
  });
});
