import { describe, expect, it } from 'vitest';
import { buildRecord } from '@rigtrace/protocols';
import type { OpcuaValue } from '@rigtrace/protocols/opcua';
import type { InspectionMapping } from '../config/config.schema.js';
import { inspectionFromReadings } from './modbus.collector.js';
import { calibrationFromBlock } from './opcua.collector.js';

const good = (value: number | string) => ({ value, quality: 'good' as const });
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

const mapping = (result?: InspectionMapping['result']): InspectionMapping => ({
  trigger: 'seq',
  partSerial: 'serial',
  ...(result ? { result } : {}),
  characteristics: [{ name: 'fullLoad.qty', measured: 'qty', lsl: 58.2, usl: 61.8, unit: 'mm3/stroke' }],
});

describe('Modbus inspection verdicts', () => {
  it('works without an overall result register: the verdict comes from the limits', () => {
    const pass = inspectionFromReadings(mapping(), { seq: good(3), serial: good('INJ-1'), qty: good(61.8) });
    expect(pass).toMatchObject({ result: 'pass', characteristics: [{ result: 'pass' }] });
    expect(pass).not.toHaveProperty('deviceResult');
    const fail = inspectionFromReadings(mapping(), { seq: good(3), serial: good('INJ-1'), qty: good(61.9) });
    expect(fail).toMatchObject({ result: 'fail', characteristics: [{ result: 'fail' }] });
  });

  it('keeps both when the device says pass and a limit is exceeded, and the record is valid', () => {
    const body = inspectionFromReadings(mapping({ point: 'overall', pass: 1 }), {
      seq: good(3),
      serial: good('INJ-1'),
      qty: good(63),
      overall: good(1),
    });
    expect(body).toMatchObject({
      result: 'fail',
      deviceResult: 'pass',
      characteristics: [{ result: 'fail' }],
    });
    expect(buildRecord({ ...envelope, kind: 'inspection', body }).ok).toBe(true);
  });

  it('keeps the device failing a part the limits pass, and takes a text pass value', () => {
    const body = inspectionFromReadings(mapping({ point: 'overall', pass: 'OK' }), {
      seq: good(3),
      serial: good('INJ-1'),
      qty: good(60),
      overall: good('NOK '),
    });
    expect(body).toMatchObject({
      result: 'fail',
      deviceResult: 'fail',
      characteristics: [{ result: 'pass' }],
    });
    expect(buildRecord({ ...envelope, kind: 'inspection', body }).ok).toBe(true);
  });
});

describe('OPC UA calibration verdicts', () => {
  it('passes 59.9 against 60 ± 0.1, as the portal and the cloud do', () => {
    const nodes = {
      equipment: 'eq',
      pointNames: 'names',
      nominals: 'nom',
      asFound: 'found',
      lowerTolerance: 'lo',
      upperTolerance: 'hi',
      unit: 'unit',
    };
    const v = (nodeId: string, value: OpcuaValue['value']): [string, OpcuaValue] => [
      nodeId,
      {
        name: nodeId,
        nodeId,
        value,
        statusCode: { name: 'Good', value: 0, good: true },
        sourceTimestamp: '2026-11-23T05:51:12.000Z',
        serverTimestamp: null,
        overflow: false,
      },
    ];
    const cal = calibrationFromBlock(
      nodes,
      new Map([
        v('eq', 'GAUGE-1'),
        v('names', ['flow@60']),
        v('nom', [60]),
        v('found', [59.9]),
        v('lo', [-0.1]),
        v('hi', [0.1]),
        v('unit', 'L/min'),
      ]),
    );
    expect(cal?.body.points[0]?.asFoundResult).toBe('pass');
    expect(cal?.body.asFoundResult).toBe('pass');
  });
});
