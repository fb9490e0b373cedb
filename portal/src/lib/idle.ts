/**
 * The inactivity timeout as the portal sees it. The cloud ends a session `idleSeconds` after
 * the last request it counted, and counts a request at most every 30 s, so the portal reckons
 * from its own last answered request, 30 s early, and warns `warnSeconds` before that.
 */
export const SERVER_TOUCH_GRANULARITY_MS = 30_000;
export const DEFAULT_IDLE_SECONDS = 15 * 60;

export interface IdleTimes {
  /** When the portal should say the session is about to end. */
  warnAt: number;
  /** When the portal should consider it ended. */
  endsAt: number;
}

export function idleTimes(lastActivity: number, idleSeconds: number, warnSeconds = 120): IdleTimes {
  const endsAt = lastActivity + idleSeconds * 1000 - SERVER_TOUCH_GRANULARITY_MS;
  const warn = Math.min(warnSeconds * 1000, Math.max(0, (endsAt - lastActivity) / 2));
  return { warnAt: endsAt - warn, endsAt };
}

/** "1:59" */
export function countdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
