import { generateKeyPair, toBase64, type LogState } from '@rigtrace/protocols';
import { buildBatch, deterministicUuidV7, waitFor } from '@rigtrace/protocols/testing';
import { io as connectSocket, type Socket } from 'socket.io-client';

/** Shared by the live-update tests: an enrolled edge that sends signed batches, sockets that record what they get. */

export async function signIn(
  url: string,
  tenant: string,
  email: string,
  password: string,
): Promise<{ cookie: string; csrf: string; state: string }> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenant, email, password }),
  });
  const body = (await res.json()) as { csrfToken: string; state: string };
  if (res.status !== 200)
    throw new Error(`sign-in of ${email} failed: ${res.status} ${JSON.stringify(body)}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('rt_session='))!;
  return { cookie, csrf: body.csrfToken, state: body.state };
}

export interface Received {
  event: string;
  payload: Record<string, unknown>;
}

export interface TestSocket {
  socket: Socket;
  received: Received[];
  subscribe(siteId: unknown): Promise<{ ok: boolean; error?: string }>;
  /** Waits for a message of `event` matching `match`, and returns it. */
  next(event: string, match?: (p: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Received>;
  close(): void;
}

/** Connects with a session cookie (or none) and resolves once connected; rejects with the server's refusal. */
export function openSocket(
  url: string,
  cookie: string | undefined,
  extraHeaders: Record<string, string> = {},
): Promise<TestSocket> {
  const socket = connectSocket(url, {
    path: '/socket.io',
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { ...(cookie ? { cookie } : {}), ...extraHeaders },
  });
  const received: Received[] = [];
  socket.onAny((event: string, payload: Record<string, unknown>) => received.push({ event, payload }));
  const t: TestSocket = {
    socket,
    received,
    subscribe: (siteId) =>
      socket.timeout(10_000).emitWithAck('subscribe', { siteId }) as Promise<{ ok: boolean; error?: string }>,
    next(event, match = () => true, timeoutMs = 10_000) {
      return waitFor(
        () => Promise.resolve(received.find((r) => r.event === event && match(r.payload))),
        timeoutMs,
        `a ${event} message`,
      );
    },
    close: () => socket.close(),
  };
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(t));
    socket.once('connect_error', (err: Error & { data?: { code?: string } }) => {
      socket.close();
      reject(Object.assign(new Error(err.message), { code: err.data?.code }));
    });
  });
}

/** An edge enrolled through the API, keeping its log state between batches. */
export class TestEdge {
  private readonly keys = generateKeyPair();
  private state: LogState | undefined;
  private seq = 0;
  id = '';

  constructor(private readonly url: string) {}

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
    this.seq += 1;
    return {
      v: 1,
      id: deterministicUuidV7(Date.parse(observedAt), new TextEncoder().encode(`${this.id}:${this.seq}`)),
      edge: this.id,
      seq: this.seq,
      observedAt,
      receivedAt: observedAt,
      kind,
      equipment,
      source: { protocol: 'opcua', endpoint: 'opc.tcp://rig.plant.local:4840' },
    };
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
}
