/**
 * Calibration devices shaped like the OPC UA companion-specification layouts our profiles map
 * (written from the specifications' naming, not from their nodesets), for the edge's tests:
 *
 * - "amb": an asset `TT-101` in the manner of Asset Management Basics, string node ids
 *   `ns=1;s=TT-101.<Name>`: LastCalibration / NextCalibration (DateTime), AsFound, AsLeft,
 *   Nominal, Tolerance (Double), EngineeringUnits (String), CalibrationResult (Boolean),
 *   CertificateId (String), CalibrationCount (UInt32).
 * - "lads": a pipetting unit's calibration MaintenanceTask in the manner of LADS, numeric node ids
 *   (ns=1;i=7001…, printed): TaskName, LastExecution / NextExecution (DateTime), Performer,
 *   Result ("Passed"/"Failed"), Channels (String[]), Setpoints, Readings, Tolerances (Double[]),
 *   Unit, ExecutionCount (UInt32).
 *
 * Usage: profile-bench.ts '{"layout":"amb","periodMs":300}'. A calibration completes every
 * period (the block first, then the counter). Prints {"event":"listening","port":…,"nodes":{…}}
 * and {"event":"result","n":…,…}.
 */
import { DataType, OPCUAServer, Variant, VariantArrayType, nodesets } from 'node-opcua';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { layout: 'amb' | 'lads'; periodMs?: number };
const server = new OPCUAServer({
  port: 0,
  nodeset_filename: [nodesets.standard],
  buildInfo: { productName: `ProfileBench-${cfg.layout}`, manufacturerName: 'Elsewhere Labs' },
});
await server.initialize();
const ns = server.engine.addressSpace!.getOwnNamespace();
const values: Record<string, { dataType: DataType; array?: boolean; value: unknown }> =
  cfg.layout === 'amb'
    ? {
        LastCalibration: { dataType: DataType.DateTime, value: new Date(0) },
        NextCalibration: { dataType: DataType.DateTime, value: new Date(0) },
        AsFound: { dataType: DataType.Double, value: 0 },
        AsLeft: { dataType: DataType.Double, value: 0 },
        Nominal: { dataType: DataType.Double, value: 150 },
        Tolerance: { dataType: DataType.Double, value: 0.5 },
        EngineeringUnits: { dataType: DataType.String, value: 'degC' },
        CalibrationResult: { dataType: DataType.Boolean, value: false },
        CertificateId: { dataType: DataType.String, value: '' },
        CalibrationCount: { dataType: DataType.UInt32, value: 0 },
      }
    : {
        TaskName: { dataType: DataType.String, value: 'GRAVIMETRIC-CAL' },
        LastExecution: { dataType: DataType.DateTime, value: new Date(0) },
        NextExecution: { dataType: DataType.DateTime, value: new Date(0) },
        Performer: { dataType: DataType.String, value: '' },
        Result: { dataType: DataType.String, value: '' },
        Channels: { dataType: DataType.String, array: true, value: ['CH1', 'CH2', 'CH3', 'CH4'] },
        Setpoints: { dataType: DataType.Double, array: true, value: [10, 10, 10, 10] },
        Readings: { dataType: DataType.Double, array: true, value: [0, 0, 0, 0] },
        Tolerances: { dataType: DataType.Double, array: true, value: [0.08, 0.08, 0.08, 0.08] },
        Unit: { dataType: DataType.String, value: 'uL' },
        ExecutionCount: { dataType: DataType.UInt32, value: 0 },
      };
const folder = ns.addObject({
  organizedBy: server.engine.addressSpace!.rootFolder.objects,
  browseName: cfg.layout === 'amb' ? 'TT-101' : 'PipettingUnit',
});
const nodes: Record<string, string> = {};
let k = 0;
for (const [name, v] of Object.entries(values)) {
  k += 1;
  const node = ns.addVariable({
    componentOf: folder,
    browseName: name,
    nodeId: cfg.layout === 'amb' ? `s=TT-101.${name}` : `i=${7000 + k}`,
    dataType: DataType[v.dataType],
    ...(v.array ? { valueRank: 1, arrayDimensions: [0] } : {}),
    minimumSamplingInterval: 50,
    value: {
      get: () =>
        new Variant({
          dataType: v.dataType,
          arrayType: v.array ? VariantArrayType.Array : VariantArrayType.Scalar,
          value: v.value,
        }),
    },
  });
  nodes[name] = node.nodeId.toString();
}
await server.start();
process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.endpoints[0]!.port, nodes })}\n`);

let n = 0;
setInterval(() => {
  n += 1;
  const now = new Date();
  const next = new Date(now.getTime() + 90 * 86_400_000);
  if (cfg.layout === 'amb') {
    const asFound = n % 2 === 0 ? 150.7 : 150.2;
    const asLeft = 150.1;
    Object.assign(values.LastCalibration!, { value: now });
    Object.assign(values.NextCalibration!, { value: next });
    Object.assign(values.AsFound!, { value: asFound });
    Object.assign(values.AsLeft!, { value: asLeft });
    Object.assign(values.CalibrationResult!, { value: true });
    Object.assign(values.CertificateId!, { value: `AMB-${n}` });
    Object.assign(values.CalibrationCount!, { value: n });
    process.stdout.write(
      `${JSON.stringify({ event: 'result', n, asFound, asLeft, at: now.toISOString() })}\n`,
    );
  } else {
    const readings = [10.02, 9.97, n % 2 === 0 ? 10.1 : 10.05, 10];
    Object.assign(values.LastExecution!, { value: now });
    Object.assign(values.NextExecution!, { value: next });
    Object.assign(values.Performer!, { value: `tech-${n % 3}` });
    Object.assign(values.Result!, { value: n % 2 === 0 ? 'Failed' : 'Passed' });
    Object.assign(values.Readings!, { value: readings });
    Object.assign(values.ExecutionCount!, { value: n });
    process.stdout.write(`${JSON.stringify({ event: 'result', n, readings, at: now.toISOString() })}\n`);
  }
}, cfg.periodMs ?? 300);

process.on('SIGTERM', () => {
  void server.shutdown(0).then(() => process.exit(0));
});
