import { describe, expect, it } from 'vitest';
import { calibrationBodySchema, type CalibrationBody } from '@rigtrace/protocols';
import { DCC_NS, SI_NS, dccDifferences, readDcc } from './dcc.js';
import { dsiUnit, writeDcc, type DccExportInput } from './dcc-export.js';
import { childNamed, childrenNamed, descendantsNamed, parseXml, type XmlElement } from './xml.js';

const body: CalibrationBody = calibrationBodySchema.parse({
  procedure: { id: 'CP-PRS-01', revision: 'C' },
  technician: 'A. Smith <level 3> & co',
  certificate: { number: 'RT-2026-0042' },
  standards: [
    { id: 'STD-PRS-0007', certificate: 'DKD-K-1207-2026', dueDate: '2027-01-31' },
    { id: 'STD-TMP-0002' },
  ],
  environment: { temperatureC: 20.4, humidityPct: 41 },
  points: [
    {
      name: 'p@800',
      nominal: 800,
      unit: 'bar',
      asFound: 800.4,
      lowerTolerance: -2,
      upperTolerance: 2,
      uncertainty: 0.2,
      asFoundResult: 'pass',
    },
    {
      name: 'p@1600',
      nominal: 1600,
      unit: 'bar',
      asFound: 1607.1,
      asLeft: 1600.3,
      lowerTolerance: -4,
      upperTolerance: 4,
      asFoundResult: 'fail',
      asLeftResult: 'pass',
    },
    {
      name: 'ring 4',
      nominal: 4,
      unit: 'mm',
      asFound: 4.0003,
      lowerTolerance: -0.001,
      upperTolerance: 0.0015,
      asFoundResult: 'pass',
    },
  ],
  adjusted: true,
  asFoundResult: 'fail',
  asLeftResult: 'pass',
  calibratedAt: '2026-04-11T09:30:00.000Z',
  receivedDate: '2026-04-09',
  remarks: 'Zero re-set.',
});

const input = (b: CalibrationBody = body): DccExportInput => ({
  calibrationId: 'manual:0190c0de-0000-4000-8000-000000000001',
  tenantName: 'Acme Pumps',
  siteName: 'Plant 1',
  equipment: {
    tag: 'PT-RAIL-03',
    type: 'pressure transducer',
    make: 'Kistler',
    model: '4067E',
    serial: 'SN 88123',
    firmware: '2.4.1',
  },
  body: b,
  enteredBy: 'A. Smith',
  issuedAt: '2026-04-12T10:00:00.000Z',
  software: { name: 'RigTrace', release: '0.1.0' },
});

const names = (el: XmlElement) => el.children.map((c) => c.name);
const content = (el: XmlElement | undefined) => (el ? childNamed(el, 'content', DCC_NS)?.text : undefined);

describe('DCC export', () => {
  const xml = writeDcc(input());
  const root = parseXml(xml);

  it('writes a DCC 3.3.0 in the PTB namespaces, with the DCC 3.x element order', () => {
    expect(root.ns).toBe(DCC_NS);
    expect(root.name).toBe('digitalCalibrationCertificate');
    expect(root.attrs.schemaVersion).toBe('3.3.0');
    expect(names(root)).toEqual(['administrativeData', 'measurementResults']);
    const admin = childNamed(root, 'administrativeData', DCC_NS)!;
    expect(names(admin)).toEqual([
      'dccSoftware',
      'coreData',
      'items',
      'calibrationLaboratory',
      'respPersons',
      'customer',
      'statements',
    ]);
    const core = childNamed(admin, 'coreData', DCC_NS)!;
    expect(names(core)).toEqual([
      'countryCodeISO3166_1',
      'usedLangCodeISO639_1',
      'mandatoryLangCodeISO639_1',
      'uniqueIdentifier',
      'identifications',
      'receiptDate',
      'beginPerformanceDate',
      'endPerformanceDate',
      'performanceLocation',
      'issueDate',
    ]);
    expect(childNamed(core, 'uniqueIdentifier', DCC_NS)!.text).toBe('RT-2026-0042');
    const mr = childNamed(childNamed(root, 'measurementResults', DCC_NS)!, 'measurementResult', DCC_NS)!;
    expect(names(mr)).toEqual([
      'name',
      'usedMethods',
      'measuringEquipments',
      'influenceConditions',
      'results',
    ]);
    // Every element is in the DCC namespace, or D-SI inside si:real.
    const walk = (e: XmlElement, inReal: boolean): void => {
      expect([DCC_NS, SI_NS]).toContain(e.ns);
      if (e.ns === SI_NS) expect(inReal || e.name === 'real').toBe(true);
      for (const c of e.children) walk(c, inReal || e.name === 'real');
    };
    walk(root, false);
  });

  it('names the equipment, the lab, the people, the standards with their certificates, the procedure and the environment', () => {
    const item = descendantsNamed(root, 'item', DCC_NS)[0]!;
    expect(content(childNamed(item, 'name', DCC_NS))).toBe('pressure transducer PT-RAIL-03');
    expect(content(childNamed(childNamed(item, 'manufacturer', DCC_NS)!, 'name', DCC_NS))).toBe('Kistler');
    expect(childNamed(item, 'model', DCC_NS)!.text).toBe('4067E');
    const ids = descendantsNamed(childNamed(item, 'identifications', DCC_NS)!, 'identification', DCC_NS).map(
      (i) => [childNamed(i, 'issuer', DCC_NS)!.text, childNamed(i, 'value', DCC_NS)!.text],
    );
    expect(ids).toEqual([
      ['owner', 'PT-RAIL-03'],
      ['manufacturer', 'SN 88123'],
      ['manufacturer', '2.4.1'],
    ]);
    const lab = descendantsNamed(root, 'calibrationLaboratory', DCC_NS)[0]!;
    expect(content(descendantsNamed(lab, 'name', DCC_NS)[0])).toBe('Acme Pumps');
    expect(
      content(descendantsNamed(descendantsNamed(root, 'respPerson', DCC_NS)[0]!, 'name', DCC_NS)[0]),
    ).toBe('A. Smith <level 3> & co');
    const equipments = descendantsNamed(root, 'measuringEquipment', DCC_NS).map((m) =>
      descendantsNamed(m, 'value', DCC_NS).map((v) => v.text),
    );
    expect(equipments).toEqual([['STD-PRS-0007', 'DKD-K-1207-2026'], ['STD-TMP-0002']]);
    expect(content(descendantsNamed(root, 'usedMethod', DCC_NS)[0]!.children[0])).toBe('CP-PRS-01 rev. C');
    const env = descendantsNamed(root, 'influenceCondition', DCC_NS).map((c) => [
      c.attrs.refType,
      descendantsNamed(c, 'value', SI_NS)[0]!.text,
      descendantsNamed(c, 'unit', SI_NS)[0]!.text,
    ]);
    expect(env).toEqual([
      ['basic_temperature', '20.4', '\\degreecelsius'],
      ['basic_humidityRelative', '41', '\\percent'],
    ]);
  });

  it('writes every point as si:real with D-SI units: nominal, as found, as left, error, limits and verdicts', () => {
    const results = descendantsNamed(root, 'result', DCC_NS);
    expect(results.map((r) => content(childNamed(r, 'name', DCC_NS)))).toEqual(['p@800', 'p@1600', 'ring 4']);
    const q = (r: XmlElement) =>
      childrenNamed(childNamed(childNamed(r, 'data', DCC_NS)!, 'list', DCC_NS)!, 'quantity', DCC_NS).map(
        (x) => [
          x.attrs.refType,
          descendantsNamed(x, 'value', SI_NS)[0]!.text,
          descendantsNamed(x, 'unit', SI_NS)[0]!.text,
          descendantsNamed(x, 'conformity', DCC_NS)[0]?.text ?? null,
        ],
      );
    expect(q(results[1]!)).toEqual([
      ['basic_referenceValue', '1600', '\\bar', null],
      ['basic_measuredValue', '1607.1', '\\bar', 'fail'],
      ['rigtrace_asLeftValue', '1600.3', '\\bar', 'pass'],
      ['basic_measurementError', '7.1', '\\bar', null],
      ['basic_toleranceLimitLower', '1596', '\\bar', null],
      ['basic_toleranceLimitUpper', '1604', '\\bar', null],
    ]);
    expect(q(results[2]!).map((x) => x[1])).toEqual(['4', '4.0003', '0.0003', '3.999', '4.0015']);
    expect(q(results[2]!)[0]![2]).toBe('\\milli\\metre');
    expect(descendantsNamed(results[0]!, 'valueExpandedMU', SI_NS)[0]!.text).toBe('0.2');
  });

  it('comes back through the DCC import as the same calibration, with no difference flagged', () => {
    const d = readDcc(xml);
    expect(d).toMatchObject({
      schemaVersion: '3.3.0',
      certificateNumber: 'RT-2026-0042',
      beginPerformanceDate: '2026-04-11',
      endPerformanceDate: '2026-04-11',
      asFoundResult: 'fail',
      asLeftResult: 'pass',
    });
    expect(d.points).toEqual([
      {
        name: 'p@800',
        unit: 'bar',
        nominal: 800,
        asFound: 800.4,
        asLeft: null,
        uncertainty: 0.2,
        lowerLimit: 798,
        upperLimit: 802,
        asFoundResult: 'pass',
      },
      {
        name: 'p@1600',
        unit: 'bar',
        nominal: 1600,
        asFound: 1607.1,
        asLeft: 1600.3,
        uncertainty: null,
        lowerLimit: 1596,
        upperLimit: 1604,
        asFoundResult: 'fail',
        asLeftResult: 'pass',
      },
      {
        name: 'ring 4',
        unit: 'mm',
        nominal: 4,
        asFound: 4.0003,
        asLeft: null,
        uncertainty: null,
        lowerLimit: 3.999,
        upperLimit: 4.0015,
        asFoundResult: 'pass',
      },
    ]);
    expect(dccDifferences(d, body)).toEqual([]);
  });

  it('flags a verdict that differs, and one without a certificate number is named by its calibration id', () => {
    // Entered with p@800 failed as found (the rest as before).
    const { certificate: _none, ...rest } = body;
    const other: CalibrationBody = {
      ...rest,
      points: body.points.map((p) => (p.name === 'p@800' ? { ...p, asFoundResult: 'fail' } : p)),
    };
    const d = readDcc(writeDcc(input()));
    expect(dccDifferences(d, other).map((x) => x.message)).toEqual([
      'p@800: as found pass on the certificate, fail entered',
    ]);
    const anon = readDcc(writeDcc(input(other)));
    expect(anon.certificateNumber).toBe('manual:0190c0de-0000-4000-8000-000000000001');
  });

  it('spells units as D-SI and keeps a unit it does not know', () => {
    expect(dsiUnit('°C')).toBe('\\degreecelsius');
    expect(dsiUnit('N·m')).toBe('\\newton\\metre');
    expect(dsiUnit('psi')).toBe('psi');
  });
});
