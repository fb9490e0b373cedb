/**
 * A site's shifts as an admin types them: "Early 06:00, Late 14:00, Night 22:00" — a name and a
 * local start time per shift, separated by commas. The cloud checks the rest (quarter hours,
 * unique names and starts, 1–6 shifts) and says what is wrong.
 */
export interface ShiftInput {
  name: string;
  start: string;
}

/** The text of a site's shifts, in the form `parseShifts` reads. */
export function shiftsText(shifts: readonly ShiftInput[]): string {
  return shifts.map((s) => `${s.name} ${s.start}`).join(', ');
}

/** The shifts typed, or an error naming the part that is not "<name> HH:MM". Empty text: the default shifts (null). */
export function parseShifts(
  text: string,
): { ok: true; shifts: ShiftInput[] | null } | { ok: false; error: string } {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) return { ok: true, shifts: null };
  const shifts: ShiftInput[] = [];
  for (const p of parts) {
    const m = /^(.+?)\s+(\d{1,2}):(\d{2})$/.exec(p);
    if (!m) return { ok: false, error: `“${p}” is not a name and a start time, e.g. Early 06:00` };
    shifts.push({ name: m[1]!.trim(), start: `${m[2]!.padStart(2, '0')}:${m[3]}` });
  }
  return { ok: true, shifts };
}
