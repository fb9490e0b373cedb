/**
 * Calendar days of a site: local days and times of its IANA time zone (the zone database of the
 * runtime's ICU, so the same on SQLite and PostgreSQL and in every package). A zone the runtime
 * does not know reads as UTC. The one place the rule "a due date is counted from the local day"
 * lives: the cloud's calibration engine and reports and the simulated calibration bench use it.
 * Pure, no dependencies.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-CA', {
        timeZone: zone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      });
    } catch {
      f = formatter('UTC');
    }
    formatters.set(zone, f);
  }
  return f;
}

/**
 * Instants already placed, per zone and millisecond: a yield over 30 days places tens of thousands
 * of (rig, quarter hour) rows that share a few thousand quarter hours, and each ICU formatting
 * costs some 20 µs. Bounded: emptied when full.
 */
const placed = new Map<string, Map<number, Readonly<{ day: string; minute: number }>>>();
let placedCount = 0;
const PLACED_MAX = 20_000;

/** The local calendar day (YYYY-MM-DD) and minute of that day (0–1439) of an instant in `zone`. */
export function localTime(ms: number, zone: string): Readonly<{ day: string; minute: number }> {
  let inZone = placed.get(zone);
  const known = inZone?.get(ms);
  if (known) return known;
  const p = Object.fromEntries(
    formatter(zone)
      .formatToParts(ms)
      .map((x) => [x.type, x.value]),
  );
  const t = Object.freeze({
    day: `${p.year}-${p.month}-${p.day}`,
    minute: Number(p.hour) * 60 + Number(p.minute),
  });
  if (placedCount >= PLACED_MAX) {
    placed.clear();
    placedCount = 0;
    inZone = undefined;
  }
  if (!inZone) placed.set(zone, (inZone = new Map<number, Readonly<{ day: string; minute: number }>>()));
  inZone.set(ms, t);
  placedCount += 1;
  return t;
}

/** The local calendar day (YYYY-MM-DD) of an instant in `zone`. */
export const localDay = (ms: number, zone: string): string => localTime(ms, zone).day;

/**
 * An instant as a person at the site reads it: its local day and time to the minute, the zone
 * named, e.g. "2026-05-02 01:29 Asia/Kolkata" (alert and message texts).
 */
export function localMoment(iso: string, zone: string): string {
  const t = localTime(Date.parse(iso), zone);
  const hh = String(Math.floor(t.minute / 60)).padStart(2, '0');
  const mm = String(t.minute % 60).padStart(2, '0');
  // A zone the runtime does not know reads as UTC (its formatter is UTC's), and is named so.
  const named = formatter(zone) === formatter('UTC') ? 'UTC' : zone;
  return `${t.day} ${hh}:${mm} ${named}`;
}

/** The calendar day `n` days after `day` (YYYY-MM-DD). */
export const addDays = (day: string, n: number): string =>
  new Date(Date.parse(`${day}T00:00:00.000Z`) + n * 86_400_000).toISOString().slice(0, 10);

/**
 * The due date `days` days after the instant `at` (RFC 3339): counted from its local calendar day
 * in `zone` (the site's), not from its UTC date. Every due date derived from a timestamp (a
 * calibration's next due, a preventive task's next due) is this.
 */
export const dueAfter = (at: string, days: number, zone: string): string =>
  addDays(localDay(Date.parse(at), zone), days);

/**
 * The first instant (ms) of the local day `day` (YYYY-MM-DD) in `zone`: its midnight, or the first
 * moment of the day where a daylight-saving change skips midnight.
 */
export function startOfLocalDay(day: string, zone: string): number {
  const midnight = Date.parse(`${day}T00:00:00.000Z`);
  const offset = (ms: number) => {
    const t = localTime(ms, zone);
    return Date.parse(`${t.day}T00:00:00.000Z`) + t.minute * 60_000 - Math.floor(ms / 60_000) * 60_000;
  };
  let ms = midnight - offset(midnight);
  ms = midnight - offset(ms);
  if (localDay(ms, zone) === day && localDay(ms - 1, zone) < day) return ms;
  // Midnight skipped (or the day repeated) by a daylight-saving change: the first quarter hour of
  // the day (every zone's offset is a multiple of 15 minutes).
  for (let t = midnight - 15 * 3_600_000; t < midnight + 15 * 3_600_000; t += 900_000)
    if (localDay(t, zone) === day) return t;
  return ms;
}

/** A calendar date, YYYY-MM-DD (a local day), as opposed to an RFC 3339 timestamp. */
export const isLocalDate = (s: string): boolean => /^\d{4}-\d{2}-\d{2}$/.test(s);

/**
 * The instants [start, end) (ms) of a period whose ends are dates or timestamps: a date is a whole
 * local day of `zone` (`from` from its first instant, `to` inclusive: to the first instant of the
 * day after, so a day with a daylight-saving change has 23 or 25 hours); a timestamp is an instant
 * (`to` exclusive). Reports and GET /yield cut their periods with it, each site in its own zone.
 */
export function periodInstants(from: string, to: string, zone: string): { start: number; end: number } {
  return {
    start: isLocalDate(from) ? startOfLocalDay(from, zone) : Date.parse(from),
    end: isLocalDate(to) ? startOfLocalDay(addDays(to, 1), zone) : Date.parse(to),
  };
}
