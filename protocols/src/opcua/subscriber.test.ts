import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { OpcuaError } from './errors.js';
import { routeOpcuaLibraryLogs } from './library-logs.js';
import { OpcuaSubscriber } from './subscriber.js';
import { benchControl, type BenchControl } from './testing/control.js';
import { startBench, type BenchProcess } from './testing/bench-process.js';
import { startTcpProxy } from './testing/tcp-proxy.js';
import { Recorder, sleep, until } from './testing/wait.js';
import type { OpcuaSourceOptions, OpcuaValue } from './types.js';

// Against the calibration bench simulator (firmware-sim cal-bench), run as a real process with
// every endpoint (None, Sign, SignAndEncrypt) and a user account (anonymous refused). The tests
// that only watch run concurrently; the ones that switch faults or restart the bench run after.

const USER = { username: 'tech', password: 's3cret' };
const ns = (path: string): string => `ns=1;s=Bench.${path}`;

let bench: BenchProcess;
let control: BenchControl;
let dir: string;
// node-opcua's own warnings, routed away from stdout.
const libraryWarnings: string[] = [];
routeOpcuaLibraryLogs({
  info() {},
  warn: (_o, msg) => libraryWarnings.push(msg ?? ''),
  error: (_o, msg) => libraryWarnings.push(msg ?? ''),
});

let benchArgs: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rigtrace-opcua-sub-'));
  benchArgs = [
    '--asset',
    'BENCH-T',
    '--cycle-seconds',
    '1',
    '--security',
    'all',
    '--pki-dir',
    join(dir, 'bench-pki'),
    '--user',
    `${USER.username}:${USER.password}`,
  ];
  bench = await startBench([...benchArgs, '--port', '0', '--seed', '11']);
  control = await benchControl(bench.endpointUrl, USER);
}, 90_000);

afterAll(async () => {
  await control?.close().catch(() => undefined);
  const code = await bench?.stop();
  rmSync(dir, { recursive: true, force: true });
  expect(code).toBe(0);
});

function subscriber(
  ctx: Pick<TestContext, 'onTestFinished'>,
  over: Partial<OpcuaSourceOptions>,
): { sub: OpcuaSubscriber; rec: Recorder } {
  const sub = new OpcuaSubscriber({
    endpointUrl: bench.endpointUrl,
    securityMode: 'None',
    securityPolicy: 'None',
    user: USER,
    publishingIntervalMs: 200,
    watchdogMs: 2000,
    connectTimeoutMs: 3000,
    reconnect: { initialMs: 200, maxMs: 1000 },
    items: [{ name: 'oil', nodeId: ns('Live.OilTemperature'), samplingIntervalMs: 100 }],
    ...over,
  });
  ctx.onTestFinished(() => sub.stop());
  return { sub, rec: new Recorder(sub) };
}

const GOOD = { name: 'Good', value: 0, good: true };

describe('OpcuaSubscriber (cal-bench process): watching', () => {
  it.concurrent('receives values by subscription, with status and source timestamp', async (ctx) => {
    const { sub, rec } = subscriber(ctx, {
      items: [
        { name: 'oil', nodeId: ns('Live.OilTemperature'), samplingIntervalMs: 100 },
        // By namespace URI: resolved against the server's namespace table.
        { name: 'asset', nodeId: 'nsu=urn:rigtrace:sim:cal-bench;s=Bench.Asset' },
        { name: 'state', nodeId: ns('State') },
        { name: 'nominals', nodeId: ns('LastCalibration.Nominals') },
      ],
    });
    const t0 = Date.now();
    await sub.start();
    await until(() => rec.of('oil').length >= 6 && rec.of('nominals').length >= 1, 10_000, 'values');
    const oil = rec.of('oil');
    for (const v of oil) {
      expect(typeof v.value).toBe('number');
      expect(Math.abs((v.value as number) - 40)).toBeLessThan(2);
      expect(v.statusCode).toEqual(GOOD);
      expect(v.overflow).toBe(false);
      const source = Date.parse(v.sourceTimestamp!);
      expect(source).toBeGreaterThan(t0 - 5_000);
      expect(source).toBeLessThanOrEqual(Date.parse(v.serverTimestamp!) + 1);
    }
    // A value that changes every 100-500 ms: successive notifications are different samples.
    const stamps = oil.map((v) => Date.parse(v.sourceTimestamp!));
    expect([...stamps].sort((a, b) => a - b)).toEqual(stamps);
    expect(new Set(stamps).size).toBe(stamps.length);
    expect(rec.of('asset')[0]).toMatchObject({
      value: 'BENCH-T',
      statusCode: GOOD,
      nodeId: 'nsu=urn:rigtrace:sim:cal-bench;s=Bench.Asset',
    });
    expect(['idle', 'calibrating']).toContain(rec.of('state')[0]!.value);
    const nominals = rec.of('nominals')[0]!.value as number[];
    expect(Array.isArray(nominals)).toBe(true);
    const s = sub.stats();
    expect(s).toMatchObject({
      connected: true,
      sessions: 1,
      subscriptionsCreated: 1,
      itemsMonitored: 4,
      badStatus: 0,
    });
    expect(s.notifications).toBe(rec.values.length);
    expect(rec.events.map((e) => e.event)).toEqual(['connected']);
  });

  it.concurrent('a deadband filters small changes; a short queue overflows and says so', async (ctx) => {
    const { sub, rec } = subscriber(ctx, {
      items: [
        { name: 'all', nodeId: ns('Live.OilTemperature'), samplingIntervalMs: 100 },
        {
          name: 'abs',
          nodeId: ns('Live.OilTemperature'),
          samplingIntervalMs: 100,
          deadband: { type: 'absolute', value: 1 },
        },
        {
          name: 'pct',
          nodeId: ns('Live.OilTemperature'),
          samplingIntervalMs: 100,
          deadband: { type: 'percent', value: 2 },
        },
      ],
    });
    // One publish per second, sampling every 50 ms into a queue of 2: most publishes overflow.
    const slow = subscriber(ctx, {
      publishingIntervalMs: 1000,
      items: [{ name: 'queued', nodeId: ns('Live.OilTemperature'), samplingIntervalMs: 50, queueSize: 2 }],
    });
    await Promise.all([sub.start(), slow.sub.start()]);
    // Waits for what is asserted below: an item that filters reports at least its first value
    // (on a busy machine 'all' can reach ten before 'abs' or 'pct' have reported once).
    await until(
      () =>
        rec.of('all').length >= 10 &&
        rec.of('abs').length >= 1 &&
        rec.of('pct').length >= 1 &&
        slow.rec.of('queued').length >= 4,
      15_000,
      'values',
    );
    const changes = (name: string): number[] => {
      const v = rec.of(name).map((x) => x.value as number);
      return v.slice(1).map((x, i) => Math.abs(x - v[i]!));
    };
    expect(changes('all').some((d) => d < 1)).toBe(true);
    for (const d of changes('abs')) expect(d).toBeGreaterThan(1);
    // Percent of the EURange 0..100 degC: 2 % = 2 degC.
    for (const d of changes('pct')) expect(d).toBeGreaterThan(2);
    expect(rec.of('abs').length).toBeGreaterThanOrEqual(1);
    expect(rec.of('abs').length).toBeLessThan(rec.of('all').length / 3);
    expect(rec.of('pct').length).toBeLessThan(rec.of('all').length / 3);
    const queued = slow.rec.of('queued');
    const overflowed = queued.filter((v) => v.overflow);
    expect(overflowed.length).toBeGreaterThan(0);
    expect(slow.sub.stats().overflows).toBe(overflowed.length);
    for (const v of overflowed) expect(v.statusCode).toEqual({ name: 'Good', value: 0x480, good: true });
  });

  it.concurrent(
    'read() returns a consistent snapshot of the result block when its trigger changes',
    async (ctx) => {
      const block = [
        'Sequence',
        'EquipmentId',
        'CertificateId',
        'Unit',
        'PointNames',
        'Nominals',
        'AsFound',
        'AsLeft',
        'LowerTolerance',
        'UpperTolerance',
        'AsFoundResult',
        'AsLeftResult',
        'Adjusted',
      ];
      const { sub, rec } = subscriber(ctx, {
        items: [{ name: 'sequence', nodeId: ns('LastCalibration.Sequence') }],
      });
      const shape: Record<string, { unit: string; points: number; decimals: number }> = {
        PT: { unit: 'bar', points: 5, decimals: 2 },
        FC: { unit: 'mm3/stroke', points: 4, decimals: 3 },
        TT: { unit: 'degC', points: 3, decimals: 2 },
      };
      const problems: string[] = [];
      const check = (values: OpcuaValue[], trigger?: number): void => {
        const b = Object.fromEntries(block.map((k, i) => [k, values[i]!.value])) as Record<string, any>;
        const seq = b.Sequence as number;
        if (seq === 0) return;
        const fail = (m: string): number => problems.push(`seq ${seq}: ${m}`);
        if (values.some((v) => !v.statusCode.good)) fail('bad status');
        if (trigger !== undefined && seq < trigger) fail(`older than its trigger ${trigger}`);
        if (b.CertificateId !== `CAL-BENCH-T-${String(seq).padStart(6, '0')}`)
          fail(`certificate ${b.CertificateId}`);
        const s = shape[String(b.EquipmentId).slice(0, 2)];
        if (!s) return void fail(`equipment ${b.EquipmentId}`);
        if (b.Unit !== s.unit) fail(`unit ${b.Unit}`);
        for (const k of ['PointNames', 'Nominals', 'AsFound', 'AsLeft', 'LowerTolerance', 'UpperTolerance'])
          if (b[k].length !== s.points) fail(`${k} has ${b[k].length} points`);
        const verdict = (readings: number[]): string =>
          readings.every((r, i) => {
            const err = Number((r - b.Nominals[i]).toFixed(s.decimals));
            return err >= b.LowerTolerance[i] && err <= b.UpperTolerance[i];
          })
            ? 'pass'
            : 'fail';
        if (verdict(b.AsFound) !== b.AsFoundResult) fail('as-found result does not match the readings');
        if (verdict(b.AsLeft) !== b.AsLeftResult) fail('as-left result does not match the readings');
        if (!b.Adjusted && JSON.stringify(b.AsLeft) !== JSON.stringify(b.AsFound))
          fail('as-left differs, not adjusted');
      };
      const nodeIds = block.map((k) => ns(`LastCalibration.${k}`));
      const triggered = new Set<number>();
      const triggeredReads: Promise<void>[] = [];
      let reads = 0;
      sub.on('value', (v) => {
        const trigger = v.value as number;
        if (trigger === 0) return;
        triggeredReads.push(
          sub.read(nodeIds).then(
            (values) => {
              check(values, trigger);
              if (values[0]!.name !== 'sequence') problems.push(`first value named ${values[0]!.name}`);
              triggered.add(values[0]!.value as number);
            },
            (err: unknown) => void problems.push(`read after trigger ${trigger}: ${String(err)}`),
          ),
        );
      });
      await sub.start();
      // Meanwhile, read the block as fast as possible: no read may ever see half of a new block.
      // Until three triggered reads and twenty of these are done, however long that takes on a
      // busy machine (the test's own timeout bounds it).
      while (triggered.size < 3 || reads <= 20) {
        check(await sub.read(nodeIds));
        reads++;
      }
      await Promise.all(triggeredReads);
      expect(problems).toEqual([]);
      expect(triggered.size).toBeGreaterThanOrEqual(3);
      expect(reads).toBeGreaterThan(20);
      expect(rec.of('sequence').length).toBeGreaterThanOrEqual(3);
      // A node the server does not have is a bad value, not an exception.
      const [missing] = await sub.read(['ns=1;s=Bench.NoSuchNode']);
      expect(missing).toMatchObject({
        name: 'ns=1;s=Bench.NoSuchNode',
        value: null,
        statusCode: { name: 'BadNodeIdUnknown' },
      });
    },
    45_000,
  );

  it.concurrent('refuses wrong credentials and anonymous logins, and keeps retrying', async (ctx) => {
    const wrong = subscriber(ctx, { user: { username: 'tech', password: 'nope' } });
    const anonymous = subscriber(ctx, { user: undefined });
    await Promise.all([wrong.sub.start(), anonymous.sub.start()]);
    // node-opcua refuses an anonymous login itself when no endpoint offers one.
    const refusal = /BadUserAccessDenied|BadIdentityTokenRejected|ANONYMOUS user token/;
    // Waited for, not slept on: on a busy machine an attempt may time out before one is refused.
    await until(
      () => [wrong, anonymous].every(({ sub }) => refusal.test(sub.stats().lastError ?? '')),
      15_000,
      'both refusals',
    );
    for (const { sub, rec } of [wrong, anonymous]) {
      expect(sub.stats()).toMatchObject({ connected: false, sessions: 0, notifications: 0 });
      expect(sub.stats().lastError).toMatch(refusal);
      expect(rec.values).toEqual([]);
      expect(rec.events).toEqual([]);
    }
  });

  it.concurrent(
    'Sign and SignAndEncrypt connect when the server certificate is trusted, and are refused when it is not',
    async (ctx) => {
      const trustedPki = join(dir, 'client-pki-trusted');
      const untrustedPki = join(dir, 'client-pki-untrusted');
      const sign = subscriber(ctx, {
        securityMode: 'Sign',
        securityPolicy: 'Basic256Sha256',
        pkiDir: trustedPki,
        trustedServerCertificates: [bench.certificateFile],
      });
      const encrypt = subscriber(ctx, {
        securityMode: 'SignAndEncrypt',
        securityPolicy: 'Aes256_Sha256_RsaPss',
        pkiDir: join(dir, 'client-pki-trusted-2'),
        trustedServerCertificates: [bench.certificateFile],
      });
      const refused = subscriber(ctx, {
        securityMode: 'SignAndEncrypt',
        securityPolicy: 'Aes128_Sha256_RsaOaep',
        pkiDir: untrustedPki,
      });
      await Promise.all([sign.sub.start(), encrypt.sub.start(), refused.sub.start()]);
      await until(
        () => sign.rec.of('oil').length >= 3 && encrypt.rec.of('oil').length >= 3,
        10_000,
        'secure values',
      );
      for (const { sub, rec } of [sign, encrypt]) {
        expect(sub.stats()).toMatchObject({ connected: true, sessions: 1 });
        expect(rec.of('oil')[0]!.statusCode).toEqual(GOOD);
      }
      // The same bench, the same settings, but a trust list without its certificate: refused
      // (waited for, not slept on: on a busy machine its first attempt may still be under way).
      await until(() => /certificate/i.test(refused.sub.stats().lastError ?? ''), 15_000, 'the refusal');
      expect(refused.sub.stats()).toMatchObject({ connected: false, sessions: 0, notifications: 0 });
      expect(refused.sub.stats().lastError).toMatch(/certificate/i);
      expect(refused.rec.values).toEqual([]);
      expect(refused.rec.events).toEqual([]);
      expect(libraryWarnings.some((w) => w.includes('BadCertificateUntrusted'))).toBe(true);
      // The refused certificate waits in the rejected folder for an operator to trust it.
      expect(readdirSync(join(untrustedPki, 'rejected')).length).toBe(1);
      expect(readdirSync(join(trustedPki, 'trusted', 'certs')).length).toBe(1);
      expect(existsSync(join(trustedPki, 'own', 'certs', 'client_certificate.pem'))).toBe(true);
    },
    // Three client certificates are generated, alongside the other watching tests.
    45_000,
  );
});

describe('OpcuaSubscriber (cal-bench process): faults', () => {
  it('a non-Good status gives a status event and keeps the last value', async (ctx) => {
    const { sub, rec } = subscriber(ctx, {
      items: [
        { name: 'oil', nodeId: ns('Live.OilTemperature'), samplingIntervalMs: 100 },
        { name: 'health', nodeId: ns('Health') },
      ],
    });
    await sub.start();
    await until(() => rec.of('oil').length >= 2, 10_000, 'oil');
    try {
      const t1 = Date.now();
      expect(await control.setFault('bad-status', true)).toBe('Good');
      await until(() => rec.statuses.some((v) => v.name === 'oil' && v.at >= t1), 5_000, 'bad status');
      const bad = rec.statuses.find((v) => v.name === 'oil' && v.at >= t1)!;
      expect(bad.statusCode).toEqual({ name: 'BadSensorFailure', value: 0x808c_0000, good: false });
      expect(typeof bad.value).toBe('number');
      await until(() => rec.of('health', t1).some((v) => v.value === 'FAILURE'), 5_000, 'health');

      const t2 = Date.now();
      expect(await control.setFault('bad-status', false)).toBe('Good');
      expect(await control.setFault('uncertain', true)).toBe('Good');
      await until(
        () => rec.statuses.some((v) => v.at >= t2 && v.statusCode.name === 'UncertainLastUsableValue'),
        5_000,
        'uncertain',
      );
      expect(rec.statuses.find((v) => v.at >= t2 && v.name === 'oil')!.statusCode).toEqual({
        name: 'UncertainLastUsableValue',
        value: 0x4090_0000,
        good: false,
      });
      const t3 = Date.now();
      expect(await control.setFault('uncertain', false)).toBe('Good');
      await until(() => rec.of('oil', t3).filter((v) => v.statusCode.good).length >= 2, 5_000, 'good again');
      // Every non-Good value was also a 'status' event, and counted.
      const nonGood = rec.values.filter((v) => !v.statusCode.good);
      expect(nonGood.length).toBeGreaterThanOrEqual(2);
      expect(rec.statuses.length).toBe(nonGood.length);
      expect(sub.stats().badStatus).toBe(nonGood.length);
    } finally {
      await control.setFault('bad-status', false);
      await control.setFault('uncertain', false);
    }
  });

  it('start() never throws while the server is down; stop() leaves no timer behind', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const closedPort = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const down = new OpcuaSubscriber({
      endpointUrl: `opc.tcp://127.0.0.1:${closedPort}/nothing`,
      securityMode: 'None',
      securityPolicy: 'None',
      items: [{ name: 'x', nodeId: 'i=2258' }],
      connectTimeoutMs: 1000,
      reconnect: { initialMs: 100, maxMs: 200 },
    });
    const seen: string[] = [];
    down.on('connected', () => seen.push('connected'));
    await expect(down.start()).resolves.toBeUndefined();
    await sleep(800);
    expect(down.stats()).toMatchObject({ connected: false, sessions: 0 });
    expect(down.stats().lastError).toBeTruthy();
    await expect(down.read(['i=2258'])).rejects.toMatchObject({ code: 'OPCUA_NOT_CONNECTED' });
    await down.stop();
    await sleep(50);
    // Other tests' timers may have ended meanwhile, never more than before this subscriber.
    expect(timers()).toBeLessThanOrEqual(before);
    expect(seen).toEqual([]);
    await expect(down.read(['i=2258'])).rejects.toBeInstanceOf(OpcuaError);
  });
});

describe('OpcuaSubscriber (cal-bench process): network loss, restart and freeze', () => {
  const ITEMS = [
    { name: 'oil', nodeId: ns('Live.OilTemperature'), samplingIntervalMs: 100 },
    { name: 'state', nodeId: ns('State') },
    { name: 'asset', nodeId: ns('Asset') },
    { name: 'health', nodeId: ns('Health') },
    { name: 'unit', nodeId: ns('Live.Unit') },
    { name: 'sequence', nodeId: ns('LastCalibration.Sequence') },
    { name: 'asFound', nodeId: ns('LastCalibration.AsFound') },
  ];
  const NAMES = ITEMS.map((i) => i.name);

  it('resumes after a network outage, a server restart on the same port and a freeze; every item reports again', async (ctx) => {
    // Through a TCP proxy (to cut the network), and signed, so the secure channel has to be
    // re-established too (with the same server certificate).
    const proxy = await startTcpProxy(bench.port);
    ctx.onTestFinished(() => proxy.close());
    const { sub, rec } = subscriber(ctx, {
      endpointUrl: `opc.tcp://127.0.0.1:${proxy.port}/rigtrace/bench`,
      securityMode: 'Sign',
      securityPolicy: 'Basic256Sha256',
      pkiDir: join(dir, 'client-pki-resilience'),
      trustedServerCertificates: [bench.certificateFile],
      items: ITEMS,
      watchdogMs: 1500,
      connectTimeoutMs: 2000,
      reconnect: { initialMs: 200, maxMs: 800 },
    });
    // 'resubscribed' is announced once the subscriber is connected again, never while it repairs.
    const connectedWhenResubscribed: boolean[] = [];
    sub.on('resubscribed', () => connectedWhenResubscribed.push(sub.stats().connected));
    await sub.start();
    await until(() => rec.reportedSince(0).size === NAMES.length, 10_000, 'first values');
    expect(sub.stats()).toMatchObject({
      connected: true,
      sessions: 1,
      subscriptionsCreated: 1,
      itemsMonitored: 7,
    });

    // 1. The network goes away for 2 s; the server keeps the session and its subscription, so the
    // session is reactivated, the server confirms it still holds every monitored item, and what
    // changed meanwhile arrives afterwards: nothing is lost.
    const cutAt = Date.now();
    expect(proxy.outage(2000)).toBeGreaterThan(0);
    await until(() => rec.events.some((e) => e.event === 'disconnected' && e.at >= cutAt), 5_000, 'cut');
    await until(() => rec.events.some((e) => e.event === 'resubscribed' && e.at >= cutAt), 15_000, 'back');
    const back = rec.events.find((e) => e.event === 'resubscribed' && e.at >= cutAt)!;
    expect(back.arg).toEqual({ items: 7 });
    expect(back.at - cutAt).toBeGreaterThanOrEqual(2000);
    expect(sub.stats()).toMatchObject({
      connected: true,
      sessions: 1,
      subscriptionsCreated: 1,
      reconnects: 1,
    });
    // A calibration completed during the outage (one per second): its Sequence was delivered late.
    await until(
      () =>
        rec
          .of('sequence', cutAt + 2000)
          .some(
            (v) => Date.parse(v.sourceTimestamp!) >= cutAt && Date.parse(v.sourceTimestamp!) < cutAt + 2000,
          ),
      5_000,
      'a value from the outage',
    );
    const sequenceBefore = rec.of('sequence').at(-1)!.value as number;
    expect(sequenceBefore).toBeGreaterThan(2);

    // 2. The server stops and a new process starts on the same port (same certificate store).
    const port = bench.port;
    const stoppedAt = Date.now();
    expect(await bench.stop()).toBe(0);
    await until(
      () => rec.events.some((e) => e.event === 'disconnected' && e.at >= stoppedAt),
      5_000,
      'disconnected',
    );
    expect(sub.stats().connected).toBe(false);
    const restartedAt = Date.now();
    bench = await startBench([...benchArgs.slice(), '--port', String(port), '--seed', '12']);
    await until(
      () => NAMES.every((n) => rec.of(n, restartedAt).length > 0),
      20_000,
      'every item after restart',
    );
    for (const name of NAMES) expect(rec.of(name, restartedAt).length, name).toBeGreaterThan(0);
    // From the new process: its calibration count started again.
    expect(rec.of('sequence', restartedAt)[0]!.value as number).toBeLessThan(sequenceBefore);
    for (const v of rec.values.filter((x) => x.at >= restartedAt)) expect(v.statusCode.good).toBe(true);
    await until(
      () => rec.events.some((e) => e.event === 'resubscribed' && e.at >= restartedAt),
      5_000,
      'resubscribed',
    );
    expect(rec.events.filter((e) => e.event === 'resubscribed').at(-1)!.arg).toEqual({ items: 7 });
    expect(sub.stats()).toMatchObject({
      connected: true,
      reconnects: 2,
      sessions: 2,
      subscriptionsCreated: 2,
      itemsMonitored: 7,
    });

    // 3. The server keeps the session but goes silent (process stopped): the watchdog notices,
    // and once the process continues every item reports again.
    const pid = bench.child.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await until(() => sub.stats().watchdogFires >= 1, 6_000, 'watchdog');
      await sleep(1000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const continuedAt = Date.now();
    await until(
      () => NAMES.every((n) => rec.of(n, continuedAt).length > 0),
      20_000,
      'every item after SIGCONT',
    );
    for (const name of NAMES) expect(rec.of(name, continuedAt).length, name).toBeGreaterThan(0);
    await until(
      () => rec.events.some((e) => e.event === 'resubscribed' && e.at >= continuedAt),
      5_000,
      'resubscribed',
    );
    await until(
      () => rec.of('oil', continuedAt).some((v) => Date.parse(v.sourceTimestamp!) >= continuedAt),
      5_000,
      'fresh samples',
    );
    const s = sub.stats();
    expect(s).toMatchObject({ connected: true, itemsMonitored: 7 });
    expect(s.watchdogFires).toBeGreaterThanOrEqual(1);
    expect(s.subscriptionsCreated).toBeGreaterThanOrEqual(3);
    expect(rec.statuses).toEqual([]);
    expect(connectedWhenResubscribed.length).toBeGreaterThanOrEqual(3);
    expect(connectedWhenResubscribed.every(Boolean)).toBe(true);
    // Three recoveries, one of them a bench restart (up to a minute on a busy machine).
  }, 150_000);
});
