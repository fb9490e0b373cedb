import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RecordDraft } from '../buffer/edge-log.js';
import { validateConfig } from '../config/config.js';
import type { RecordSink } from '../records/record-sink.js';
import { captureFor } from './capture.js';

const LC = (n: string) => `ns=1;s=Bench.LastCalibration.${n}`;
const bench = {
  id: 'bench',
  protocol: 'opcua',
  equipment: 'BENCH-01',
  endpointUrl: 'opc.tcp://127.0.0.1:4840',
  items: [
    { name: 'oilTemp', nodeId: 'ns=1;s=Bench.Live.OilTemperature' },
    { name: 'calSeq', nodeId: LC('Sequence') },
  ],
  calibration: {
    trigger: 'calSeq',
    nodes: {
      equipment: LC('EquipmentId'),
      pointNames: LC('PointNames'),
      nominals: LC('Nominals'),
      asFound: LC('AsFound'),
      lowerTolerance: LC('LowerTolerance'),
      upperTolerance: LC('UpperTolerance'),
      unit: LC('Unit'),
      certificate: LC('CertificateId'),
    },
  },
};
const rig = {
  id: 'rig',
  protocol: 'modbus',
  equipment: 'RIG-01',
  host: '127.0.0.1',
  port: 502,
  points: [
    { name: 'pressure', address: 4, type: 'float32' },
    { name: 'seq', address: 100, type: 'uint32' },
    { name: 'overall', address: 102, type: 'uint16' },
    { name: 'serial', address: 103, type: 'string', length: 10 },
    { name: 'full.qty', address: 146, type: 'float32' },
  ],
  inspection: {
    trigger: 'seq',
    partSerial: 'serial',
    testPlan: 'CRI-4PT',
    result: { point: 'overall', pass: 1 },
    characteristics: [{ name: 'full.qty', measured: 'full.qty', lsl: 58, usl: 62, unit: 'mm3/stroke' }],
  },
};
const config = (...sources: object[]) => ({
  version: 1,
  cloud: { url: 'http://127.0.0.1:9' },
  sources: structuredClone(sources),
});

describe('the older calibration: and inspection: blocks', () => {
  it('become one ordinary records entry each at load, with only the nodes configured', () => {
    const cfg = validateConfig(config(bench, rig));
    const [ua, mb] = cfg.sources;
    if (ua?.protocol !== 'opcua' || mb?.protocol !== 'modbus') throw new Error('expected both sources');
    expect(ua).not.toHaveProperty('calibration');
    expect(ua.records).toEqual([
      expect.objectContaining({
        kind: 'calibration',
        trigger: { counter: 'calSeq' },
        read: expect.objectContaining({ AsFound: LC('AsFound'), CertificateId: LC('CertificateId') }),
      }),
    ]);
    const fields = ua.records![0]!.fields as Record<string, unknown>;
    expect(fields.certificate).toBe('=CertificateId');
    expect(fields).not.toHaveProperty('technician'); // no node for it
    expect(fields.points).not.toHaveProperty('asLeft');
    expect(mb).not.toHaveProperty('inspection');
    expect(mb.records?.[0]).toMatchObject({
      kind: 'inspection',
      trigger: { counter: 'seq' },
      fields: {
        partSerial: "='serial'",
        testPlan: 'CRI-4PT',
        deviceResult: "='overall' == 1",
        characteristics: [{ name: 'full.qty', measured: "='full.qty'", lsl: 58, usl: 62 }],
      },
    });
    // Telemetry keeps leaving out the values of the result block, as before.
    expect(mb.telemetry?.points).toEqual(['pressure']);
  });

  it('are refused with their own paths', () => {
    const bad = structuredClone(bench) as Record<string, any>;
    bad.calibration.trigger = 'nope';
    const wrong = structuredClone(rig) as Record<string, any>;
    wrong.inspection.result.pass = [1];
    expect(() => validateConfig(config(bad, wrong))).toThrow(
      expect.objectContaining({
        problems: expect.arrayContaining([
          'sources[0].calibration.trigger: no item named "nope"',
          expect.stringMatching(/^sources\[1\]\.inspection\.result\.pass: /),
        ]),
      }),
    );
  });

  it('an upgrade takes over the last result an older release stored: no repeat, and the gap counted', async () => {
    const cfg = validateConfig(config(rig));
    const src = cfg.sources[0];
    if (src?.protocol !== 'modbus') throw new Error('expected modbus');
    const written: RecordDraft[] = [];
    const sink = {
      write: (_id: string, drafts: RecordDraft[]) => Promise.resolve(void written.push(...drafts)),
    } as unknown as RecordSink;
    const capture = captureFor(
      src,
      0,
      src.records![0]!,
      { sink, logger: pino({ level: 'silent' }), source: () => ({ endpoint: 'x', protocol: 'modbus' }) },
      {
        readBlock: (t) =>
          Promise.resolve({ scope: { seq: t, serial: 'INJ-9', 'full.qty': 60, overall: 1 }, trigger: t }),
        acknowledge: () => Promise.resolve(),
      },
      src.records!,
      'inspection',
    );
    await capture.init((k) => Promise.resolve(k === 'source:rig:lastTrigger' ? '41' : undefined));
    capture.observe(41); // taken by the older release
    await new Promise((r) => setTimeout(r, 20));
    expect(written).toEqual([]);
    capture.observe(44);
    await new Promise((r) => setTimeout(r, 20));
    expect(written.map((d) => d.kind)).toEqual(['event', 'inspection']);
    expect(written[0]).toMatchObject({
      body: { code: 'RESULTS_MISSED', details: { from: 41, to: 44, missed: 2 } },
    });
  });
});
