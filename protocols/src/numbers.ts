/**
 * The shortest decimal that is the same float32. A float32 holding 60.12 (a Modbus register pair,
 * an OPC UA Float) reads back as 60.119998931884766 in double precision; the plant wrote 60.12 and
 * wants to see 60.12. The result is the same float32, so nothing the device gave is lost.
 */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x; // keeps -0
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(x.toPrecision(p));
    if (Math.fround(candidate) === x) return candidate;
  }
  return x;
}
