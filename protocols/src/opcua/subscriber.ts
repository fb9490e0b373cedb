import { EventEmitter } from 'node:events';
import {
  AttributeIds,
  ContentFilterElement,
  DataChangeFilter,
  DataType,
  DataChangeTrigger,
  DeadbandType,
  FilterOperator,
  LiteralOperand,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  UserTokenType,
  Variant,
  and,
  constructEventFilter,
  makeContentFilter,
  ofType,
  s as attributeOperand,
  type ClientMonitoredItemBase,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
  type MonitoringParametersOptions,
  type ReadValueIdOptions,
  type UserIdentityInfo,
} from 'node-opcua';
import { statusOnlyValue, toOpcuaValue, variantValue } from './convert.js';
import { OpcuaConfigError, OpcuaError } from './errors.js';
import { openClientPki, type ClientPki } from './pki.js';
import type {
  OpcuaEventSpec,
  OpcuaLogger,
  OpcuaSourceOptions,
  OpcuaStats,
  OpcuaSubscriberEvents,
  OpcuaValue,
} from './types.js';
import { validateOpcuaOptions, type ResolvedOpcuaOptions } from './validate.js';

const NOOP_LOGGER: OpcuaLogger = { info() {}, warn() {}, error() {}, debug() {} };

type Item = ResolvedOpcuaOptions['items'][number];

interface ItemState {
  spec: Item;
  /** The monitored item that currently stands for this item (undefined: none on the server). */
  monitored: ClientMonitoredItemBase | undefined;
  /** Bad result of the last attempt to create it (the server refused the item). */
  refused: number | undefined;
}

/** One connection generation: a client, its session and our subscription on it. */
interface Link {
  gen: number;
  client: OPCUAClient;
  session: ClientSession | undefined;
  sessionId: string;
  subscription: ClientSubscription | undefined;
  /** node-opcua is re-establishing the channel/session of this link. */
  repairing: boolean;
  /** Removes our listeners from the client. */
  unwire: (() => void)[];
}

interface Verification {
  /** 'initial': the first subscription ever (no 'resubscribed' event); 'resubscribed': every other one. */
  kind: 'initial' | 'resubscribed';
  pending: Set<string>;
  reported: number;
  round: number;
  timer: NodeJS.Timeout | undefined;
}

class StaleLink extends Error {}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.message;
  return String(err);
}

/** Resolves with the promise, or rejects with OPCUA_TIMEOUT after `ms` (the timer never outlives it). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new OpcuaError('OPCUA_TIMEOUT', `${what}: no answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A request that got no answer in time (ours, or node-opcua's own transaction timeout). */
function isTimeout(err: unknown): boolean {
  if (err instanceof OpcuaError) return err.code === 'OPCUA_TIMEOUT';
  return err instanceof Error && /timed? ?out|timeout/i.test(err.message);
}

/** A Bad status (severity bits 10): not Good, not Uncertain. */
function isBadCode(code: { value: number } | undefined): boolean {
  return code !== undefined && (code.value & 0x8000_0000) !== 0;
}

function parametersKey(item: Item): string {
  return JSON.stringify([item.samplingIntervalMs, item.queueSize, item.deadband ?? null]);
}

function monitoringParameters(item: Item): MonitoringParametersOptions {
  const params: MonitoringParametersOptions = {
    samplingInterval: item.samplingIntervalMs,
    queueSize: item.queueSize,
    discardOldest: true,
  };
  if (item.deadband) {
    params.filter = new DataChangeFilter({
      trigger: DataChangeTrigger.StatusValue,
      deadbandType: item.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
      deadbandValue: item.deadband.value,
    });
  }
  return params;
}

function isGoodCode(code: { value: number } | undefined): boolean {
  return code !== undefined && (code.value & 0xc000_0000) === 0;
}

/**
 * Subscribes (never polls) to the configured items of one OPC UA server.
 *
 * - start() never throws because the server is down: it makes the first attempt and keeps
 *   retrying with exponential backoff and jitter, forever.
 * - After a network loss or a server restart, node-opcua re-establishes the channel and the
 *   session (reactivating it, or creating a new one and transferring or re-creating the
 *   subscription and its monitored items). We do not trust that blindly: whenever the server-side
 *   state was rebuilt, EVERY item must report again (the server sends each item's current value
 *   when it is created or transferred with initial values); an item that stays silent is
 *   re-created on its own, and if that does not help the whole subscription is, then the whole
 *   connection. When the session survived, the server is asked which monitored items it holds
 *   (GetMonitoredItems) and the missing ones are re-created.
 * - A watchdog re-creates the subscription when nothing (no data, no keep-alive) arrived for
 *   watchdogMs while connected, and rebuilds the connection when that fails.
 * - Values keep their StatusCode and source timestamp; a non-Good value also emits 'status';
 *   values with the overflow info bit are counted. An item the server refuses (BadNodeIdUnknown…)
 *   emits 'status' with a null value and is retried periodically.
 * - Unknown server certificates are refused (see pki.ts).
 *
 * Events: 'value', 'status', 'connected', 'disconnected' (reason), 'resubscribed' ({ items }).
 * A listener that throws is logged; the other listeners and the subscriber carry on.
 */
export class OpcuaSubscriber extends EventEmitter<OpcuaSubscriberEvents> {
  private readonly opts: ResolvedOpcuaOptions;
  private readonly log: OpcuaLogger;
  private readonly items = new Map<string, ItemState>();
  private readonly byNodeId = new Map<string, string>();
  private pki: ClientPki | undefined;
  private link: Link | undefined;
  private gen = 0;
  private started = false;
  private stopped = false;
  private connected = false;
  private everConnected = false;
  private everSubscribed = false;
  private attempt = 0;
  private failedAttemptsLogged = 0;
  private recovering = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private repairTimer: NodeJS.Timeout | undefined;
  private refusedTimer: NodeJS.Timeout | undefined;
  private verification: Verification | undefined;
  private lastNotificationAt = 0;
  private effectiveWatchdogMs: number;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly counters = {
    sessions: 0,
    subscriptionsCreated: 0,
    notifications: 0,
    overflows: 0,
    badStatus: 0,
    reconnects: 0,
    watchdogFires: 0,
    timeouts: 0,
    exceptions: 0,
  };
  private lastError: string | undefined;
  /** Event monitored items the server accepted on the current subscription. */
  private eventsMonitored = 0;

  /** Throws OpcuaConfigError (every problem listed) when the options are invalid. */
  constructor(opts: OpcuaSourceOptions) {
    super();
    const checked = validateOpcuaOptions(opts);
    if (!checked.ok) throw new OpcuaConfigError(checked.problems);
    this.opts = checked.options;
    this.log = opts.logger ?? NOOP_LOGGER;
    this.effectiveWatchdogMs = this.opts.watchdogMs;
    for (const spec of this.opts.items) {
      this.items.set(spec.name, { spec, monitored: undefined, refused: undefined });
      if (!this.byNodeId.has(spec.nodeId)) this.byNodeId.set(spec.nodeId, spec.name);
    }
    if (this.opts.securityMode === 'None' && this.opts.trustedServerCertificates?.length) {
      this.log.warn(
        { endpointUrl: this.opts.endpointUrl },
        'opcua: trustedServerCertificates are not used with securityMode None (the server is not authenticated)',
      );
    }
    if (this.opts.securityMode === 'None' && this.opts.user) {
      this.log.warn(
        { endpointUrl: this.opts.endpointUrl },
        'opcua: a password over securityMode None is only as safe as the server user token policy; prefer SignAndEncrypt',
      );
    }
  }

  /** Makes the first connection attempt, then keeps the subscription alive until stop(). Never rejects because the server is down. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.watchdogTimer = setInterval(
      () => this.checkWatchdog(),
      Math.max(50, Math.min(1000, Math.floor(this.opts.watchdogMs / 5))),
    );
    await this.track(this.connect());
  }

  /** Closes the session and the channel; no timer is left behind. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.reconnectTimer, this.repairTimer, this.refusedTimer]) clearTimeout(t);
    clearInterval(this.watchdogTimer);
    this.reconnectTimer = this.repairTimer = this.refusedTimer = this.watchdogTimer = undefined;
    this.clearVerification();
    const link = this.link;
    this.link = undefined;
    this.gen++;
    if (link) await this.closeLink(link, true);
    await Promise.allSettled([...this.pending]);
    this.setConnected(false, 'stopped');
    if (this.pki) await this.pki.dispose().catch(() => undefined);
    this.pki = undefined;
  }

  /**
   * One Read service call for all the given nodes (a consistent snapshot, e.g. a result block read
   * once its trigger changed). A node that is one of the items gets the item's name, any other its
   * NodeId. Rejects with OpcuaError when not connected, on timeout, or when the service fails.
   */
  async read(nodeIds: string[]): Promise<OpcuaValue[]> {
    const session = this.link?.session;
    if (this.stopped) throw new OpcuaError('OPCUA_STOPPED', 'the subscriber has been stopped');
    if (!session || !this.connected || this.link?.repairing)
      throw new OpcuaError('OPCUA_NOT_CONNECTED', `not connected to ${this.opts.endpointUrl}`);
    if (nodeIds.length === 0) return [];
    const resolved = await Promise.all(nodeIds.map((id) => this.resolveNodeId(session, id)));
    const nodesToRead: ReadValueIdOptions[] = resolved.map((nodeId) => ({
      nodeId,
      attributeId: AttributeIds.Value,
    }));
    let values: DataValue[];
    try {
      values = await this.request(session.read(nodesToRead, 0), 'read');
    } catch (err) {
      if (err instanceof OpcuaError) throw err;
      throw new OpcuaError('OPCUA_REQUEST_FAILED', `read failed: ${describeError(err)}`);
    }
    // A node the server answered with a Bad status is a failed operation of the request.
    for (const dv of values) if (isBadCode(dv.statusCode)) this.counters.exceptions++;
    return values.map((dv, i) => {
      const nodeId = nodeIds[i]!;
      return toOpcuaValue(this.byNodeId.get(nodeId) ?? nodeId, nodeId, dv);
    });
  }

  /**
   * HistoryRead (raw values, source timestamps) of the given nodes between `start` and `end`, at
   * most 1000 values per node, oldest first. Each node's answer: its values, or null with the
   * status when the server keeps no history for it (BadHistoryOperationUnsupported, …). Rejects
   * with OpcuaError when not connected, on timeout, or when the service fails.
   */
  async historyRead(
    nodeIds: string[],
    start: Date,
    end: Date,
  ): Promise<{ nodeId: string; status: string; values: OpcuaValue[] | null }[]> {
    const session = this.link?.session;
    if (this.stopped) throw new OpcuaError('OPCUA_STOPPED', 'the subscriber has been stopped');
    if (!session || !this.connected || this.link?.repairing)
      throw new OpcuaError('OPCUA_NOT_CONNECTED', `not connected to ${this.opts.endpointUrl}`);
    if (nodeIds.length === 0) return [];
    const resolved = await Promise.all(nodeIds.map((id) => this.resolveNodeId(session, id)));
    let results;
    try {
      results = await this.request(
        session.readHistoryValue(
          resolved.map((nodeId) => ({ nodeId })),
          start,
          end,
          { numValuesPerNode: 1000, returnBounds: false, timestampsToReturn: TimestampsToReturn.Both },
        ),
        'history read',
      );
    } catch (err) {
      if (err instanceof OpcuaError) throw err;
      throw new OpcuaError('OPCUA_REQUEST_FAILED', `history read failed: ${describeError(err)}`);
    }
    return results.map((r, i) => {
      const nodeId = nodeIds[i]!;
      const name = this.byNodeId.get(nodeId) ?? nodeId;
      const data = (r.historyData as { dataValues?: DataValue[] | null } | null)?.dataValues;
      const good = isGoodCode(r.statusCode) && Array.isArray(data);
      return {
        nodeId,
        status: r.statusCode?.name ?? 'Good',
        values: good ? data.map((dv) => toOpcuaValue(name, nodeId, dv)) : null,
      };
    });
  }

  /**
   * Writes a value to a node (e.g. a result's acknowledge), in the node's own data type: the
   * DataType attribute is read first and the value converted (a number to Int16…Double, a
   * boolean, a text). Rejects with OpcuaError when not connected, when the value does not fit the
   * type, or when the server refuses the write (the status name is in the message).
   */
  async write(nodeId: string, value: number | boolean | string): Promise<void> {
    const session = this.link?.session;
    if (this.stopped) throw new OpcuaError('OPCUA_STOPPED', 'the subscriber has been stopped');
    if (!session || !this.connected || this.link?.repairing)
      throw new OpcuaError('OPCUA_NOT_CONNECTED', `not connected to ${this.opts.endpointUrl}`);
    const resolved = await this.resolveNodeId(session, nodeId);
    let dataType: DataType;
    try {
      const dt = await this.request(
        session.read({ nodeId: resolved, attributeId: AttributeIds.DataType }),
        'read data type',
      );
      const id = (dt.value?.value as { value?: unknown } | undefined)?.value;
      dataType = typeof id === 'number' && id in DataType ? id : DataType.Null;
    } catch (err) {
      if (err instanceof OpcuaError) throw err;
      throw new OpcuaError(
        'OPCUA_REQUEST_FAILED',
        `reading the data type of ${nodeId} failed: ${describeError(err)}`,
      );
    }
    const numeric = [
      DataType.SByte,
      DataType.Byte,
      DataType.Int16,
      DataType.UInt16,
      DataType.Int32,
      DataType.UInt32,
      DataType.Float,
      DataType.Double,
    ];
    let v: number | boolean | string;
    if (numeric.includes(dataType)) v = typeof value === 'boolean' ? Number(value) : Number(value);
    else if (dataType === DataType.Boolean) v = value === true || value === 1 || value === 'true';
    else if (dataType === DataType.String) v = String(value);
    else
      throw new OpcuaError(
        'OPCUA_REQUEST_FAILED',
        `${nodeId} has data type ${DataType[dataType] ?? dataType}; an acknowledge can be written to a number, a boolean or a string node`,
      );
    if (typeof v === 'number' && !Number.isFinite(v))
      throw new OpcuaError('OPCUA_REQUEST_FAILED', `${JSON.stringify(value)} is not a number for ${nodeId}`);
    let code;
    try {
      code = await this.request(
        session.write({
          nodeId: resolved,
          attributeId: AttributeIds.Value,
          value: { value: { dataType, value: v } },
        }),
        'write',
      );
    } catch (err) {
      if (err instanceof OpcuaError) throw err;
      throw new OpcuaError('OPCUA_REQUEST_FAILED', `write to ${nodeId} failed: ${describeError(err)}`);
    }
    if (code.value !== 0) {
      this.counters.exceptions++;
      throw new OpcuaError('OPCUA_REQUEST_FAILED', `write to ${nodeId} refused: ${code.name}`);
    }
  }

  /**
   * A request to the server within connectTimeoutMs, counted when it fails: no answer in time is a
   * timeout, a service fault (or any other failure of the request) an exception.
   */
  private request<T>(p: Promise<T>, what: string): Promise<T> {
    return withTimeout(p, this.opts.connectTimeoutMs, what).catch((err: unknown) => {
      if (isTimeout(err)) this.counters.timeouts++;
      else this.counters.exceptions++;
      throw err;
    });
  }

  stats(): OpcuaStats {
    let itemsMonitored = 0;
    for (const s of this.items.values()) {
      if (s.monitored && isGoodCode(s.monitored.statusCode) && this.link?.subscription) itemsMonitored++;
    }
    const out: OpcuaStats = {
      connected: this.connected,
      ...this.counters,
      itemsMonitored: this.connected ? itemsMonitored : 0,
      ...(this.opts.events?.length ? { eventsMonitored: this.connected ? this.eventsMonitored : 0 } : {}),
    };
    if (this.lastError !== undefined) out.lastError = this.lastError;
    return out;
  }

  // ---------------------------------------------------------------- connection

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  private identity(): UserIdentityInfo {
    const user = this.opts.user;
    return user
      ? { type: UserTokenType.UserName, userName: user.username, password: user.password }
      : { type: UserTokenType.Anonymous };
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.gen;
    const o = this.opts;
    let link: Link | undefined;
    try {
      if (!this.pki) {
        const pki = await openClientPki(o.pkiDir, o.trustedServerCertificates ?? [], (x, m) =>
          this.log.warn(x, m),
        );
        if (this.stopped) {
          await pki.dispose();
          return;
        }
        this.pki = pki;
      }
      this.assertCurrent(gen);
      const client = OPCUAClient.create({
        applicationName: 'RigTrace-Edge',
        clientName: `rigtrace ${o.endpointUrl}`,
        clientCertificateManager: this.pki.certificateManager,
        securityMode: MessageSecurityMode[o.securityMode],
        securityPolicy: SecurityPolicy[o.securityPolicy],
        endpointMustExist: false,
        // Our own loop retries the first connection; node-opcua's reconnection after a loss
        // retries forever with these delays.
        connectionStrategy: { initialDelay: o.reconnect.initialMs, maxDelay: o.reconnect.maxMs, maxRetry: 0 },
        keepSessionAlive: true,
        requestedSessionTimeout: 120_000,
        defaultTransactionTimeout: o.connectTimeoutMs,
      });
      link = {
        gen,
        client,
        session: undefined,
        sessionId: '',
        subscription: undefined,
        repairing: false,
        unwire: [],
      };
      this.link = link;
      this.wireClient(link);
      await withTimeout(client.connect(o.endpointUrl), o.connectTimeoutMs, 'connect').catch(
        (err: unknown) => {
          if (isTimeout(err)) this.counters.timeouts++;
          throw err;
        },
      );
      this.assertCurrent(gen);
      const session = await this.request(client.createSession(this.identity()), 'create session');
      link.session = session;
      link.sessionId = session.sessionId.toString();
      this.counters.sessions++;
      this.assertCurrent(gen);
      await this.subscribe(link);
      this.assertCurrent(gen);
      // From now on node-opcua re-establishes a lost channel itself, forever, reactivating the
      // session (and republishing what we missed) or creating a new one and transferring or
      // re-creating the subscription; we check the outcome (afterRepair, verification, watchdog).
      (client as unknown as { connectionStrategy: { maxRetry: number } }).connectionStrategy.maxRetry = -1;
      this.attempt = 0;
      this.failedAttemptsLogged = 0;
      this.setConnected(true);
      void this.track(this.conditionRefresh(link).catch(() => undefined));
    } catch (err) {
      // Superseded (stop() or a rebuild took over): the link is closed once (closeLink empties unwire).
      if (this.stopped || gen !== this.gen || err instanceof StaleLink) {
        if (link && link !== this.link && link.unwire.length > 0) await this.closeLink(link, false);
        return;
      }
      const reason = describeError(err);
      this.lastError = reason;
      const entry = { endpointUrl: o.endpointUrl, error: reason, attempt: this.attempt + 1 };
      if (this.failedAttemptsLogged++ === 0)
        this.log.warn(entry, 'opcua: cannot connect, retrying with backoff');
      else this.log.debug?.(entry, 'opcua: connect attempt failed');
      this.link = undefined;
      if (link) await this.closeLink(link, false);
      this.scheduleReconnect();
    }
  }

  private assertCurrent(gen: number): void {
    if (this.stopped || gen !== this.gen) throw new StaleLink('superseded');
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== undefined) return;
    const { initialMs, maxMs } = this.opts.reconnect;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 30));
    // "Equal jitter": half fixed, half random, so many gateways do not reconnect in step.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.track(this.connect());
    }, delay);
  }

  /** Throws the current link away and starts over with a new client (after backoff). */
  private rebuild(link: Link, reason: string): void {
    if (this.stopped || link !== this.link) return;
    this.log.warn({ endpointUrl: this.opts.endpointUrl, reason }, 'opcua: rebuilding the connection');
    this.lastError = reason;
    this.link = undefined;
    this.gen++;
    clearTimeout(this.repairTimer);
    this.repairTimer = undefined;
    this.clearVerification();
    this.setConnected(false, reason);
    void this.track(this.closeLink(link, false));
    this.scheduleReconnect();
  }

  /**
   * Best effort and bounded, as the server may be frozen or gone: close the session (deleting its
   * subscription on the server), then the channel. A session that cannot be closed is left to time
   * out on the server; its keep-alive and publish loops are stopped here.
   */
  private async closeLink(link: Link, graceful: boolean): Promise<void> {
    for (const off of link.unwire.splice(0)) off();
    const t = Math.min(this.opts.connectTimeoutMs, graceful ? 5000 : 2000);
    const session = link.session;
    let closed = false;
    if (session && !link.repairing) {
      closed = await withTimeout(session.close(true), t, 'close session').then(
        () => true,
        (err: unknown) => {
          this.log.debug?.({ error: describeError(err) }, 'opcua: closing the session failed');
          return false;
        },
      );
    }
    if (session && !closed) {
      const internals = session as unknown as {
        stopKeepAliveManager?(): void;
        _terminatePublishEngine?(): void;
      };
      internals.stopKeepAliveManager?.();
      internals._terminatePublishEngine?.();
    }
    const client = link.client as unknown as { keepPendingSessionsOnDisconnect: boolean };
    client.keepPendingSessionsOnDisconnect = true;
    await withTimeout(link.client.disconnect(), t, 'disconnect').catch((err: unknown) =>
      this.log.debug?.({ error: describeError(err) }, 'opcua: disconnect failed'),
    );
  }

  private setConnected(on: boolean, reason = ''): void {
    if (on && !this.connected) {
      this.connected = true;
      if (this.everConnected) this.counters.reconnects++;
      this.everConnected = true;
      this.lastNotificationAt = Date.now();
      this.log.info({ endpointUrl: this.opts.endpointUrl }, 'opcua: connected');
      this.safeEmit('connected');
      // Items that all reported before the connection was complete are announced now.
      this.maybeVerified();
    } else if (!on && this.connected) {
      this.connected = false;
      if (!this.stopped) this.log.warn({ endpointUrl: this.opts.endpointUrl, reason }, 'opcua: disconnected');
      this.safeEmit('disconnected', reason);
    }
  }

  private wireClient(link: Link): void {
    const current = (): boolean => !this.stopped && this.link === link;
    const emitter = link.client as unknown as EventEmitter;
    const client = {
      on: (event: string, listener: (...args: never[]) => void): void => {
        const l = listener as (...args: unknown[]) => void;
        emitter.on(event, l);
        link.unwire.push(() => emitter.off(event, l));
      },
    };
    client.on('connection_lost', () => {
      if (!current()) return;
      link.repairing = true;
      this.lastError = 'connection lost';
      this.clearVerification();
      this.setConnected(false, 'connection lost');
    });
    client.on('reconnection_attempt_has_failed', (err: Error, message: string) => {
      if (current()) this.lastError = `${message.split('\n')[0] ?? message}: ${describeError(err)}`;
    });
    client.on('backoff', (count: number, delay: number) => {
      if (current())
        this.log.debug?.({ attempt: count, delayMs: delay }, 'opcua: reconnection attempt failed');
    });
    client.on('after_reconnection', () => {
      if (!current()) return;
      // The channel is back; node-opcua now repairs the session. Values from here on count as the
      // items reporting again (a transfer sends initial values before the repair completes).
      this.armVerification('resubscribed');
      clearTimeout(this.repairTimer);
      const limit = Math.max(this.opts.watchdogMs, 3 * this.opts.connectTimeoutMs);
      this.repairTimer = setTimeout(() => {
        this.repairTimer = undefined;
        if (current() && link.repairing)
          this.rebuild(link, `session repair did not complete within ${limit} ms`);
      }, limit);
    });
    client.on('connection_reestablished', () => {
      if (current()) void this.track(this.afterRepair(link));
    });
    client.on('close', (err?: Error | null) => {
      if (current() && err) this.rebuild(link, `connection closed: ${describeError(err)}`);
    });
  }

  /**
   * node-opcua replaces a session the server lost behind our back (after a reconnection, or when a
   * request meets BadSessionIdInvalid); the session object stays, its id changes. Counts it.
   */
  private noteSession(link: Link): boolean {
    const sessionId = link.session?.sessionId.toString() ?? '';
    if (sessionId === link.sessionId) return false;
    link.sessionId = sessionId;
    this.counters.sessions++;
    this.log.info({ endpointUrl: this.opts.endpointUrl }, 'opcua: the session was re-created');
    return true;
  }

  /** node-opcua has re-established channel and session: check what survived. */
  private async afterRepair(link: Link): Promise<void> {
    clearTimeout(this.repairTimer);
    this.repairTimer = undefined;
    link.repairing = false;
    const session = link.session;
    if (!session) return;
    const newSession = this.noteSession(link);
    // Same session: the server kept it, with its subscription. Whatever it re-sent does not tell
    // which items it still holds, so the values seen during the repair do not count (below).
    if (!newSession) this.clearVerification();
    const verifying = this.verification !== undefined;
    this.setConnected(true);
    // A condition whose acknowledge was lost with the link is announced again.
    void this.track(this.conditionRefresh(link).catch(() => undefined));
    if (newSession) {
      // Server-side state was rebuilt (transferred or re-created): every item must report again
      // (setConnected announced it if they all did during the repair).
      if (!verifying) this.armVerification('resubscribed');
      return;
    }
    // Instead of waiting for values, ask the server which monitored items it holds.
    const sub = link.subscription;
    if (!sub) return;
    try {
      const held = await withTimeout(
        sub.getMonitoredItems(),
        this.opts.connectTimeoutMs,
        'GetMonitoredItems',
      );
      if (this.link !== link) return;
      const handles = new Set(Array.from(held.clientHandles ?? [], Number));
      const missing = [...this.items.values()].filter(
        (s) => s.monitored && !handles.has(s.monitored.monitoringParameters.clientHandle ?? -1),
      );
      if (missing.length > 0) {
        this.log.warn(
          { items: missing.map((s) => s.spec.name) },
          'opcua: the server lost monitored items of a surviving subscription; re-creating them',
        );
        this.armVerification(
          'resubscribed',
          missing.map((s) => s.spec.name),
        );
        for (const s of missing) await this.recreateItem(link, s);
      } else {
        this.safeEmit('resubscribed', { items: handles.size });
      }
    } catch (err) {
      this.log.debug?.(
        { error: describeError(err) },
        'opcua: GetMonitoredItems failed; relying on the watchdog',
      );
    }
  }

  // ---------------------------------------------------------------- subscription

  /** Creates the subscription and every monitored item on the link's session. */
  private async subscribe(link: Link): Promise<void> {
    const session = link.session;
    if (!session) throw new Error('no session');
    const o = this.opts;
    const keepAliveCount = Math.max(1, Math.floor(o.watchdogMs / (3 * o.publishingIntervalMs)));
    const lifetimeCount = Math.max(3 * keepAliveCount, Math.ceil(120_000 / o.publishingIntervalMs));
    const sub = await withTimeout(
      session.createSubscription2({
        requestedPublishingInterval: o.publishingIntervalMs,
        requestedMaxKeepAliveCount: keepAliveCount,
        requestedLifetimeCount: lifetimeCount,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      }),
      o.connectTimeoutMs,
      'create subscription',
    );
    if (this.link !== link || this.stopped) {
      void sub.terminate().catch(() => undefined);
      throw new StaleLink('superseded');
    }
    link.subscription = sub;
    this.counters.subscriptionsCreated++;
    this.lastNotificationAt = Date.now();
    const keepAliveMs = sub.publishingInterval * sub.maxKeepAliveCount;
    this.effectiveWatchdogMs = Math.max(o.watchdogMs, Math.ceil(1.5 * keepAliveMs));
    if (this.effectiveWatchdogMs > o.watchdogMs) {
      this.log.warn(
        { watchdogMs: o.watchdogMs, keepAliveMs, effectiveWatchdogMs: this.effectiveWatchdogMs },
        'opcua: the server revised the keep-alive period beyond the watchdog; watchdog lengthened',
      );
    }
    this.wireSubscription(link, sub);
    for (const s of this.items.values()) {
      s.monitored = undefined;
      s.refused = undefined;
    }
    this.armVerification(this.everSubscribed ? 'resubscribed' : 'initial');
    this.everSubscribed = true;
    // One CreateMonitoredItems call per set of equal parameters, one after the other.
    const groups = new Map<string, ItemState[]>();
    for (const s of this.items.values()) {
      const key = parametersKey(s.spec);
      const group = groups.get(key) ?? [];
      group.push(s);
      groups.set(key, group);
    }
    for (const group of groups.values()) {
      const first = group[0]!.spec;
      const toMonitor: ReadValueIdOptions[] = [];
      for (const s of group)
        toMonitor.push({
          nodeId: await this.resolveNodeId(session, s.spec.nodeId),
          attributeId: AttributeIds.Value,
        });
      const created = await withTimeout(
        sub.monitorItems(toMonitor, monitoringParameters(first), TimestampsToReturn.Both),
        o.connectTimeoutMs,
        'create monitored items',
      );
      if (this.link !== link || link.subscription !== sub) throw new StaleLink('superseded');
      created.monitoredItems.forEach((mi, i) => {
        const s = group[i];
        if (s) this.attachItem(link, s, mi);
      });
    }
    this.eventsMonitored = 0;
    for (const e of o.events ?? []) await this.monitorEvents(link, sub, e);
    this.startRefusedRetry(link);
    // A first connection refreshes once connected (see connect()): a condition announced again is
    // acknowledged at once, and an acknowledge needs the subscriber connected.
    if (this.connected) await this.conditionRefresh(link);
  }

  /**
   * ConditionRefresh (Part 9) on the link's subscription, when an event spec asks for it: the
   * server announces again each condition it retains, so one still waiting for its Acknowledge
   * (the acknowledge was lost with the edge or the link) is seen again. A server that refuses it
   * is logged; the events still flow.
   */
  private async conditionRefresh(link: Link): Promise<void> {
    const session = link.session;
    const sub = link.subscription;
    if (!session || !sub || !(this.opts.events ?? []).some((e) => e.conditionRefresh)) return;
    try {
      const r = await this.request(
        session.call({
          objectId: 'i=2782', // ConditionType
          methodId: 'i=3875', // ConditionType.ConditionRefresh
          inputArguments: [new Variant({ dataType: DataType.UInt32, value: sub.subscriptionId })],
        }),
        'ConditionRefresh',
      );
      if (!isGoodCode(r.statusCode))
        this.log.warn(
          { status: r.statusCode.toString() },
          'opcua: the server refused ConditionRefresh; conditions are seen as they change',
        );
    } catch (err) {
      if (err instanceof StaleLink) throw err;
      this.log.warn({ error: describeError(err) }, 'opcua: ConditionRefresh failed');
    }
  }

  /**
   * Calls a condition's Acknowledge method (Part 9, AcknowledgeableConditionType) for the event
   * `eventId` (base64, as events give it) with a comment. Rejects with OpcuaError when not
   * connected, on timeout, or when the server refuses it (the status name is in the message and
   * in `status`).
   */
  acknowledgeCondition(conditionId: string, eventId: string, comment: string): Promise<void> {
    return this.callConditionMethod('Acknowledge', 'i=9111', conditionId, eventId, comment);
  }

  /**
   * Calls a condition's Confirm method (Part 9, AcknowledgeableConditionType, for conditions with
   * a ConfirmedState) for the event `eventId` (the event that announced the condition acknowledged)
   * with a comment. Rejects as acknowledgeCondition() does.
   */
  confirmCondition(conditionId: string, eventId: string, comment: string): Promise<void> {
    return this.callConditionMethod('Confirm', 'i=9113', conditionId, eventId, comment);
  }

  /** Acknowledge and Confirm: both take the EventId (ByteString) and a comment (LocalizedText). */
  private async callConditionMethod(
    name: 'Acknowledge' | 'Confirm',
    methodId: string,
    conditionId: string,
    eventId: string,
    comment: string,
  ): Promise<void> {
    const session = this.link?.session;
    if (this.stopped) throw new OpcuaError('OPCUA_STOPPED', 'the subscriber has been stopped');
    if (!session || !this.connected || this.link?.repairing)
      throw new OpcuaError('OPCUA_NOT_CONNECTED', `not connected to ${this.opts.endpointUrl}`);
    const resolved = await this.resolveNodeId(session, conditionId);
    let code;
    try {
      const r = await this.request(
        session.call({
          objectId: resolved,
          methodId,
          inputArguments: [
            new Variant({ dataType: DataType.ByteString, value: Buffer.from(eventId, 'base64') }),
            new Variant({ dataType: DataType.LocalizedText, value: { text: comment } }),
          ],
        }),
        name,
      );
      code = r.statusCode;
    } catch (err) {
      if (err instanceof OpcuaError) throw err;
      throw new OpcuaError('OPCUA_REQUEST_FAILED', `${name} of ${conditionId} failed: ${describeError(err)}`);
    }
    if (!isGoodCode(code)) {
      this.counters.exceptions++;
      throw new OpcuaError(
        'OPCUA_REQUEST_FAILED',
        `${name} of ${conditionId} refused: ${code.name}`,
        code.name,
      );
    }
  }

  /**
   * One event monitored item: the node's events of the type (or a subtype), with the `select`
   * fields, emitted as 'event'. EventId is always selected first (it names the event). A node or
   * type the server refuses is logged; the item is tried again with the next subscription.
   */
  private async monitorEvents(link: Link, sub: ClientSubscription, e: OpcuaEventSpec): Promise<void> {
    const session = link.session;
    if (!session) return;
    try {
      const nodeId = await this.resolveNodeId(session, e.nodeId);
      const typeId = await this.resolveNodeId(session, e.eventTypeId);
      const select = ['EventId', ...e.select.filter((f) => f !== 'EventId')];
      let where: ContentFilterElement = ofType(typeId);
      if (e.where) {
        const equals = new ContentFilterElement({
          filterOperator: FilterOperator.Equals,
          filterOperands: [
            attributeOperand(AttributeIds.Value, e.where.field),
            new LiteralOperand({
              value: new Variant({
                dataType:
                  typeof e.where.equals === 'number'
                    ? DataType.Double
                    : typeof e.where.equals === 'boolean'
                      ? DataType.Boolean
                      : DataType.String,
                value: e.where.equals,
              }),
            }),
          ],
        });
        where = and(where, equals);
      }
      const filter = constructEventFilter(select, makeContentFilter(where));
      const mi = await withTimeout(
        sub.monitor(
          { nodeId, attributeId: AttributeIds.EventNotifier },
          { samplingInterval: 0, queueSize: e.queueSize ?? 1000, discardOldest: false, filter },
          TimestampsToReturn.Both,
        ),
        this.opts.connectTimeoutMs,
        'create event monitored item',
      );
      if (this.link !== link || link.subscription !== sub) return;
      if (!isGoodCode(mi.statusCode)) {
        this.log.warn(
          { events: e.name, nodeId: e.nodeId, status: mi.statusCode?.toString() },
          'opcua: the server refused the event monitored item',
        );
        return;
      }
      this.eventsMonitored++;
      mi.on('changed', (fields: unknown) => {
        if (this.link !== link || link.subscription !== sub) return;
        this.lastNotificationAt = Date.now();
        const values = Array.isArray(fields) ? (fields as (Variant | null)[]) : [];
        const out: Record<string, ReturnType<typeof variantValue>> = {};
        select.forEach((f, i) => (out[f] = variantValue(values[i])));
        this.safeEmit('event', { name: e.name, fields: out });
      });
    } catch (err) {
      if (err instanceof StaleLink) throw err;
      this.log.warn(
        { events: e.name, nodeId: e.nodeId, error: describeError(err) },
        'opcua: could not subscribe to events',
      );
    }
  }

  private wireSubscription(link: Link, sub: ClientSubscription): void {
    const current = (): boolean => this.link === link && link.subscription === sub;
    const alive = (): void => {
      if (current()) this.lastNotificationAt = Date.now();
    };
    sub.on('keepalive', alive);
    sub.on('raw_notification', alive);
    sub.on('subscriptionId_changed', (id: number, previous: number) => {
      if (!current()) return;
      // node-opcua re-created it during a reconnection.
      this.counters.subscriptionsCreated++;
      this.log.info({ subscriptionId: id, previous }, 'opcua: subscription re-created by the reconnection');
    });
    sub.on('status_changed', (status: { name?: string; toString(): string }) => {
      if (!current()) return;
      this.log.warn({ status: status.toString() }, 'opcua: subscription status changed');
    });
    sub.on('internal_error', (err: Error) => {
      if (current()) this.log.warn({ error: describeError(err) }, 'opcua: subscription internal error');
    });
    sub.on('terminated', () => {
      if (!current() || this.stopped) return;
      this.log.warn({}, 'opcua: subscription terminated by the server; re-creating it');
      void this.track(this.recover(link, 'subscription terminated'));
    });
  }

  private attachItem(link: Link, s: ItemState, mi: ClientMonitoredItemBase): void {
    if (!isGoodCode(mi.statusCode)) {
      this.itemRefused(s, mi.statusCode?.value ?? StatusCodes.BadInternalError.value);
      return;
    }
    s.monitored = mi;
    s.refused = undefined;
    mi.on('changed', (dv: DataValue) => {
      if (this.link !== link || s.monitored !== mi) return;
      this.onData(s, dv);
    });
  }

  private itemRefused(s: ItemState, code: number): void {
    const first = s.refused !== code;
    s.monitored = undefined;
    s.refused = code;
    this.verification?.pending.delete(s.spec.name);
    const value = statusOnlyValue(s.spec.name, s.spec.nodeId, code);
    if (first) {
      this.log.warn(
        { item: s.spec.name, nodeId: s.spec.nodeId, status: value.statusCode.name },
        'opcua: the server refused a monitored item; retrying periodically',
      );
    }
    this.counters.badStatus++;
    this.safeEmit('status', value);
    this.maybeVerified();
  }

  private onData(s: ItemState, dv: DataValue): void {
    this.counters.notifications++;
    this.lastNotificationAt = Date.now();
    const value = toOpcuaValue(s.spec.name, s.spec.nodeId, dv);
    if (value.overflow) this.counters.overflows++;
    const v = this.verification;
    if (v?.pending.delete(s.spec.name)) {
      v.reported++;
      this.maybeVerified();
    }
    this.safeEmit('value', value);
    if (!value.statusCode.good) {
      this.counters.badStatus++;
      this.safeEmit('status', value);
    }
  }

  /** nsu=<uri>;… is resolved against the server's namespace table (indexes may change between restarts). */
  private async resolveNodeId(session: ClientSession, nodeId: string): Promise<string> {
    const m = /^nsu=([^;]+);(.*)$/su.exec(nodeId);
    if (!m) return nodeId;
    const dv = await withTimeout(
      session.read({ nodeId: 'i=2255', attributeId: AttributeIds.Value }),
      this.opts.connectTimeoutMs,
      'read NamespaceArray',
    );
    const table = (dv.value?.value ?? []) as string[];
    const index = table.indexOf(m[1]!);
    if (index < 0) throw new OpcuaError('OPCUA_REQUEST_FAILED', `namespace ${m[1]} is not on the server`);
    return `ns=${index};${m[2]}`;
  }

  // ---------------------------------------------------------------- verification and recovery

  /** From now on, each of these items (default: all not refused) must report within the deadline. */
  private armVerification(kind: Verification['kind'], names?: string[]): void {
    this.clearVerification();
    const pending = new Set(
      names ?? [...this.items.values()].filter((s) => s.refused === undefined).map((s) => s.spec.name),
    );
    this.verification = { kind, pending, reported: 0, round: 0, timer: undefined };
    this.armVerificationTimer();
  }

  private armVerificationTimer(): void {
    const v = this.verification;
    if (!v) return;
    clearTimeout(v.timer);
    const maxSampling = Math.max(0, ...this.opts.items.map((i) => i.samplingIntervalMs));
    const ms = Math.max(3000, 5 * this.opts.publishingIntervalMs, 2 * maxSampling);
    v.timer = setTimeout(() => void this.track(this.verificationDeadline(v)), ms);
  }

  private clearVerification(): void {
    if (this.verification) clearTimeout(this.verification.timer);
    this.verification = undefined;
  }

  private maybeVerified(): void {
    const v = this.verification;
    if (!v || v.pending.size > 0) return;
    clearTimeout(v.timer);
    // Every item reported while the session is still being repaired (a transfer or a republish
    // sends values first): announced once the subscriber is connected again, never before.
    if (v.kind === 'resubscribed' && (!this.connected || this.link?.repairing)) return;
    this.verification = undefined;
    if (v.kind === 'resubscribed') {
      this.log.info({ items: v.reported }, 'opcua: every item reports again');
      this.safeEmit('resubscribed', { items: v.reported });
    }
  }

  private async verificationDeadline(v: Verification): Promise<void> {
    const link = this.link;
    if (this.verification !== v || !link || this.stopped) return;
    if (link.repairing || !this.connected) {
      this.armVerificationTimer();
      return;
    }
    const silent = [...v.pending].map((n) => this.items.get(n)!);
    // Items the server holds with a bad result were never going to report.
    for (const s of silent) {
      if (s.monitored && !isGoodCode(s.monitored.statusCode))
        this.itemRefused(s, s.monitored.statusCode?.value ?? StatusCodes.BadInternalError.value);
    }
    const still = silent.filter((s) => v.pending.has(s.spec.name));
    if (still.length === 0) return;
    v.round++;
    this.log.warn(
      { items: still.map((s) => s.spec.name), round: v.round },
      'opcua: items did not report after (re)subscription',
    );
    if (v.round === 1) {
      for (const s of still) await this.recreateItem(link, s);
      if (this.verification === v) this.armVerificationTimer();
      return;
    }
    await this.recover(link, `items silent after re-creation: ${still.map((s) => s.spec.name).join(', ')}`);
  }

  /** Re-creates one item on the current subscription (the old monitored item is deleted, best effort). */
  private async recreateItem(link: Link, s: ItemState): Promise<void> {
    const sub = link.subscription;
    const session = link.session;
    if (!sub || !session) return;
    const old = s.monitored;
    s.monitored = undefined;
    if (old) {
      try {
        void withTimeout(old.terminate(), this.opts.connectTimeoutMs, 'delete monitored item').catch(
          () => undefined,
        );
      } catch {
        // node-opcua asserts when the subscription is not active: nothing to delete then
      }
    }
    try {
      const nodeId = await this.resolveNodeId(session, s.spec.nodeId);
      const mi = await withTimeout(
        sub.monitor(
          { nodeId, attributeId: AttributeIds.Value },
          monitoringParameters(s.spec),
          TimestampsToReturn.Both,
        ),
        this.opts.connectTimeoutMs,
        'create monitored item',
      );
      if (this.link === link && link.subscription === sub) this.attachItem(link, s, mi);
    } catch (err) {
      const status = /Bad\w+/u.exec(describeError(err))?.[0];
      const code = status
        ? (StatusCodes as unknown as Record<string, { value: number } | undefined>)[status]?.value
        : undefined;
      if (code !== undefined) this.itemRefused(s, code);
      else
        this.log.warn(
          { item: s.spec.name, error: describeError(err) },
          'opcua: re-creating a monitored item failed',
        );
    }
  }

  /** Periodically retries the items the server refused (a node may appear later). */
  private startRefusedRetry(link: Link): void {
    clearTimeout(this.refusedTimer);
    const every = Math.max(10_000, this.opts.watchdogMs);
    const loop = (): void => {
      this.refusedTimer = setTimeout(() => {
        this.refusedTimer = undefined;
        if (this.link !== link || this.stopped) return;
        const refused = [...this.items.values()].filter((s) => s.refused !== undefined);
        if (!this.connected || link.repairing || refused.length === 0) {
          loop();
          return;
        }
        void this.track(
          (async () => {
            for (const s of refused) await this.recreateItem(link, s);
          })().finally(() => {
            if (this.link === link && !this.stopped) loop();
          }),
        );
      }, every);
    };
    loop();
  }

  private checkWatchdog(): void {
    const link = this.link;
    const now = Date.now();
    if (!link || !this.connected || link.repairing || this.recovering || !link.subscription) {
      this.lastNotificationAt = now;
      return;
    }
    const silentMs = now - this.lastNotificationAt;
    if (silentMs <= this.effectiveWatchdogMs) return;
    this.counters.watchdogFires++;
    this.lastNotificationAt = now;
    this.log.warn(
      { endpointUrl: this.opts.endpointUrl, silentMs, watchdogMs: this.effectiveWatchdogMs },
      'opcua: watchdog: no notification and no keep-alive; re-creating the subscription',
    );
    void this.track(this.recover(link, `watchdog: nothing received for ${silentMs} ms`));
  }

  /** A fresh subscription on the same session; when that fails, a fresh connection. */
  private async recover(link: Link, reason: string): Promise<void> {
    if (this.recovering || this.link !== link || this.stopped) return;
    this.recovering = true;
    this.lastError = reason;
    try {
      const old = link.subscription;
      link.subscription = undefined;
      this.clearVerification();
      if (old)
        void withTimeout(old.terminate(), this.opts.connectTimeoutMs, 'delete subscription').catch(
          () => undefined,
        );
      await this.subscribe(link);
      this.noteSession(link);
    } catch (err) {
      if (!(err instanceof StaleLink))
        this.rebuild(link, `${reason}; re-subscribing failed: ${describeError(err)}`);
    } finally {
      this.recovering = false;
    }
  }

  /** Like emit(), but a listener that throws is logged and the other listeners still run. */
  private safeEmit<K extends keyof OpcuaSubscriberEvents>(event: K, ...args: OpcuaSubscriberEvents[K]): void {
    for (const listener of this.rawListeners(event) as ((...a: unknown[]) => unknown)[]) {
      try {
        listener.apply(this, args);
      } catch (err) {
        this.log.error({ event, err: String(err) }, 'opcua: a listener threw');
      }
    }
  }
}
