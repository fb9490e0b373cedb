/**
 * A torque calibration bench nobody in this project designed, for the edge's tests: a plain
 * node-opcua server (in the test's process) that signals each completed result as an OPC UA
 * Alarms & Conditions condition, as many third-party devices do. Its own layout:
 *
 *   ns=1;s=TQ-Bench                          Object, event source of the Server object
 *   ns=1;s=TQ-Bench.Result.Report            String   the held result's report number
 *   ns=1;s=TQ-Bench.Result.Found             Float    N·m as found
 *   ns=1;s=TQ-Bench.Result.Left              Float    N·m as left
 *   ns=1;s=TQ-Bench.ResultPending            Boolean  a result waits for its Acknowledge
 *   ns=1;s=TQ-Bench.CalibrationFinished      AlarmConditionType instance (the condition)
 *
 * Each completed result raises the condition again (a new EventId, AckedState false, Retain
 * true, Message "calibration <report> finished"); the values of the result are shown until the
 * condition is acknowledged (its Acknowledge method, with that EventId). The next result is held
 * until then. The bench counts every Acknowledge call, good or refused.
 *
 * Started with `{ confirm: true }`, the condition has a ConfirmedState and a Confirm method, as
 * benches that want an operator's (here the edge's) confirmation have: an Acknowledge announces
 * the condition acknowledged and unconfirmed (a new EventId), and the result is shown, and the
 * next one held, until the condition is confirmed (its Confirm method, with that EventId).
 */
import {
  DataType,
  OPCUAServer,
  StatusCodes,
  Variant,
  nodesets,
  type AddressSpace,
  type UAAlarmConditionEx,
  type UAMethod,
  type VariantLike,
  type ISessionContext,
  type CallMethodResultOptions,
} from 'node-opcua';

export interface BenchResult {
  n: number;
  report: string;
  found: number;
  left: number;
}

export interface AcBench {
  port: number;
  /** The condition's NodeId. */
  conditionId: string;
  /** A calibration completes (held until the previous one is acknowledged). */
  complete(): BenchResult;
  /** Results acknowledged, in order (report numbers). */
  acknowledged: string[];
  /** Every Acknowledge call received: the report it was for, the comment, and its answer. */
  calls: { report: string | undefined; comment: string; status: string }[];
  /** Results completed and not yet acknowledged (the first is the one shown). */
  pending(): BenchResult[];
  /** Called as an Acknowledge arrives; return a status name to answer it without acknowledging. */
  onAcknowledge: ((r: BenchResult) => string | undefined) | undefined;
  /** Called as the result's report is read. */
  onRead: ((r: BenchResult) => void) | undefined;
  /** With `confirm`: results confirmed, in order (report numbers). */
  confirmed: string[];
  /** With `confirm`: every Confirm call received, as `calls`. */
  confirmCalls: { report: string | undefined; comment: string; status: string }[];
  /** With `confirm`: called as a Confirm arrives; return a status name to answer it without confirming. */
  onConfirm: ((r: BenchResult) => string | undefined) | undefined;
  shutdown(): Promise<void>;
}

export const resultOf = (n: number): BenchResult => ({
  n,
  report: `TQ-${String(n).padStart(4, '0')}`,
  found: 50 + (n % 7) * 0.125,
  left: 50 + (n % 3) * 0.0625,
});

/**
 * An edge config that maps this bench as a plant would: a calibration record per condition raised
 * (its report, found and left values read when the event arrives), with the given handshake.
 */
export const acBenchEdgeConfig = (o: {
  dataDir: string;
  name: string;
  port: number;
  handshake: Record<string, unknown>;
}) => ({
  version: 1,
  edge: { dataDir: o.dataDir, name: o.name },
  cloud: { url: 'http://127.0.0.1:9' },
  buffer: { commitIntervalMs: 5 },
  log: { level: 'warn' },
  sources: [
    {
      id: 'torque',
      protocol: 'opcua',
      equipment: 'TQ-BENCH-3',
      endpointUrl: `opc.tcp://127.0.0.1:${o.port}`,
      publishingIntervalMs: 100,
      items: [{ name: 'pending', nodeId: 'ns=1;s=TQ-Bench.ResultPending' }],
      telemetry: { everyMs: 60_000 },
      records: [
        {
          kind: 'calibration',
          trigger: { event: { type: 'i=2915', node: 'ns=1;s=TQ-Bench' } },
          read: {
            report: 'ns=1;s=TQ-Bench.Result.Report',
            found: 'ns=1;s=TQ-Bench.Result.Found',
            left: 'ns=1;s=TQ-Bench.Result.Left',
          },
          handshake: o.handshake,
          fields: {
            equipment: 'TW-0042',
            certificate: '=report',
            points: [
              {
                name: 'torque@50Nm',
                nominal: 50,
                unit: 'N.m',
                asFound: '=found',
                asLeft: '=left',
                tolerance: 1,
              },
            ],
          },
        },
      ],
    },
  ],
});

/** A condition method as node-opcua keeps it: its standard implementation can be wrapped. */
type ConditionMethod = UAMethod & {
  _asyncExecutionFunction?: (
    this: UAMethod,
    args: VariantLike[],
    context: ISessionContext,
    cb: (err: Error | null, r?: CallMethodResultOptions) => void,
  ) => void;
};

export async function startAcBench(opts: { confirm?: boolean } = {}): Promise<AcBench> {
  const server = new OPCUAServer({
    port: 0,
    nodeset_filename: [nodesets.standard],
    buildInfo: { productName: 'TQ-Bench 3', manufacturerName: 'Somewhere Instruments' },
  });
  await server.initialize();
  const addressSpace: AddressSpace = server.engine.addressSpace!;
  // ConditionRefresh and the standard condition methods, as an A&C server has them.
  addressSpace.installAlarmsAndConditionsService();
  const ns = addressSpace.getOwnNamespace();
  const queue: BenchResult[] = [];
  let produced = 0;

  const bench = ns.addObject({
    organizedBy: addressSpace.rootFolder.objects,
    browseName: 'TQ-Bench',
    nodeId: 's=TQ-Bench',
    eventSourceOf: addressSpace.rootFolder.objects.server,
    eventNotifier: 1,
  });
  const self: AcBench = {
    port: 0,
    conditionId: 'ns=1;s=TQ-Bench.CalibrationFinished',
    acknowledged: [],
    calls: [],
    onAcknowledge: undefined,
    onRead: undefined,
    confirmed: [],
    confirmCalls: [],
    onConfirm: undefined,
    pending: () => [...queue],
    complete: () => {
      const r = resultOf((produced += 1));
      queue.push(r);
      if (queue.length === 1) raise();
      return r;
    },
    shutdown: async () => {
      await server.shutdown();
    },
  };
  const variable = (name: string, dataType: DataType, get: (r: BenchResult | undefined) => unknown) =>
    ns.addVariable({
      componentOf: bench,
      browseName: name,
      nodeId: `s=TQ-Bench.${name}`,
      minimumSamplingInterval: 100,
      dataType: DataType[dataType],
      value: { get: () => new Variant({ dataType, value: get(queue[0]) }) },
    });
  variable('Result.Report', DataType.String, (r) => {
    if (r) self.onRead?.(r);
    return r?.report ?? '';
  });
  variable('Result.Found', DataType.Float, (r) => r?.found ?? 0);
  variable('Result.Left', DataType.Float, (r) => r?.left ?? 0);
  const pendingNode = variable('ResultPending', DataType.Boolean, (r) => r !== undefined);

  const alarm: UAAlarmConditionEx = ns.instantiateAlarmCondition('AlarmConditionType', {
    componentOf: bench,
    conditionSource: bench,
    browseName: 'CalibrationFinished',
    conditionName: 'CalibrationFinished',
    nodeId: 's=TQ-Bench.CalibrationFinished',
    inputNode: pendingNode,
    ...(opts.confirm ? { optionals: ['ConfirmedState', 'Confirm'] } : {}),
  });
  alarm.setEnabledState(true);

  /** Raises the condition for the result shown: a new EventId, waiting for its Acknowledge. */
  function raise(): void {
    const r = queue[0];
    if (!r) return;
    const branch = alarm.currentBranch();
    branch.setActiveState(true);
    branch.setAckedState(false);
    alarm.raiseNewCondition({
      message: `calibration ${r.report} finished`,
      severity: 300,
      quality: StatusCodes.Good,
      retain: true,
    });
  }

  type Branch = ReturnType<UAAlarmConditionEx['currentBranch']>;
  /**
   * One of the bench's condition methods (Acknowledge, Confirm): each call counted in `calls`,
   * answered with the status `answer` gives for the result shown, else the standard behaviour
   * (the EventId must be the condition's current one, and the branch `ready`); a call that leaves
   * the branch `done` goes on to `then` with the result shown.
   */
  const wrapConditionMethod = (
    methodId: string,
    o: {
      calls: AcBench['calls'];
      answer: (r: BenchResult) => string | undefined;
      ready: (branch: Branch) => boolean;
      done: (branch: Branch) => boolean;
      then: (r: BenchResult) => void;
    },
  ) => {
    const method = addressSpace.findNode(methodId) as ConditionMethod;
    const standard = method._asyncExecutionFunction!;
    method.bindMethod(function (this: UAMethod, args, context, callback) {
      const r = queue[0];
      const comment = String((args[1]?.value as { text?: string } | undefined)?.text ?? '');
      const eventId = args[0]?.value as Buffer | undefined;
      const branch = alarm.currentBranch();
      const forShown =
        r !== undefined &&
        o.ready(branch) &&
        eventId !== undefined &&
        Buffer.compare(eventId, branch.getEventId()) === 0;
      const answer = forShown ? o.answer(r) : undefined;
      if (answer !== undefined) {
        o.calls.push({ report: r?.report, comment, status: answer });
        callback(null, {
          statusCode: (StatusCodes as unknown as Record<string, typeof StatusCodes.Good>)[answer],
        });
        return;
      }
      standard.call(this, args, context, (err, result) => {
        const status = result?.statusCode?.name ?? (err ? 'error' : 'Good');
        o.calls.push({ report: r?.report, comment, status });
        if (!err && forShown && o.done(alarm.currentBranch())) o.then(r);
        callback(err, result);
      });
    });
  };
  /** The result shown is done with: the next one is shown, and its condition raised. */
  const release = () => {
    queue.shift();
    setImmediate(raise);
  };

  // The bench's Acknowledge: an acknowledged result releases the next (with `confirm`, its Confirm does).
  wrapConditionMethod('i=9111', {
    calls: self.calls,
    answer: (r) => self.onAcknowledge?.(r),
    ready: () => true,
    done: (b) => b.getAckedState(),
    then: (r) => {
      self.acknowledged.push(r.report);
      if (!opts.confirm) release();
    },
  });
  // The bench's Confirm (with `confirm`): on an acknowledged condition; a confirmed result releases the next.
  if (opts.confirm)
    wrapConditionMethod('i=9113', {
      calls: self.confirmCalls,
      answer: (r) => self.onConfirm?.(r),
      ready: (b) => b.getAckedState(),
      done: (b) => b.getConfirmedState(),
      then: (r) => {
        self.confirmed.push(r.report);
        release();
      },
    });

  await server.start();
  self.port = server.endpoints[0]!.port;
  return self;
}
