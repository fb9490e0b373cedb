import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyFromPrivatePem, toBase64, verifyCosignature } from '@rigtrace/protocols';
import { startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { openSocket, signIn, TestEdge, type TestSocket } from './helpers/live.js';
import { setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const PW = 'scale out passphrase';

/**
 * Two cloud processes on one PostgreSQL database with the socket.io Redis adapter (Redis on
 * 127.0.0.1:6379, a channel prefix of this run's own): a batch ingested through process A reaches
 * a socket connected to process B, and only the sockets that may see it. PostgreSQL only: several
 * processes on one database is what PostgreSQL is for (STORAGE.md).
 */
describe('scale-out: two cloud processes, one PostgreSQL, Redis', () => {
  let storage: TestStorage;
  const procs: Proc[] = [];
  const urls: string[] = [];
  const sockets: TestSocket[] = [];
  const witnessKey = generateKeyPair().privateKeyPem;
  const sessions: Record<string, string> = {};
  let edgeA: TestEdge;
  let edgeOther: TestEdge;

  async function startCloudProcess(name: string, env: Record<string, string>): Promise<string> {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      // The child inherits this environment: configuration as a deployment would pass it.
      const p = await startProcess(
        'cloud/src/cli.ts',
        ['serve'],
        (line) => line.includes('"event":"listening"'),
        30_000,
      );
      procs.push(p);
      const url = (JSON.parse(p.readyLine) as { url: string }).url;
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 20_000, `${name} ready`);
      return url;
    } finally {
      process.env = saved;
    }
  }

  setupOrFailEach(async () => {
    storage = await testStorage('postgres');
    const shared = mkdtempSync(path.join(os.tmpdir(), 'rt-scale-'));
    const keyFile = path.join(shared, 'witness-key.pem');
    writeFileSync(keyFile, witnessKey, { mode: 0o600 });
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    await store.tenancy.createTenant('other', 'Other');
    await store.tenancy.createSite('other', 'o-1', 'O 1');
    const enrollA = (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token;
    const enrollO = (await store.tenancy.createEnrollmentToken('other', 'o-1', 3600_000)).token;
    const accounts = createAccounts({
      ...store,
      witness: Witness.load(cfg.dataDir, cfg.witnessName, keyFile),
    });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    for (const [tenant, email, sites] of [
      ['acme', 'admin@acme.example', undefined],
      ['acme', 'scoped@acme.example', ['plant-2']],
      ['other', 'admin@other.example', undefined],
    ] as const)
      await accounts.users.create(by, tenant, {
        email,
        role: sites ? 'technician' : 'admin',
        password: PW,
        mustChangePassword: false,
        ...(sites ? { sites: [...sites] } : {}),
      });
    await store.db.close();

    const common = {
      DATABASE_URL: storage.databaseUrl!,
      RIGTRACE_DB_APP_ROLE: storage.dbAppRole!,
      REDIS_URL: 'redis://127.0.0.1:6379',
      RIGTRACE_REDIS_PREFIX: `rt-test-${randomBytes(6).toString('hex')}`,
      RIGTRACE_WITNESS_KEY_FILE: keyFile,
      RIGTRACE_SECRETS_KEY: randomBytes(32).toString('base64'),
      RIGTRACE_REMINDERS_SCHEDULER: 'off',
      RIGTRACE_HOST: '127.0.0.1',
      RIGTRACE_PORT: '0',
      RIGTRACE_LOG_LEVEL: 'warn',
    };
    // Each process has a data folder of its own: only the key file and the database are shared.
    for (const name of ['A', 'B'])
      urls.push(
        await startCloudProcess(name, {
          ...common,
          RIGTRACE_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), `rt-scale-${name}-`)),
        }),
      );
    // Signed in on A; the session lives in the shared database, so B knows it.
    sessions.admin = (await signIn(urls[0]!, 'acme', 'admin@acme.example', PW)).cookie;
    sessions.scoped = (await signIn(urls[0]!, 'acme', 'scoped@acme.example', PW)).cookie;
    sessions.other = (await signIn(urls[0]!, 'other', 'admin@other.example', PW)).cookie;
    edgeA = await new TestEdge(urls[0]!).enroll(enrollA, 'line-1');
    edgeOther = await new TestEdge(urls[0]!).enroll(enrollO, 'other-line');
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const p of procs) await p.stop();
    await storage?.cleanup();
  });

  it('delivers a batch ingested through A to the right sockets on B, and only to them', async () => {
    const [, urlB] = urls as [string, string];
    const onB = async (cookie: string) => {
      const s = await openSocket(urlB, cookie);
      sockets.push(s);
      return s;
    };
    const admin = await onB(sessions.admin!);
    const scoped = await onB(sessions.scoped!);
    const other = await onB(sessions.other!);
    expect(await admin.subscribe('plant-1')).toEqual({ ok: true });
    expect(await scoped.subscribe('plant-1')).toEqual({ ok: false, error: 'CLOUD_NOT_FOUND' });
    expect(await scoped.subscribe('plant-2')).toEqual({ ok: true });
    expect(await other.subscribe('plant-1')).toEqual({ ok: false, error: 'CLOUD_NOT_FOUND' });
    expect(await other.subscribe('o-1')).toEqual({ ok: true });

    const at = new Date(Date.now() - 60_000).toISOString();
    const sent = await edgeA.send([
      edgeA.telemetry('RIG-1', at, { railPressure: 1600.5 }),
      edgeA.usage('RIG-1', at, 'start', { operator: 'op-1' }),
    ]);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect((await admin.next('telemetry')).payload).toEqual({
      siteId: 'plant-1',
      edgeId: edgeA.id,
      items: [
        {
          equipment: 'RIG-1',
          point: 'railPressure',
          value: 1600.5,
          unit: 'bar',
          quality: 'good',
          observedAt: at,
        },
      ],
    });
    expect((await admin.next('rig')).payload).toMatchObject({
      equipment: 'RIG-1',
      state: 'running',
      operator: 'op-1',
    });
    expect((await admin.next('records')).payload).toMatchObject({ siteId: 'plant-1', lastSeq: 2 });

    // Barrier: the other tenant's own batch, through A, reaches its socket on B; by then
    // anything of acme would have reached it too.
    expect((await edgeOther.send([edgeOther.telemetry('RIG-O', at, { p: 1 })])).status).toBe(200);
    await other.next('records');
    expect(other.received.every((r) => r.payload.siteId === 'o-1')).toBe(true);
    expect(scoped.received).toEqual([]);
    expect(admin.received.some((r) => r.payload.siteId === 'o-1')).toBe(false);

    // Either process serves the same snapshot from the shared database.
    const snaps = await Promise.all(
      urls.map(async (u) => {
        const r = await fetch(`${u}/api/v1/sites/plant-1/live`, { headers: { cookie: sessions.admin! } });
        return ((await r.json()) as { rigs: unknown[] }).rigs;
      }),
    );
    expect(snaps[0]).toEqual(snaps[1]);
    expect(snaps[0]).toHaveLength(1);
  });

  it('shares one witness key between the processes (RIGTRACE_WITNESS_KEY_FILE)', async () => {
    const expected = toBase64(publicKeyFromPrivatePem(witnessKey));
    for (const u of urls) {
      const w = (await (await fetch(`${u}/api/v1/witness`)).json()) as { publicKey: string };
      expect(w.publicKey).toBe(expected);
    }
    // The edge's log continues through B, from where A left it.
    const sent: string[] = [];
    for (const via of urls) {
      const r = await edgeA.send(
        [edgeA.telemetry('RIG-1', new Date().toISOString(), { railPressure: 1601 })],
        via,
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      sent.push(String(r.body.checkpoint));
    }
    // Both countersignatures verify against the one shared key.
    for (const note of sent)
      expect(verifyCosignature(note, 'rigtrace-cloud', publicKeyFromPrivatePem(witnessKey))).toMatchObject({
        ok: true,
      });
  });
});
