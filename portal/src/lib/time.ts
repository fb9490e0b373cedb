/**
 * One way to show a moment everywhere in the portal: in the site's time zone as
 * `YYYY-MM-DD HH:MM` plus the zone's abbreviation ("2026-12-06 02:01 CET"), with the UTC time on
 * hover (`title`) — exports and the API stay in UTC. Pure functions, tested in portal/test.
 */

const partsCache = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string, seconds: boolean): Intl.DateTimeFormat {
  const key = `${zone}|${seconds}`;
  let f = partsCache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      ...(seconds ? { second: '2-digit' } : {}),
      hourCycle: 'h23',
      timeZoneName: 'short',
    });
    partsCache.set(key, f);
  }
  return f;
}

/** A short name for the zone at that moment: "CET", "CEST", "CST", else "UTC+1"-style offsets. */
function zoneLabel(zone: string, d: Date, short: string): string {
  if (zone === 'UTC' || zone === 'Etc/UTC') return 'UTC';
  if (!/^GMT/.test(short)) return short;
  // en-US has no abbreviation for many zones ("GMT+1"); British English knows the European ones.
  const gb = new Intl.DateTimeFormat('en-GB', { timeZone: zone, timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName')?.value;
  if (gb && !/^(GMT|UTC)/.test(gb)) return gb;
  return short.replace(/^GMT/, 'UTC');
}

/** "2026-12-06 02:01 CET" in `zone` (an IANA zone; UTC when unknown); "—" for nothing. */
export function formatDateTime(
  iso: string | null | undefined,
  zone = 'UTC',
  opts: { seconds?: boolean } = {},
): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  let f: Intl.DateTimeFormat;
  try {
    f = formatter(zone, opts.seconds ?? false);
  } catch {
    f = formatter('UTC', opts.seconds ?? false);
    zone = 'UTC';
  }
  const p = Object.fromEntries(f.formatToParts(d).map((x) => [x.type, x.value]));
  const time = `${p.hour}:${p.minute}${opts.seconds ? `:${p.second}` : ''}`;
  return `${p.year}-${p.month}-${p.day} ${time} ${zoneLabel(zone, d, p.timeZoneName ?? '')}`;
}

/** The same moment in UTC, for the hover text: "2026-12-06 01:01:59 UTC". */
export function formatUtc(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const s = d.toISOString();
  return `${s.slice(0, 10)} ${s.slice(11, 19)} UTC`;
}

/** "HH:MM" of a moment in `zone` (axis labels, "since 06:12"). */
export function formatClock(iso: string, zone = 'UTC'): string {
  const full = formatDateTime(iso, zone);
  return full === '—' ? full : full.slice(11, 16);
}

/** The zone's short name at a moment ("CET", "PST", "UTC+5:30"), as formatDateTime shows it. */
export function zoneName(iso: string, zone = 'UTC'): string {
  const full = formatDateTime(iso, zone);
  return full === '—' ? 'UTC' : full.slice(17);
}

/** The calendar day (YYYY-MM-DD) of a moment in `zone`. */
export function dayIn(iso: string, zone = 'UTC'): string {
  return formatDateTime(iso, zone).slice(0, 10);
}

/**
 * The zone a page shows times in: the site's own when the page is about one site; otherwise the
 * zone the user's sites share, or the first site's.
 */
export function zoneFor(sites: readonly { id: string; timeZone: string }[], siteId?: string | null): string {
  if (siteId) {
    const s = sites.find((x) => x.id === siteId);
    if (s) return s.timeZone;
  }
  return sites[0]?.timeZone ?? 'UTC';
}

/** The zone's offset from UTC at a moment, in minutes (Europe/Berlin in winter: 60). */
export function zoneOffsetMinutes(ms: number, zone: string): number {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(new Date(ms))
      .map((x) => [x.type, x.value]),
  );
  const asUtc = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!, +p.second!);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60_000);
}

/**
 * A `datetime-local` value (YYYY-MM-DDTHH:MM, or with :SS) read as a time in `zone` → RFC 3339
 * UTC; null if not a time.
 */
export function zonedInputToIso(value: string, zone: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return null;
  const guess = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0));
  if (Number.isNaN(guess)) return null;
  let ms = guess - zoneOffsetMinutes(guess, zone) * 60_000;
  // Near a daylight-saving change the offset at the result may differ from the guess's.
  ms = guess - zoneOffsetMinutes(ms, zone) * 60_000;
  return new Date(ms).toISOString();
}

/** A moment as a `datetime-local` value in `zone` (to the minute; `seconds`: to the second). */
export function isoToZonedInput(iso: string, zone: string, opts: { seconds?: boolean } = {}): string {
  const ms = Date.parse(iso);
  return new Date(ms + zoneOffsetMinutes(ms, zone) * 60_000).toISOString().slice(0, opts.seconds ? 19 : 16);
}
