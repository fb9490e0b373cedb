import { describe, expect, it } from 'vitest';
import { withoutFlagged, type LiveMessage } from './live.service.js';

describe('live messages for a socket not cleared for export-controlled data', () => {
  const flagged = new Set(['RIG-ITAR']);
  const at = '2026-12-06T08:00:00.000Z';
  const item = (equipment: string) => ({
    equipment,
    point: 'p',
    value: 1,
    unit: null,
    quality: 'good' as const,
    observedAt: at,
  });
  const alert = (tag?: string): LiveMessage => ({
    event: 'alert',
    payload: {
      siteId: 's',
      id: 'a',
      kind: 'spc',
      severity: 'warning',
      message: 'm',
      at,
      ...(tag ? { tag } : {}),
    },
  });

  it('drops every event type about flagged equipment and keeps the rest', () => {
    const about = (tag: string): LiveMessage[] => [
      {
        event: 'rig',
        payload: { siteId: 's', edgeId: 'e', equipment: tag, kind: 'rig', state: 'running', observedAt: at },
      },
      { event: 'calibration', payload: { siteId: 's', tag, calibrationId: 'c', passed: true } },
      { event: 'status', payload: { siteId: 's', tag, from: null, to: 'calibrated' } },
      {
        event: 'service',
        payload: { siteId: 's', tag, doNotUse: { reason: 'out of service: r', caseId: null } },
      },
      alert(tag),
      { event: 'telemetry', payload: { siteId: 's', edgeId: 'e', items: [item(tag)] } },
    ];
    for (const m of about('RIG-ITAR')) expect(withoutFlagged(m, flagged), m.event).toBeUndefined();
    for (const m of about('RIG-OPEN')) expect(withoutFlagged(m, flagged), m.event).toEqual(m);
    expect(withoutFlagged(alert(), flagged)).toEqual(alert());
  });

  it('keeps the unflagged items of a telemetry message and the batch counts', () => {
    const mixed: LiveMessage = {
      event: 'telemetry',
      payload: { siteId: 's', edgeId: 'e', items: [item('RIG-ITAR'), item('RIG-OPEN')] },
    };
    expect(withoutFlagged(mixed, flagged)).toEqual({
      event: 'telemetry',
      payload: { siteId: 's', edgeId: 'e', items: [item('RIG-OPEN')] },
    });
    const counts = { calibration: 0, usage: 0, inspection: 0, telemetry: 1, event: 0 };
    const records: LiveMessage = {
      event: 'records',
      payload: { siteId: 's', edgeId: 'e', counts, lastSeq: 3 },
    };
    expect(withoutFlagged(records, flagged)).toEqual(records);
  });
});
