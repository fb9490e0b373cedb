/**
 * Load server for opcua.bench.ts (not a bench itself): a plain node-opcua server with ITEMS Double
 * variables `ns=1;s=Load.<k>` (k = 0..ITEMS-1, namespace urn:rigtrace:bench:opcua-load, folder
 * Objects/Load) whose values all change every CHANGE_MS milliseconds: a timer writes k + tick into
 * each (setValueFromSource, as a device driver would). Their MinimumSamplingInterval is CHANGE_MS.
 * Security None only, anonymous, 127.0.0.1, port 0 by default.
 *
 *   node --import tsx protocols/bench/opcua-load-server.ts [--items 10000] [--change-ms 100] [--port 0]
 *   (it stops when its stdin ends: run it from a terminal, or with a pipe on stdin)
 *
 * One deviation from node-opcua's defaults: a Publish response may carry every notification of a
 * publishing cycle (Subscription.maxNotificationPerPublishHighLimit raised from 1000 to ITEMS), so
 * that with 10,000 items the rate is not capped by Publish round trips (10 per 100-ms cycle, with
 * a client that keeps 5 Publish requests queued).
 *
 * stdout, one JSON object a line: first {"event":"listening","endpointUrl",…}, then every second
 * {"event":"stats",…}: changes = values written so far, elu = the server's event-loop utilisation
 * over the last second, subscriptions and monitoredItems it holds now. node-opcua's own warnings
 * go to stderr. SIGTERM, SIGINT or the end of stdin shut it down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  DataType,
  MessageSecurityMode,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  setErrorLogger,
  setWarningLogger,
  Subscription,
  type UAVariable,
} from 'node-opcua';

const LOAD_NAMESPACE_URI = 'urn:rigtrace:bench:opcua-load';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be an integer >= 0`);
  return v;
}

async function main(): Promise<void> {
  const items = arg('items', 10_000);
  const changeMs = arg('change-ms', 100);
  const port = arg('port', 0);
  if (changeMs < 1) throw new Error('--change-ms must be at least 1');

  // node-opcua writes its warnings with console.log: keep stdout for our JSON lines.
  const toStderr = (_context?: unknown, ...args: unknown[]): void => {
    process.stderr.write(`[opcua-load-server] ${args.map(String).join(' ')}\n`);
  };
  setWarningLogger(toStderr);
  setErrorLogger(toStderr);
  Subscription.maxNotificationPerPublishHighLimit = Math.max(
    Subscription.maxNotificationPerPublishHighLimit,
    items,
  );

  const pkiDir = mkdtempSync(join(tmpdir(), 'rigtrace-opcua-load-pki-'));
  const serverCertificateManager = new OPCUACertificateManager({
    rootFolder: join(pkiDir, 'server'),
    automaticallyAcceptUnknownCertificate: true,
    disableFileWatchers: true,
  });
  // Given, so that node-opcua does not create its default one under ~/.config (no user certificates here).
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: join(pkiDir, 'user'),
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  });
  const server = new OPCUAServer({
    port,
    host: '127.0.0.1',
    hostname: '127.0.0.1',
    resourcePath: '/rigtrace/load',
    nodeset_filename: [nodesets.standard],
    skipOwnNamespace: true,
    serverCertificateManager,
    userCertificateManager,
    securityModes: [MessageSecurityMode.None],
    securityPolicies: [SecurityPolicy.None],
    allowAnonymous: true,
    serverInfo: {
      applicationUri: 'urn:rigtrace:bench:opcua-load-server',
      productUri: LOAD_NAMESPACE_URI,
      applicationName: { text: 'RigTrace OPC UA load server', locale: 'en' },
    },
    maxConnectionsPerEndpoint: 20,
  });
  await server.initialize();

  const addressSpace = server.engine.addressSpace!;
  const ns = addressSpace.registerNamespace(LOAD_NAMESPACE_URI);
  if (ns.index !== 1) throw new Error(`namespace ${LOAD_NAMESPACE_URI} got index ${ns.index}`);
  const folder = ns.addFolder(addressSpace.rootFolder.objects, { browseName: 'Load', nodeId: 's=Load' });
  const variables: UAVariable[] = [];
  for (let k = 0; k < items; k++) {
    variables.push(
      ns.addVariable({
        componentOf: folder,
        browseName: `V${k}`,
        nodeId: `s=Load.${k}`,
        dataType: 'Double',
        minimumSamplingInterval: changeMs,
        value: { dataType: DataType.Double, value: k },
      }),
    );
  }
  await server.start();
  const actualPort = server.endpoints[0]?.port;
  if (actualPort === undefined) throw new Error('the OPC UA server has no endpoint');
  const endpointUrl = `opc.tcp://127.0.0.1:${actualPort}/rigtrace/load`;
  const line = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  line({ event: 'listening', endpointUrl, port: actualPort, items, changeMs, namespace: LOAD_NAMESPACE_URI });

  let tick = 0;
  let changes = 0;
  const writer = setInterval(() => {
    tick++;
    for (let k = 0; k < items; k++) {
      variables[k]!.setValueFromSource({ dataType: DataType.Double, value: k + tick });
    }
    changes += items;
  }, changeMs);

  const engine = server.engine as unknown as {
    currentSubscriptionCount?: number;
    _globalCounter?: { totalMonitoredItemCount?: number };
  };
  let elu = performance.eventLoopUtilization();
  const stats = setInterval(() => {
    const now = performance.eventLoopUtilization();
    line({
      event: 'stats',
      at: Date.now(),
      changes,
      elu: performance.eventLoopUtilization(now, elu).utilization,
      subscriptions: engine.currentSubscriptionCount ?? null,
      monitoredItems: engine._globalCounter?.totalMonitoredItemCount ?? null,
    });
    elu = now;
  }, 1000);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(writer);
    clearInterval(stats);
    void server
      .shutdown(0)
      .then(() => Promise.all([serverCertificateManager.dispose(), userCertificateManager.dispose()]))
      .catch(() => undefined)
      .finally(() => {
        rmSync(pkiDir, { recursive: true, force: true });
        process.exit(0);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started by the bench with a pipe on stdin: the bench going away, even killed, ends the server.
  process.stdin.on('end', stop).on('error', stop).resume();
  process.stdout.on('error', stop);
}

await main();
