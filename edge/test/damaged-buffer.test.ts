import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { startFlowRigProcess } from './helpers/edge-fixture.js';
import { SqliteConnection } from '../src/buffer/sqlite.js';

/**
 * A record in the edge's buffer file is changed on disk after it was signed. With a real flow rig,
 * a real cloud and the real SQLite file: the edge names the record (seq, id, source) in its log,
 * /status and /metrics, sends an EDGE_RECORD_DAMAGED event in its place, and everything else
 * reaches the cloud; nothing retries for ever.
 */
describe('a damaged row in the edge buffer', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'rt-dmg-e2e-'));
  const cloudDir = path.join(work, 'cloud');
  const edgeDir = path.join(work, 'edge');
  const configFile = path.join(work, 'edge.yaml');
  let rig: Proc | null = null;
  let cloud: Proc | null = null;
  let edge: Proc | null = null;
  let cloudPort = 0;
  let rigPort = 0;
  let apiToken = '';
  let edgeId = '';

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
  const statusUrl = () =>
    (JSON.parse(readFileSync(path.join(edgeDir, 'status.json'), 'utf8')) as { url: string }).url;
  const status = async (): Promise<any> => (await fetch(`${statusUrl()}/status`)).json();
  const api = async (p: string): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${cloudPort}/api/v1${p}`, {
      headers: { authorization: `Bearer ${apiToken}` },
    });
    if (res.status !== 200) throw new Error(`${p}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const writeConfig = () => {
    const template = readFileSync(
      path.join(import.meta.dirname, '../../deploy/demo/edge.yaml.template'),
      'utf8',
    );
    const cfg = template
      .replaceAll('${EDGE_DATA_DIR}', edgeDir)
      .replaceAll('${CLOUD_URL}', `http://127.0.0.1:${cloudPort}`)
      .replaceAll('${EDGE_STATUS_PORT}', '0')
      .replaceAll('${RIG1_PORT}', String(rigPort))
      .replace(/\n {2}- id: flow-rig-02[\s\S]*$/, '\n')
      .replace('intervalMs: 500', 'intervalMs: 100')
      .replace('everyMs: 1000', 'everyMs: 100')
      .replace('batchSize: 500', 'batchSize: 10\n  retry: { initialMs: 100, maxMs: 1000 }');
    writeFileSync(configFile, cfg);
  };

  beforeAll(async () => {
    ({ proc: rig, port: rigPort } = await startFlowRigProcess(
      '--asset RIG-01 --test-seconds 1 --idle-seconds 0.2'.split(' '),
    ));
    await startCloud();
    const seed = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', cloudDir]);
    apiToken = (JSON.parse(seed.stdout) as { apiToken: string }).apiToken;
    const token = (JSON.parse(seed.stdout) as { enrollmentToken: string }).enrollmentToken;
    writeConfig();
    const r = runCli('edge/src/cli.ts', [
      'enroll',
      '--config',
      configFile,
      '--cloud',
      `http://127.0.0.1:${cloudPort}`,
      '--token',
      token,
    ]);
    expect(r.status, r.stderr).toBe(0);
    edgeId = (JSON.parse(readFileSync(path.join(edgeDir, 'identity.json'), 'utf8')) as { edgeId: string })
      .edgeId;
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    await cloud?.stop();
    await rig?.stop();
  });

  it('names the record, sends an event in its place and lets the rest flow', async () => {
    // The cloud is away: records pile up unsent in the buffer.
    await cloud!.stop('SIGKILL');
    await startEdge();
    await waitFor(
      async () => ((await status()).buffer.unsent > 40 ? true : undefined),
      30_000,
      'a backlog in the buffer',
    );
    await edge!.stop();

    // One record's stored text is changed in the file (a value, as a hand edit or a disk fault would).
    const db = await SqliteConnection.open(path.join(edgeDir, 'buffer.sqlite'));
    const victim = (await db.get<{ seq: number; id: string; json: string }>(
      "SELECT seq, id, json FROM records WHERE kind = 'telemetry' AND seq > 20 ORDER BY seq LIMIT 1",
    ))!;
    const changed = victim.json.replace(/"value":(\d+)/, (_m, v: string) => `"value":${Number(v) + 1}`);
    expect(changed).not.toBe(victim.json);
    await db.run('UPDATE records SET json = ? WHERE seq = ?', [changed, victim.seq]);
    await db.close();

    // On start, before the cloud is back, the edge re-hashes its unsent records and names the damaged one.
    await startEdge();
    const early = await waitFor(
      async () => {
        const st = await status();
        return st.buffer.damaged.total > 0 ? st : undefined;
      },
      30_000,
      'the damaged record named at start',
    );
    expect(early.buffer.damaged.last).toMatchObject({ seq: victim.seq, id: victim.id });
    expect(early.buffer.acked).toBeLessThan(victim.seq);
    await startCloud();
    // The whole backlog reaches the cloud (batches of 10: the damaged one is the third or later).
    const s = await waitFor(
      async () => {
        const st = await status();
        const e = await api(`/edges/${edgeId}`);
        return st.buffer.acked > victim.seq + 10 && e.log.size >= st.buffer.acked ? st : undefined;
      },
      45_000,
      'the backlog to reach the cloud',
    );
    expect(s.forwarder.consecutiveFailures).toBe(0);
    expect(s.buffer.damaged).toMatchObject({
      total: 1,
      last: {
        seq: victim.seq,
        id: victim.id,
        kind: 'telemetry',
        source: expect.stringMatching(/^modbus modbus-tcp:\/\/127\.0\.0\.1:\d+$/),
        equipment: 'RIG-01',
      },
    });
    const metrics = await (await fetch(`${statusUrl()}/metrics`)).text();
    expect(metrics).toMatch(/^rigtrace_edge_damaged_records_total 1$/m);
    // One error line names it; the forwarder never logged a refusal.
    const named = edge!.lines.filter((l) => l.includes('"code":"EDGE_RECORD_DAMAGED"'));
    expect(named).toHaveLength(1);
    expect(JSON.parse(named[0]!)).toMatchObject({ level: 50, seq: victim.seq, id: victim.id });
    expect(edge!.lines.filter((l) => l.includes('forwarding failed') && l.includes('refused'))).toEqual([]);

    // In the cloud: the log is gap-free, and the damaged seq holds the event naming the record.
    const page = await api(`/records?edge=${edgeId}&limit=1000`);
    const seqs = (page.items as { seq: number }[]).map((r) => r.seq).sort((a, b) => a - b);
    expect(seqs.slice(0, s.buffer.acked)).toEqual(Array.from({ length: s.buffer.acked }, (_, i) => i + 1));
    const atSeq = (page.items as { seq: number; record: any }[]).find((r) => r.seq === victim.seq)!.record;
    expect(atSeq).toMatchObject({
      kind: 'event',
      equipment: 'RIG-01',
      body: {
        code: 'EDGE_RECORD_DAMAGED',
        severity: 'error',
        details: { seq: victim.seq, recordId: victim.id },
      },
    });
    const original = JSON.parse(victim.json) as { id: string };
    expect((page.items as { record: { id: string } }[]).some((r) => r.record.id === original.id)).toBe(false);
    const verify = await fetch(`http://127.0.0.1:${cloudPort}/api/v1/edges/${edgeId}/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiToken}` },
    });
    expect(((await verify.json()) as { ok: boolean }).ok).toBe(true);
  }, 120_000);
});
