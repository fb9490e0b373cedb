/**
 * A calibration we hold, written as a Digital Calibration Certificate (PTB DCC 3.3.0, namespace
 * `https://ptb.de/dcc`, quantities as D-SI `si:real` in `https://ptb.de/si`).
 *
 * The schema is not reachable from our machines; the element order follows DCC 3.x
 * (`administrativeData`: dccSoftware, coreData, items, calibrationLaboratory, respPersons,
 * customer, statements; `measurementResult`: name, usedMethods, measuringEquipments,
 * influenceConditions, results) and the structure is held by tests and a round trip through
 * `readDcc` (dcc-export.test.ts). Per point (`dcc:result`) the list holds the nominal
 * (`basic_referenceValue`), the as-found reading (`basic_measuredValue`, with its expanded
 * uncertainty and conformity), the as-left reading (`rigtrace_asLeftValue`), the error, and the
 * lower and upper limits of the reading (`basic_toleranceLimitLower`/`…Upper`: nominal plus the
 * tolerance on the error).
 */
import type { CalibrationBody } from '@rigtrace/protocols';
import { DCC_NS, SI_NS } from './dcc.js';

export const DCC_SCHEMA_VERSION = '3.3.0';

/** Calibration-point unit → D-SI unit text (the inverse of dcc.ts's table; others kept as written). */
const UNIT_DSI: Record<string, string> = {
  bar: '\\bar',
  mbar: '\\milli\\bar',
  Pa: '\\pascal',
  kPa: '\\kilo\\pascal',
  MPa: '\\mega\\pascal',
  m: '\\metre',
  mm: '\\milli\\metre',
  µm: '\\micro\\metre',
  um: '\\micro\\metre',
  '°C': '\\degreecelsius',
  degC: '\\degreecelsius',
  K: '\\kelvin',
  N: '\\newton',
  'N·m': '\\newton\\metre',
  Nm: '\\newton\\metre',
  'N m': '\\newton\\metre',
  V: '\\volt',
  mV: '\\milli\\volt',
  A: '\\ampere',
  mA: '\\milli\\ampere',
  Ω: '\\ohm',
  ohm: '\\ohm',
  Hz: '\\hertz',
  s: '\\second',
  ms: '\\milli\\second',
  µs: '\\micro\\second',
  us: '\\micro\\second',
  kg: '\\kilogram',
  g: '\\gram',
  '%': '\\percent',
};
export const dsiUnit = (u: string): string => UNIT_DSI[u.trim()] ?? u.trim();

/** What the export needs besides the calibration's body. */
export interface DccExportInput {
  calibrationId: string;
  /** The lab or tenant that holds the calibration (the body's lab when it names one). */
  tenantName: string;
  siteName: string | null;
  equipment: {
    tag: string;
    type: string;
    make?: string | undefined;
    model?: string | undefined;
    serial?: string | undefined;
    firmware?: string | undefined;
    owner?: { kind: string; name?: string | undefined } | undefined;
  };
  body: CalibrationBody;
  enteredBy: string | null;
  /** When the document is written (ISO timestamp). */
  issuedAt: string;
  software: { name: string; release: string };
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** A number as xs:double text: 12 significant digits at most, no exponent surprises for integers. */
const n = (v: number) => String(Number(v.toPrecision(12)));
const text = (el: string, s: string, ind: string) =>
  `${ind}<dcc:${el}><dcc:content lang="en">${esc(s)}</dcc:content></dcc:${el}>`;

function real(value: number, unit: string, ind: string, uncertainty?: number): string {
  const unc =
    uncertainty === undefined
      ? ''
      : `\n${ind}  <si:measurementUncertaintyUnivariate><si:expandedMU><si:valueExpandedMU>${n(uncertainty)}</si:valueExpandedMU><si:coverageFactor>2</si:coverageFactor><si:coverageProbability>0.95</si:coverageProbability></si:expandedMU></si:measurementUncertaintyUnivariate>`;
  return `${ind}<si:real>\n${ind}  <si:value>${n(value)}</si:value>\n${ind}  <si:unit>${esc(dsiUnit(unit))}</si:unit>${unc}\n${ind}</si:real>`;
}

function conformity(result: 'pass' | 'fail', what: string, ind: string): string {
  return `${ind}<dcc:measurementMetaData>\n${ind}  <dcc:metaData refType="basic_conformity">\n${text('declaration', `${what}: ${result}`, `${ind}    `)}\n${ind}    <dcc:conformity>${result}</dcc:conformity>\n${ind}  </dcc:metaData>\n${ind}</dcc:measurementMetaData>`;
}

function quantity(
  refType: string,
  name: string,
  value: number,
  unit: string,
  ind: string,
  extra: { uncertainty?: number | undefined; result?: { value: 'pass' | 'fail'; what: string } } = {},
): string {
  return [
    `${ind}<dcc:quantity refType="${refType}">`,
    text('name', name, `${ind}  `),
    real(value, unit, `${ind}  `, extra.uncertainty),
    ...(extra.result ? [conformity(extra.result.value, extra.result.what, `${ind}  `)] : []),
    `${ind}</dcc:quantity>`,
  ].join('\n');
}

function identification(issuer: string, value: string, name: string, ind: string): string {
  return `${ind}<dcc:identification>\n${ind}  <dcc:issuer>${issuer}</dcc:issuer>\n${ind}  <dcc:value>${esc(value)}</dcc:value>\n${text('name', name, `${ind}  `)}\n${ind}</dcc:identification>`;
}

function statement(refType: string, declaration: string, result: 'pass' | 'fail' | null, ind: string) {
  return [
    `${ind}<dcc:statement refType="${refType}">`,
    text('declaration', declaration, `${ind}  `),
    ...(result ? [`${ind}  <dcc:conformity>${result}</dcc:conformity>`] : []),
    `${ind}</dcc:statement>`,
  ].join('\n');
}

/** The DCC XML of one calibration. */
export function writeDcc(x: DccExportInput): string {
  const b = x.body;
  const day = b.calibratedAt.slice(0, 10);
  const e = x.equipment;
  const lab = b.lab?.name ?? x.tenantName;
  const idents = [
    identification('owner', e.tag, 'Asset tag', '            '),
    ...(e.serial ? [identification('manufacturer', e.serial, 'Serial number', '            ')] : []),
    ...(e.firmware ? [identification('manufacturer', e.firmware, 'Firmware version', '            ')] : []),
  ];
  const persons = [
    ...(b.technician ? [{ name: b.technician, role: 'Technician', main: !b.approval }] : []),
    ...(!b.technician && x.enteredBy ? [{ name: x.enteredBy, role: 'Entered by', main: !b.approval }] : []),
    ...(b.approval ? [{ name: b.approval.by, role: `Approval: ${b.approval.meaning}`, main: true }] : []),
  ];
  if (persons.length === 0) persons.push({ name: lab, role: 'Calibration laboratory', main: true });
  const statements = [
    statement(
      'rigtrace_conformityAsFound',
      `As found: ${b.asFoundResult}${b.decisionRule ? ` (decision rule: ${b.decisionRule})` : ''}`,
      b.asFoundResult,
      '      ',
    ),
    ...(b.asLeftResult
      ? [statement('rigtrace_conformityAsLeft', `As left: ${b.asLeftResult}`, b.asLeftResult, '      ')]
      : []),
    ...(b.conformity ? [statement('basic_conformity', b.conformity, null, '      ')] : []),
    ...(b.adjusted ? [statement('rigtrace_adjusted', 'The instrument was adjusted.', null, '      ')] : []),
    ...(b.nextDue
      ? [statement('rigtrace_nextDue', `Next calibration due ${b.nextDue}`, null, '      ')]
      : []),
    ...(b.remarks ? [statement('rigtrace_remarks', b.remarks, null, '      ')] : []),
  ];
  const env: string[] = [];
  if (b.environment?.temperatureC !== undefined)
    env.push(
      [
        '        <dcc:influenceCondition refType="basic_temperature">',
        text('name', 'Ambient temperature', '          '),
        '          <dcc:data>',
        quantity(
          'basic_temperature',
          'Ambient temperature',
          b.environment.temperatureC,
          '°C',
          '            ',
        ),
        '          </dcc:data>',
        '        </dcc:influenceCondition>',
      ].join('\n'),
    );
  if (b.environment?.humidityPct !== undefined)
    env.push(
      [
        '        <dcc:influenceCondition refType="basic_humidityRelative">',
        text('name', 'Relative humidity', '          '),
        '          <dcc:data>',
        quantity(
          'basic_humidityRelative',
          'Relative humidity',
          b.environment.humidityPct,
          '%',
          '            ',
        ),
        '          </dcc:data>',
        '        </dcc:influenceCondition>',
      ].join('\n'),
    );
  const results = b.points.map((p) => {
    const ind = '              ';
    const q = [
      quantity('basic_referenceValue', 'Nominal value', p.nominal, p.unit, ind),
      quantity('basic_measuredValue', 'As found', p.asFound, p.unit, ind, {
        uncertainty: p.uncertainty,
        result: { value: p.asFoundResult, what: 'As found' },
      }),
      ...(p.asLeft !== undefined
        ? [
            quantity('rigtrace_asLeftValue', 'As left', p.asLeft, p.unit, ind, {
              uncertainty: p.uncertainty,
              ...(p.asLeftResult ? { result: { value: p.asLeftResult, what: 'As left' } } : {}),
            }),
          ]
        : []),
      quantity('basic_measurementError', 'Error as found', p.asFound - p.nominal, p.unit, ind),
      quantity('basic_toleranceLimitLower', 'Lower limit', p.nominal + p.lowerTolerance, p.unit, ind),
      quantity('basic_toleranceLimitUpper', 'Upper limit', p.nominal + p.upperTolerance, p.unit, ind),
    ];
    return [
      '        <dcc:result refType="rigtrace_calibrationPoint">',
      text('name', p.name, '          '),
      '          <dcc:data>',
      '            <dcc:list>',
      ...q,
      '            </dcc:list>',
      '          </dcc:data>',
      '        </dcc:result>',
    ].join('\n');
  });
  const method = b.procedure
    ? [
        '      <dcc:usedMethods>',
        '        <dcc:usedMethod refType="rigtrace_procedure">',
        text(
          'name',
          `${b.procedure.id}${b.procedure.revision ? ` rev. ${b.procedure.revision}` : ''}`,
          '          ',
        ),
        text(
          'description',
          `Procedure ${b.procedure.id}${b.procedure.revision ? `, revision ${b.procedure.revision}` : ''}`,
          '          ',
        ),
        '        </dcc:usedMethod>',
        '      </dcc:usedMethods>',
      ]
    : [];
  const standards =
    b.standards.length > 0
      ? [
          '      <dcc:measuringEquipments>',
          ...b.standards.map((s) =>
            [
              '        <dcc:measuringEquipment refType="basic_referenceStandard">',
              text('name', s.id, '          '),
              ...(s.dueDate ? [text('description', `Calibration due ${s.dueDate}`, '          ')] : []),
              '          <dcc:identifications>',
              identification('owner', s.id, 'Asset tag', '            '),
              ...(s.certificate
                ? [
                    identification(
                      'calibrationLaboratory',
                      s.certificate,
                      'Certificate number',
                      '            ',
                    ),
                  ]
                : []),
              '          </dcc:identifications>',
              '        </dcc:measuringEquipment>',
            ].join('\n'),
          ),
          '      </dcc:measuringEquipments>',
        ]
      : [];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<dcc:digitalCalibrationCertificate xmlns:dcc="${DCC_NS}" xmlns:si="${SI_NS}" schemaVersion="${DCC_SCHEMA_VERSION}">`,
    '  <dcc:administrativeData>',
    '    <dcc:dccSoftware>',
    '      <dcc:software>',
    text('name', x.software.name, '        '),
    `        <dcc:release>${esc(x.software.release)}</dcc:release>`,
    '        <dcc:type>application</dcc:type>',
    '      </dcc:software>',
    '    </dcc:dccSoftware>',
    '    <dcc:coreData>',
    '      <dcc:countryCodeISO3166_1>DE</dcc:countryCodeISO3166_1>',
    '      <dcc:usedLangCodeISO639_1>en</dcc:usedLangCodeISO639_1>',
    '      <dcc:mandatoryLangCodeISO639_1>en</dcc:mandatoryLangCodeISO639_1>',
    `      <dcc:uniqueIdentifier>${esc(b.certificate?.number ?? x.calibrationId)}</dcc:uniqueIdentifier>`,
    '      <dcc:identifications>',
    identification('calibrationLaboratory', x.calibrationId, 'Calibration record', '        '),
    '      </dcc:identifications>',
    ...(b.receivedDate ? [`      <dcc:receiptDate>${b.receivedDate}</dcc:receiptDate>`] : []),
    `      <dcc:beginPerformanceDate>${day}</dcc:beginPerformanceDate>`,
    `      <dcc:endPerformanceDate>${day}</dcc:endPerformanceDate>`,
    '      <dcc:performanceLocation>laboratory</dcc:performanceLocation>',
    `      <dcc:issueDate>${x.issuedAt.slice(0, 10)}</dcc:issueDate>`,
    '    </dcc:coreData>',
    '    <dcc:items>',
    '      <dcc:item>',
    text('name', `${e.type} ${e.tag}`, '        '),
    '        <dcc:manufacturer>',
    text('name', e.make ?? 'unknown', '          '),
    '        </dcc:manufacturer>',
    ...(e.model ? [`        <dcc:model>${esc(e.model)}</dcc:model>`] : []),
    '        <dcc:identifications>',
    ...idents,
    '        </dcc:identifications>',
    '      </dcc:item>',
    '    </dcc:items>',
    '    <dcc:calibrationLaboratory>',
    ...(b.lab?.accreditation
      ? [`      <dcc:calibrationLaboratoryCode>${esc(b.lab.accreditation)}</dcc:calibrationLaboratoryCode>`]
      : []),
    '      <dcc:contact>',
    text('name', lab, '        '),
    '        <dcc:location>',
    `          <dcc:further><dcc:content lang="en">${esc(x.siteName ?? x.tenantName)}</dcc:content></dcc:further>`,
    '        </dcc:location>',
    '      </dcc:contact>',
    '    </dcc:calibrationLaboratory>',
    '    <dcc:respPersons>',
    ...persons.map((p) =>
      [
        '      <dcc:respPerson>',
        '        <dcc:person>',
        text('name', p.name, '          '),
        '        </dcc:person>',
        `        <dcc:role>${esc(p.role)}</dcc:role>`,
        ...(p.main ? ['        <dcc:mainSigner>true</dcc:mainSigner>'] : []),
        '      </dcc:respPerson>',
      ].join('\n'),
    ),
    '    </dcc:respPersons>',
    '    <dcc:customer>',
    text('name', e.owner?.name ?? x.tenantName, '      '),
    '      <dcc:location>',
    `        <dcc:further><dcc:content lang="en">${esc(x.siteName ?? x.tenantName)}</dcc:content></dcc:further>`,
    '      </dcc:location>',
    '    </dcc:customer>',
    '    <dcc:statements>',
    ...statements,
    '    </dcc:statements>',
    '  </dcc:administrativeData>',
    '  <dcc:measurementResults>',
    '    <dcc:measurementResult>',
    text('name', `Calibration of ${e.tag}`, '      '),
    ...method,
    ...standards,
    ...(env.length > 0
      ? ['      <dcc:influenceConditions>', ...env, '      </dcc:influenceConditions>']
      : []),
    '      <dcc:results>',
    ...results,
    '      </dcc:results>',
    '    </dcc:measurementResult>',
    '  </dcc:measurementResults>',
    '</dcc:digitalCalibrationCertificate>',
    '',
  ].join('\n');
}
