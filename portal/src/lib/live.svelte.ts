/**
 * One site's live view for the plant-manager dashboard: the REST snapshot first, then the
 * socket.io pushes folded in (live-model.ts). The connection recovers by itself: socket.io
 * reconnects with backoff, and every (re)connect subscribes again and re-reads the snapshot, so a
 * cloud restart or a network outage leaves a correct page behind, not a stale one.
 */
import type { Socket, io as connectSocket } from 'socket.io-client';
import { ApiError, call, client } from './api';
import {
  applyAlert,
  applyRig,
  applyService,
  applyStatus,
  applyTelemetry,
  changesToday,
  fromSnapshot,
  Rings,
  stateAfterLoss,
  type ClientEvents,
  type ConnectionState,
  type LiveAck,
  type ServerEvents,
  type SiteView,
} from './live-model';
import { describeError, handleError } from './notices.svelte';
import type { User } from './types';

/** Re-reading today's counts after inspections arrive: at most this often. */
const SNAPSHOT_EVERY_MS = 3000;

export class LiveSite {
  view = $state<SiteView | null>(null);
  connection = $state<ConnectionState>('connecting');
  /** Set when the page cannot show the site (unknown site, refused subscription, snapshot failed). */
  error = $state<string | null>(null);
  loading = $state(true);
  /** When the last push or snapshot arrived (ISO). */
  updatedAt = $state<string | null>(null);
  /** Bumped whenever a ring gets a sample: the charts redraw on it. */
  tick = $state(0);
  /** Reconnection attempts since the connection was lost. */
  attempts = $state(0);

  /** Outside reactive state: one bounded ring per point. */
  readonly rings = new Rings();
  private socket: Socket<ServerEvents, ClientEvents> | undefined;
  private stopped = false;
  private lostAt = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private snapshotTimer: ReturnType<typeof setTimeout> | undefined;
  private lastSnapshotAt = 0;
  private snapshotAbort: AbortController | undefined;

  constructor(readonly siteId: string) {}

  /** Loads the snapshot and opens the socket. */
  start(): void {
    this.stopped = false;
    void this.loadSnapshot();
    void this.connect();
    this.timer = setInterval(() => this.updateLoss(), 1000);
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.snapshotTimer);
    this.snapshotAbort?.abort();
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.socket?.removeAllListeners();
    this.socket?.close();
    this.socket = undefined;
  }

  /** Reads GET /sites/{siteId}/live and merges it with what the pushes already brought. */
  async loadSnapshot(): Promise<void> {
    this.snapshotAbort?.abort();
    const abort = new AbortController();
    this.snapshotAbort = abort;
    this.lastSnapshotAt = Date.now();
    try {
      const s = await call(
        client.GET('/sites/{siteId}/live', {
          params: { path: { siteId: this.siteId } },
          signal: abort.signal,
        }),
      );
      if (this.stopped || abort.signal.aborted) return;
      const next = fromSnapshot(s, this.view ?? undefined);
      for (const rig of next.rigs) for (const p of Object.values(rig.values)) this.rings.add(rig.key, p);
      this.view = next;
      this.error = null;
      this.updatedAt = new Date().toISOString();
      this.tick += 1;
    } catch (err) {
      if ((err as Error).name === 'AbortError' || this.stopped) return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 404)) {
        this.error =
          err.status === 404 ? 'This site does not exist or is not one of yours.' : describeError(err);
        if (err.status === 401) handleError(err);
      } else if (!this.view) {
        // Without a first snapshot there is nothing to show; with one, the page keeps it and says it is reconnecting.
        this.error = describeError(err, 'Could not load the live view');
      }
    } finally {
      if (this.snapshotAbort === abort) this.loading = false;
    }
  }

  /** A throttled snapshot re-read (today's counts after new inspections). */
  private refreshSoon(): void {
    if (this.snapshotTimer) return;
    const wait = Math.max(0, this.lastSnapshotAt + SNAPSHOT_EVERY_MS - Date.now());
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      if (!this.stopped) void this.loadSnapshot();
    }, wait);
  }

  private async connect(): Promise<void> {
    // socket.io-client (≈ 13 KB) is loaded with this page, not with the portal's first page.
    let io: typeof connectSocket;
    try {
      ({ io } = await import('socket.io-client'));
    } catch {
      // A portal updated on the server since this page loaded has other file names: say so.
      if (this.stopped) return;
      this.connection = 'offline';
      this.error = 'Live updates could not be started (the portal may have been updated). Reload the page.';
      return;
    }
    if (this.stopped) return;
    // The server's events are typed by the API document (`x-socket-events`).
    const socket: Socket<ServerEvents, ClientEvents> = io({
      path: '/socket.io',
      withCredentials: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 8000,
    });
    this.socket = socket;

    socket.on('connect', () => {
      this.lostAt = 0;
      this.attempts = 0;
      void this.subscribe(socket);
    });
    socket.on('disconnect', (reason) => {
      if (this.stopped) return;
      this.markLost();
      // The server ended it (a session that ended, or a shutdown): check the session, then try again.
      if (reason === 'io server disconnect') setTimeout(() => this.retryAfterRefusal(socket), 1000);
    });
    socket.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      if (this.stopped) return;
      this.markLost();
      this.attempts += 1;
      // A refusal by the server's middleware is not retried by socket.io: the session ended, or an internal error.
      if (err.data?.code) {
        if (err.data.code === 'CLOUD_UNAUTHENTICATED')
          handleError(new ApiError(401, 'CLOUD_UNAUTHENTICATED', 'the session has ended; sign in again'));
        else setTimeout(() => this.retryAfterRefusal(socket), 3000);
      }
    });
    socket.io.on('reconnect_attempt', (n) => {
      this.attempts = n;
    });

    socket.on('telemetry', (msg) => {
      if (!this.view) return;
      const changed = applyTelemetry(this.view, msg);
      let added = false;
      for (const c of changed) added = this.rings.add(c.rig, c.point) || added;
      if (changed.length > 0) this.updatedAt = new Date().toISOString();
      if (added) this.tick += 1;
    });
    socket.on('rig', (msg) => {
      if (this.view && applyRig(this.view, msg)) this.updatedAt = new Date().toISOString();
    });
    // A gauge's calibration status changed, or equipment (a rig, a bench, a gauge) was taken out of
    // service or returned: shown now; its next due date and the rest of the tile come with the snapshot.
    const shownNow = (changed: boolean) => {
      if (!changed) return;
      this.updatedAt = new Date().toISOString();
      this.refreshSoon();
    };
    socket.on('status', (msg) => shownNow(!!this.view && applyStatus(this.view, msg)));
    socket.on('service', (msg) => shownNow(!!this.view && applyService(this.view, msg)));
    socket.on('records', (msg) => {
      if (msg.siteId === this.siteId && changesToday(msg)) this.refreshSoon();
    });
    socket.on('alert', (msg) => {
      if (this.view) applyAlert(this.view, { ...msg, siteId: msg.siteId ?? null });
    });
  }

  private async subscribe(socket: Socket<ServerEvents, ClientEvents>): Promise<void> {
    try {
      // (typescript-eslint does not follow socket.io's acknowledgement types through timeout())
      const ack = (await socket.timeout(10_000).emitWithAck('subscribe', { siteId: this.siteId })) as LiveAck;
      if (this.stopped || socket !== this.socket) return;
      if (!ack.ok) {
        this.connection = 'offline';
        this.error =
          ack.error === 'CLOUD_NOT_FOUND'
            ? 'This site does not exist or is not one of yours.'
            : `Live updates were refused (${ack.error}).`;
        if (ack.error === 'CLOUD_UNAUTHENTICATED')
          handleError(new ApiError(401, 'CLOUD_UNAUTHENTICATED', 'the session has ended; sign in again'));
        return;
      }
      this.connection = 'connected';
      this.error = null;
      // Whatever happened while the socket was away: read it again.
      await this.loadSnapshot();
    } catch {
      // No answer in time: drop the connection and let socket.io reconnect (and subscribe again).
      if (!this.stopped && socket === this.socket) {
        socket.disconnect();
        this.markLost();
        setTimeout(() => socket.connect(), 1000);
      }
    }
  }

  private retryAfterRefusal(socket: Socket): void {
    if (!this.stopped && socket === this.socket && !socket.connected) socket.connect();
  }

  private markLost(): void {
    if (this.lostAt === 0) this.lostAt = Date.now();
    this.updateLoss();
  }

  private updateLoss(): void {
    if (this.stopped || this.lostAt === 0 || this.socket?.connected) return;
    this.connection = stateAfterLoss(this.lostAt, Date.now(), navigator.onLine);
  }

  private readonly onOnline = () => {
    this.updateLoss();
    // Back online: do not wait for the backoff.
    if (this.socket && !this.socket.connected) this.socket.connect();
  };

  private readonly onOffline = () => {
    if (this.lostAt === 0 && !this.socket?.connected) this.lostAt = Date.now();
    this.connection = 'offline';
  };
}

export interface SiteChoice {
  id: string;
  name: string;
}

/**
 * The sites a user can open a live view of: their own sites when they are limited to some; for
 * an admin the tenant's sites; for everyone else the sites that have an edge (GET /sites is an
 * admin route, GET /edges is every reader's).
 */
export async function siteChoices(user: User): Promise<SiteChoice[]> {
  if (user.sites) return [...user.sites].sort().map((id) => ({ id, name: id }));
  if (user.role === 'admin') {
    const { items } = await call(client.GET('/sites'));
    return items.map((s) => ({ id: s.id, name: s.name })).sort((a, b) => a.id.localeCompare(b.id));
  }
  const { items } = await call(client.GET('/edges'));
  return [...new Set(items.map((e) => e.siteId))].sort().map((id) => ({ id, name: id }));
}
