import { describe, expect, it } from 'vitest';
import { buildRecord } from '@rigtrace/protocols';
import type { AnyRecordMapping, InspectionMapping } from '../config/config.schema.js';
import { calibrationRecords, inspectionRecords } from '../mapping/legacy-blocks.js';
import { compileRecordMapping } from '../mapping/record-mapping.js';

const envelope = {
  v: 1,
  id: '019ab2f0-0000-7000-8000-000000000001',
  edge: 'e',
  seq: 1,
  equipment: 'RIG-01',
  observedAt: '2026-11-23T05:51:12Z',
  receivedAt: '2026-11-23T05:51:12Z',
  source: { protocol: 'modbus', endpoint: 'modbus-tcp://127.0.0.1:502' },
};
const ctx = { equipment: 'RIG-01', source: envelope.source as never, at: new Date('2026-11-23T05:51:12Z') };

const mapping = (result?: InspectionMapping['result']): InspectionMapping => ({
  trigger: 'seq',
  partSerial: 'serial',
  ...(result ? { result } : {}),
  characteristics: [{ name: 'fullLoad.qty', measured: 'qty', lsl: 58.2, usl: 61.8, unit: 'mm3/stroke' }],
});

/** The body an older `inspection:` block gives for these readings (through its records translation). */
const inspect = (m: InspectionMapping, values: Record<string, unknown>) => {
  const c = compileRecordMapping(inspectionRecords(m) as AnyRecordMapping, 'records[0]');
  expect(c.problems).toEqual([]);
  return c.mapping.build(values, ctx).body;
};

describe('Modbus inspection verdicts (the inspection: block)', () => {
  it('works without an overall result register: the verdict comes from the limits', () => {
    const pass = inspect(mapping(), { seq: 3, serial: 'INJ-1', qty: 61.8 });
    expect(pass).toMatchObject({ result: 'pass', characteristics: [{ result: 'pass' }] });
    expect(pass).not.toHaveProperty('deviceResult');
    const fail = inspect(mapping(), { seq: 3, serial: 'INJ-1', qty: 61.9 });
    expect(fail).toMatchObject({ result: 'fail', characteristics: [{ result: 'fail' }] });
  });

  it('keeps both when the device says pass and a limit is exceeded, and the record is valid', () => {
    const body = inspect(mapping({ point: 'overall', pass: 1 }), {
      seq: 3,
      serial: 'INJ-1',
      qty: 63,
      overall: 1,
    });
    expect(body).toMatchObject({
      result: 'fail',
      deviceResult: 'pass',
      characteristics: [{ result: 'fail' }],
    });
    expect(buildRecord({ ...envelope, kind: 'inspection', body }).ok).toBe(true);
  });

  it('keeps the device failing a part the limits pass, and takes a text pass value', () => {
    const body = inspect(mapping({ point: 'overall', pass: 'OK' }), {
      seq: 3,
      serial: 'INJ-1',
      qty: 60,
      overall: 'NOK ',
    });
    expect(body).toMatchObject({
      result: 'fail',
      deviceResult: 'fail',
      characteristics: [{ result: 'pass' }],
    });
    expect(buildRecord({ ...envelope, kind: 'inspection', body }).ok).toBe(true);
    expect(
      inspect(mapping({ point: 'overall', pass: 'OK' }), {
        seq: 3,
        serial: 'INJ-1',
        qty: 60,
        overall: ' OK',
      }),
    ).toMatchObject({ result: 'pass', deviceResult: 'pass' });
  });
});

describe('OPC UA calibration verdicts (the calibration: block)', () => {
  it('passes 59.9 against 60 ± 0.1, as the portal and the cloud do', () => {
    const m = calibrationRecords({
      trigger: 'seq',
      nodes: {
        equipment: 'eq',
        pointNames: 'names',
        nominals: 'nom',
        asFound: 'found',
        lowerTolerance: 'lo',
        upperTolerance: 'hi',
        unit: 'unit',
      },
    });
    const c = compileRecordMapping(m as AnyRecordMapping, 'records[0]');
    expect(c.problems).toEqual([]);
    const cal = c.mapping.build(
      {
        EquipmentId: 'GAUGE-1',
        PointNames: ['flow@60'],
        Nominals: [60],
        AsFound: [59.9],
        LowerTolerance: [-0.1],
        UpperTolerance: [0.1],
        Unit: 'L/min',
      },
      ctx,
    );
    expect(cal.equipment).toBe('GAUGE-1');
    if (cal.kind !== 'calibration') throw new Error('expected a calibration');
    expect(cal.body.points[0]?.asFoundResult).toBe('pass');
    expect(cal.body.asFoundResult).toBe('pass');
    expect(cal.body.points[0]).not.toHaveProperty('asLeft');
  });
});
