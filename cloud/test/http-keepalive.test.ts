import net from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/platform/config.js';
import { KEEP_ALIVE_MS } from '../src/platform/http/keep-alive.js';
import { startCloud, type RunningCloud } from '../src/server.js';
import { testStorage, type TestStorage } from './helpers/storage.js';

/**
 * A reverse proxy (Caddy, nginx with `keepalive`, a cloud load balancer) keeps idle connections to
 * the cloud open for a minute or more and reuses them. If the cloud closed an idle connection
 * first (Node's default is after 5 s), a request the proxy sends on it at that moment is lost and
 * the proxy answers 502. The cloud keeps idle connections longer than the proxies do.
 */
describe('HTTP keep-alive', () => {
  let storage: TestStorage;
  let cloud: RunningCloud;

  beforeAll(async () => {
    storage = await testStorage('sqlite');
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
  }, 60_000);
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('keeps an idle connection longer than a proxy does (more than two minutes)', () => {
    // Caddy keeps idle upstream connections 2 min, nginx's keepalive_timeout is 60 s.
    expect(KEEP_ALIVE_MS).toBeGreaterThan(120_000);
  });

  it('answers uncached and without an ETag (a hash of every body, for a cache that never asks)', async () => {
    for (const p of ['/healthz', '/api/v1/openapi.json']) {
      const res = await fetch(`${cloud.url}${p}`);
      await res.arrayBuffer();
      expect(res.status, p).toBe(200);
      expect(res.headers.get('cache-control'), p).toBe('no-store');
      expect(res.headers.get('etag'), p).toBeNull();
    }
  });

  it('answers a second request on a connection left idle past the old 5 s limit', async () => {
    const socket = net.connect(cloud.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let received = '';
    let closed = false;
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => (closed = true));
    const ask = () => socket.write('GET /healthz HTTP/1.1\r\nHost: cloud\r\nConnection: keep-alive\r\n\r\n');
    const answers = () => received.match(/HTTP\/1\.1 200 /g)?.length ?? 0;
    const until = async (ok: () => boolean) => {
      for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
    };

    ask();
    await until(() => answers() === 1);
    expect(answers()).toBe(1);
    expect(received).toMatch(/keep-alive: timeout=\d+/i);
    await new Promise((r) => setTimeout(r, 6500));
    expect(closed).toBe(false);
    ask();
    await until(() => answers() === 2);
    expect(answers()).toBe(2);
    socket.destroy();
  }, 30_000);
});
