import { mkdtempSync, rmSync } from 'node:fs';
import { hostname as osHostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  standardUnits,
  StatusCodes,
  VariantArrayType,
  type ISessionContext,
  type Namespace,
  type StatusCode,
  type UAEventType,
  type UAObject,
  type UAVariable,
  type Variant,
  type VariantLike,
} from 'node-opcua';
// Its node-opcua log filter: one plain line for node-opcua's PKCS#1 v1.5 warning (library-logs.ts).
import '@rigtrace/protocols/opcua';
import type { BenchModel, CalibrationRecord, FaultName } from './bench-model.js';
import { isFaultName } from './bench-model.js';
import type { BenchSecurity } from './config.js';

export const NAMESPACE_URI = 'urn:rigtrace:sim:cal-bench';
/** Our namespace is the first one registered after the OPC UA namespace: always index 1. */
export const NAMESPACE_INDEX = 1;
export const RESOURCE_PATH = '/rigtrace/bench';

/** String NodeId of a bench node: `ns=1;s=Bench.<path>`. */
export function benchNodeId(path: string): string {
  return `ns=${NAMESPACE_INDEX};s=${path === '' ? 'Bench' : `Bench.${path}`}`;
}

export interface BenchServerOptions {
  host: string;
  port: number;
  asset: string;
  model: BenchModel;
  security: BenchSecurity;
  pkiDir?: string;
  slowDelayMs: number;
  disconnectEverySeconds: number;
  user?: { username: string; password: string };
  now: () => number;
  /** Server-side happenings (sessions dropped, …), as flat JSON-able objects with `event`. */
  log: (e: Record<string, unknown>) => void;
}

/** Services the slow fault delays (everything a client waits on, not Publish and not the session set-up). */
const NOT_SLOWED = new Set([
  'PublishRequest',
  'RepublishRequest',
  'CreateSessionRequest',
  'ActivateSessionRequest',
  'CloseSessionRequest',
  'GetEndpointsRequest',
  'FindServersRequest',
]);

const LIVE_STATUS = {
  good: StatusCodes.Good,
  bad: StatusCodes.BadSensorFailure,
  uncertain: StatusCodes.UncertainLastUsableValue,
};

interface LastCalNodes {
  [field: string]: UAVariable;
}

const LAST_CAL_FIELDS: {
  name: string;
  type: 'String' | 'Double' | 'UInt32' | 'Boolean' | 'DateTime';
  array?: true;
}[] = [
  { name: 'EquipmentId', type: 'String' },
  { name: 'Procedure', type: 'String' },
  { name: 'ProcedureRevision', type: 'String' },
  { name: 'Technician', type: 'String' },
  { name: 'CertificateId', type: 'String' },
  { name: 'StandardId', type: 'String' },
  { name: 'StandardCertificate', type: 'String' },
  { name: 'StandardDueDate', type: 'String' },
  { name: 'StandardUncertainty', type: 'Double' },
  { name: 'StandardOverdue', type: 'Boolean' },
  { name: 'Unit', type: 'String' },
  { name: 'PointNames', type: 'String', array: true },
  { name: 'Nominals', type: 'Double', array: true },
  { name: 'AsFound', type: 'Double', array: true },
  { name: 'AsLeft', type: 'Double', array: true },
  { name: 'LowerTolerance', type: 'Double', array: true },
  { name: 'UpperTolerance', type: 'Double', array: true },
  { name: 'AsFoundResult', type: 'String' },
  { name: 'AsLeftResult', type: 'String' },
  { name: 'Adjusted', type: 'Boolean' },
  { name: 'CompletedAt', type: 'DateTime' },
  { name: 'NextDue', type: 'String' },
  { name: 'TemperatureC', type: 'Double' },
  { name: 'HumidityPct', type: 'Double' },
  // written last
  { name: 'Sequence', type: 'UInt32' },
];

function variant(type: string, value: unknown, array = false): VariantLike {
  const dataType = DataType[type as keyof typeof DataType];
  return array ? { dataType, arrayType: VariantArrayType.Array, value } : { dataType, value };
}

function emptyValue(field: (typeof LAST_CAL_FIELDS)[number]): unknown {
  if (field.array) return [];
  switch (field.type) {
    case 'String':
      return '';
    case 'Double':
    case 'UInt32':
      return 0;
    case 'Boolean':
      return false;
    case 'DateTime':
      return null;
  }
}

function recordValue(r: CalibrationRecord, name: string): unknown {
  switch (name) {
    case 'Sequence':
      return r.sequence;
    case 'EquipmentId':
      return r.equipmentId;
    case 'Procedure':
      return r.procedure;
    case 'ProcedureRevision':
      return r.procedureRevision;
    case 'Technician':
      return r.technician;
    case 'CertificateId':
      return r.certificateId;
    case 'StandardId':
      return r.standardId;
    case 'StandardCertificate':
      return r.standardCertificate;
    case 'StandardDueDate':
      return r.standardDueDate;
    case 'StandardUncertainty':
      return r.standardUncertainty;
    case 'StandardOverdue':
      return r.standardOverdue;
    case 'Unit':
      return r.unit;
    case 'PointNames':
      return r.pointNames;
    case 'Nominals':
      return r.nominals;
    case 'AsFound':
      return r.asFound;
    case 'AsLeft':
      return r.asLeft;
    case 'LowerTolerance':
      return r.lowerTolerance;
    case 'UpperTolerance':
      return r.upperTolerance;
    case 'AsFoundResult':
      return r.asFoundResult;
    case 'AsLeftResult':
      return r.asLeftResult;
    case 'Adjusted':
      return r.adjusted;
    case 'CompletedAt':
      return new Date(r.completedAt);
    case 'NextDue':
      return r.nextDue;
    case 'TemperatureC':
      return r.temperatureC;
    case 'HumidityPct':
      return r.humidityPct;
    default:
      throw new Error(`no record field for ${name}`);
  }
}

interface ServerInternals {
  on_request(
    message: { request: { schema: { name: string }; methodsToCall?: { methodId?: unknown }[] } },
    channel: unknown,
  ): void;
}
interface EngineInternals {
  _sessions?: Record<string, { authenticationToken: unknown }>;
  closeSession(token: unknown, deleteSubscriptions: boolean, reason: string): void;
}
/**
 * The bench's OPC UA server (node-opcua): the address space in README.md over a BenchModel, the
 * methods StartCalibration and SetFault, a CalibrationCompletedEventType event per calibration,
 * and the communication faults (slow, disconnect).
 */
export class BenchServer {
  private server: OPCUAServer | undefined;
  private tempPki: string | undefined;
  private tick: NodeJS.Timeout | undefined;
  private dropTimer: NodeJS.Timeout | undefined;
  private dropEvery: NodeJS.Timeout | undefined;
  private readonly written = new Map<UAVariable, { value: unknown; status: StatusCode }>();
  private liveNodes:
    Record<'state' | 'asset' | 'health' | 'reference' | 'device' | 'unit' | 'oil', UAVariable> | undefined;
  private lastCal: LastCalNodes = {};
  private bench: UAObject | undefined;
  private eventType: UAEventType | undefined;
  private certificateFile = '';
  endpointUrl = '';
  port = 0;

  constructor(private readonly opts: BenchServerOptions) {}

  get certificatePath(): string {
    return this.certificateFile;
  }

  async start(): Promise<{ endpointUrl: string; port: number; certificateFile: string }> {
    const o = this.opts;
    const pkiDir = o.pkiDir ?? (this.tempPki = mkdtempSync(join(tmpdir(), 'rigtrace-cal-bench-pki-')));
    const serverCertificateManager = new OPCUACertificateManager({
      rootFolder: join(pkiDir, 'server'),
      // A simulator: it trusts every client certificate (a real device is configured per client).
      automaticallyAcceptUnknownCertificate: true,
      disableFileWatchers: true,
    });
    const userCertificateManager = new OPCUACertificateManager({
      rootFolder: join(pkiDir, 'user'),
      automaticallyAcceptUnknownCertificate: false,
      disableFileWatchers: true,
    });
    const wildcard = o.host === '0.0.0.0' || o.host === '::';
    const advertised = wildcard ? osHostname() : o.host;
    const secure = [
      SecurityPolicy.Basic256Sha256,
      SecurityPolicy.Aes128_Sha256_RsaOaep,
      SecurityPolicy.Aes256_Sha256_RsaPss,
    ];
    const security =
      o.security === 'none'
        ? { securityModes: [MessageSecurityMode.None], securityPolicies: [SecurityPolicy.None] }
        : o.security === 'sign'
          ? {
              securityModes: [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
              securityPolicies: secure,
            }
          : {
              securityModes: [
                MessageSecurityMode.None,
                MessageSecurityMode.Sign,
                MessageSecurityMode.SignAndEncrypt,
              ],
              securityPolicies: [SecurityPolicy.None, ...secure],
            };
    const user = o.user;
    const server = new OPCUAServer({
      port: o.port,
      host: wildcard ? undefined : o.host,
      hostname: advertised,
      resourcePath: RESOURCE_PATH,
      nodeset_filename: [nodesets.standard],
      skipOwnNamespace: true,
      serverCertificateManager,
      userCertificateManager,
      ...security,
      allowAnonymous: user === undefined,
      userManager: {
        isValidUser: (username: string, password: string) =>
          user !== undefined && username === user.username && password === user.password,
      },
      serverInfo: {
        applicationUri: `urn:rigtrace:sim:cal-bench:${o.asset}`,
        productUri: NAMESPACE_URI,
        applicationName: { text: `RigTrace cal-bench ${o.asset}`, locale: 'en' },
      },
      buildInfo: {
        productName: 'RigTrace calibration bench simulator',
        manufacturerName: 'RigTrace',
        softwareVersion: '0.1.0',
      },
      maxConnectionsPerEndpoint: 50,
    });
    this.server = server;
    try {
      await server.initialize();
      this.buildAddressSpace();
      this.installSlowFault();
      await server.start();
    } catch (err) {
      this.server = undefined;
      await server.shutdown(0).catch(() => undefined);
      if (this.tempPki) rmSync(this.tempPki, { recursive: true, force: true });
      this.tempPki = undefined;
      throw err;
    }
    const port = server.endpoints[0]?.port;
    if (port === undefined) throw new Error('the OPC UA server has no endpoint');
    this.port = port;
    this.endpointUrl = `opc.tcp://${advertised}:${port}${RESOURCE_PATH}`;
    this.certificateFile = serverCertificateManager.rootDir
      ? join(serverCertificateManager.rootDir, 'own', 'certs', 'certificate.pem')
      : '';
    const certFile = (server as unknown as { certificateFile?: string }).certificateFile;
    if (typeof certFile === 'string' && certFile !== '') this.certificateFile = certFile;

    o.model.on('calibration-completed', (r) => this.publishCalibration(r));
    o.model.on('fault', (f) => this.onFault(f.name, f.on));
    return { endpointUrl: this.endpointUrl, port, certificateFile: this.certificateFile };
  }

  /** Starts moving the model with the clock (every 50 ms), after the caller has announced the server. */
  startTicking(): void {
    if (this.tick !== undefined || !this.server) return;
    this.tick = setInterval(() => this.onTick(), 50);
    this.onTick();
  }

  async stop(): Promise<void> {
    clearInterval(this.tick);
    clearTimeout(this.dropTimer);
    clearInterval(this.dropEvery);
    this.tick = this.dropTimer = this.dropEvery = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) {
      await server.shutdown(0);
      await server.serverCertificateManager.dispose();
      await server.userCertificateManager.dispose();
    }
    if (this.tempPki) rmSync(this.tempPki, { recursive: true, force: true });
    this.tempPki = undefined;
  }

  private buildAddressSpace(): void {
    const addressSpace = this.server!.engine.addressSpace!;
    const ns: Namespace = addressSpace.registerNamespace(NAMESPACE_URI);
    if (ns.index !== NAMESPACE_INDEX) throw new Error(`namespace ${NAMESPACE_URI} got index ${ns.index}`);
    const objects = addressSpace.rootFolder.objects;
    const bench = ns.addObject({
      organizedBy: objects,
      browseName: 'Bench',
      nodeId: 's=Bench',
      eventNotifier: 1,
      description: 'calibration bench: calibrates the flow rigs sensors against reference standards',
    });
    this.bench = bench;
    objects.server.addReference({ referenceType: 'HasNotifier', nodeId: bench });

    const str = (parent: UAObject, name: string, path: string, value: string): UAVariable =>
      ns.addVariable({
        componentOf: parent,
        browseName: name,
        nodeId: `s=Bench.${path}`,
        dataType: 'String',
        value: { dataType: DataType.String, value },
      });
    const dbl = (parent: UAObject, name: string, path: string): UAVariable =>
      ns.addVariable({
        componentOf: parent,
        browseName: name,
        nodeId: `s=Bench.${path}`,
        dataType: 'Double',
        value: { dataType: DataType.Double, value: 0 },
      });
    const model = this.opts.model;
    const state = str(bench, 'State', 'State', model.live.state);
    const asset = str(bench, 'Asset', 'Asset', this.opts.asset);
    const health = str(bench, 'Health', 'Health', model.live.health);
    const live = ns.addObject({ componentOf: bench, browseName: 'Live', nodeId: 's=Bench.Live' });
    const reference = dbl(live, 'ReferenceValue', 'Live.ReferenceValue');
    const device = dbl(live, 'DeviceValue', 'Live.DeviceValue');
    const unit = str(live, 'Unit', 'Live.Unit', '');
    const oil = ns.addAnalogDataItem({
      componentOf: live,
      browseName: 'OilTemperature',
      nodeId: 's=Bench.Live.OilTemperature',
      dataType: 'Double',
      engineeringUnitsRange: { low: 0, high: 100 },
      engineeringUnits: standardUnits.degree_celsius,
      value: { dataType: DataType.Double, value: model.live.oilTemperature },
    });
    this.liveNodes = { state, asset, health, reference, device, unit, oil };

    const lastCal = ns.addObject({
      componentOf: bench,
      browseName: 'LastCalibration',
      nodeId: 's=Bench.LastCalibration',
    });
    for (const field of LAST_CAL_FIELDS) {
      this.lastCal[field.name] = ns.addVariable({
        componentOf: lastCal,
        browseName: field.name,
        nodeId: `s=Bench.LastCalibration.${field.name}`,
        dataType: field.type,
        ...(field.array ? { valueRank: 1, arrayDimensions: [0] } : {}),
        value: variant(field.type, emptyValue(field), field.array),
      });
    }

    const eventType = ns.addEventType({
      browseName: 'CalibrationCompletedEventType',
      subtypeOf: 'BaseEventType',
      isAbstract: false,
    });
    for (const [name, dataType] of [
      ['EquipmentId', 'String'],
      ['CertificateId', 'String'],
      ['Sequence', 'UInt32'],
      ['AsFoundResult', 'String'],
      ['AsLeftResult', 'String'],
      ['StandardOverdue', 'Boolean'],
    ] as const) {
      ns.addVariable({
        propertyOf: eventType,
        browseName: name,
        nodeId: `s=CalibrationCompletedEventType.${name}`,
        dataType,
        modellingRule: 'Mandatory',
      });
    }
    this.eventType = eventType;

    const startCalibration = ns.addMethod(bench, {
      browseName: 'StartCalibration',
      nodeId: 's=Bench.StartCalibration',
      inputArguments: [
        { name: 'EquipmentId', dataType: DataType.String, description: { text: 'e.g. PT-RIG01-RAIL' } },
      ],
      outputArguments: [],
    });
    // node-opcua takes the promise form only for a function declaring exactly two parameters.
    startCalibration.bindMethod(async (args: Variant[], _context: ISessionContext) => {
      await Promise.resolve();
      const equipmentId = String(args[0]?.value ?? '');
      const result = model.requestCalibration(equipmentId);
      if (!result.ok) {
        this.opts.log({
          event: 'method-refused',
          method: 'StartCalibration',
          equipmentId,
          reason: result.reason,
        });
        return {
          statusCode: result.reason.startsWith('unknown')
            ? StatusCodes.BadInvalidArgument
            : StatusCodes.BadInvalidState,
        };
      }
      this.opts.log({ event: 'calibration-requested', equipmentId, startsNow: result.startsNow });
      this.onTick();
      return { statusCode: StatusCodes.Good, outputArguments: [] };
    });

    const setFault = ns.addMethod(bench, {
      browseName: 'SetFault',
      nodeId: 's=Bench.SetFault',
      inputArguments: [
        {
          name: 'Name',
          dataType: DataType.String,
          description: { text: 'drift, overdue-standard, bad-status, uncertain, freeze, disconnect, slow' },
        },
        { name: 'On', dataType: DataType.Boolean },
      ],
      outputArguments: [],
    });
    setFault.bindMethod(async (args: Variant[], _context: ISessionContext) => {
      await Promise.resolve();
      const name = String(args[0]?.value ?? '');
      const on = args[1]?.value === true;
      if (!isFaultName(name)) {
        this.opts.log({ event: 'method-refused', method: 'SetFault', name, reason: 'unknown fault' });
        return { statusCode: StatusCodes.BadInvalidArgument };
      }
      model.setFault(name, on, 'method');
      this.onTick();
      return { statusCode: StatusCodes.Good, outputArguments: [] };
    });
  }

  /** Writes a value only when it (or its status) changed, so the source timestamp means "changed at". */
  private write(node: UAVariable, v: VariantLike, status: StatusCode, at: Date): void {
    const prev = this.written.get(node);
    const same =
      prev !== undefined && prev.status === status && JSON.stringify(prev.value) === JSON.stringify(v.value);
    if (same) return;
    this.written.set(node, { value: v.value, status });
    node.setValueFromSource(v, status, at);
  }

  private onTick(): void {
    const n = this.liveNodes;
    if (!n || !this.server) return;
    const model = this.opts.model;
    model.advanceTo(this.opts.now());
    const at = new Date(this.opts.now());
    const live = model.live;
    const good = StatusCodes.Good;
    this.write(n.state, variant('String', live.state), good, at);
    this.write(n.asset, variant('String', this.opts.asset), good, at);
    this.write(n.health, variant('String', live.health), good, at);
    const status = model.hasFault('bad-status')
      ? LIVE_STATUS.bad
      : model.hasFault('uncertain')
        ? LIVE_STATUS.uncertain
        : LIVE_STATUS.good;
    // With a non-good status the value is the last usable one: it is held, only the status changes.
    const hold = status !== good;
    const value = (node: UAVariable, type: string, v: unknown): void => {
      const prev = this.written.get(node);
      this.write(node, variant(type, hold && prev ? prev.value : v), status, at);
    };
    value(n.reference, 'Double', live.referenceValue);
    value(n.device, 'Double', live.deviceValue);
    value(n.unit, 'String', live.unit);
    value(n.oil, 'Double', live.oilTemperature);
  }

  /** All LastCalibration nodes in one synchronous step, Sequence last, then the event. */
  private publishCalibration(r: CalibrationRecord): void {
    const at = new Date(r.completedAt);
    for (const field of LAST_CAL_FIELDS) {
      const node = this.lastCal[field.name]!;
      node.setValueFromSource(
        variant(field.type, recordValue(r, field.name), field.array),
        StatusCodes.Good,
        at,
      );
    }
    if (this.bench && this.eventType) {
      this.bench.raiseEvent(this.eventType, {
        message: {
          dataType: DataType.LocalizedText,
          value: { text: `calibration complete ${r.equipmentId} ${r.asFoundResult}` },
        },
        severity: {
          dataType: DataType.UInt16,
          value: r.asFoundResult === 'pass' && !r.standardOverdue ? 200 : 700,
        },
        sourceName: { dataType: DataType.String, value: `${this.opts.asset}` },
        equipmentId: { dataType: DataType.String, value: r.equipmentId },
        certificateId: { dataType: DataType.String, value: r.certificateId },
        sequence: { dataType: DataType.UInt32, value: r.sequence },
        asFoundResult: { dataType: DataType.String, value: r.asFoundResult },
        asLeftResult: { dataType: DataType.String, value: r.asLeftResult },
        standardOverdue: { dataType: DataType.Boolean, value: r.standardOverdue },
      });
    }
  }

  private onFault(name: FaultName, on: boolean): void {
    if (name !== 'disconnect') return;
    clearTimeout(this.dropTimer);
    clearInterval(this.dropEvery);
    this.dropTimer = this.dropEvery = undefined;
    if (!on) return;
    // Shortly after the fault is switched on (so the SetFault reply gets out), then repeatedly.
    this.dropTimer = setTimeout(() => this.dropSessions(), 100);
    this.dropEvery = setInterval(() => this.dropSessions(), this.opts.disconnectEverySeconds * 1000);
  }

  /** The disconnect fault: every session is closed (its subscriptions deleted) and every socket dropped. */
  private dropSessions(): void {
    const server = this.server;
    if (!server) return;
    const engine = server.engine as unknown as EngineInternals;
    let sessions = 0;
    for (const session of Object.values(engine._sessions ?? {})) {
      try {
        engine.closeSession(session.authenticationToken, true, 'Terminated');
        sessions++;
      } catch {
        // already closing
      }
    }
    // (killClientSockets() no longer reaches the sockets in node-opcua 2.18x; this does.)
    for (const endpoint of server.endpoints) endpoint.abruptlyInterruptChannels();
    this.opts.log({ event: 'sessions-dropped', sessions });
  }

  /** The slow fault delays every request a client waits on, except SetFault (so it can always be switched off). */
  private installSlowFault(): void {
    const server = this.server as unknown as ServerInternals;
    const original = server.on_request.bind(server);
    const setFaultId = benchNodeId('SetFault');
    server.on_request = (message, channel) => {
      const request = message.request;
      const name = request.schema.name;
      const isSetFault =
        name === 'CallRequest' &&
        (request.methodsToCall ?? []).some((m) => String(m.methodId) === setFaultId);
      if (this.opts.model.hasFault('slow') && !NOT_SLOWED.has(name) && !isSetFault) {
        setTimeout(() => {
          try {
            original(message, channel);
          } catch (err) {
            this.opts.log({ event: 'slow-reply-failed', request: name, error: String(err) });
          }
        }, this.opts.slowDelayMs);
        return;
      }
      original(message, channel);
    };
  }
}
