import { closeSync, mkdtempSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Proc } from '@rigtrace/protocols/testing';
import { EdgeLog } from '../src/buffer/edge-log.js';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { edgeStatus, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * A buffer file whose tail is damaged: the agent still starts, keeps the intact records, says so
 * in /status and writes an EDGE_BUFFER_RECOVERED event record into its log.
 */
describe('edge agent on a damaged buffer', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-recover-'));
  const dataDir = path.join(dir, 'edge');
  let edge: Proc | undefined;
  afterAll(async () => {
    await edge?.stop();
  });

  it('starts, reports the damage and keeps the intact records', async () => {
    const keys = writeIdentity(dataDir);
    const log = await EdgeLog.open(dataDir, { edgeId: 'edge-test', privateKeyPem: keys.privateKeyPem });
    const at = new Date().toISOString();
    for (let i = 0; i < 40; i++) {
      await log.append(
        Array.from({ length: 50 }, (_, j) => ({
          kind: 'event' as const,
          equipment: 'RIG-01',
          observedAt: at,
          receivedAt: at,
          source: { endpoint: 'buffer', protocol: 'edge' as const },
          body: { code: 'TEST', message: `record ${i * 50 + j}`, severity: 'info' as const },
        })),
      );
    }
    await log.close();
    const file = path.join(dataDir, 'buffer.sqlite');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(32 * 1024, 0x5a), 0, 32 * 1024, statSync(file).size - 32 * 1024);
    closeSync(fd);

    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
    });
    const st = await edgeStatus(dataDir);
    expect(st.buffer.recovered).toMatchObject({
      lostRecords: expect.any(Number),
      keptUpToSeq: expect.any(Number),
    });
    expect(st.buffer.recovered.keptUpToSeq + st.buffer.recovered.lostRecords).toBe(2000);
    expect(st.buffer.recovered.keptUpToSeq).toBeGreaterThan(500);
    expect(readdirSync(dataDir).some((f) => f.startsWith('buffer.corrupt-'))).toBe(true);
    await edge.stop();
    edge = undefined;

    const db = await SqliteConnection.open(file);
    const rows = (await db.all<{ json: string }>('SELECT json FROM records ORDER BY seq')).map((r) =>
      JSON.parse(r.json),
    );
    await db.close();
    const event = rows.find((r) => r.body.code === 'EDGE_BUFFER_RECOVERED');
    expect(event, 'an EDGE_BUFFER_RECOVERED event record').toBeDefined();
    expect(event.seq).toBe(st.buffer.recovered.keptUpToSeq + 1);
    expect(event.body.details.lostRecords).toBe(st.buffer.recovered.lostRecords);
    expect(rows.filter((r) => r.body.code === 'TEST')).toHaveLength(st.buffer.recovered.keptUpToSeq);
  }, 60_000);
});
