import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatVerifierKey,
  fromBase64,
  publicKeyFromPrivatePem,
  verifyCosignature,
  verifyEvidence,
} from '@rigtrace/protocols';
import { repoRoot, runCli, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';

/**
 * The first end-to-end path, every part its own process: a simulated flow rig on Modbus TCP,
 * the cloud on SQLite, and an edge enrolled to it. Records must arrive in the cloud and each
 * one's inclusion in the edge's signed, cloud-countersigned checkpoint must verify.
 */
describe('flow rig → edge → cloud', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'rt-e2e-'));
  const procs: Proc[] = [];
  let cloudUrl = '';
  let apiToken = '';
  let edgeId = '';

  beforeAll(async () => {
    const rig = await startProcess(
      'firmware-sim/src/cli.ts',
      ['flow-rig', '--port', '0', '--asset', 'RIG-01', '--test-seconds', '2', '--seed', '7'],
      (l) => l.includes('"event":"listening"'),
    );
    procs.push(rig);
    const rigPort = (JSON.parse(rig.readyLine) as { port: number }).port;

    const cloudDir = path.join(work, 'cloud');
    const cloud = await startProcess(
      'cloud/src/cli.ts',
      ['serve', '--port', '0', '--data-dir', cloudDir],
      (l) => l.includes('"event":"listening"'),
    );
    procs.push(cloud);
    cloudUrl = (JSON.parse(cloud.readyLine) as { url: string }).url;

    const seed = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', cloudDir]);
    expect(seed.status, seed.stderr).toBe(0);
    const tokens = JSON.parse(seed.stdout) as { apiToken: string; enrollmentToken: string };
    apiToken = tokens.apiToken;

    const template = readFileSync(path.join(repoRoot, 'deploy/demo/edge.yaml.template'), 'utf8');
    const config = template
      .replaceAll('${EDGE_DATA_DIR}', path.join(work, 'edge'))
      .replaceAll('${CLOUD_URL}', cloudUrl)
      .replaceAll('${EDGE_STATUS_PORT}', '0')
      .replaceAll('${RIG1_PORT}', String(rigPort))
      .replace(/\n {2}- id: flow-rig-02[\s\S]*$/, '\n'); // one rig is enough here
    const configFile = path.join(work, 'edge.yaml');
    writeFileSync(configFile, config);
    expect(runCli('edge/src/cli.ts', ['check-config', configFile]).status).toBe(0);

    const enrolled = runCli('edge/src/cli.ts', [
      'enroll',
      '--config',
      configFile,
      '--cloud',
      cloudUrl,
      '--token',
      tokens.enrollmentToken,
    ]);
    expect(enrolled.status, enrolled.stderr).toBe(0);
    edgeId = (
      JSON.parse(readFileSync(path.join(work, 'edge', 'identity.json'), 'utf8')) as { edgeId: string }
    ).edgeId;

    // The token is one-time: a second edge cannot use it.
    const second = path.join(work, 'edge-2.yaml');
    writeFileSync(second, config.replaceAll(path.join(work, 'edge'), path.join(work, 'edge-2')));
    const again = runCli('edge/src/cli.ts', [
      'enroll',
      '--config',
      second,
      '--cloud',
      cloudUrl,
      '--token',
      tokens.enrollmentToken,
    ]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('refused the enrollment (403)');

    procs.push(
      await startProcess('edge/src/cli.ts', ['run', '--config', configFile], (l) =>
        l.includes('"event":"running"'),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
  });

  const api = async (p: string) => {
    const res = await fetch(`${cloudUrl}/api/v1${p}`, { headers: { authorization: `Bearer ${apiToken}` } });
    expect(res.status, await res.clone().text()).toBe(200);
    return res.json() as Promise<any>;
  };

  it('delivers telemetry and inspection records, each verifiable against the signed checkpoint', async () => {
    const inspections = await waitFor(
      async () => {
        const r = await api('/records?kind=inspection&limit=10');
        return r.items.length >= 2 ? r.items : undefined;
      },
      30_000,
      'two inspection results in the cloud',
    );
    const insp = inspections[0].record;
    expect(insp.edge).toBe(edgeId);
    expect(insp.equipment).toBe('RIG-01');
    expect(insp.body.partSerial).toMatch(/^INJ\d{8}$/);
    expect(insp.body.characteristics).toHaveLength(8);
    expect(['pass', 'fail']).toContain(insp.body.result);
    for (const c of insp.body.characteristics) {
      const within =
        (c.lsl === undefined || c.measured >= c.lsl) && (c.usl === undefined || c.measured <= c.usl);
      expect(c.result).toBe(within ? 'pass' : 'fail');
    }

    // The rig's state changes became usage records (a run started, with who and what).
    const usage = await api('/records?kind=usage&limit=5');
    expect(usage.items[0]?.record.body).toMatchObject({
      event: 'start',
      operator: expect.any(String),
      workOrder: expect.any(String),
    });

    const telemetry = await api('/records?kind=telemetry&limit=5');
    expect(telemetry.items.length).toBeGreaterThan(0);
    const names = telemetry.items[0].record.body.points.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['railPressure', 'deliveredQty', 'oilTemp']));

    // Every stored record, proven against the latest accepted checkpoint.
    const edge = await api(`/edges/${edgeId}`);
    const size = edge.log.size as number;
    expect(size).toBeGreaterThan(2);
    const seqs = Array.from({ length: size }, (_, i) => i + 1);
    const bundle = await api(`/edges/${edgeId}/evidence?seq=${seqs.join(',')}`);
    expect(bundle.records).toHaveLength(size);
    // Tied to the key the edge holds, and countersigned by the cloud's witness.
    const edgeKey = publicKeyFromPrivatePem(readFileSync(path.join(work, 'edge', 'edge-key.pem'), 'utf8'));
    const witness = await fetch(`${cloudUrl}/api/v1/witness`).then(
      (r) => r.json() as Promise<{ name: string; publicKey: string }>,
    );
    const trust = {
      trustedVerifierKey: formatVerifierKey(edgeId, edgeKey),
      witness: { name: witness.name, publicKey: fromBase64(witness.publicKey) },
    };
    expect(verifyEvidence(bundle, trust)).toEqual({ ok: true, verified: size });
    expect(verifyCosignature(bundle.checkpoint, witness.name, fromBase64(witness.publicKey)).ok).toBe(true);

    // A tampered record in the bundle is named by the verifier.
    const tampered = structuredClone(bundle);
    tampered.records[1].record.observedAt = '2020-01-01T00:00:00.000Z';
    const bad = verifyEvidence(tampered, trust);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems[0]?.seq).toBe(2);
  }, 60_000);

  it('keeps records scoped to the tenant and answers bad input with problem+json', async () => {
    const noAuth = await fetch(`${cloudUrl}/api/v1/records`);
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers.get('content-type')).toContain('application/problem+json');

    const malformed = await fetch(`${cloudUrl}/api/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"v":1,"edge":',
    });
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await malformed.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({ status: 400, code: 'CLOUD_MALFORMED_JSON' });
    expect(JSON.stringify(problem)).not.toMatch(/at .*\.(js|ts):\d+/);

    const badQuery = await fetch(`${cloudUrl}/api/v1/records?limit=abc`, {
      headers: { authorization: `Bearer ${apiToken}` },
    });
    expect(badQuery.status).toBe(400);
  });
});
