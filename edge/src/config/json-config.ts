/**
 * A config written as JSON (which is YAML too: tools that generate large configs usually write
 * JSON) is read with JSON.parse. For a config of 10,000 points the YAML parser's syntax tree and
 * document cost ~50 MB of heap at start-up, JSON.parse about 2 MB; the result is the same value.
 *
 * Returns undefined when the text is not a JSON object, or when one of its objects repeats a key
 * (JSON.parse would keep the last one silently; YAML refuses the file): the caller then reads it
 * as YAML, which also gives the precise messages for whatever is wrong.
 */
export function parseJsonConfig(text: string): Record<string, unknown> | undefined {
  let i = 0;
  while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 0x7b /* { */) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return hasRepeatedKey(text, i) ? undefined : (value as Record<string, unknown>);
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** For valid JSON text only: true when some object has the same key twice. */
export function hasRepeatedKey(text: string, from = 0): boolean {
  // One entry per open container: the keys seen so far in an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      open.push(new Set());
      keyNext = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
      keyNext = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      keyNext = false;
    } else if (c === 0x2c /* , */) {
      keyNext = open.length > 0 && open[open.length - 1] !== null;
    } else if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      if (keyNext) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        const keys = open[open.length - 1]!;
        if (keys.has(key)) return true;
        keys.add(key);
        keyNext = false;
      }
      i = j;
    }
  }
  return false;
}
