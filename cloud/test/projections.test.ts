import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/platform/config.js';
import { Witness } from '../src/platform/witness.js';
import { openStore, type Store } from '../src/server.js';
import { IngestService, type Projection, type StoredBatch } from '../src/records/index.js';
import { EnrollmentService } from '../src/tenancy/index.js';
import { wholeTenant } from '../src/access/index.js';
import { TestEdge } from './helpers/edge.js';
import { BACKENDS, runAsOwner, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * The list of projections after a stored batch (records/projection.ts): each one's step inside
 * the batch's transaction in the list's order, then each one's after-commit step in order; one
 * failing inside the transaction leaves nothing of the batch stored.
 */
describe.each(BACKENDS)('projections after a batch on %s', (backend) => {
  let storage: TestStorage;
  let store: Store;
  let witness: Witness;
  const logger = pino({ level: 'silent' });

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    witness = Witness.load(storage.dataDir, 'test-witness');
  });

  afterAll(async () => {
    await store?.db.close();
    await storage?.cleanup();
  });

  async function enrolledEdge(name: string): Promise<TestEdge> {
    const { token } = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 60_000);
    const edge = TestEdge.unenrolled('', '');
    const enrolled = await new EnrollmentService(store.db, store.tenancy, store.security, witness).enroll(
      { token, publicKey: edge.publicKey, name },
      '127.0.0.1',
    );
    edge.id = enrolled.edgeId;
    return edge;
  }

  function ingestWith(projections: Projection[]): IngestService {
    return new IngestService(
      store.db,
      store.tenancy,
      store.records,
      store.security,
      witness,
      logger,
      projections,
    );
  }

  const storedOf = async (edgeId: string) =>
    (await runAsOwner(storage, 'SELECT seq FROM records WHERE edge_id = ? ORDER BY seq', [edgeId])).map((r) =>
      Number((r as { seq: number | string }).seq),
    );

  it('runs each step inside the transaction in the list’s order, then each after-commit step once committed', async () => {
    const edge = await enrolledEdge('ordered');
    const at = '2026-12-07T08:00:00.000Z';
    const records = [edge.usage('RIG-1', at, 'start'), edge.telemetry('RIG-1', at, { pressure: 12.5 })];
    const calls: string[] = [];
    const seen: StoredBatch[] = [];
    let logSizeAfterCommit: Promise<number | undefined> | undefined;
    const ingest = ingestWith([
      {
        name: 'first',
        inTransaction: async (b) => {
          // Inside the batch's transaction: its records are there already.
          calls.push(
            `first:in:${(await store.records.leafHashes(wholeTenant(b.tenantId), b.edgeId, [1, 2])).size}`,
          );
          seen.push(b);
        },
      },
      {
        name: 'second',
        inTransaction: async () => {
          await Promise.resolve();
          calls.push('second:in');
        },
        afterCommit: (b) => {
          calls.push('second:after');
          seen.push(b);
          // Read from outside the transaction: it has committed.
          logSizeAfterCommit = store.tenancy.edgeById(b.edgeId).then((e) => e?.log_size);
        },
      },
      {
        name: 'broken after commit',
        afterCommit: () => {
          calls.push('broken:after');
          throw new Error('a failing after-commit step is logged, the next one still runs');
        },
      },
      { name: 'last', afterCommit: () => calls.push('last:after') },
    ]);

    // Notes when the outermost transaction has committed (the ingest's; the steps' own join it).
    const transaction = store.db.transaction.bind(store.db);
    let depth = 0;
    store.db.transaction = async <T>(fn: () => Promise<T>): Promise<T> => {
      depth += 1;
      try {
        return await transaction(fn);
      } finally {
        depth -= 1;
        if (depth === 0) calls.push('committed');
      }
    };
    let result;
    try {
      result = await ingest.ingest(edge.sign(records).batch, '127.0.0.1');
    } finally {
      store.db.transaction = transaction;
    }

    expect(result).toMatchObject({ ackedSeq: 2, accepted: 2, duplicates: 0 });
    expect(calls).toEqual([
      'first:in:2',
      'second:in',
      'committed',
      'second:after',
      'broken:after',
      'last:after',
    ]);
    expect(await logSizeAfterCommit).toBe(2);
    for (const b of seen) {
      expect(b).toMatchObject({ tenantId: 'acme', edgeId: edge.id, siteId: 'plant-1' });
      expect(b.records.map((r) => [r.seq, r.kind, r.equipment])).toEqual([
        [1, 'usage', 'RIG-1'],
        [2, 'telemetry', 'RIG-1'],
      ]);
    }
    expect(await storedOf(edge.id)).toEqual([1, 2]);
  });

  it('stores nothing of a batch when a step inside its transaction throws, and the edge’s retry is stored', async () => {
    const edge = await enrolledEdge('rolled-back');
    const at = '2026-12-07T09:00:00.000Z';
    const batch = edge.sign([edge.usage('RIG-2', at, 'start'), edge.usage('RIG-2', at, 'stop')]).batch;
    const calls: string[] = [];
    const failing = ingestWith([
      {
        name: 'writes',
        // Its own write rolls back with the batch.
        inTransaction: async (b) => {
          calls.push('writes:in');
          await store.tenancy.createSite(b.tenantId, 'written-in-transaction', 'Gone');
        },
        afterCommit: () => calls.push('writes:after'),
      },
      {
        name: 'fails',
        inTransaction: () => {
          calls.push('fails:in');
          return Promise.reject(new Error('projection failed'));
        },
      },
      {
        name: 'never',
        inTransaction: () => {
          calls.push('never:in');
          return Promise.resolve();
        },
      },
    ]);

    await expect(failing.ingest(batch, '127.0.0.1')).rejects.toThrow('projection failed');

    expect(calls).toEqual(['writes:in', 'fails:in']);
    expect(await storedOf(edge.id)).toEqual([]);
    const row = await store.tenancy.edgeById(edge.id);
    expect(row?.log_size).toBe(0);
    expect(row?.log_root).toBeNull();
    expect(await store.records.latestCheckpoint(wholeTenant('acme'), edge.id)).toBeUndefined();
    expect(
      await runAsOwner(
        storage,
        `SELECT id FROM sites WHERE tenant_id = 'acme' AND id = 'written-in-transaction'`,
      ),
    ).toEqual([]);

    // The edge sends the same batch again; this time every projection succeeds.
    const retried = await ingestWith([]).ingest(batch, '127.0.0.1');
    expect(retried).toMatchObject({ ackedSeq: 2, accepted: 2 });
    expect(await storedOf(edge.id)).toEqual([1, 2]);
  });

  it('stores a batch’s traceability, gauge and position rows whole when they exceed one chunk of each', async () => {
    const edge = await enrolledEdge('many-rows');
    const at = (i: number) => new Date(Date.parse('2026-12-07T10:00:00.000Z') + i * 1000).toISOString();
    // 450 usage records (traceability rows: 200 per chunk), 900 gauge uses (300 per chunk) and
    // 450 positions (200 per chunk): one statement on PostgreSQL, chunks on SQLite.
    const records = Array.from({ length: 450 }, (_, i) => edge.usage(`RIG-${i % 7}`, at(i), 'cycle'));
    const ingest = ingestWith([
      {
        name: 'index',
        inTransaction: (b) =>
          store.inspections.insert(
            b.tenantId,
            b.records.map((r) => ({
              edgeId: b.edgeId,
              seq: r.seq,
              kind: 'usage' as const,
              siteId: b.siteId,
              equipment: r.equipment,
              observedAt: r.observedAt,
              partSerial: `P-${r.seq}`,
              workOrder: null,
              result: null,
              cycles: r.seq,
            })),
            b.records.flatMap((r) =>
              ['G-A', 'G-B'].map((gauge) => ({
                gauge,
                observedAt: r.observedAt,
                edgeId: b.edgeId,
                seq: r.seq,
              })),
            ),
            b.records.map((r) => ({
              edgeId: b.edgeId,
              seq: r.seq,
              position: `pos-${r.seq % 3}`,
              kind: 'telemetry' as const,
              equipment: r.equipment,
              observedAt: r.observedAt,
            })),
          ),
      },
    ]);
    expect(await ingest.ingest(edge.sign(records).batch, '127.0.0.1')).toMatchObject({ accepted: 450 });

    const rows = (sql: string) => runAsOwner(storage, sql, [edge.id]) as Promise<Record<string, unknown>[]>;
    const traceable = await rows(
      'SELECT seq, equipment, part_serial, cycles FROM traceable_records WHERE edge_id = ? ORDER BY seq',
    );
    expect(traceable.map((r) => [Number(r.seq), r.equipment, r.part_serial, Number(r.cycles)])).toEqual(
      records.map((r) => [r.seq, r.equipment, `P-${r.seq}`, r.seq]),
    );
    const gauges = await rows('SELECT seq, gauge FROM record_gauges WHERE edge_id = ? ORDER BY seq, gauge');
    expect(gauges.map((r) => [Number(r.seq), r.gauge])).toEqual(
      records.flatMap((r) => [
        [r.seq, 'G-A'],
        [r.seq, 'G-B'],
      ]),
    );
    const positions = await rows('SELECT seq, position FROM record_positions WHERE edge_id = ? ORDER BY seq');
    expect(positions.map((r) => [Number(r.seq), r.position])).toEqual(
      records.map((r) => [r.seq, `pos-${r.seq % 3}`]),
    );
  });
});
