import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import sqlite3 from 'sqlite3';
import {
  CompactRange,
  bytesEqual,
  consistencyProof,
  formatVerifierKey,
  fromBase64,
  leafHashOfText,
  parseSignedCheckpoint,
  publicKeyFromPrivatePem,
  recordLeafHash,
  verifyConsistency,
  verifyCosignature,
  verifyCheckpoint,
  verifyEvidence,
} from '@rigtrace/protocols';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

type Row = Record<string, unknown>;
type Query = (sql: string, params: unknown[]) => Promise<Row[]>;

/** A read-only SQLite connection (the cloud's or the edge's file), closed by `close`. */
async function openSqlite(file: string): Promise<{ query: Query; close: () => Promise<void> }> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const d = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => (err ? reject(err) : resolve(d)));
  });
  return {
    query: (sql, params) =>
      new Promise((resolve, reject) =>
        db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as Row[]))),
      ),
    close: () => new Promise((resolve) => db.close(() => resolve())),
  };
}

async function openCloudDb(opts: { cloudDir: string; databaseUrl?: string }) {
  if (!opts.databaseUrl) return openSqlite(path.join(opts.cloudDir, 'cloud.sqlite'));
  // As the owner: row-level security does not filter what the verifier reads.
  const c = new pg.Client({ connectionString: opts.databaseUrl });
  await c.connect();
  return {
    query: async (sql: string, params: unknown[]) => {
      let i = 0;
      return (
        await c.query(
          sql.replace(/\?/g, () => `$${++i}`),
          params,
        )
      ).rows as Row[];
    },
    close: () => c.end(),
  };
}

const bytes = (v: unknown): Uint8Array => new Uint8Array(v as Buffer);

export interface StationMessage {
  kind: string;
  equipment: string;
  observedAt: string;
  partSerial?: string;
  event?: string;
}
export const messageKey = (m: StationMessage) =>
  `${m.kind}|${m.equipment}|${m.observedAt}|${m.partSerial ?? ''}|${m.event ?? ''}`;

/**
 * The end-of-soak proof. Reads the edge's buffer (the edge stopped, drained) and the cloud's
 * database, and checks with the protocols library that:
 * - the edge's acknowledged seq is its whole log, and never went backwards while running;
 * - the cloud holds seq 1..acked of this edge once each, each record's stored leaf hash is the
 *   hash of its canonical bytes, and the ids are unique;
 * - every checkpoint the cloud accepted is signed by the edge, countersigned by the cloud's
 *   witness, has the root of the cloud's records up to its size, and consecutive ones are
 *   consistent (RFC 6962 consistency proofs);
 * - the edge's own latest signed checkpoint has the cloud's root at its size (so the cloud's copy
 *   is exactly the edge's log), and an evidence bundle from the API verifies offline;
 * - every station message the edge acknowledged (PUBACK) is in the cloud exactly once, and nothing
 *   from the garbage devices became an inspection or usage record.
 */
export async function verifySoak(opts: {
  edgeDir: string;
  cloudDir: string;
  databaseUrl?: string;
  cloudUrl: string;
  apiToken: string;
  maxAckedSeen: number;
  ackedMessages: StationMessage[];
  junkEquipment: string[];
  junkAcked: number;
}): Promise<{ checks: Check[]; figures: Record<string, number> }> {
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const figures: Record<string, number> = {};

  const identity = JSON.parse(readFileSync(path.join(opts.edgeDir, 'identity.json'), 'utf8')) as {
    edgeId: string;
  };
  const edgeId = identity.edgeId;
  const edgeKey = publicKeyFromPrivatePem(readFileSync(path.join(opts.edgeDir, 'edge-key.pem'), 'utf8'));

  // The edge's side.
  const edgeDb = await openSqlite(path.join(opts.edgeDir, 'buffer.sqlite'));
  const [state] = (await edgeDb.query('SELECT size, acked FROM log_state WHERE id = 1', [])) as {
    size: number;
    acked: number;
  }[];
  const edgeCps = (await edgeDb.query('SELECT size, note FROM checkpoints ORDER BY size', [])) as {
    size: number;
    note: string;
  }[];
  await edgeDb.close();
  const size = state?.size ?? 0;
  const acked = state?.acked ?? 0;
  figures.edgeLogSize = size;
  figures.edgeAcked = acked;
  check('edge drained: acked = log size', size > 0 && acked === size, `size ${size}, acked ${acked}`);
  check(
    'acknowledged seq never went backwards',
    acked >= opts.maxAckedSeen,
    `final ${acked}, highest seen while running ${opts.maxAckedSeen}`,
  );

  // The cloud's side.
  const cloudDb = await openCloudDb(opts);
  const rows = (await cloudDb.query(
    'SELECT seq, id, kind, equipment, json, leaf_hash FROM records WHERE edge_id = ? ORDER BY seq',
    [edgeId],
  )) as {
    seq: number | string;
    id: string;
    kind: string;
    equipment: string;
    json: string;
    leaf_hash: Buffer;
  }[];
  const cps = (await cloudDb.query(
    'SELECT size, root, note, cosigned_note FROM checkpoints WHERE edge_id = ? ORDER BY size',
    [edgeId],
  )) as { size: number | string; root: Buffer; note: string; cosigned_note: string }[];
  await cloudDb.close();
  figures.cloudRecords = rows.length;
  figures.cloudCheckpoints = cps.length;

  const seqs = rows.map((r) => Number(r.seq));
  const gaps = seqs.filter((s, i) => s !== i + 1).length;
  check(
    'cloud holds every acknowledged record exactly once',
    rows.length === acked && gaps === 0,
    `${rows.length} rows for seq 1..${acked}, ${gaps} out of place`,
  );
  const ids = new Set(rows.map((r) => r.id));
  check('record ids unique in the cloud', ids.size === rows.length, `${ids.size} distinct of ${rows.length}`);

  const leaves: Uint8Array[] = [];
  let badLeaves = 0;
  for (const r of rows) {
    const h = leafHashOfText(r.json);
    if (!bytesEqual(h, bytes(r.leaf_hash)) || !bytesEqual(h, recordLeafHash(JSON.parse(r.json)))) badLeaves++;
    leaves.push(h);
  }
  check('stored leaf hashes match the records', badLeaves === 0, `${badLeaves} mismatched`);

  // Every accepted checkpoint: signed, countersigned, the right root, consistent with the last.
  const witness = (await (await fetch(`${opts.cloudUrl}/api/v1/witness`)).json()) as {
    name: string;
    publicKey: string;
  };
  const witnessKey = fromBase64(witness.publicKey);
  const range = CompactRange.empty();
  let next = 0;
  const problems: string[] = [];
  let prev: { size: number; root: Uint8Array } | null = null;
  let consistencyChecked = 0;
  const stride = Math.max(1, Math.floor(cps.length / 60));
  cps.forEach((cp, i) => {
    const cpSize = Number(cp.size);
    const signed = verifyCheckpoint(cp.cosigned_note, edgeId, edgeKey);
    if (!signed.ok) problems.push(`size ${cpSize}: ${signed.code}`);
    const cosigned = verifyCosignature(cp.cosigned_note, witness.name, witnessKey);
    if (!cosigned.ok) problems.push(`size ${cpSize}: ${cosigned.code}`);
    if (parseSignedCheckpoint(cp.note).checkpoint.size !== cpSize) problems.push(`size ${cpSize}: note size`);
    if (cpSize > leaves.length) {
      problems.push(`size ${cpSize}: beyond the ${leaves.length} stored records`);
      return;
    }
    while (next < cpSize) range.append(leaves[next++]!);
    const root = range.root();
    if (!bytesEqual(root, bytes(cp.root)) || (signed.ok && !bytesEqual(root, signed.checkpoint.root)))
      problems.push(`size ${cpSize}: root is not the root of the stored records`);
    // Consistency proofs from the stored leaves, for a spread of pairs and always the last one.
    if (prev && (i % stride === 0 || i === cps.length - 1)) {
      const proof = consistencyProof(leaves, prev.size, cpSize);
      const r = verifyConsistency(prev.size, cpSize, prev.root, root, proof);
      if (!r.ok) problems.push(`${prev.size} → ${cpSize}: ${r.code}`);
      consistencyChecked++;
    }
    prev = { size: cpSize, root };
  });
  figures.consistencyProofsChecked = consistencyChecked;
  check(
    'every accepted checkpoint: edge signature, witness cosignature, root, consistency',
    cps.length > 0 && problems.length === 0 && Number(cps.at(-1)!.size) === acked,
    problems.length > 0
      ? problems.slice(0, 5).join('; ')
      : `${cps.length} checkpoints, ${consistencyChecked} consistency proofs, last at size ${String(cps.at(-1)?.size)}`,
  );

  // The edge's own latest checkpoint, checked against the cloud's records.
  const latest = edgeCps.at(-1);
  if (latest) {
    const v = verifyCheckpoint(latest.note, edgeId, edgeKey);
    const root = latest.size <= leaves.length ? rootOf(leaves, latest.size) : null;
    check(
      "the edge's latest signed checkpoint matches the cloud's copy",
      v.ok && root !== null && bytesEqual(v.checkpoint.root, root),
      `edge checkpoint at size ${latest.size}${v.ok ? '' : `: ${v.code}`}`,
    );
  } else
    check(
      "the edge's latest signed checkpoint matches the cloud's copy",
      false,
      'no checkpoint in the buffer',
    );

  // Evidence from the API for a spread of records, verified offline against the pinned keys.
  const pick = [
    ...new Set([1, acked, ...Array.from({ length: 200 }, (_, i) => 1 + Math.floor((i * acked) / 200))]),
  ]
    .filter((s) => s >= 1 && s <= acked)
    .sort((a, b) => a - b);
  const res = await fetch(`${opts.cloudUrl}/api/v1/edges/${edgeId}/evidence?seq=${pick.join(',')}`, {
    headers: { authorization: `Bearer ${opts.apiToken}` },
  });
  const bundle: unknown = res.status === 200 ? await res.json() : null;
  const ev = bundle
    ? verifyEvidence(bundle, {
        trustedVerifierKey: formatVerifierKey(edgeId, edgeKey),
        witness: { name: witness.name, publicKey: witnessKey },
      })
    : null;
  check(
    'evidence bundle from the API verifies offline',
    ev?.ok === true && ev.verified === pick.length,
    ev ? (ev.ok ? `${ev.verified} records` : JSON.stringify(ev.problems.slice(0, 3))) : `HTTP ${res.status}`,
  );

  // Station messages: every acknowledged one exactly once; none twice.
  const records = rows.map((r) => JSON.parse(r.json) as RecordShape);
  const inCloud = new Map<string, number>();
  for (const r of records) {
    if (r.source?.protocol !== 'mqtt' || (r.kind !== 'inspection' && r.kind !== 'usage')) continue;
    const k = messageKey({
      kind: r.kind,
      equipment: r.equipment,
      observedAt: r.observedAt,
      ...(typeof r.body.partSerial === 'string' ? { partSerial: r.body.partSerial } : {}),
      ...(typeof r.body.event === 'string' ? { event: r.body.event } : {}),
    });
    inCloud.set(k, (inCloud.get(k) ?? 0) + 1);
  }
  const missing = opts.ackedMessages.filter((m) => (inCloud.get(messageKey(m)) ?? 0) === 0);
  const twice = [...inCloud.entries()].filter(([, n]) => n > 1);
  figures.stationMessagesAcked = opts.ackedMessages.length;
  figures.stationRecordsInCloud = [...inCloud.values()].reduce((a, b) => a + b, 0);
  check(
    'every station message the edge acknowledged is in the cloud exactly once',
    opts.ackedMessages.length > 0 && missing.length === 0 && twice.length === 0,
    `${opts.ackedMessages.length} acknowledged, ${missing.length} missing, ${twice.length} stored twice` +
      (missing[0] ? ` (first missing: ${messageKey(missing[0])})` : ''),
  );

  // Flow rigs: each test result once.
  const results = new Map<string, number>();
  for (const r of records)
    if (r.kind === 'inspection' && r.source?.protocol === 'modbus') {
      const k = `${r.equipment}|${r.source.address ?? ''}`;
      results.set(k, (results.get(k) ?? 0) + 1);
    }
  const repeated = [...results.values()].filter((n) => n > 1).length;
  figures.rigResults = results.size;
  check(
    'each flow-rig test result recorded once',
    results.size > 0 && repeated === 0,
    `${results.size} results, ${repeated} repeated`,
  );

  // Garbage: refused, counted, never a record of substance.
  const junkRecords = records.filter(
    (r) => opts.junkEquipment.includes(r.equipment) && r.kind !== 'event' && r.kind !== 'telemetry',
  );
  const refusals = records.filter(
    (r) =>
      r.kind === 'event' &&
      r.body.code === 'STATION_MESSAGE_INVALID' &&
      opts.junkEquipment.includes(r.equipment),
  ).length;
  figures.garbageRefusalEvents = refusals;
  check(
    'garbage became refusal events only, one per acknowledged message at least',
    junkRecords.length === 0 && opts.junkAcked > 0 && refusals >= opts.junkAcked,
    `${opts.junkAcked} garbage messages acknowledged, ${refusals} STATION_MESSAGE_INVALID events, ` +
      `${junkRecords.length} inspection/usage/calibration records from junk devices`,
  );
  const junkTelemetry = records.filter(
    (r) => opts.junkEquipment.includes(r.equipment) && r.kind === 'telemetry',
  );
  const goodJunkValues = junkTelemetry.filter((r) =>
    ((r.body.points ?? []) as { quality?: string }[]).some((p) => p.quality === 'good'),
  ).length;
  check(
    'no reading from the garbage Modbus device was taken as good',
    goodJunkValues === 0,
    `${junkTelemetry.length} telemetry records of the junk device, ${goodJunkValues} with a good value`,
  );

  for (const kind of ['telemetry', 'inspection', 'usage', 'event', 'calibration'])
    figures[`records.${kind}`] = records.filter((r) => r.kind === kind).length;
  return { checks, figures };
}

interface RecordShape {
  kind: string;
  equipment: string;
  observedAt: string;
  source?: { protocol?: string; address?: string };
  body: Record<string, unknown>;
}

/** The Merkle root of the first `size` leaves. */
function rootOf(leaves: Uint8Array[], size: number): Uint8Array {
  const r = CompactRange.empty();
  for (let i = 0; i < size; i++) r.append(leaves[i]!);
  return r.root();
}
