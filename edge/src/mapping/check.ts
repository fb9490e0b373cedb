import type { ModbusRegisterSpec, ModbusSourceConfig, OpcuaSourceConfig } from '../config/config.schema.js';
import { triggerName } from './capture.js';
import { compileValue } from './expressions.js';
import { compileRecordMapping } from './record-mapping.js';

/**
 * Problems of a source's record mappings that the schema cannot see: a trigger that names no
 * point or item, a block value named like a point, an expression that does not parse, a register
 * type its area cannot hold. Run by the one config validation (check-config and run alike).
 */
export function recordMappingProblems(s: ModbusSourceConfig | OpcuaSourceConfig, si: number): string[] {
  const problems: string[] = [];
  const live = new Set(s.protocol === 'modbus' ? s.points.map((p) => p.name) : s.items.map((i) => i.name));
  const what = s.protocol === 'modbus' ? 'point' : 'item';
  (s.records ?? []).forEach((m, ri) => {
    const at = `sources[${si}].records[${ri}]`;
    const t = triggerName(m);
    if (!('event' in m.trigger) && !live.has(t))
      problems.push(
        `${at}.trigger: no ${what} named "${t}" in this source (the trigger must be a ${s.protocol === 'modbus' ? 'polled point' : 'subscribed item'})`,
      );
    for (const [name, r] of Object.entries((m.read ?? {}) as Record<string, string | ModbusRegisterSpec>)) {
      if (live.has(name) || name === 'trigger' || name === 'i' || name === 'n' || name.startsWith('event.'))
        problems.push(
          `${at}.read.${name}: the name is already taken (by a ${what}, or reserved: trigger, i, n, event.*)`,
        );
      if (typeof r === 'object') {
        const bit = r.area === 'coil' || r.area === 'discrete';
        if (bit !== (r.type === 'bool'))
          problems.push(
            `${at}.read.${name}.type: ${r.type} cannot be read from ${r.area} ${bit ? 'bits' : 'registers'}`,
          );
        if (r.type === 'string' && r.length === undefined)
          problems.push(`${at}.read.${name}.length: required for type string`);
        if (r.stride !== undefined && r.repeat === undefined)
          problems.push(`${at}.read.${name}.stride: needs repeat`);
      }
    }
    const { problems: p } = compileRecordMapping(m, at);
    problems.push(...p.map((x) => x.replace(/^records/, `sources[${si}].records`)));
    const h = m.handshake;
    const condition = h !== undefined && 'acknowledgeCondition' in h ? h : undefined;
    const write = h !== undefined && !('acknowledgeCondition' in h) ? h : undefined;
    if (condition && !('event' in m.trigger))
      problems.push(
        `${at}.handshake.acknowledgeCondition: needs an event trigger (trigger.event with the condition's type): a condition is acknowledged for the event that announced it`,
      );
    const expressions: [string, unknown][] = [
      ['handshake.value', write?.value],
      ['handshake.failValue', write?.failValue],
      ['handshake.comment', condition?.comment],
      ['handshake.failComment', condition?.failComment],
      ['trigger.event.sequence', 'event' in m.trigger ? m.trigger.event.sequence : undefined],
    ];
    const seq = 'event' in m.trigger ? m.trigger.event.sequence : undefined;
    if (seq !== undefined && !(typeof seq === 'string' && seq.startsWith('=')))
      problems.push(
        `${at}.trigger.event.sequence: must be an expression over the event's fields (e.g. =event.Sequence); a constant would make every result the same one`,
      );
    for (const [k, v] of expressions) {
      if (v === undefined) continue;
      try {
        compileValue(v, m.tables ?? {});
      } catch (err) {
        problems.push(
          `${at}.${k}: the expression does not parse: ${String((err as Error).message).split('\n')[0]}`,
        );
      }
    }
  });
  return problems;
}
