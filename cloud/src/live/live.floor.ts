import type { InspectionRecord } from '@rigtrace/protocols';

/**
 * What the live floor shows of a rig besides its latest values: the last completed test (its
 * inspection record) per test point. Which latest values mean something now is the signal
 * dictionary's rule, `meaningfulValues` of `@rigtrace/protocols/signals`.
 */

export interface TestCharacteristic {
  /** The characteristic as recorded, e.g. "idle.deliveredQty". */
  name: string;
  /** Its quantity within the test point, e.g. "deliveredQty" (the whole name when it has no test point). */
  quantity: string;
  measured: number;
  unit: string;
  nominal?: number;
  lsl?: number;
  usl?: number;
  result: 'pass' | 'fail';
}

/** A rig's last completed test: its result and, per test point, what was measured there. */
export interface CompletedTest {
  at: string;
  partSerial: string;
  workOrder?: string;
  testPlan?: string;
  result: 'pass' | 'fail';
  /** In the order the test ran them; `name` null: characteristics not tied to a test point. */
  testPoints: { name: string | null; characteristics: TestCharacteristic[] }[];
}

/**
 * An inspection as the last completed test. A characteristic named "<test point>.<quantity>"
 * (e.g. "fullLoad.deliveredQty") belongs to that test point; test points keep the order in which
 * the record first names them.
 */
export function completedTest(r: InspectionRecord, at: string): CompletedTest {
  const groups = new Map<string | null, TestCharacteristic[]>();
  for (const c of r.body.characteristics) {
    const dot = c.name.indexOf('.');
    const point = dot > 0 && dot < c.name.length - 1 ? c.name.slice(0, dot) : null;
    const list = groups.get(point) ?? [];
    list.push({
      name: c.name,
      quantity: point === null ? c.name : c.name.slice(dot + 1),
      measured: c.measured,
      unit: c.unit,
      ...(c.nominal !== undefined ? { nominal: c.nominal } : {}),
      ...(c.lsl !== undefined ? { lsl: c.lsl } : {}),
      ...(c.usl !== undefined ? { usl: c.usl } : {}),
      result: c.result,
    });
    groups.set(point, list);
  }
  return {
    at,
    partSerial: r.body.partSerial,
    ...(r.body.workOrder !== undefined ? { workOrder: r.body.workOrder } : {}),
    ...(r.body.testPlan !== undefined ? { testPlan: r.body.testPlan } : {}),
    result: r.body.result,
    testPoints: [...groups.entries()].map(([name, characteristics]) => ({ name, characteristics })),
  };
}
