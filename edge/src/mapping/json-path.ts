/**
 * JSON paths into a message's payload, the small part of RFC 9535 a mapping needs: `$` (the
 * whole payload), `.name`, `['any name']` or `["any name"]`, `[0]` (from the start), `[-1]` (from
 * the end) and `[*]` (every element of an array, or every value of an object). With `[*]` the
 * result is an array: `$.points[*].found` is the list of every point's `found`.
 */

type Step = { key: string } | { index: number } | { all: true };

/** A compiled path: `get` returns the value, or `undefined` when the payload has nothing there. */
export interface JsonPath {
  text: string;
  get(payload: unknown): unknown;
}

/** Compiles a path; throws with the position of the first thing it cannot read. */
export function compileJsonPath(text: string): JsonPath {
  if (!text.startsWith('$')) throw new Error('must start with $');
  const steps: Step[] = [];
  let i = 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '.') {
      const m = /^[A-Za-z_$][\w$-]*/.exec(text.slice(i + 1));
      if (text[i + 1] === '*') {
        steps.push({ all: true });
        i += 2;
        continue;
      }
      if (!m) throw new Error(`expected a name after "." at position ${i + 1}`);
      steps.push({ key: m[0] });
      i += 1 + m[0].length;
      continue;
    }
    if (c === '[') {
      const rest = text.slice(i);
      let m: RegExpExecArray | null;
      if ((m = /^\[\s*\*\s*\]/.exec(rest))) steps.push({ all: true });
      else if ((m = /^\[\s*(-?\d+)\s*\]/.exec(rest))) steps.push({ index: Number(m[1]) });
      else if (
        (m = /^\[\s*'((?:[^'\\]|\\.)*)'\s*\]/.exec(rest)) ||
        (m = /^\[\s*"((?:[^"\\]|\\.)*)"\s*\]/.exec(rest))
      )
        steps.push({ key: m[1]!.replace(/\\(.)/g, '$1') });
      else throw new Error(`expected [n], [*] or ['name'] at position ${i + 1}`);
      i += m[0].length;
      continue;
    }
    throw new Error(`unexpected "${c}" at position ${i + 1}`);
  }
  const spread = steps.some((s) => 'all' in s);
  return {
    text,
    get(payload) {
      let cur: unknown[] = [payload];
      for (const s of steps) {
        const next: unknown[] = [];
        for (const v of cur) {
          if ('all' in s) {
            if (Array.isArray(v)) for (const x of v as unknown[]) next.push(x);
            else if (v && typeof v === 'object') next.push(...Object.values(v as Record<string, unknown>));
          } else if ('index' in s) {
            if (Array.isArray(v)) {
              const k = s.index < 0 ? v.length + s.index : s.index;
              if (k >= 0 && k < v.length) next.push(v[k]);
            }
          } else if (v && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, s.key)) {
            next.push((v as Record<string, unknown>)[s.key]);
          }
        }
        cur = next;
      }
      return spread ? cur : cur[0];
    },
  };
}
