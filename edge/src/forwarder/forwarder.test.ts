import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@rigtrace/protocols';
import { EdgeLog, type RecordDraft } from '../buffer/edge-log.js';
import { Forwarder } from './forwarder.js';

/**
 * The forwarder against a real HTTP server playing a cloud that is away or busy, with a real
 * buffer (SQLite) that keeps receiving records: the documented backoff is kept while records
 * arrive, 429/503 with Retry-After are honoured, and stop() does not wait for a hanging request.
 */

const keys = generateKeyPair();
const identity = { edgeId: 'edge-fwd-1', privateKeyPem: keys.privateKeyPem };
const draft = (i: number): RecordDraft => {
  const t = new Date(Date.UTC(2026, 10, 23, 6, 0, 0, i)).toISOString();
  return {
    kind: 'telemetry',
    equipment: 'RIG-01',
    observedAt: t,
    receivedAt: t,
    source: { protocol: 'modbus', endpoint: 'modbus-tcp://127.0.0.1:15020' },
    body: { points: [{ name: 'p', value: i, unit: 'bar', quality: 'good' }] },
  };
};

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function cloud(answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void) {
  const hits: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push(performance.now());
      answer(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

async function setup(url: string, retry = { initialMs: 500, maxMs: 60_000 }) {
  const log = await EdgeLog.open(mkdtempSync(path.join(os.tmpdir(), 'rt-fwd-')), identity, {
    commitIntervalMs: 5,
  });
  cleanup.push(() => log.close());
  await log.append([draft(0)]);
  const fwd = new Forwarder(
    log,
    { cloudUrl: url, batchSize: 100, timeoutMs: 30_000, retry, maxRecordsPerSecond: 10_000 },
    pino({ level: 'silent' }),
  );
  return { log, fwd };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Forwarder', () => {
  it('keeps its backoff while records keep arriving during an outage', async () => {
    const c = await cloud((_req, res) => {
      res.statusCode = 503;
      res.end('{"detail":"down"}');
    });
    const { log, fwd } = await setup(c.url);
    fwd.start();
    cleanup.push(() => fwd.stop());
    // a record every 50 ms for 4 s, as a rig polled at 20 Hz would
    for (let i = 1; i <= 80; i++) {
      void log.append([draft(i)]);
      await sleep(50);
    }
    // 500 ms doubling (full jitter): a handful of attempts in 4 s, not one per append
    expect(c.hits.length).toBeGreaterThanOrEqual(2);
    expect(c.hits.length).toBeLessThanOrEqual(10);
  });

  it('honours Retry-After on 429 and 503', async () => {
    for (const status of [429, 503]) {
      let n = 0;
      const c = await cloud((_req, res) => {
        if (n++ === 0) {
          res.statusCode = status;
          res.setHeader('retry-after', '2');
          res.end('{"detail":"slow down"}');
        } else {
          res.setHeader('content-type', 'application/json');
          res.end('{"ackedSeq":1}');
        }
      });
      // a tiny backoff of its own: only Retry-After can make it wait 2 s
      const { log, fwd } = await setup(c.url, { initialMs: 10, maxMs: 20 });
      fwd.start();
      cleanup.push(() => fwd.stop());
      for (let i = 1; i <= 10; i++) {
        void log.append([draft(i)]);
        await sleep(100);
      }
      await sleep(1500);
      // the second attempt only after the 2 s the cloud asked for, then acknowledged
      expect(c.hits.length, String(status)).toBeGreaterThanOrEqual(2);
      expect(c.hits[1]! - c.hits[0]!, String(status)).toBeGreaterThanOrEqual(1950);
      expect(log.ackedSeq, String(status)).toBeGreaterThanOrEqual(1);
      expect(fwd.stats().lastError).toMatch(new RegExp(`${status}`, 'u'));
    }
  }, 15_000);

  it('sends the next batch as soon as the cloud acknowledges one, while the acknowledgement is being written', async () => {
    const batches: number[][] = [];
    let answerFirst: (() => void) | undefined;
    const c = await cloud((_req, res, body) => {
      // Each request's seqs, read from its body.
      batches.push((JSON.parse(body) as { records: { seq: number }[] }).records.map((r) => r.seq));
      res.setHeader('content-type', 'application/json');
      const last = batches.at(-1)!.at(-1)!;
      // The first batch is held until a record has been appended while it is in flight.
      if (batches.length === 1) answerFirst = () => res.end(JSON.stringify({ ackedSeq: last }));
      else res.end(JSON.stringify({ ackedSeq: last }));
    });
    const { log, fwd } = await setup(c.url);
    // The log's acknowledgements are held (a slow disk) until released.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const acknowledge = log.acknowledge.bind(log);
    const acks: number[] = [];
    log.acknowledge = async (seq: number) => {
      acks.push(seq);
      await held;
      return acknowledge(seq);
    };
    fwd.start();
    cleanup.push(() => fwd.stop());
    cleanup.push(() => Promise.resolve(release()));
    while (!answerFirst) await sleep(5);
    await log.append([draft(1)]);
    answerFirst();
    // The record appended during the first batch goes out while the first acknowledgement is
    // still being written, not after it.
    for (let i = 0; i < 500 && batches.length < 2; i++) await sleep(10);
    expect(batches).toEqual([[1], [2]]);
    expect(log.ackedSeq).toBe(0);
    release();
    for (let i = 0; i < 500 && log.ackedSeq < 2; i++) await sleep(10);
    expect(log.ackedSeq).toBe(2);
    expect(acks).toEqual([1, 2]);
    expect(fwd.stats()).toMatchObject({ batchesSent: 2, recordsAcked: 2, lastAckedSeq: 2 });
    expect(batches).toEqual([[1], [2]]);
  });

  it('sends a batch again when its acknowledgement could not be written', async () => {
    const batches: number[][] = [];
    const c = await cloud((_req, res, body) => {
      batches.push((JSON.parse(body) as { records: { seq: number }[] }).records.map((r) => r.seq));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ackedSeq: batches.at(-1)!.at(-1)! }));
    });
    const { log, fwd } = await setup(c.url, { initialMs: 10, maxMs: 20 });
    const acknowledge = log.acknowledge.bind(log);
    let failures = 0;
    log.acknowledge = (seq: number) =>
      failures++ === 0 ? Promise.reject(new Error('disk I/O error')) : acknowledge(seq);
    fwd.start();
    cleanup.push(() => fwd.stop());
    for (let i = 0; i < 500 && log.ackedSeq < 1; i++) await sleep(10);
    expect(log.ackedSeq).toBe(1);
    expect(fwd.stats()).toMatchObject({ failures: 1, lastError: 'disk I/O error', lastAckedSeq: 1 });
    // The record went out again after the failure, and the cloud's answer to it was written.
    expect(batches).toEqual([[1], [1]]);
  });

  it('stop() returns at once while a request hangs', async () => {
    const c = await cloud(() => undefined); // never answers
    const { fwd } = await setup(c.url);
    fwd.start();
    while (c.hits.length === 0) await sleep(20);
    const t0 = performance.now();
    await fwd.stop();
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
