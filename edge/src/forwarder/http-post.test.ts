import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonPoster } from './http-post.js';

let server: http.Server;
let base: string;
const seen: { headers: http.IncomingHttpHeaders; body: string; socket: number }[] = [];
const sockets = new Map<object, number>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size + 1);
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ headers: req.headers, body, socket: sockets.get(req.socket)! });
      if (req.url === '/json') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ackedSeq: body.length }));
      } else if (req.url === '/conflict') {
        res.statusCode = 409;
        res.end(JSON.stringify({ expectedSeq: 7, detail: 'gap' }));
      } else if (req.url === '/text') {
        res.statusCode = 503;
        res.statusMessage = 'Busy';
        res.setHeader('retry-after', '120');
        res.end('not json');
      } else if (req.url === '/huge') {
        res.end('x'.repeat(2 * 1024 * 1024));
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('{}'), 2_000);
      } else res.end('[1,2]');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const signal = () => new AbortController().signal;

describe('JsonPoster', () => {
  it('posts the body with its headers and length, and reads the JSON answer, on one kept-alive connection', async () => {
    const poster = new JsonPoster(false);
    const body = JSON.stringify({ records: ['Ø', '压力', '😀'] });
    const a = await poster.post(
      new URL('/json', base),
      body,
      { 'content-type': 'application/json', 'x-test': '1' },
      signal(),
    );
    const b = await poster.post(
      new URL('/json', base),
      body,
      { 'content-type': 'application/json' },
      signal(),
    );
    poster.close();
    expect(a).toEqual({ status: 200, statusText: 'OK', json: { ackedSeq: body.length }, retryAfter: null });
    expect(b.json).toEqual({ ackedSeq: body.length });
    const [first, second] = seen.slice(-2);
    expect(first!.body).toBe(body);
    expect(first!.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(first!.headers['x-test']).toBe('1');
    expect(second!.socket).toBe(first!.socket);
  });

  it('gives the status and Retry-After of any answer, and {} for a body that is not a JSON object', async () => {
    const poster = new JsonPoster(false);
    expect(await poster.post(new URL('/conflict', base), '{}', {}, signal())).toEqual({
      status: 409,
      statusText: 'Conflict',
      json: { expectedSeq: 7, detail: 'gap' },
      retryAfter: null,
    });
    expect(await poster.post(new URL('/text', base), '{}', {}, signal())).toEqual({
      status: 503,
      statusText: 'Busy',
      json: {},
      retryAfter: '120',
    });
    expect((await poster.post(new URL('/array', base), '{}', {}, signal())).json).toEqual({});
    poster.close();
  });

  it('rejects with the abort reason, an over-long answer, and a refused connection', async () => {
    const poster = new JsonPoster(false);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('timed out after 100 ms')), 100);
    await expect(poster.post(new URL('/slow', base), '{}', {}, ac.signal)).rejects.toThrow(
      'timed out after 100 ms',
    );
    const aborted = new AbortController();
    aborted.abort(new Error('stopped'));
    await expect(poster.post(new URL('/json', base), '{}', {}, aborted.signal)).rejects.toThrow('stopped');
    await expect(poster.post(new URL('/huge', base), '{}', {}, signal())).rejects.toThrow(
      /over 1048576 bytes/,
    );
    // Still usable after all that.
    expect((await poster.post(new URL('/json', base), 'abc', {}, signal())).json).toEqual({ ackedSeq: 3 });
    poster.close();
    const closed = await new Promise<number>((r) => {
      const s = http.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => r(port));
      });
    });
    await expect(
      new JsonPoster(false).post(new URL(`http://127.0.0.1:${closed}/json`), '{}', {}, signal()),
    ).rejects.toThrow(/ECONNREFUSED/);
  });
});
