import { waitFor } from '@rigtrace/protocols/testing';
import { io as connectSocket, type Socket } from 'socket.io-client';

/** Shared by the live-update tests: an enrolled edge that sends signed batches (edge.ts), sockets that record what they get. */

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

export { TestEdge } from './edge.js';
