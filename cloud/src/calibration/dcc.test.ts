import { describe, expect, it } from 'vitest';
import { dccDifferences, readDcc, unitKey } from './dcc.js';
import { parseXml, sniffRoot, XmlError } from './xml.js';

describe('the strict XML reader', () => {
  it('resolves namespaces, decodes entities and keeps CDATA', () => {
    const root = parseXml(
      '<?xml version="1.0"?><!-- c --><a:r xmlns:a="urn:a" xmlns="urn:d" k="1 &amp; 2"><b>x &lt; &#x41;<![CDATA[<raw>]]></b><a:c/></a:r>',
    );
    expect(root).toMatchObject({ name: 'r', ns: 'urn:a', attrs: { k: '1 & 2' } });
    expect(root.children.map((c) => [c.name, c.ns, c.text])).toEqual([
      ['b', 'urn:d', 'x < A<raw>'],
      ['c', 'urn:a', ''],
    ]);
  });

  it('refuses a DOCTYPE, unknown entities, mismatched tags and undeclared prefixes', () => {
    for (const bad of [
      '<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>',
      '<r>&nbsp;</r>',
      '<r><a></b></r>',
      '<p:r/>',
      '<r/><r/>',
      '<r>',
    ])
      expect(() => parseXml(bad), bad).toThrow(XmlError);
  });

  it('finds the root element from the start of a document, past the prolog', () => {
    expect(
      sniffRoot(
        '\uFEFF<?xml version="1.0"?>\n<!-- x --><dcc:digitalCalibrationCertificate xmlns:dcc="https://ptb.de/dcc">',
      ),
    ).toEqual({
      ns: 'https://ptb.de/dcc',
      name: 'digitalCalibrationCertificate',
    });
    expect(sniffRoot('%PDF-1.7')).toBeNull();
  });
});

describe('reading a DCC', () => {
  const doc = (results: string) =>
    `<dcc:digitalCalibrationCertificate xmlns:dcc="https://ptb.de/dcc" xmlns:si="https://ptb.de/si" schemaVersion="3.3.0">
      <dcc:administrativeData><dcc:coreData><dcc:uniqueIdentifier>C-1</dcc:uniqueIdentifier>
      <dcc:beginPerformanceDate>2026-04-10</dcc:beginPerformanceDate><dcc:endPerformanceDate>2026-04-12</dcc:endPerformanceDate></dcc:coreData></dcc:administrativeData>
      <dcc:measurementResults><dcc:measurementResult><dcc:results>${results}</dcc:results></dcc:measurementResult></dcc:measurementResults>
    </dcc:digitalCalibrationCertificate>`;
  const q = (ref: string, v: number, unit = '\\milli\\metre') =>
    `<dcc:quantity refType="${ref}"><si:real><si:value>${v}</si:value><si:unit>${unit}</si:unit></si:real></dcc:quantity>`;
  const result = (name: string, ...qs: string[]) =>
    `<dcc:result><dcc:name><dcc:content>${name}</dcc:content></dcc:name><dcc:data><dcc:list>${qs.join('')}</dcc:list></dcc:data></dcc:result>`;

  it('takes the nominal, as-found and as-left readings of each point, in the calibration units', () => {
    const d = readDcc(
      doc(
        result(
          'ring 4',
          q('basic_referenceValue', 4),
          q('basic_measuredValue', 4.002),
          q('rigtrace_asLeft', 4.0005),
        ) +
          result(
            'ring 8',
            q('basic_referenceValue', 8),
            q('basic_measuredValue', 8.001),
            q('basic_measurementError', 0.001),
          ),
      ),
    );
    expect(d).toMatchObject({
      certificateNumber: 'C-1',
      beginPerformanceDate: '2026-04-10',
      schemaVersion: '3.3.0',
    });
    expect(d.points).toEqual([
      { name: 'ring 4', unit: 'mm', nominal: 4, asFound: 4.002, asLeft: 4.0005, uncertainty: null },
      { name: 'ring 8', unit: 'mm', nominal: 8, asFound: 8.001, asLeft: null, uncertainty: null },
    ]);
    const entered = {
      calibratedAt: '2026-04-11T09:00:00Z',
      certificate: { number: 'C-1' },
      points: [
        { name: 'Ring 4', nominal: 4, unit: 'mm', asFound: 4.002, asLeft: 4.0005 },
        { name: 'ring 8 (old name)', nominal: 8, unit: 'mm', asFound: 8.0015 },
      ],
    };
    // Matched by name (case and spaces aside), else by nominal and unit; one reading differs.
    expect(dccDifferences(d, entered).map((x) => x.message)).toEqual([
      'ring 8 (old name): as found 8.001 mm on the certificate, 8.0015 mm entered',
    ]);
  });

  it('reads the environment of the influence conditions and flags one that differs from what was entered', () => {
    const cond = (ref: string, name: string, v: number, unit: string) =>
      `<dcc:influenceCondition refType="${ref}"><dcc:name><dcc:content>${name}</dcc:content></dcc:name><dcc:data>${q(ref, v, unit)}</dcc:data></dcc:influenceCondition>`;
    const withEnv = (conditions: string, points: string) =>
      doc(points).replace(
        '<dcc:measurementResult><dcc:results>',
        `<dcc:measurementResult><dcc:influenceConditions>${conditions}</dcc:influenceConditions><dcc:results>`,
      );
    const ring = result(
      'ring 4',
      q('basic_referenceValue', 4),
      q('basic_measuredValue', 4.002),
      q('basic_toleranceLimitLower', 3.999),
      q('basic_toleranceLimitUpper', 4.003),
    );
    // Kelvin and a fraction (\one) are read as °C and %.
    const d = readDcc(
      withEnv(
        cond('basic_temperature', 'Ambient temperature', 293.55, '\\kelvin') +
          cond('basic_humidityRelative', 'Relative humidity', 0.45, '\\one'),
        ring,
      ),
    );
    expect(d.environment).toEqual({ temperatureC: 20.4, humidityPct: 45 });
    expect(readDcc(withEnv(cond('x', 'Room temperature', 21, '\\degreecelsius'), ring)).environment).toEqual({
      temperatureC: 21,
    });
    expect(readDcc(doc(ring)).environment).toBeUndefined();
    const point = {
      name: 'ring 4',
      nominal: 4,
      unit: 'mm',
      asFound: 4.002,
      lowerTolerance: -0.001,
      upperTolerance: 0.003,
    };
    const entered = { calibratedAt: '2026-04-11T09:00:00Z', points: [point] };
    expect(dccDifferences(d, { ...entered, environment: { temperatureC: 20.4, humidityPct: 45 } })).toEqual(
      [],
    );
    expect(
      dccDifferences(d, { ...entered, environment: { temperatureC: 23 } }).map((x) => [x.field, x.message]),
    ).toEqual([
      ['environment.temperatureC', 'temperature 20.4 °C on the certificate, 23 °C entered'],
      ['environment.humidityPct', 'relative humidity 45 % on the certificate, none entered'],
    ]);
    // Stated on the calibration only is a difference too; and limits that differ from nominal ± tolerance.
    expect(
      dccDifferences(readDcc(doc(ring)), {
        ...entered,
        environment: { humidityPct: 40 },
        points: [{ ...point, upperTolerance: 0.002 }],
      }).map((x) => x.message),
    ).toEqual([
      'relative humidity not stated on the certificate, 40 % entered',
      'ring 4: upper limit 4.003 mm on the certificate, 4.002 mm entered',
    ]);
  });

  it('refuses a document without measured points or with a reading that is not a number', () => {
    expect(() => readDcc(doc(''))).toThrow(/no measured point/);
    expect(() => readDcc(doc(result('p', q('basic_measuredValue', Number.NaN))))).toThrow(/not a number/);
    expect(() => readDcc('<x xmlns="urn:other"/>')).toThrow(/root element/);
  });

  it('compares D-SI and everyday unit spellings', () => {
    expect(unitKey('\\degreecelsius')).toBe(unitKey('degC'));
    expect(unitKey('\\bar')).toBe(unitKey('bar'));
    expect(unitKey('\\micro\\metre')).toBe(unitKey('um'));
  });
});
