import type { Batch, LogState } from './batch.js';
import { emptyLogState, openLogState, recordLeafHash } from './batch.js';
import { signCheckpoint } from './checkpoint.js';
import type { EdgeKeyPair } from './keys.js';
import { sha256 } from './merkle.js';
import { toHex } from './base64.js';
import type { RecordKind, RigRecord } from './schema.js';

/**
 * Helpers for tests in every package: fixed keys, deterministic example records and correctly signed
 * batches. Nothing here is for production use (the keys are public test vectors).
 */

/** RFC 8032 section 7.1 TEST 1 key pair. Public: d75a9801…511a. Never use outside tests. */
export const TEST_EDGE_KEY: EdgeKeyPair = Object.freeze({
  privateKeyPem:
    '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n',
  publicKey: Uint8Array.from(
    Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'),
  ),
});

/** RFC 8032 section 7.1 TEST 2 key pair, used as a witness (the cloud) in tests. */
export const TEST_WITNESS_KEY: EdgeKeyPair = Object.freeze({
  privateKeyPem:
    '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIEzNCJso/5banbbDRuwRTg9bijGfNaumJNqM9u1PuKb7\n-----END PRIVATE KEY-----\n',
  publicKey: Uint8Array.from(
    Buffer.from('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', 'hex'),
  ),
});

/** The edge id of the example batch in RECORDS.md. */
export const EXAMPLE_EDGE_ID = 'plant1-line3-edge';

const EXAMPLE_KINDS: readonly RecordKind[] = ['telemetry', 'usage', 'inspection', 'calibration', 'event'];
const EPOCH = Date.parse('2026-11-23T05:51:12.123Z');

/** A UUIDv7 for a given millisecond time with its random bits taken from `seed` (deterministic). */
export function deterministicUuidV7(ms: number, seed: Uint8Array): string {
  const t = ms.toString(16).padStart(12, '0');
  const r = toHex(sha256(seed));
  const variant = ((parseInt(r[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(0, 3)}-${variant}${r.slice(4, 7)}-${r.slice(7, 19)}`;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function exampleRecord(edge: string, seq: number, kind: RecordKind): RigRecord {
  const ms = EPOCH + (seq - 1) * 1000;
  const envelope = {
    v: 1 as const,
    id: deterministicUuidV7(ms, new TextEncoder().encode(`${edge}:${seq}`)),
    edge,
    seq,
    observedAt: new Date(ms).toISOString(),
    receivedAt: new Date(ms + 7).toISOString(),
  };
  const wobble = ((seq * 7919) % 100) / 100; // 0.00 .. 0.99, deterministic
  switch (kind) {
    case 'telemetry':
      return {
        ...envelope,
        kind,
        equipment: 'RIG-FLOW-01',
        source: {
          protocol: 'opcua',
          endpoint: 'opc.tcp://flow-rig-01.plant1.local:48400',
          address: 'ns=2;s=FlowRig01.Channels',
          status: 'Good',
        },
        body: {
          points: [
            { name: 'railPressure', value: round(1600 + wobble, 2), unit: 'bar', quality: 'good' },
            { name: 'oilTemperature', value: round(40 + wobble / 10, 3), unit: '°C', quality: 'good' },
            {
              name: 'deliveredQuantity',
              value: round(62 + wobble / 2, 3),
              unit: 'mm³/stroke',
              quality: 'good',
            },
            { name: 'leakTestActive', value: false, quality: 'good' },
            { name: 'testPoint', value: 'full-load', quality: 'uncertain' },
          ],
        },
      };
    case 'usage':
      return {
        ...envelope,
        kind,
        equipment: 'RIG-FLOW-01',
        source: { protocol: 'modbus', endpoint: 'modbus://10.20.4.11:5020/1', address: 'hr:40001' },
        body: {
          event: 'cycle',
          cycles: 1,
          operator: 'op-4471',
          workOrder: 'WO-2026-11873',
          partSerial: `INJ-0426-${String(seq).padStart(6, '0')}`,
          durationS: round(41.5 + wobble, 2),
        },
      };
    case 'inspection':
      return {
        ...envelope,
        kind,
        equipment: 'RIG-FLOW-01',
        source: {
          protocol: 'mqtt',
          endpoint: 'mqtt://edge.plant1.local:18830',
          address: 'plant1/line3/flowrig01/result',
        },
        body: {
          partSerial: `INJ-0426-${String(seq).padStart(6, '0')}`,
          workOrder: 'WO-2026-11873',
          operator: 'op-4471',
          testPlan: 'CRI-2.2 flow test rev C',
          result: 'pass',
          characteristics: [
            {
              name: 'full-load.quantity',
              nominal: 62,
              lsl: 60.14,
              usl: 63.86,
              measured: round(62.1 + wobble / 2, 3),
              unit: 'mm³/stroke',
              result: 'pass',
            },
            {
              name: 'idle.quantity',
              nominal: 4.5,
              lsl: 4.275,
              usl: 4.725,
              measured: 4.51,
              unit: 'mm³/stroke',
              result: 'pass',
            },
            {
              name: 'back-leak@800bar',
              usl: 30,
              measured: round(18.4 + wobble, 2),
              unit: 'mL/min',
              result: 'pass',
            },
            {
              name: 'coil.resistance',
              nominal: 0.35,
              lsl: 0.3,
              usl: 0.4,
              measured: 0.348,
              unit: 'Ω',
              result: 'pass',
            },
          ],
          gauges: ['FLOW-CELL-07', 'PT-RAIL-03', 'TT-OIL-02'],
          trimCode: '3F0A9C21D4E87B65',
        },
      };
    case 'calibration':
      return {
        ...envelope,
        kind,
        equipment: 'PT-RAIL-03',
        source: { protocol: 'manual', endpoint: 'portal:user/tech-jdoe' },
        body: {
          procedure: { id: 'CP-PT-001', revision: 'D' },
          technician: 'J. Doe (level 2)',
          lab: { name: 'Plant 1 metrology lab', accreditation: 'ISO/IEC 17025:2017 cert 1234.01' },
          certificate: {
            number: `CAL-2026-${String(seq).padStart(5, '0')}`,
            sha256: toHex(sha256(new TextEncoder().encode(`certificate ${seq}`))),
          },
          standards: [
            { id: 'STD-DWT-02', certificate: 'TR-55821', dueDate: '2027-03-31', uncertainty: 0.35 },
          ],
          environment: { temperatureC: 20.4, humidityPct: 41 },
          points: [
            {
              name: 'pressure@800bar',
              nominal: 800,
              unit: 'bar',
              asFound: 801.2,
              lowerTolerance: -2,
              upperTolerance: 2,
              uncertainty: 0.4,
              asFoundResult: 'pass',
            },
            {
              name: 'pressure@1600bar',
              nominal: 1600,
              unit: 'bar',
              asFound: 1603.1,
              asLeft: 1600.4,
              lowerTolerance: -4,
              upperTolerance: 4,
              uncertainty: 0.8,
              asFoundResult: 'pass',
              asLeftResult: 'pass',
            },
          ],
          adjusted: true,
          asFoundResult: 'pass',
          asLeftResult: 'pass',
          calibratedAt: new Date(ms - 3_600_000).toISOString(),
          nextDue: '2027-05-23',
          decisionRule: 'simple acceptance, ILAC-G8:09/2019 (w = 0)',
        },
      };
    case 'event':
      return {
        ...envelope,
        kind,
        equipment: 'RIG-FLOW-01',
        source: { protocol: 'edge', endpoint: 'collector/opcua/flow-rig-01' },
        body: {
          severity: 'warning',
          code: 'SOURCE_RECONNECTED',
          message: 'OPC UA session re-established; monitored items re-created',
          details: {
            downtimeS: round(12 + wobble, 2),
            itemsRecreated: 14,
            endpoint: 'opc.tcp://flow-rig-01.plant1.local:48400',
          },
        },
      };
  }
}

/**
 * Deterministic, schema-valid records seq = fromSeq .. fromSeq + count - 1 for `edge`, cycling through the
 * kinds (telemetry, usage, inspection, calibration, event) unless `kinds` is given.
 */
export function exampleRecords(
  edge: string,
  fromSeq: number,
  count: number,
  opts: { kinds?: readonly RecordKind[] } = {},
): RigRecord[] {
  const kinds = opts.kinds ?? EXAMPLE_KINDS;
  return Array.from({ length: count }, (_, i) => {
    const seq = fromSeq + i;
    return exampleRecord(edge, seq, kinds[(seq - 1) % kinds.length]!);
  });
}

export interface BuiltBatch {
  batch: Batch;
  /** The log before the batch (what the verifier should hold). */
  before: LogState;
  /** The log after the batch (what verifyBatch returns as newState). */
  state: LogState;
  /** Leaf hashes of all records in the batch, in batch order. */
  leafHashes: Uint8Array[];
}

/**
 * Makes a signed batch as the edge does: records with seq > before.size are appended to the log in the order
 * given (re-sent ones, seq <= before.size, are not), and the checkpoint (origin and key name = edge) covers
 * the resulting log.
 */
export function buildBatch(opts: {
  edge: string;
  privateKeyPem: string;
  records: readonly unknown[];
  /** The edge's log before these records (default: empty). */
  before?: LogState;
}): BuiltBatch {
  const before = opts.before ?? emptyLogState();
  const range = openLogState(before);
  const leafHashes = opts.records.map((r) => recordLeafHash(r));
  opts.records.forEach((r, i) => {
    const seq = (r as { seq?: unknown }).seq;
    if (!(typeof seq === 'number' && seq <= before.size)) range.append(leafHashes[i]!);
  });
  const root = range.root();
  const checkpoint = signCheckpoint(
    { origin: opts.edge, size: range.size, root, extensions: [] },
    opts.edge,
    opts.privateKeyPem,
  );
  return {
    batch: { v: 1, edge: opts.edge, records: [...opts.records], checkpoint },
    before,
    state: { size: range.size, root, range: range.toState() },
    leafHashes,
  };
}

/** The example batch of RECORDS.md: five records (one of each kind) of EXAMPLE_EDGE_ID, signed with TEST_EDGE_KEY. */
export function exampleBatch(): BuiltBatch {
  return buildBatch({
    edge: EXAMPLE_EDGE_ID,
    privateKeyPem: TEST_EDGE_KEY.privateKeyPem,
    records: exampleRecords(EXAMPLE_EDGE_ID, 1, 5),
  });
}
