import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerifierKey, publicKeyFromPrivatePem, verifyEvidence } from '@rigtrace/protocols';
import { runCli, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';

/**
 * Reliability of the whole path with real processes and files: a fast flow rig, the cloud and the
 * edge. The edge is killed with SIGKILL, the cloud goes away under load, the buffer fills past its
 * quota; at the end the cloud holds every record of the edge's log exactly once, verifiably.
 */
describe('edge reliability', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'rt-rel-'));
  const cloudDir = path.join(work, 'cloud');
  const edgeDir = path.join(work, 'edge');
  const configFile = path.join(work, 'edge.yaml');
  let rig: Proc;
  let cloud: Proc | null = null;
  let edge: Proc | null = null;
  let cloudPort = 0;
  let apiToken = '';
  let edgeId = '';

  const writeConfig = (over: { quotaMb?: number } = {}) => {
    const template = readFileSync(
      path.join(import.meta.dirname, '../../deploy/demo/edge.yaml.template'),
      'utf8',
    );
    // JSON is YAML: take the demo's rig source and make it fast.
    const cfg = template
      .replaceAll('${EDGE_DATA_DIR}', edgeDir)
      .replaceAll('${CLOUD_URL}', `http://127.0.0.1:${cloudPort}`)
      .replaceAll('${EDGE_STATUS_PORT}', '0')
      .replaceAll('${RIG1_PORT}', String(rigPort))
      .replace(/\n {2}- id: flow-rig-02[\s\S]*$/, '\n')
      .replace('intervalMs: 500', 'intervalMs: 100')
      .replace('everyMs: 1000', 'everyMs: 100')
      .replace('quotaMb: 256', `quotaMb: ${over.quotaMb ?? 256}`)
      .replace('batchSize: 500', 'batchSize: 50\n  retry: { initialMs: 100, maxMs: 1000 }');
    writeFileSync(configFile, cfg);
  };
  let rigPort = 0;

  const startCloud = async () => {
    cloud = await startProcess(
      'cloud/src/cli.ts',
      ['serve', '--port', String(cloudPort), '--data-dir', cloudDir],
      (l) => l.includes('"event":"listening"'),
    );
    cloudPort = (JSON.parse((cloud as Proc & { readyLine: string }).readyLine) as { port: number }).port;
  };
  const startEdge = async () => {
    edge = await startProcess('edge/src/cli.ts', ['run', '--config', configFile], (l) =>
      l.includes('"event":"running"'),
    );
  };
  const status = async (): Promise<any> => {
    const url = (JSON.parse(readFileSync(path.join(edgeDir, 'status.json'), 'utf8')) as { url: string }).url;
    return (await fetch(`${url}/status`)).json();
  };
  const api = async (p: string): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${cloudPort}/api/v1${p}`, {
      headers: { authorization: `Bearer ${apiToken}` },
    });
    if (res.status !== 200) throw new Error(`${p}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const allRecords = async (): Promise<any[]> => {
    const out: any[] = [];
    let after: string | null = null;
    do {
      const page: any = await api(
        `/records?edge=${edgeId}&limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`,
      );
      out.push(...page.items);
      after = page.next;
    } while (after);
    return out;
  };
  /** Waits until the edge has caught up with the cloud (the rig never stops, so "caught up" is a few records). */
  const drained = () =>
    waitFor(
      async () => {
        const s = await status();
        const e = await api(`/edges/${edgeId}`);
        // The rig keeps producing, so "caught up" means at most a couple of batches in flight.
        return s.buffer.unsent <= 20 && e.log.size >= s.buffer.acked && s.buffer.size > 0 ? s : undefined;
      },
      45_000,
      'the edge to drain into the cloud',
    );

  beforeAll(async () => {
    rig = await startProcess(
      'firmware-sim/src/cli.ts',
      [
        'flow-rig',
        '--port',
        '0',
        '--asset',
        'RIG-01',
        '--test-seconds',
        '1',
        '--idle-seconds',
        '0.2',
        '--seed',
        '11',
      ],
      (l) => l.includes('"event":"listening"'),
    );
    rigPort = (JSON.parse((rig as Proc & { readyLine: string }).readyLine) as { port: number }).port;
    cloudPort = 0;
    await startCloud();
    const seed = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', cloudDir]);
    const tokens = JSON.parse(seed.stdout) as { apiToken: string; enrollmentToken: string };
    apiToken = tokens.apiToken;
    writeConfig();
    const r = runCli('edge/src/cli.ts', [
      'enroll',
      '--config',
      configFile,
      '--cloud',
      `http://127.0.0.1:${cloudPort}`,
      '--token',
      tokens.enrollmentToken,
    ]);
    expect(r.status, r.stderr).toBe(0);
    edgeId = (JSON.parse(readFileSync(path.join(edgeDir, 'identity.json'), 'utf8')) as { edgeId: string })
      .edgeId;
    await startEdge();
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    await cloud?.stop();
    await rig?.stop();
  });

  it('loses and duplicates nothing when the edge is killed with SIGKILL again and again', async () => {
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1200 + Math.random() * 1500));
      await edge!.stop('SIGKILL');
      await startEdge();
    }
    await new Promise((r) => setTimeout(r, 1500));
    const s = await drained();
    // The edge keeps producing: the cloud holds at least what was drained, gap-free and once each.
    const records = await allRecords();
    expect(records.length).toBeGreaterThanOrEqual(s.buffer.acked);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: records.length }, (_, i) => i + 1));
    // Each rig result became exactly one inspection record, restarts notwithstanding.
    const results = records.filter((r) => r.record.kind === 'inspection').map((r) => r.record.source.address);
    expect(results.length).toBeGreaterThan(2);
    expect(new Set(results).size).toBe(results.length);
    // Every record is provably in the edge's signed log.
    const key = publicKeyFromPrivatePem(readFileSync(path.join(edgeDir, 'edge-key.pem'), 'utf8'));
    for (let from = 1; from <= records.length; from += 500) {
      const seqs = Array.from({ length: Math.min(500, records.length - from + 1) }, (_, i) => from + i);
      const bundle = await api(`/edges/${edgeId}/evidence?seq=${seqs.join(',')}`);
      expect(verifyEvidence(bundle, { trustedVerifierKey: formatVerifierKey(edgeId, key) })).toEqual({
        ok: true,
        verified: seqs.length,
      });
    }
  }, 90_000);

  it('keeps collecting while the cloud is down and catches up when it is back', async () => {
    await cloud!.stop('SIGKILL');
    const before = (await status()).buffer.size;
    await waitFor(
      async () => ((await status()).buffer.unsent > 40 ? true : undefined),
      20_000,
      'a backlog to build up',
    );
    const during = await status();
    expect(during.forwarder.consecutiveFailures).toBeGreaterThan(0);
    expect(during.sources[0].up).toBe(true);
    await startCloud();
    const s = await drained();
    expect(s.buffer.size).toBeGreaterThan(before + 40);
    expect((await status()).forwarder.consecutiveFailures).toBe(0);
    const records = await allRecords();
    expect(records.length).toBeGreaterThanOrEqual(s.buffer.acked);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: records.length }, (_, i) => i + 1));
    expect(new Set(records.map((r) => r.record.id)).size).toBe(records.length);
  }, 90_000);

  it('down-samples telemetry past the quota, keeps every inspection, and records both facts', async () => {
    // A config change (a tiny quota) restarts the agent; the buffer and its records stay.
    const sizeBefore = (await status()).buffer.size;
    await edge!.stop();
    writeConfig({ quotaMb: 0.03 });
    await startEdge();
    expect((await status()).buffer.size).toBeGreaterThanOrEqual(sizeBefore);
    await cloud!.stop('SIGKILL');
    await waitFor(
      async () => ((await status()).buffer.telemetryKeepOneIn > 1 ? true : undefined),
      30_000,
      'down-sampling',
    );
    await new Promise((r) => setTimeout(r, 3000));
    const over = await status();
    expect(over.buffer.telemetryDropped).toBeGreaterThan(0);
    // Killed while down-sampling: the counts are kept with the buffer's state, so none is lost
    // and the level in force carries on (the drops counted above are committed well within 1 s).
    await new Promise((r) => setTimeout(r, 1000));
    await edge!.stop('SIGKILL');
    await startEdge();
    const restarted = await status();
    expect(restarted.buffer.telemetryDropped).toBeGreaterThanOrEqual(over.buffer.telemetryDropped);
    expect(restarted.buffer.telemetryKeepOneIn).toBeGreaterThan(1);
    await waitFor(
      async () =>
        (await status()).buffer.telemetryDropped > restarted.buffer.telemetryDropped ? true : undefined,
      20_000,
      'down-sampling to go on after the restart',
    );
    await startCloud();
    await drained();
    await waitFor(
      async () => ((await status()).buffer.telemetryKeepOneIn === 1 ? true : undefined),
      20_000,
      'restore',
    );
    // The restore event is written just after the switch: wait until the cloud has it.
    const records = await waitFor(
      async () => {
        const all = await allRecords();
        return all.some((r) => r.record.kind === 'event' && r.record.body.code === 'TELEMETRY_RESTORED')
          ? all
          : undefined;
      },
      30_000,
      'the TELEMETRY_RESTORED event in the cloud',
    );
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: records.length }, (_, i) => i + 1));
    const events = records.filter((r) => r.record.kind === 'event').map((r) => r.record);
    const down = events.find((e) => e.body.code === 'TELEMETRY_DOWNSAMPLED');
    const up = events.find((e) => e.body.code === 'TELEMETRY_RESTORED');
    expect(down).toBeDefined();
    expect(up).toBeDefined();
    expect(down.body.details.keepOneIn).toBeGreaterThan(1);
    // The restore event counts every drop of the episode, across level changes and the kill -9:
    // the same as the edge's durable total (nothing was dropped before), and the sum of the
    // per-level counts of the events in between.
    const finalDropped = (await status()).buffer.telemetryDropped;
    expect(finalDropped).toBeGreaterThan(restarted.buffer.telemetryDropped);
    expect(up.body.details.telemetryDroppedWhileDownsampled).toBe(finalDropped);
    expect(up.body.details.telemetryDroppedTotal).toBe(finalDropped);
    expect(up.body.message).toContain(`(${finalDropped} telemetry records were dropped while down-sampled)`);
    const levels = events.filter(
      (e) =>
        (e.body.code === 'TELEMETRY_DOWNSAMPLED' || e.body.code === 'TELEMETRY_RESTORED') &&
        e.body.details.previousKeepOneIn > 1,
    );
    expect(levels.reduce((n, e) => n + e.body.details.telemetryDroppedSincePreviousChange, 0)).toBe(
      finalDropped,
    );
    // While thinned, no inspection result was lost: the rig's result numbers run without a gap
    // (before the kill and after the restart; results the rig completed while the edge was down
    // are not this test's subject).
    const resultNo = (r: any) => Number(String(r.record.source.address).split('=')[1]);
    const inspections = records.filter(
      (r) => r.record.kind === 'inspection' && r.seq > down.seq && r.seq < up.seq,
    );
    const runs = [
      inspections.filter((r) => r.seq <= restarted.buffer.size).map(resultNo),
      inspections.filter((r) => r.seq > restarted.buffer.size).map(resultNo),
    ];
    expect(runs[1]!.length).toBeGreaterThan(1);
    for (const during of runs)
      for (let i = 1; i < during.length; i++) expect(during[i]).toBe(during[i - 1]! + 1);
  }, 120_000);
});
