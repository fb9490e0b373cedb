import {
  formatVerifierKey,
  generateKeyPair,
  signCheckpoint,
  toBase64,
  type LogState,
  type RecordKind,
} from '@rigtrace/protocols';
import {
  buildBatch,
  deterministicUuidV7,
  exampleRecords,
  type BuiltBatch,
} from '@rigtrace/protocols/testing';

/** Where a test edge's records say they were read (a record's `source`). */
export interface RecordSource {
  protocol: string;
  endpoint: string;
}

/** The cloud's answer to a batch. */
export interface IngestReply {
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
}

/**
 * An edge enrolled through the API, keeping its log state between batches: it builds records
 * (`record`, `examples`, or the shorthands below), signs them into batches and sends them to the
 * cloud's ingest (`send`, or `ingest` where anything but 200 is a failure).
 *
 * Batches the edge would never send are explicit: `sign` builds one without sending it (to send
 * twice, at once, out of order or altered, with `post`), `forge` signs with a key the cloud
 * does not hold for this edge.
 */
export class TestEdge {
  private readonly keys = generateKeyPair();
  private state_: LogState | undefined;
  private readonly acceptedBatches: unknown[] = [];
  private seqNow = 0;
  id = '';

  constructor(
    private readonly url: string,
    private readonly source: RecordSource = { protocol: 'opcua', endpoint: 'opc.tcp://rig.plant.local:4840' },
  ) {}

  /** An edge the cloud never enrolled, calling itself `id`; it signs with a key of its own. */
  static unenrolled(url: string, id: string): TestEdge {
    const edge = new TestEdge(url);
    edge.id = id;
    return edge;
  }

  /** The seq of the last record built (0 before the first). */
  get seq(): number {
    return this.seqNow;
  }

  /** The log as the cloud has accepted it (undefined before the first accepted batch). */
  get state(): LogState | undefined {
    return this.state_;
  }

  /** The public key the edge enrolled with (base64). */
  get publicKey(): string {
    return toBase64(this.keys.publicKey);
  }

  /** The edge's key as an offline verifier trusts it (C2SP note verifier key). */
  get verifierKey(): string {
    return formatVerifierKey(this.id, this.keys.publicKey);
  }

  async enroll(token: string, name: string): Promise<this> {
    const res = await fetch(`${this.url}/api/v1/edges/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, publicKey: this.publicKey, name }),
    });
    if (res.status !== 201) throw new Error(`enrollment failed: ${res.status} ${await res.text()}`);
    this.id = ((await res.json()) as { edgeId: string }).edgeId;
    return this;
  }

  private envelope(kind: string, equipment: string, observedAt: string) {
    this.seqNow += 1;
    return {
      v: 1,
      id: deterministicUuidV7(Date.parse(observedAt), new TextEncoder().encode(`${this.id}:${this.seqNow}`)),
      edge: this.id,
      seq: this.seqNow,
      observedAt,
      receivedAt: observedAt,
      kind,
      equipment,
      source: this.source,
    };
  }

  /** The next record of this edge: `kind` about `equipment` at `observedAt`, with `body` as given. */
  record(kind: string, equipment: string, observedAt: string, body: unknown) {
    return { ...this.envelope(kind, equipment, observedAt), body };
  }

  telemetry(equipment: string, observedAt: string, points: Record<string, number | boolean | string>) {
    return {
      ...this.envelope('telemetry', equipment, observedAt),
      body: {
        points: Object.entries(points).map(([name, value]) => ({
          name,
          value,
          ...(typeof value === 'number' ? { unit: 'bar' } : {}),
          quality: 'good',
        })),
      },
    };
  }

  usage(
    equipment: string,
    observedAt: string,
    event: 'start' | 'stop' | 'cycle',
    who: Record<string, string> = {},
  ) {
    return { ...this.envelope('usage', equipment, observedAt), body: { event, ...who } };
  }

  inspection(equipment: string, observedAt: string, part: string, result: 'pass' | 'fail') {
    return {
      ...this.envelope('inspection', equipment, observedAt),
      body: {
        partSerial: part,
        workOrder: 'WO-1',
        result,
        characteristics: [
          {
            name: 'q',
            nominal: 62,
            lsl: 60,
            usl: 64,
            measured: result === 'pass' ? 62 : 65,
            unit: 'mm3',
            result,
          },
        ],
      },
    };
  }

  calibration(tag: string, calibratedAt: string, asFound: 'pass' | 'fail') {
    return {
      ...this.envelope('calibration', tag, calibratedAt),
      body: {
        standards: [],
        points: [
          {
            name: 'p@800',
            nominal: 800,
            unit: 'bar',
            asFound: asFound === 'pass' ? 800.5 : 806,
            lowerTolerance: -2,
            upperTolerance: 2,
            asFoundResult: asFound,
          },
        ],
        adjusted: false,
        asFoundResult: asFound,
        calibratedAt,
      },
    };
  }

  /**
   * `count` example records of this edge (protocols' `exampleRecords`, cycling through the kinds
   * unless `kinds` is given), from the seq after the last record built, or from seq `from` (to
   * build the same records again: a re-send, or a changed copy of one).
   */
  examples(count: number, opts: { from?: number; kinds?: readonly RecordKind[] } = {}) {
    const from = opts.from ?? this.seqNow + 1;
    const records = exampleRecords(this.id, from, count, opts.kinds ? { kinds: opts.kinds } : {});
    this.seqNow = Math.max(this.seqNow, from + count - 1);
    return records;
  }

  /**
   * Signs `records` into a batch on top of the log the cloud has accepted (or `before`: null for
   * an empty log), without sending it; `accept` makes later batches build on it.
   */
  sign(records: readonly unknown[], before: LogState | null = this.state_ ?? null): BuiltBatch {
    return buildBatch({
      edge: this.id,
      privateKeyPem: this.keys.privateKeyPem,
      records,
      ...(before ? { before } : {}),
    });
  }

  /** The log that holds exactly `records`, from seq 1 (as this edge has it once they are stored). */
  logOf(records: readonly unknown[]): LogState {
    return this.sign(records, null).state;
  }

  /** Like `sign`, but with a fresh key the cloud does not hold for this edge: a forged batch. */
  forge(records: readonly unknown[], before: LogState | null = this.state_ ?? null): BuiltBatch {
    return buildBatch({
      edge: this.id,
      privateKeyPem: generateKeyPair().privateKeyPem,
      records,
      ...(before ? { before } : {}),
    });
  }

  /**
   * A checkpoint signed with this edge's key for a log of `size` with `root`, whether or not the
   * edge's log is that one (a different root for a size already accepted is a fork).
   */
  checkpoint(size: number, root: Uint8Array): string {
    return signCheckpoint({ origin: this.id, size, root, extensions: [] }, this.id, this.keys.privateKeyPem);
  }

  /** Takes `built` as accepted by the cloud: later batches build on its log. */
  accept(built: BuiltBatch): void {
    this.state_ = built.state;
    this.acceptedBatches.push(built.batch);
  }

  /** Posts again, unchanged, the `n`-th batch the cloud accepted (0: the first): a captured batch replayed. */
  replay(n = 0, via = this.url, headers: Record<string, string> = {}): Promise<IngestReply> {
    const batch = this.acceptedBatches[n];
    if (batch === undefined) throw new Error(`no accepted batch ${n} to replay`);
    return this.post(batch, via, headers);
  }

  /** Posts `batch` exactly as given (a replayed, forged or altered one too) to `via`; changes no state. */
  async post(batch: unknown, via = this.url, headers: Record<string, string> = {}): Promise<IngestReply> {
    const res = await fetch(`${via}/api/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(batch),
    });
    const body = (await res.json()) as Record<string, unknown>;
    return { status: res.status, body, retryAfter: res.headers.get('retry-after') };
  }

  /**
   * Signs and sends records built with the methods above (in the order they were built), to
   * `via` with `headers` beside the JSON content type; a 200 makes the batch's log the edge's.
   */
  async send(
    records: readonly unknown[],
    via = this.url,
    headers: Record<string, string> = {},
  ): Promise<IngestReply> {
    const built = this.sign(records);
    const reply = await this.post(built.batch, via, headers);
    if (reply.status === 200) this.accept(built);
    return reply;
  }

  /** Signs and sends `records` (with `headers`); anything but 200 fails (naming the cloud's answer). */
  async ingest(
    records: readonly unknown[],
    headers: Record<string, string> = {},
  ): Promise<Record<string, unknown>> {
    const r = await this.send(records, this.url, headers);
    if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }
}
