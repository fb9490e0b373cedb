/** Small display helpers shared by the pages (pure, tested in portal/test). */

/** "just now", "5 min ago", "3 h ago", "2 days ago"; "never" for null. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  const d = Math.round(s / 86_400);
  return d === 1 ? '1 day ago' : `${d} days ago`;
}

/**
 * "1-5, 9" → [1,2,3,4,5,9]: the records of an evidence bundle. Throws a sentence for a person
 * when the text is not a list of positive numbers and ranges, or names more than `max`.
 */
export function parseSeqList(text: string, max = 1000): number[] {
  const out = new Set<number>();
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) throw new Error('Enter record numbers, e.g. 1-20 or 3, 5, 9.');
  for (const part of parts) {
    const m = /^(\d{1,15})(?:-(\d{1,15}))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not a record number or a range like 1-20.`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b < a) throw new Error(`"${part}" is not a valid range.`);
    if (b - a + 1 + out.size > max) throw new Error(`At most ${max} records per bundle.`);
    for (let s = a; s <= b; s++) out.add(s);
  }
  return [...out].sort((x, y) => x - y);
}
