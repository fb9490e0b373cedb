import { describe, expect, it } from 'vitest';
import {
  emptyPoint,
  fillFromDcc,
  validateCalibration,
  type CalibrationDraft,
  type PointDraft,
} from '../src/lib/calibration-form.js';
import { readDcc } from '../../cloud/src/calibration/dcc.js';
import { writeDcc } from '../../cloud/src/calibration/dcc-export.js';

const NOW = new Date('2026-04-20T10:00:00Z');
const draft = (points: PointDraft[] = [emptyPoint()]): CalibrationDraft => ({
  equipment: 'PT-RAIL-03',
  calibratedAt: '2026-04-20T09:15',
  technician: 'A. Smith (level 3)',
  certificate: '',
  standards: [],
  points,
  adjusted: false,
  password: 'pw',
  meaning: 'performed',
  procedure: null,
  temperature: '',
  humidity: '',
  remarks: '',
});

/** A lab's certificate for a calibration as we would have entered it (written by our own DCC export). */
const labBody = {
  certificate: { number: 'DKD-K-4711-2026' },
  standards: [],
  points: [
    {
      name: 'p@800',
      nominal: 800,
      unit: 'bar',
      asFound: 806,
      asLeft: 800.3,
      lowerTolerance: -2,
      upperTolerance: 2,
      asFoundResult: 'fail' as const,
      asLeftResult: 'pass' as const,
    },
    {
      name: 'ring 4',
      nominal: 4,
      unit: 'mm',
      asFound: 4.0003,
      lowerTolerance: -0.001,
      upperTolerance: 0.0015,
      asFoundResult: 'pass' as const,
    },
  ],
  adjusted: true,
  asFoundResult: 'fail' as const,
  asLeftResult: 'pass' as const,
  calibratedAt: '2026-04-11T00:00:00.000Z',
};
const dcc = readDcc(
  writeDcc({
    calibrationId: 'manual:x',
    tenantName: 'Lab',
    siteName: null,
    equipment: { tag: 'PT-RAIL-03', type: 'transducer' },
    body: labBody,
    enteredBy: null,
    issuedAt: '2026-04-12T00:00:00Z',
    software: { name: 'LabCert', release: '1' },
  }),
);

describe('a calibration filled from a DCC before it is signed', () => {
  it('takes the environment the certificate states (temperature, humidity) into the form', () => {
    const withEnv = readDcc(
      writeDcc({
        calibrationId: 'manual:y',
        tenantName: 'Lab',
        siteName: null,
        equipment: { tag: 'PT-RAIL-03', type: 'transducer' },
        body: { ...labBody, environment: { temperatureC: 20.4, humidityPct: 41.5 } },
        enteredBy: null,
        issuedAt: '2026-04-12T00:00:00Z',
        software: { name: 'LabCert', release: '1' },
      }),
    );
    expect(withEnv.environment).toEqual({ temperatureC: 20.4, humidityPct: 41.5 });
    const { draft: d } = fillFromDcc({ ...draft(), temperature: '23', humidity: '' }, withEnv, NOW);
    expect([d.temperature, d.humidity]).toEqual(['20.4', '41.5']);
    const v = validateCalibration(d, NOW);
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.request.body.environment).toEqual({ temperatureC: 20.4, humidityPct: 41.5 });
    // A certificate that states no environment leaves what was typed.
    expect(fillFromDcc({ ...draft(), temperature: '21' }, dcc, NOW).draft.temperature).toBe('21');
  });

  it('takes the points, readings, limits as tolerances, date and certificate number; the request is the calibration again', () => {
    const { draft: d, notes } = fillFromDcc(draft(), dcc, NOW);
    expect(notes).toEqual([]);
    expect(d.certificate).toBe('DKD-K-4711-2026');
    expect(d.calibratedAt).toBe('2026-04-11T09:15');
    expect(d.adjusted).toBe(true);
    expect(d.points).toEqual([
      {
        name: 'p@800',
        unit: 'bar',
        nominal: '800',
        lowerTolerance: '-2',
        upperTolerance: '2',
        asFound: '806',
        asLeft: '800.3',
      },
      {
        name: 'ring 4',
        unit: 'mm',
        nominal: '4',
        lowerTolerance: '-0.001',
        upperTolerance: '0.0015',
        asFound: '4.0003',
        asLeft: '',
      },
    ]);
    const v = validateCalibration(d, NOW);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.request.body).toMatchObject({
      certificate: { number: 'DKD-K-4711-2026' },
      points: labBody.points,
      asFoundResult: 'fail',
      asLeftResult: 'pass',
      calibratedAt: '2026-04-11T09:15:00.000Z',
    });
  });

  it('fills only the readings of a procedure’s fixed points, and names what it could not match', () => {
    const fixed = (name: string, nominal: string, unit: string): PointDraft => ({
      ...emptyPoint(),
      name,
      unit,
      nominal,
      lowerTolerance: '-1',
      upperTolerance: '1',
      fixed: true,
    });
    const { draft: d, notes } = fillFromDcc(
      draft([fixed('pressure 800', '800', 'bar'), fixed('p@1600', '1600', 'bar')]),
      dcc,
      NOW,
    );
    // p@800 matched by nominal and unit (the names differ); the procedure's name and tolerances stay.
    expect(d.points[0]).toMatchObject({
      name: 'pressure 800',
      lowerTolerance: '-1',
      asFound: '806',
      asLeft: '800.3',
    });
    expect(d.points[1]).toMatchObject({ name: 'p@1600', asFound: '' });
    expect(notes).toEqual([
      'ring 4 is on the certificate but not in the procedure.',
      'p@1600: no reading on the certificate.',
    ]);
  });

  it('never dates the calibration in the future, and asks for tolerances a certificate does not give', () => {
    const bare = {
      ...dcc,
      endPerformanceDate: '2026-04-20',
      points: [{ ...dcc.points[1]!, lowerLimit: undefined, upperLimit: undefined }],
    };
    const { draft: d, notes } = fillFromDcc(
      draft([{ ...emptyPoint(), calibratedAt: '' } as never]),
      bare,
      NOW,
    );
    expect(d.calibratedAt).toBe('2026-04-20T09:15');
    const late = fillFromDcc({ ...draft(), calibratedAt: '2026-04-19T23:30' }, bare, NOW).draft;
    expect(late.calibratedAt).toBe('2026-04-20T10:00');
    // In the site's zone: 10:00 UTC is 12:00 in Berlin (CEST), the latest the form may say there.
    const berlin = fillFromDcc({ ...draft(), calibratedAt: '2026-04-19T23:30' }, bare, NOW, 'Europe/Berlin');
    expect(berlin.draft.calibratedAt).toBe('2026-04-20T12:00');
    expect(notes).toEqual(['ring 4: the certificate gives no limits; enter the tolerances.']);
  });
});
