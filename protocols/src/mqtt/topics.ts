/**
 * MQTT 3.1.1 topic names and filters (section 4.7), matching, and the ACL question "does this
 * allowed filter cover everything that requested filter can match?".
 *
 * Strings here are JavaScript strings decoded from the wire by mqtt-packet, which turns ill-formed
 * UTF-8 into U+FFFD instead of refusing it. A topic containing U+FFFD is therefore refused: a
 * well-formed U+FFFD cannot be told apart from a broken byte sequence [MQTT-1.5.3-1].
 */

const MAX_TOPIC_BYTES = 65_535;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

/** Problems every MQTT UTF-8 string shares (client id, user name, topics). Null when fine. */
export function utf8StringProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'must not contain U+0000 [MQTT-1.5.3-2]';
  if (s.includes('\uFFFD') || LONE_SURROGATE.test(s)) return 'must be well-formed UTF-8 [MQTT-1.5.3-1]';
  if (Buffer.byteLength(s, 'utf8') > MAX_TOPIC_BYTES) return 'must be at most 65535 bytes';
  return null;
}

/** A topic name (PUBLISH, will): non-empty, no wildcards. Null when valid. */
export function topicNameProblem(topic: string): string | null {
  if (topic.length === 0) return 'must not be empty [MQTT-4.7.3-1]';
  if (topic.includes('+') || topic.includes('#')) return 'must not contain wildcards + or # [MQTT-3.3.2-2]';
  return utf8StringProblem(topic);
}

/** A topic filter (SUBSCRIBE, UNSUBSCRIBE, ACLs): "+" and "#" only as whole levels, "#" last. Null when valid. */
export function topicFilterProblem(filter: string): string | null {
  if (filter.length === 0) return 'must not be empty [MQTT-4.7.3-1]';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] ?? '';
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return '# must be a whole level and the last one [MQTT-4.7.1-2]';
    if (level.includes('+') && level !== '+') return '+ must be a whole level [MQTT-4.7.1-3]';
  }
  return utf8StringProblem(filter);
}

export const isValidTopicName = (topic: string): boolean => topicNameProblem(topic) === null;
export const isValidTopicFilter = (filter: string): boolean => topicFilterProblem(filter) === null;

/**
 * Does `filter` match `topic`? "#" also matches the parent level ("a/#" matches "a"); a filter
 * starting with a wildcard never matches a topic starting with "$" [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    const actual = t[i];
    if (actual === undefined) return false;
    if (level !== '+' && level !== actual) return false;
  }
  return f.length === t.length;
}

/**
 * Does the allowed filter cover every topic the requested filter can match? ("a/#" covers "a/+/c";
 * "a/+" does not cover "a/#"; "#" does not cover "$SYS/#".) Both must be valid filters.
 */
export function filterCovers(allowed: string, requested: string): boolean {
  const a = allowed.split('/');
  const r = requested.split('/');
  // A requested filter whose first level is literal and starts with "$" matches $-topics only,
  // which a wildcard first level never matches [MQTT-4.7.2-1].
  const requestedDollar = (r[0] ?? '').startsWith('$');
  for (let i = 0; i < a.length; i++) {
    const al = a[i] ?? '';
    const rl = r[i];
    if (al === '#') return !(i === 0 && requestedDollar);
    if (rl === undefined) return false;
    if (rl === '#') return false;
    if (al === '+') {
      if (i === 0 && requestedDollar) return false;
      continue;
    }
    if (rl === '+' || rl !== al) return false;
  }
  return a.length === r.length;
}
