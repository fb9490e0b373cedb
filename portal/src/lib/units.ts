/**
 * Units as people write them. Devices and configs often spell units in ASCII (`us`, `degC`,
 * `mm3/stroke`, `ohm`); the portal shows their symbols. Unknown units are shown as they are.
 */
const SYMBOLS: Record<string, string> = {
  us: 'µs',
  usec: 'µs',
  degC: '°C',
  degc: '°C',
  'deg C': '°C',
  degF: '°F',
  ohm: 'Ω',
  Ohm: 'Ω',
  ohms: 'Ω',
  kohm: 'kΩ',
  kOhm: 'kΩ',
  mohm: 'mΩ',
  um: 'µm',
  micron: 'µm',
  mm3: 'mm³',
  'mm3/stroke': 'mm³/stroke',
  'mm^3/stroke': 'mm³/stroke',
  'mL/min': 'mL/min',
  ml_min: 'mL/min',
  pct: '%',
  percent: '%',
  '%FS': '% FS',
};

export function unitText(unit: string | null | undefined): string {
  if (!unit) return '';
  return SYMBOLS[unit] ?? unit.replace(/([A-Za-z])\^?3\b/g, '$1³').replace(/([A-Za-z])\^?2\b/g, '$1²');
}

/**
 * Words from an identifier when no dictionary names a signal: `energizingTime` → "Energizing
 * time", `oil_temp` → "Oil temp", `fullLoad.deliveredQty` → "Full load · Delivered qty".
 */
export function words(name: string): string {
  return name
    .split('.')
    .map((part) => {
      const spaced = part
        .replace(/[_-]+/g, ' ')
        .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
        .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
        .trim()
        .toLowerCase();
      return spaced.charAt(0).toUpperCase() + spaced.slice(1);
    })
    .join(' · ');
}
