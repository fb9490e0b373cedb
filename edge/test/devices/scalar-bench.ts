/**
 * A calibration bench nobody in this project designed, for the edge's tests: a plain node-opcua
 * server whose layout differs from our bench simulator. Per instrument tag, one scalar node per
 * value; dates are OPC UA DateTime; no node for the equipment, the unit or the nominal:
 *
 *   ns=1;s=PT101.LastCalibration   DateTime   when the last calibration completed
 *   ns=1;s=PT101.NextCalibration   DateTime   when the next is due
 *   ns=1;s=PT101.AsFound           Double     bar
 *   ns=1;s=PT101.AsLeft            Double     bar
 *   ns=1;s=PT101.Tolerance         Double     ± bar
 *   ns=1;s=PT101.Passed            Boolean    the bench's own verdict (of the as-left reading)
 *   ns=1;s=PT101.CertificateId     String
 *   ns=1;s=PT101.Completed         UInt32     calibrations completed (a counter)
 *   ns=1;s=PT101.Acknowledged      UInt32     written by a client: the last result it stored
 *
 * Usage: scalar-bench.ts '{"port":0,"periodMs":300,"handshake":true}'. With handshake, a new
 * calibration completes only once the previous one was acknowledged. Every third one is found
 * out of tolerance (as found 100.7 against 100 ± 0.5) and adjusted. Prints
 * {"event":"listening","endpointUrl":…} and {"event":"result","n":…,"certificate":…,"asFound":…}.
 */
import { DataType, OPCUAServer, Variant, nodesets } from 'node-opcua';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { port?: number; periodMs?: number; handshake?: boolean };
const server = new OPCUAServer({
  port: cfg.port ?? 0,
  nodeset_filename: [nodesets.standard],
  buildInfo: { productName: 'ThirdPartyBench', manufacturerName: 'Elsewhere GmbH' },
});
await server.initialize();
const ns = server.engine.addressSpace!.getOwnNamespace();
const folder = ns.addFolder(server.engine.addressSpace!.rootFolder.objects, { browseName: 'PT101' });
const values: Record<string, { dataType: DataType; value: unknown }> = {
  LastCalibration: { dataType: DataType.DateTime, value: new Date(0) },
  NextCalibration: { dataType: DataType.DateTime, value: new Date(0) },
  AsFound: { dataType: DataType.Double, value: 0 },
  AsLeft: { dataType: DataType.Double, value: 0 },
  Tolerance: { dataType: DataType.Double, value: 0.5 },
  Passed: { dataType: DataType.Boolean, value: false },
  CertificateId: { dataType: DataType.String, value: '' },
  Completed: { dataType: DataType.UInt32, value: 0 },
  Acknowledged: { dataType: DataType.UInt32, value: 0 },
};
for (const [name, v] of Object.entries(values)) {
  ns.addVariable({
    componentOf: folder,
    browseName: name,
    nodeId: `s=PT101.${name}`,
    dataType: DataType[v.dataType],
    minimumSamplingInterval: 50,
    ...(name === 'Acknowledged'
      ? { accessLevel: 'CurrentRead | CurrentWrite', userAccessLevel: 'CurrentRead | CurrentWrite' }
      : {}),
    value: {
      get: () => new Variant({ dataType: v.dataType, value: v.value }),
      set: (variant: Variant) => {
        v.value = variant.value;
        return 0; // Good
      },
    },
  });
}
await server.start();
const endpointUrl = server.getEndpointUrl();
process.stdout.write(
  `${JSON.stringify({ event: 'listening', endpointUrl, port: server.endpoints[0]!.port })}\n`,
);

let n = 0;
setInterval(() => {
  if (cfg.handshake && n > 0 && values.Acknowledged!.value !== n) return; // hold until acknowledged
  n += 1;
  const outOfTolerance = n % 3 === 0;
  const asFound = outOfTolerance ? 100.7 : 100 + ((n % 5) - 2) * 0.1;
  const asLeft = outOfTolerance ? 100.1 : asFound;
  const now = new Date();
  const certificate = `CERT-${String(n).padStart(5, '0')}`;
  // The block first, then the counter.
  Object.assign(values.LastCalibration!, { value: now });
  Object.assign(values.NextCalibration!, { value: new Date(now.getTime() + 365 * 86_400_000) });
  Object.assign(values.AsFound!, { value: asFound });
  Object.assign(values.AsLeft!, { value: asLeft });
  Object.assign(values.Passed!, { value: true });
  Object.assign(values.CertificateId!, { value: certificate });
  Object.assign(values.Completed!, { value: n });
  process.stdout.write(
    `${JSON.stringify({ event: 'result', n, certificate, asFound, asLeft, at: now.toISOString() })}\n`,
  );
}, cfg.periodMs ?? 300);

process.on('SIGTERM', () => {
  void server.shutdown(0).then(() => process.exit(0));
});
