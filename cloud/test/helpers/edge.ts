import { generateKeyPair, toBase64, type LogState } from '@rigtrace/protocols';
import { buildBatch, deterministicUuidV7 } from '@rigtrace/protocols/testing';

/** Where a test edge's records say they were read (a record's `source`). */
export interface RecordSource {
  protocol: string;
  endpoint: string;
}

/**
 * An edge enrolled through the API, keeping its log state between batches: it builds records
 * (`record`, or the shorthands below), signs them into batches and sends them to the cloud's
 * ingest (`send`, or `ingest` where anything but 200 is a failure).
 */
export class TestEdge {
  private readonly keys = generateKeyPair();
  private state: LogState | undefined;
  private seqNow = 0;
  id = '';

  constructor(
    private readonly url: string,
    private readonly source: RecordSource = { protocol: 'opcua', endpoint: 'opc.tcp://rig.plant.local:4840' },
  ) {}

  /** The seq of the last record built (0 before the first). */
  get seq(): number {
    return this.seqNow;
  }

  async enroll(token: string, name: string): Promise<this> {
    const res = await fetch(`${this.url}/api/v1/edges/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, publicKey: toBase64(this.keys.publicKey), name }),
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

  /** Signs and sends records built with the methods above (in the order they were built), to `via`. */
  async send(
    records: unknown[],
    via = this.url,
  ): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
    const built = buildBatch({
      edge: this.id,
      privateKeyPem: this.keys.privateKeyPem,
      records,
      ...(this.state ? { before: this.state } : {}),
    });
    const res = await fetch(`${via}/api/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(built.batch),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status === 200) this.state = built.state;
    return { status: res.status, body, retryAfter: res.headers.get('retry-after') };
  }

  /** Signs and sends `records`; anything but 200 fails (naming the cloud's answer). */
  async ingest(records: unknown[]): Promise<Record<string, unknown>> {
    const r = await this.send(records);
    if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }
}
