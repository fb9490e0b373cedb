import {
  RECORD_FORMAT_VERSION,
  assetTagSchema,
  parseSignedCheckpoint,
  printable,
  type EventRecord,
} from '@rigtrace/protocols';
import type { LogRange } from './log-range.js';
import { textLeaf } from './log-range.js';

/** A buffered record whose text no longer matches what was signed, and the event that took its place. */
export interface DamagedRecord {
  seq: number;
  /** The damaged record's id (kept in its own column, so it is known even when the text is not JSON). */
  id: string;
  kind: string;
  /** As the damaged text reads, when it still parses: the record's source ("protocol endpoint") and equipment. */
  source: string | null;
  equipment: string | null;
  reason: string;
  /** Id of the EDGE_RECORD_DAMAGED event record that now holds this seq. */
  eventId: string;
  foundAt: string;
}

/** One buffered row as read for sending. */
export interface BufferedRow {
  seq: number;
  id: string;
  kind: string;
  json: string;
  /** Leaf hash recorded when the record was signed (NULL in buffers written before it was kept). */
  leaf: Buffer | null;
}

export interface Suspect {
  seq: number;
  reason: string;
}

/**
 * Checks rows (consecutive, after `base`) against the signed checkpoints that cover them. `base` is
 * the log's range just before the first row (null when unknown: then only the recorded leaf hashes
 * are compared). Returns the rows found damaged in the first checkpoint interval that does not
 * match (later ones are found on the next check), and the rows whose recorded leaf hash is wrong
 * while their text is intact (the leaf column was damaged, not the record).
 */
export function findDamaged(
  rows: readonly BufferedRow[],
  base: LogRange | null,
  checkpoints: readonly { size: number; note: string }[],
): { damaged: Suspect[]; wrongLeaf: number[] } {
  const computed = rows.map((r) => textLeaf(r.json));
  const recorded = rows.map((r) => (r.leaf ? r.leaf.toString('latin1') : null));
  const differs = (i: number) => recorded[i] !== null && recorded[i] !== computed[i];
  const leafReason = 'its text does not hash to the leaf hash recorded when it was signed';
  if (!base) {
    const damaged = rows.flatMap((r, i) => (differs(i) ? [{ seq: r.seq, reason: leafReason }] : []));
    return { damaged, wrongLeaf: [] };
  }
  const firstSeq = base.size + 1;
  const rootAt = (size: number, leafOf: (i: number) => string): Buffer => {
    const range = base.clone();
    for (let i = 0; i < size - base.size; i++) range.appendHash(leafOf(i));
    return Buffer.from(range.root());
  };
  // The first checkpoint whose signed root the texts as they are do not reach.
  let prevSize = base.size;
  let bad: { size: number; root: Buffer } | null = null;
  {
    const range = base.clone();
    let i = 0;
    for (const cp of checkpoints) {
      if (cp.size <= base.size || cp.size > base.size + rows.length) continue;
      for (; i < cp.size - base.size; i++) range.appendHash(computed[i]!);
      const signed = Buffer.from(parseSignedCheckpoint(cp.note).checkpoint.root);
      if (!signed.equals(Buffer.from(range.root()))) {
        bad = { size: cp.size, root: signed };
        break;
      }
      prevSize = cp.size;
    }
  }
  if (!bad) {
    // Every text reaches its signed root: a differing recorded leaf is the leaf column's damage.
    return { damaged: [], wrongLeaf: rows.flatMap((r, i) => (differs(i) ? [r.seq] : [])) };
  }
  const lo = prevSize - firstSeq + 1;
  const hi = bad.size - firstSeq; // inclusive indexes of the interval
  const candidates: number[] = [];
  for (let i = lo; i <= hi; i++) if (differs(i)) candidates.push(i);
  if (
    candidates.length > 0 &&
    rootAt(bad.size, (i) => (differs(i) ? recorded[i]! : computed[i]!)).equals(bad.root)
  ) {
    return { damaged: candidates.map((i) => ({ seq: rows[i]!.seq, reason: leafReason })), wrongLeaf: [] };
  }
  // The recorded leaf hashes do not tell which record changed: none of the interval can be trusted.
  const reason = `the records ${prevSize + 1}..${bad.size} do not reach the root of the checkpoint signed at size ${bad.size}`;
  const damaged: Suspect[] = [];
  for (let i = lo; i <= hi; i++) damaged.push({ seq: rows[i]!.seq, reason });
  return { damaged, wrongLeaf: [] };
}

/** What the damaged text still says of itself (it may not be JSON any more). */
export function describeDamaged(json: string): { source: string | null; equipment: string | null } {
  try {
    const v = JSON.parse(json) as {
      source?: { protocol?: unknown; endpoint?: unknown };
      equipment?: unknown;
    };
    const src =
      v.source && typeof v.source.protocol === 'string'
        ? `${v.source.protocol}${typeof v.source.endpoint === 'string' ? ` ${v.source.endpoint}` : ''}`
        : null;
    return {
      source: src === null ? null : printable(src, 300),
      equipment: typeof v.equipment === 'string' ? printable(v.equipment, 64) : null,
    };
  } catch {
    return { source: null, equipment: null };
  }
}

/**
 * The error event that takes a damaged record's place in the log (code EDGE_RECORD_DAMAGED): it names
 * the record (seq, id, kind, source, equipment), says why it was set aside, and carries the leaf hash
 * it was signed with, so the cloud holds a signed statement of what was lost instead of nothing.
 */
export function damagedRecordEvent(
  row: BufferedRow,
  reason: string,
  envelope: { id: string; edge: string },
  fallbackEquipment: string,
  now = new Date(),
): { event: EventRecord; info: DamagedRecord } {
  const { source, equipment } = describeDamaged(row.json);
  const at = now.toISOString();
  const tag =
    equipment !== null && assetTagSchema.safeParse(equipment).success ? equipment : fallbackEquipment;
  const message = `record seq ${row.seq} (${row.kind}, id ${row.id}${source ? `, from ${source}` : ''}${
    equipment ? `, equipment ${equipment}` : ''
  }) was damaged in the edge's buffer after it was signed (${reason}); its text is kept on the edge in the buffer's damaged_records table and this event takes its place`;
  const event: EventRecord = {
    v: RECORD_FORMAT_VERSION,
    id: envelope.id,
    edge: envelope.edge,
    seq: row.seq,
    kind: 'event',
    equipment: tag,
    observedAt: at,
    receivedAt: at,
    source: { protocol: 'edge', endpoint: 'buffer' },
    body: {
      severity: 'error',
      code: 'EDGE_RECORD_DAMAGED',
      message: printable(message, 1024),
      details: {
        seq: row.seq,
        recordId: printable(row.id, 64),
        kind: printable(row.kind, 20),
        source,
        equipment,
        reason: printable(reason, 1024),
        signedLeaf: row.leaf ? row.leaf.toString('base64') : null,
      },
    },
  };
  return {
    event,
    info: {
      seq: row.seq,
      id: row.id,
      kind: row.kind,
      source,
      equipment,
      reason,
      eventId: envelope.id,
      foundAt: at,
    },
  };
}
