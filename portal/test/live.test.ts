import { describe, expect, it } from 'vitest';
import {
  applyAlert,
  applyRig,
  applyService,
  applyStatus,
  applyTelemetry,
  changesToday,
  formatValue,
  formatYield,
  fromSnapshot,
  keyPoints,
  MAX_ALERTS,
  Ring,
  Rings,
  rigKey,
  rigYields,
  lastDays,
  shownState,
  stateAfterLoss,
  nameOf,
  notMeaningfulNow,
  nowWords,
  quantityName,
  shiftYields,
  testPointName,
  testQuantities,
  unitOf,
  valueText,
  type LiveSnapshot,
  type YieldAnswer,
} from '../src/lib/live-model.js';
import { signalLabel, unitLabel } from '../src/lib/units.js';

const T0 = Date.parse('2026-11-23T08:00:00.000Z');
const iso = (sec: number) => new Date(T0 + sec * 1000).toISOString();

function snapshot(over: Partial<LiveSnapshot> = {}): LiveSnapshot {
  return {
    siteId: 'plant-1',
    at: iso(0),
    rigs: [
      {
        equipment: 'RIG-02',
        edgeId: 'e1',
        kind: 'rig',
        state: 'running',
        stateSince: iso(-60),
        lastSeenAt: iso(0),
        lastUsedAt: iso(-60),
        calibration: null,
        doNotUse: null,
        values: [
          { point: 'railPressure', value: 1800.5, unit: 'bar', quality: 'good', observedAt: iso(0) },
          { point: 'partSerial', value: 'INJ00000001', unit: null, quality: 'good', observedAt: iso(0) },
        ],
        signals: [],
        lastTest: null,
      },
      {
        equipment: 'RIG-01',
        edgeId: 'e1',
        kind: 'rig',
        state: 'idle',
        stateSince: null,
        lastSeenAt: iso(-10),
        lastUsedAt: null,
        calibration: null,
        doNotUse: null,
        values: [],
        signals: [],
        lastTest: null,
      },
    ],
    today: {
      inspections: 3,
      passed: 2,
      firstPassYield: 2 / 3,
      throughputPerHour: [{ hour: iso(0), count: 3 }],
    },
    alerts: [],
    ...over,
  };
}

describe('the ring buffer of a point', () => {
  it('keeps the newest `capacity` samples in time order and drops out-of-order ones', () => {
    const r = new Ring(4, 60_000);
    for (let i = 0; i < 6; i += 1) expect(r.push(T0 + i * 1000, i)).toBe(true);
    expect(r.size).toBe(4);
    expect(r.push(T0 + 3000, 99)).toBe(false); // older than the newest: a replayed sample
    expect(r.push(T0 + 5000, 99)).toBe(false); // same time
    expect(r.push(T0, Number.NaN)).toBe(false);
    const [x, y] = r.series();
    expect(y).toEqual([2, 3, 4, 5]);
    expect(x).toEqual([2, 3, 4, 5].map((i) => (T0 + i * 1000) / 1000));
  });

  it('shows only the window before the newest sample', () => {
    const r = new Ring(100, 10_000);
    for (let i = 0; i <= 30; i += 1) r.push(T0 + i * 1000, i);
    const [, y] = r.series();
    expect(y).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect(r.series(T0 + 100_000)[1]).toEqual([]);
  });

  it('charts numbers of good or uncertain quality only', () => {
    const rings = new Rings(10, 60_000);
    const p = (value: number | string | boolean, quality: 'good' | 'bad' | 'uncertain' = 'good', s = 0) => ({
      point: 'x',
      value,
      unit: null,
      quality,
      observedAt: iso(s),
    });
    expect(rings.add('k', p('text'))).toBe(false);
    expect(rings.add('k', p(true))).toBe(false);
    expect(rings.add('k', p(1, 'bad'))).toBe(false);
    expect(rings.add('k', p(2, 'uncertain', 1))).toBe(true);
    expect(rings.add('k', p(3, 'good', 2))).toBe(true);
    expect(rings.get('k', 'x')!.series()[1]).toEqual([2, 3]);
    expect(rings.get('k', 'y')).toBeUndefined();
  });
});

describe('folding the snapshot and the pushes into one view', () => {
  it('sorts rigs by tag and keys them by edge and tag', () => {
    const v = fromSnapshot(snapshot());
    expect(v.rigs.map((r) => r.equipment)).toEqual(['RIG-01', 'RIG-02']);
    expect(v.rigs[1]!.key).toBe(rigKey('e1', 'RIG-02'));
    expect(v.rigs[1]!.values.railPressure!.value).toBe(1800.5);
  });

  it('updates a value in place with a newer telemetry push, ignores an older one, and adds a new rig', () => {
    const v = fromSnapshot(snapshot());
    const changed = applyTelemetry(v, {
      siteId: 'plant-1',
      edgeId: 'e1',
      items: [
        {
          equipment: 'RIG-02',
          point: 'railPressure',
          value: 1799.25,
          unit: 'bar',
          quality: 'good',
          observedAt: iso(1),
        },
        {
          equipment: 'RIG-03',
          point: 'oilTemp',
          value: 40.5,
          unit: 'degC',
          quality: 'good',
          observedAt: iso(1),
        },
      ],
    });
    expect(changed.map((c) => c.point.point)).toEqual(['railPressure', 'oilTemp']);
    expect(v.rigs.map((r) => r.equipment)).toEqual(['RIG-01', 'RIG-02', 'RIG-03']);
    expect(v.rigs[1]!.values.railPressure!.value).toBe(1799.25);
    expect(v.rigs[1]!.lastSeenAt).toBe(iso(1));

    const older = applyTelemetry(v, {
      siteId: 'plant-1',
      edgeId: 'e1',
      items: [
        {
          equipment: 'RIG-02',
          point: 'railPressure',
          value: 1.0,
          unit: 'bar',
          quality: 'good',
          observedAt: iso(-5),
        },
      ],
    });
    expect(older).toEqual([]);
    expect(v.rigs[1]!.values.railPressure!.value).toBe(1799.25);

    // Another site's push changes nothing.
    expect(
      applyTelemetry(v, {
        siteId: 'plant-2',
        edgeId: 'e9',
        items: [
          { equipment: 'RIG-09', point: 'p', value: 1, unit: null, quality: 'good', observedAt: iso(2) },
        ],
      }),
    ).toEqual([]);
    expect(v.rigs).toHaveLength(3);
  });

  it('keeps values pushed while a snapshot was on its way when the snapshot is older', () => {
    const v = fromSnapshot(snapshot());
    applyTelemetry(v, {
      siteId: 'plant-1',
      edgeId: 'e1',
      items: [
        {
          equipment: 'RIG-02',
          point: 'railPressure',
          value: 1900,
          unit: 'bar',
          quality: 'good',
          observedAt: iso(5),
        },
      ],
    });
    const again = fromSnapshot(snapshot(), v);
    expect(again.rigs[1]!.values.railPressure!.value).toBe(1900);
    expect(again.rigs[1]!.lastSeenAt).toBe(iso(5));
  });

  it('changes a rig state and its "since" only when the state changes, and ignores an older change', () => {
    const v = fromSnapshot(snapshot());
    expect(
      applyRig(v, {
        siteId: 'plant-1',
        edgeId: 'e1',
        equipment: 'RIG-02',
        kind: 'rig',
        state: 'running',
        observedAt: iso(3),
        operator: 'op-1',
      }),
    ).toBe(true);
    expect(v.rigs[1]!.stateSince).toBe(iso(-60));
    expect(v.rigs[1]!.operator).toBe('op-1');
    expect(
      applyRig(v, {
        siteId: 'plant-1',
        edgeId: 'e1',
        equipment: 'RIG-02',
        kind: 'rig',
        state: 'stopped',
        observedAt: iso(4),
      }),
    ).toBe(true);
    expect(v.rigs[1]).toMatchObject({ state: 'stopped', stateSince: iso(4) });
    expect(
      applyRig(v, {
        siteId: 'plant-1',
        edgeId: 'e1',
        equipment: 'RIG-02',
        kind: 'rig',
        state: 'running',
        observedAt: iso(2),
      }),
    ).toBe(false);
    expect(v.rigs[1]!.state).toBe('stopped');
  });

  it('lists alerts newest first, once each, at most MAX_ALERTS', () => {
    const v = fromSnapshot(snapshot());
    const alert = (i: number, siteId: string | null = 'plant-1') => ({
      siteId,
      id: `a${i}`,
      kind: 'spc',
      severity: 'warning' as const,
      message: `m${i}`,
      at: iso(i),
    });
    for (let i = 0; i < MAX_ALERTS + 5; i += 1) applyAlert(v, alert(i));
    expect(applyAlert(v, alert(24))).toBe(false);
    expect(applyAlert(v, alert(99, 'plant-2'))).toBe(false);
    expect(v.alerts).toHaveLength(MAX_ALERTS);
    expect(v.alerts[0]!.id).toBe('a24');
    expect(v.alerts.at(-1)!.id).toBe('a5');
  });

  it('re-reads today’s counts when inspections or usage arrive', () => {
    const counts = { calibration: 0, usage: 0, inspection: 0, telemetry: 4, event: 0 };
    expect(changesToday({ siteId: 'plant-1', edgeId: 'e1', counts, lastSeq: 9 })).toBe(false);
    expect(
      changesToday({ siteId: 'plant-1', edgeId: 'e1', counts: { ...counts, inspection: 1 }, lastSeq: 9 }),
    ).toBe(true);
  });
});

describe('what a rig card shows', () => {
  it('puts numbers with a unit first and leaves out the descriptive points', () => {
    const v = fromSnapshot(snapshot());
    applyTelemetry(v, {
      siteId: 'plant-1',
      edgeId: 'e1',
      items: ['state', 'cycleCount', 'oilTemp', 'deliveredQty', 'operator'].map((point, i) => ({
        equipment: 'RIG-02',
        point,
        value: point === 'operator' ? 'op-1' : i,
        unit: point === 'oilTemp' ? 'degC' : point === 'deliveredQty' ? 'mm3/stroke' : null,
        quality: 'good' as const,
        observedAt: iso(1),
      })),
    });
    expect(keyPoints(v.rigs[1]!)).toEqual(['railPressure', 'oilTemp', 'deliveredQty', 'cycleCount']);
    expect(keyPoints(v.rigs[1]!, 2)).toEqual(['railPressure', 'oilTemp']);
  });

  it('formats values with fixed decimals per magnitude so that ticking values keep their width', () => {
    expect(formatValue(1800.54, 'bar')).toBe('1801');
    expect(formatValue(62.1234, 'mm3')).toBe('62.12');
    expect(formatValue(9.99, 'ohm')).toBe('9.990');
    expect(formatValue(123.456, 'us')).toBe('123.5');
    expect(formatValue(12345, null)).toBe('12,345');
    expect(formatValue(true)).toBe('yes');
    expect(formatValue(null)).toBe('—');
    expect(formatValue('  ')).toBe('—');
    expect(formatValue(Number.NaN)).toBe('—');
    expect(formatValue(40.1, 'degC').length).toBe(formatValue(40.9, 'degC').length);
    expect(formatYield(null)).toBe('—');
    expect(formatYield(2 / 3)).toBe('66.7 %');
    expect(formatYield(1)).toBe('100.0 %');
  });

  it('says reconnecting during a short outage and offline after a long one or when the browser is offline', () => {
    expect(stateAfterLoss(T0, T0 + 5000, true)).toBe('reconnecting');
    expect(stateAfterLoss(T0, T0 + 30_000, true)).toBe('offline');
    expect(stateAfterLoss(T0, T0 + 1000, false)).toBe('offline');
  });
});

describe('labels a person reads', () => {
  it('spells out signal names of any device layout, keeping acronyms', () => {
    expect(signalLabel('energizingTime')).toBe('Energizing time');
    expect(signalLabel('deliveredQty')).toBe('Delivered quantity');
    expect(signalLabel('oilTemp')).toBe('Oil temperature');
    expect(signalLabel('fullLoad.measuredQty')).toBe('Full load · measured quantity');
    expect(signalLabel('spindle_speed_rpm')).toBe('Spindle speed rpm');
    expect(signalLabel('TCP-force')).toBe('TCP force');
    expect(signalLabel('OPCUAState')).toBe('OPCUA state');
    expect(signalLabel('x')).toBe('X');
  });

  it('writes units as people do', () => {
    expect(unitLabel('degC')).toBe('°C');
    expect(unitLabel('us')).toBe('µs');
    expect(unitLabel('ohm')).toBe('Ω');
    expect(unitLabel('mm3/stroke')).toBe('mm³/stroke');
    expect(unitLabel('m/s2')).toBe('m/s²');
    expect(unitLabel('bar')).toBe('bar');
    expect(unitLabel('mL/min')).toBe('mL/min');
    expect(unitLabel(null)).toBe('');
  });

  it('shows a rig nothing came from for over a minute as stale, not running', () => {
    const rig = {
      kind: 'rig' as const,
      state: 'running' as const,
      stateSince: iso(-60),
      lastSeenAt: iso(0),
      lastUsedAt: iso(-60),
    };
    expect(shownState(rig, T0 + 30_000)).toBe('running');
    expect(shownState(rig, T0 + 10 * 60_000)).toBe('stale');
    expect(shownState({ ...rig, state: 'stopped' }, T0 + 10 * 60_000)).toBe('stopped');
  });

  it('shows a gauge (no telemetry) as a gauge or in use, never running, idle or stale', () => {
    const gauge = {
      kind: 'gauge' as const,
      state: 'running' as const,
      stateSince: iso(-60),
      lastSeenAt: iso(0),
      lastUsedAt: iso(0),
    };
    expect(shownState(gauge, T0 + 5_000)).toBe('in-use');
    expect(shownState(gauge, T0 + 10 * 86_400_000)).toBe('in-use');
    expect(shownState({ ...gauge, state: 'idle', stateSince: null, lastUsedAt: null }, T0)).toBe('gauge');
    // Tagged out (the cloud's rule: out of tolerance or out of service): do not use, used or not.
    const out = { reason: 'out of tolerance, no passing calibration since', caseId: 'c1' };
    expect(shownState({ ...gauge, doNotUse: out }, T0 + 5_000)).toBe('do-not-use');
    expect(shownState({ ...gauge, lastUsedAt: null, doNotUse: out }, T0)).toBe('do-not-use');
    expect(shownState({ ...gauge, doNotUse: null }, T0 + 5_000)).toBe('in-use');
  });

  it('keeps a gauge a gauge through usage pushes, and makes it a rig at its first telemetry', () => {
    const v = fromSnapshot(
      snapshot({
        rigs: [
          {
            equipment: 'CAL-7',
            edgeId: 'e1',
            kind: 'gauge',
            state: 'running',
            stateSince: iso(-600),
            lastSeenAt: iso(-600),
            lastUsedAt: iso(-600),
            calibration: { status: 'current', nextDue: '2027-06-01' },
            doNotUse: null,
            values: [],
            signals: [],
            lastTest: null,
          },
        ],
      }),
    );
    expect(
      applyRig(v, {
        siteId: 'plant-1',
        edgeId: 'e1',
        equipment: 'CAL-7',
        kind: 'gauge',
        state: 'running',
        observedAt: iso(5),
      }),
    ).toBe(true);
    expect(v.rigs[0]).toMatchObject({ kind: 'gauge', lastUsedAt: iso(5) });
    expect(shownState(v.rigs[0]!, T0 + 3_600_000)).toBe('in-use');
    // A gauge first heard of through a push.
    applyRig(v, {
      siteId: 'plant-1',
      edgeId: 'e1',
      equipment: 'TW-3',
      kind: 'gauge',
      state: 'stopped',
      observedAt: iso(6),
    });
    expect(v.rigs.find((r) => r.equipment === 'TW-3')).toMatchObject({
      kind: 'gauge',
      lastUsedAt: iso(6),
      calibration: null,
    });
    // Its calibration status follows the `status` pushes, for gauges of that tag only.
    expect(applyStatus(v, { siteId: 'plant-1', tag: 'CAL-7', from: 'current', to: 'out-of-tolerance' })).toBe(
      true,
    );
    expect(v.rigs[0]!.calibration).toEqual({ status: 'out-of-tolerance', nextDue: '2027-06-01' });
    expect(applyStatus(v, { siteId: 'plant-2', tag: 'CAL-7', from: null, to: 'current' })).toBe(false);
    expect(applyStatus(v, { siteId: 'plant-1', tag: 'CAL-7', from: null, to: 'calibrated' })).toBe(false);
    // Telemetry: a rig from then on.
    applyTelemetry(v, {
      siteId: 'plant-1',
      edgeId: 'e1',
      items: [
        { equipment: 'CAL-7', point: 'force', value: 3, unit: 'N', quality: 'good', observedAt: iso(7) },
      ],
    });
    expect(v.rigs[0]).toMatchObject({ kind: 'rig', calibration: null });
    expect(shownState(v.rigs[0]!, T0 + 8_000)).toBe('running');
  });

  it('marks every tile of equipment named by a `service` push, rigs as gauges, and lets it go again', () => {
    const v = fromSnapshot(snapshot());
    // The same rig behind a second edge: two tiles, both follow.
    applyTelemetry(v, {
      siteId: 'plant-1',
      edgeId: 'e2',
      items: [
        {
          equipment: 'RIG-02',
          point: 'railPressure',
          value: 5,
          unit: 'bar',
          quality: 'good',
          observedAt: iso(1),
        },
      ],
    });
    const tiles = () => v.rigs.filter((r) => r.equipment === 'RIG-02');
    expect(tiles()).toHaveLength(2);
    const out = { reason: 'out of service: nozzle holder cracked', caseId: null };
    expect(shownState(tiles()[0]!, T0 + 2_000)).toBe('running');
    // Another site's push, or another tag: nothing changes.
    expect(applyService(v, { siteId: 'plant-2', tag: 'RIG-02', doNotUse: out })).toBe(false);
    expect(applyService(v, { siteId: 'plant-1', tag: 'RIG-09', doNotUse: out })).toBe(false);
    expect(tiles().every((r) => r.doNotUse === null)).toBe(true);
    expect(applyService(v, { siteId: 'plant-1', tag: 'RIG-02', doNotUse: out })).toBe(true);
    for (const r of tiles()) {
      expect(r.doNotUse).toEqual(out);
      // Running or not, a tagged-out rig shows "do not use"; so does one not heard from for long.
      expect(shownState(r, T0 + 2_000)).toBe('do-not-use');
      expect(shownState(r, T0 + 3_600_000)).toBe('do-not-use');
    }
    expect(v.rigs.find((r) => r.equipment === 'RIG-01')!.doNotUse).toBeNull();
    // Its telemetry goes on while it is out of service: still tagged out.
    applyTelemetry(v, {
      siteId: 'plant-1',
      edgeId: 'e1',
      items: [
        {
          equipment: 'RIG-02',
          point: 'railPressure',
          value: 7,
          unit: 'bar',
          quality: 'good',
          observedAt: iso(3),
        },
      ],
    });
    expect(tiles()[0]!.doNotUse).toEqual(out);
    // A tenant-wide push (equipment without a site) names it too.
    expect(applyService(v, { siteId: null, tag: 'RIG-02', doNotUse: null })).toBe(true);
    expect(tiles().map((r) => shownState(r, T0 + 4_000))).toEqual(['running', 'reporting']);
    // A gauge turned rig by its first telemetry keeps its tag-out.
    const g = fromSnapshot(
      snapshot({
        rigs: [
          {
            equipment: 'CAL-8',
            edgeId: 'e1',
            kind: 'gauge',
            state: 'idle',
            stateSince: null,
            lastSeenAt: iso(0),
            lastUsedAt: null,
            calibration: null,
            doNotUse: out,
            values: [],
            signals: [],
            lastTest: null,
          },
        ],
      }),
    );
    applyTelemetry(g, {
      siteId: 'plant-1',
      edgeId: 'e1',
      items: [
        { equipment: 'CAL-8', point: 'force', value: 3, unit: 'N', quality: 'good', observedAt: iso(1) },
      ],
    });
    expect(g.rigs[0]).toMatchObject({ kind: 'rig', doNotUse: out });
  });

  it('shows equipment that sends values without a run state as reporting, not idle', () => {
    const bench = {
      kind: 'rig' as const,
      state: 'idle' as const,
      stateSince: null,
      lastSeenAt: iso(0),
      lastUsedAt: null,
    };
    expect(shownState(bench, T0 + 5_000)).toBe('reporting');
    expect(shownState(bench, T0 + 10 * 60_000)).toBe('stale');
    expect(shownState({ ...bench, stateSince: iso(-30) }, T0 + 5_000)).toBe('idle');
  });
});

describe('first-pass yield per rig', () => {
  const answer = {
    from: '2026-11-23T00:00:00.000Z',
    to: '2026-12-06T10:00:00.000Z',
    perRigDay: [
      { equipment: 'RIG-01', day: '2026-12-04', tested: 10, passed: 9, firstPassYield: 0.9 },
      { equipment: 'RIG-01', day: '2026-12-06', tested: 4, passed: 4, firstPassYield: 1 },
      { equipment: 'STN-01', day: '2026-12-06', tested: 20, passed: 15, firstPassYield: 0.75 },
    ],
    perRig: [],
    perRigShift: [],
    shifts: [],
  };

  it('keeps each rig to its own figures, fills the days without tests, and puts the worst first', () => {
    const rows = rigYields(answer, '2026-12-06T10:00:00Z', 3);
    expect(rows.map((r) => r.equipment)).toEqual(['STN-01', 'RIG-01']);
    const rig = rows[1]!;
    expect(rig.today).toEqual({ tested: 4, passed: 4, firstPassYield: 1 });
    expect(rig.days).toEqual([
      { day: '2026-12-04', tested: 10, firstPassYield: 0.9 },
      { day: '2026-12-05', tested: 0, firstPassYield: null },
      { day: '2026-12-06', tested: 4, firstPassYield: 1 },
    ]);
    expect(rig.period).toEqual({ tested: 14, passed: 13, firstPassYield: 13 / 14 });
  });

  it('takes today and the trend’s days as the site’s local days (the cloud’s perRigDay)', () => {
    // 20:00 UTC on 6 December is already 7 December in Kolkata: the cloud's local day 7 is today.
    const local = {
      ...answer,
      perRigDay: [
        { equipment: 'RIG-01', day: '2026-12-06', tested: 10, passed: 9, firstPassYield: 0.9 },
        { equipment: 'RIG-01', day: '2026-12-07', tested: 2, passed: 1, firstPassYield: 0.5 },
      ],
    };
    const [rig] = rigYields(local, '2026-12-06T20:00:00Z', 2, 'Asia/Kolkata');
    expect(rig!.today).toEqual({ tested: 2, passed: 1, firstPassYield: 0.5 });
    expect(rig!.days.map((d) => d.day)).toEqual(['2026-12-06', '2026-12-07']);
    // In Los Angeles it is still 6 December.
    const [west] = rigYields(local, '2026-12-06T20:00:00Z', 2, 'America/Los_Angeles');
    expect(west!.today).toEqual({ tested: 10, passed: 9, firstPassYield: 0.9 });
  });

  it('counts days in UTC across a month end', () => {
    expect(lastDays('2026-12-01T23:30:00Z', 3)).toEqual(['2026-11-29', '2026-11-30', '2026-12-01']);
  });
});

describe('a rig named by its signal dictionary', () => {
  const signals = [
    {
      name: 'state',
      label: 'Rig state',
      codes: [
        { code: 0, word: 'Waiting for the next injector' },
        { code: 1, word: 'Testing' },
      ],
    },
    {
      name: 'testPoint',
      label: 'Test point',
      codes: [{ code: 3, word: 'Idle · 350 bar' }],
      when: { signal: 'state', codes: [1] },
    },
    {
      name: 'deliveredQty',
      label: 'Delivered quantity',
      unit: 'mm³/stroke',
      when: { signal: 'state', codes: [1] },
    },
    { name: 'oilTemp', label: 'Test oil temperature', unit: '°C' },
    { name: 'idle', label: 'Idle · 350 bar' },
  ];
  const lastTest = {
    at: iso(-5),
    partSerial: 'INJ-1',
    result: 'pass' as const,
    testPoints: [
      {
        name: 'idle',
        characteristics: [
          {
            name: 'idle.deliveredQty',
            quantity: 'deliveredQty',
            measured: 5.01,
            unit: 'mm3/stroke',
            result: 'pass' as const,
          },
          {
            name: 'idle.backLeak',
            quantity: 'backLeak',
            measured: 12,
            unit: 'mL/min',
            result: 'pass' as const,
          },
        ],
      },
      {
        name: null,
        characteristics: [
          { name: 'trim', quantity: 'trim', measured: 1, unit: 'x', result: 'pass' as const },
        ],
      },
    ],
  };
  const point = (name: string, value: number, unit: string | null = null) => ({
    point: name,
    value,
    unit,
    quality: 'good' as const,
    observedAt: iso(0),
  });
  const view = (state: number) =>
    fromSnapshot(
      snapshot({
        rigs: [
          {
            equipment: 'RIG-01',
            edgeId: 'e1',
            kind: 'rig',
            state: 'running',
            stateSince: iso(-60),
            lastSeenAt: iso(0),
            lastUsedAt: iso(-60),
            calibration: null,
            doNotUse: null,
            values: [
              point('state', state),
              point('testPoint', state === 1 ? 3 : 0),
              point('deliveredQty', state === 1 ? 5.02 : 0, 'mm3/stroke'),
              point('oilTemp', 40.1, 'degC'),
            ],
            signals,
            lastTest,
          },
        ],
      }),
    ).rigs[0]!;

  it('says what the rig does in words and names every signal with the dictionary', () => {
    const testing = view(1);
    expect(nowWords(testing)).toEqual([
      { point: 'state', label: 'Rig state', word: 'Testing' },
      { point: 'testPoint', label: 'Test point', word: 'Idle · 350 bar' },
    ]);
    expect(keyPoints(testing)).toEqual(['deliveredQty', 'oilTemp']);
    expect(nameOf(testing, 'deliveredQty')).toBe('Delivered quantity');
    expect(nameOf(testing, 'coilResistance')).toBe('Coil resistance'); // not in the dictionary: built-in
    expect(unitOf(testing, 'oilTemp', 'degC')).toBe('°C');
    expect(unitOf(testing, 'backLeak', 'mL/min')).toBe('mL/min');
    expect(valueText(testing, 'state', 1)).toBe('Testing');
    expect(valueText(testing, 'oilTemp', 40.1, '°C')).toBe('40.10');
    expect(notMeaningfulNow(testing)).toEqual(new Set());
  });

  it('does not show idle zeros between tests as readings, nor chart them', () => {
    const idle = view(0);
    expect(notMeaningfulNow(idle)).toEqual(new Set(['testPoint', 'deliveredQty']));
    expect(nowWords(idle)).toEqual([
      { point: 'state', label: 'Rig state', word: 'Waiting for the next injector' },
    ]);
    const v = fromSnapshot(snapshot({ rigs: [] }));
    v.rigs.push(idle);
    const changed = applyTelemetry(v, {
      siteId: 'plant-1',
      edgeId: 'e1',
      items: [
        { ...point('state', 0), equipment: 'RIG-01', observedAt: iso(1) },
        { ...point('deliveredQty', 0, 'mm3/stroke'), equipment: 'RIG-01', observedAt: iso(1) },
        { ...point('oilTemp', 40.2, 'degC'), equipment: 'RIG-01', observedAt: iso(1) },
      ],
    });
    expect(changed.map((c) => c.point.point)).toEqual(['state', 'oilTemp']);
  });

  it('names the test points and quantities of the last completed test', () => {
    const rig = view(1);
    expect(testQuantities(rig.lastTest!)).toEqual(['deliveredQty', 'backLeak', 'trim']);
    expect(testPointName(rig, 'idle')).toBe('Idle · 350 bar');
    expect(testPointName(rig, 'pilot')).toBe('Pilot');
    expect(testPointName(rig, null)).toBe('Whole part');
    expect(quantityName(rig, { name: 'idle.deliveredQty', quantity: 'deliveredQty' })).toBe(
      'Delivered quantity',
    );
    expect(quantityName(rig, { name: 'idle.backLeak', quantity: 'backLeak' })).toBe('Back leak');
  });
});

describe('first-pass yield per shift', () => {
  const answer: YieldAnswer = {
    from: '2026-11-20T00:00:00.000Z',
    to: '2026-12-06T10:00:00.000Z',
    perRigDay: [],
    perRig: [],
    perRigShift: [
      {
        equipment: 'RIG-01',
        siteId: 'plant-1',
        day: '2026-12-05',
        shift: 'Night',
        tested: 10,
        passed: 8,
        firstPassYield: 0.8,
      },
      {
        equipment: 'RIG-01',
        siteId: 'plant-1',
        day: '2026-12-06',
        shift: 'Early',
        tested: 4,
        passed: 4,
        firstPassYield: 1,
      },
      {
        equipment: 'RIG-09',
        siteId: 'plant-2',
        day: '2026-12-06',
        shift: 'Early',
        tested: 4,
        passed: 1,
        firstPassYield: 0.25,
      },
    ],
    shifts: [
      {
        siteId: 'plant-1',
        timeZone: 'America/Chicago',
        shifts: [
          { name: 'Early', start: '06:00', end: '14:00' },
          { name: 'Late', start: '14:00', end: '22:00' },
          { name: 'Night', start: '22:00', end: '06:00' },
        ],
      },
    ],
  };

  it('gives each rig of the site a row per shift with its days in the site’s time zone', () => {
    // 2026-12-06T03:00Z is still 5 December in Chicago: today is the 5th there.
    const rows = shiftYields(answer, 'plant-1', '2026-12-06T03:00:00.000Z', 3);
    expect(rows.map((r) => [r.equipment, r.shift, r.hours, r.today.firstPassYield])).toEqual([
      ['RIG-01', 'Early', '06:00–14:00', null],
      ['RIG-01', 'Late', '14:00–22:00', null],
      ['RIG-01', 'Night', '22:00–06:00', 0.8],
    ]);
    expect(rows[0]!.days.map((d) => d.day)).toEqual(['2026-12-03', '2026-12-04', '2026-12-05']);
    const later = shiftYields(answer, 'plant-1', '2026-12-06T15:00:00.000Z', 3);
    expect(later[0]!.today).toEqual({ tested: 4, passed: 4, firstPassYield: 1 });
    expect(later[2]!.period).toEqual({ tested: 10, passed: 8, firstPassYield: 0.8 });
    expect(shiftYields(answer, 'plant-2', '2026-12-06T15:00:00.000Z', 3)).toEqual([]);
  });

  it('counts the night shift running past midnight as today’s, not the one that starts tonight', () => {
    // 03:00 on 6 December in Chicago: the night shift that started at 22:00 on the 5th is running.
    const rows = shiftYields(answer, 'plant-1', '2026-12-06T09:00:00.000Z', 3);
    const night = rows.find((r) => r.shift === 'Night')!;
    expect(night.today).toEqual({ tested: 10, passed: 8, firstPassYield: 0.8 });
    // The day shifts are today's own; the trend stays by the day each shift started on.
    expect(rows.find((r) => r.shift === 'Early')!.today.tested).toBe(4);
    expect(night.days.map((d) => [d.day, d.tested])).toEqual([
      ['2026-12-04', 0],
      ['2026-12-05', 10],
      ['2026-12-06', 0],
    ]);
    // Once it has ended (06:00), the night shift of today is the one still to come.
    const morning = shiftYields(answer, 'plant-1', '2026-12-06T12:30:00.000Z', 3);
    expect(morning.find((r) => r.shift === 'Night')!.today.tested).toBe(0);
  });
});
