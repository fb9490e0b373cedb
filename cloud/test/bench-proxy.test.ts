import net from 'node:net';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { CLOUD_KEEP_ALIVE_MS, startProxy, type Proxy } from '../bench/proxy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { startCloud, type RunningCloud } from '../src/server.js';
import { testStorage, type TestStorage } from './helpers/storage.js';

/**
 * The processes bench's round-robin proxy measures the cloud, not itself: it closes an idle
 * kept-alive connection to a cloud process before the process closes it, so no request goes out
 * on a connection being closed (ECONNRESET, answered 502 and retried by the bench's edges).
 */

let storage: TestStorage | undefined;
let cloud: RunningCloud | undefined;
let relay: net.Server | undefined;
let proxy: Proxy | undefined;
afterAll(async () => {
  await proxy?.close();
  relay?.close();
  await cloud?.close();
  await storage?.cleanup();
});

it('closes an idle connection to a cloud process before the process would', async () => {
  storage = await testStorage('sqlite');
  cloud = await startCloud(
    loadCloudConfig({}, { ...storage.overrides, port: '0', remindersScheduler: 'off' }),
    pino({ level: 'silent' }),
  );
  // Between the proxy and the cloud, a TCP relay that sees which side ends a connection first.
  const closedBy: Promise<'proxy' | 'cloud'>[] = [];
  const port = cloud.port;
  relay = net.createServer((fromProxy) => {
    const toCloud = net.connect(port, '127.0.0.1');
    fromProxy.pipe(toCloud);
    toCloud.pipe(fromProxy);
    closedBy.push(
      new Promise((resolve) => {
        fromProxy.once('end', () => resolve('proxy'));
        toCloud.once('end', () => resolve('cloud'));
      }),
    );
  });
  await new Promise<void>((r) => relay!.listen(0, '127.0.0.1', r));
  proxy = await startProxy([`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`]);

  // The cloud's idle timeout, as it announces it.
  const direct = await fetch(`${cloud.url}/healthz`);
  await direct.text();
  expect(direct.headers.get('keep-alive')).toBe(`timeout=${CLOUD_KEEP_ALIVE_MS / 1000}`);

  const res = await fetch(`${proxy.url}/healthz`);
  expect(res.status).toBe(200);
  await res.text();
  const idleSince = Date.now();
  expect(closedBy).toHaveLength(1);
  expect(await closedBy[0]).toBe('proxy');
  expect(Date.now() - idleSince).toBeLessThan(CLOUD_KEEP_ALIVE_MS);
  expect(proxy.errors).toBe(0);
}, 20_000);
