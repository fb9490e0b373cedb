/**
 * The portal's one naming rule: how signal, characteristic and test-point names and their units
 * are shown to people, on every page (live floor, SPC, cases, equipment, calibration). Devices
 * and configs spell names as identifiers (`fullLoad.deliveredQty`) and units in ASCII (`us`,
 * `degC`, `mm3/stroke`, `ohm`); the portal shows words and symbols. A signal dictionary's label
 * or unit, where an edge sent one, comes first (live-model's nameOf / unitOf).
 */

/** Abbreviations common in device signal names, spelled out for people. */
const WORDS: Record<string, string> = {
  qty: 'quantity',
  temp: 'temperature',
  pres: 'pressure',
  press: 'pressure',
  lsl: 'lower limit',
  usl: 'upper limit',
  max: 'max.',
  min: 'min.',
  avg: 'average',
  no: 'number',
  num: 'number',
  seq: 'sequence',
};

/**
 * A signal name as a label a person reads: camelCase, snake_case and kebab-case split into words,
 * common abbreviations spelled out, the first word capitalised; dotted groups joined with " · "
 * ("fullLoad.measuredQty" → "Full load · measured quantity"). The raw name stays available as a
 * tooltip, so nothing is hidden from a technician matching it to the device.
 */
export function signalLabel(point: string): string {
  const parts = point.split('.').map((part) =>
    part
      .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
      .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
      .split(/[\s_-]+/)
      .filter(Boolean)
      .map((w) => (/^[A-Z0-9]{2,}$/.test(w) ? w : (WORDS[w.toLowerCase()] ?? w.toLowerCase())))
      .join(' '),
  );
  const text = parts.filter(Boolean).join(' · ');
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : point;
}

/** Whole unit spellings with a symbol (checked before the token rules below). */
const SYMBOLS: Record<string, string> = {
  usec: 'µs',
  'deg C': '°C',
  ohms: 'Ω',
  micron: 'µm',
  ml_min: 'mL/min',
  '%FS': '% FS',
};

const UNIT_TOKENS: [RegExp, string][] = [
  [/\bdegC\b|\bdeg_C\b|\bcel\b/gi, '°C'],
  [/\bdegF\b/gi, '°F'],
  [/\bdeg\b/gi, '°'],
  [/\bus\b/g, 'µs'],
  [/\bum\b/g, 'µm'],
  [/\buA\b/g, 'µA'],
  [/\bkohm\b/gi, 'kΩ'],
  [/\bmohm\b/g, 'mΩ'],
  [/\bohm\b/gi, 'Ω'],
  [/\bpct\b|\bpercent\b/gi, '%'],
  [/([a-zA-Z])\^?2\b/g, '$1²'],
  [/([a-zA-Z])\^?3\b/g, '$1³'],
];

/** A unit as people write it: degC → °C, us → µs, ohm → Ω, mm3 → mm³ (UCUM-like codes devices send). Unknown units are shown as they are. */
export function unitLabel(unit: string | null | undefined): string {
  if (!unit) return '';
  const whole = SYMBOLS[unit];
  if (whole) return whole;
  let out = unit;
  for (const [re, to] of UNIT_TOKENS) out = out.replace(re, to);
  return out;
}
