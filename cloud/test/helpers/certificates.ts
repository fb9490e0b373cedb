/** Certificate files for tests: a small valid PDF and a Digital Calibration Certificate (PTB DCC 3.3.0). */

export interface DccFixturePoint {
  name: string;
  nominal: number;
  asFound: number;
  /** D-SI unit, e.g. "\\bar". */
  unit: string;
  uncertainty?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A DCC as a calibration laboratory would send it (the parts the cloud reads, and some it does not). */
export function dccXml(o: {
  number: string;
  date: string;
  points: DccFixturePoint[];
  doctype?: string;
}): string {
  const quantity = (ref: string, label: string, v: number, unit: string, unc?: number) => `
            <dcc:quantity refType="${ref}">
              <dcc:name><dcc:content lang="en">${label}</dcc:content></dcc:name>
              <si:real>
                <si:value>${v}</si:value>
                <si:unit>${esc(unit)}</si:unit>${
                  unc !== undefined
                    ? `
                <si:measurementUncertaintyUnivariate><si:expandedMU><si:valueExpandedMU>${unc}</si:valueExpandedMU><si:coverageFactor>2</si:coverageFactor><si:coverageProbability>0.95</si:coverageProbability></si:expandedMU></si:measurementUncertaintyUnivariate>`
                    : ''
                }
              </si:real>
            </dcc:quantity>`;
  return `<?xml version="1.0" encoding="UTF-8"?>${o.doctype ?? ''}
<!-- issued by the calibration laboratory -->
<dcc:digitalCalibrationCertificate xmlns:dcc="https://ptb.de/dcc" xmlns:si="https://ptb.de/si" schemaVersion="3.3.0">
  <dcc:administrativeData>
    <dcc:dccSoftware><dcc:software><dcc:name><dcc:content>LabCert</dcc:content></dcc:name><dcc:release>4.2</dcc:release></dcc:software></dcc:dccSoftware>
    <dcc:coreData>
      <dcc:countryCodeISO3166_1>DE</dcc:countryCodeISO3166_1>
      <dcc:usedLangCodeISO639_1>en</dcc:usedLangCodeISO639_1>
      <dcc:mandatoryLangCodeISO639_1>en</dcc:mandatoryLangCodeISO639_1>
      <dcc:uniqueIdentifier>${esc(o.number)}</dcc:uniqueIdentifier>
      <dcc:beginPerformanceDate>${o.date}</dcc:beginPerformanceDate>
      <dcc:endPerformanceDate>${o.date}</dcc:endPerformanceDate>
      <dcc:performanceLocation>laboratory</dcc:performanceLocation>
    </dcc:coreData>
    <dcc:items><dcc:item><dcc:name><dcc:content>Pressure transducer</dcc:content></dcc:name></dcc:item></dcc:items>
  </dcc:administrativeData>
  <dcc:measurementResults>
    <dcc:measurementResult>
      <dcc:name><dcc:content>Calibration of the pressure indication</dcc:content></dcc:name>
      <dcc:results>${o.points
        .map(
          (p) => `
        <dcc:result>
          <dcc:name><dcc:content>${esc(p.name)}</dcc:content></dcc:name>
          <dcc:data>
            <dcc:list>${quantity('basic_referenceValue', 'Reference value', p.nominal, p.unit)}${quantity(
              'basic_measuredValue',
              'Indicated value',
              p.asFound,
              p.unit,
              p.uncertainty,
            )}${quantity('basic_measurementError', 'Error', Number((p.asFound - p.nominal).toPrecision(12)), p.unit)}
            </dcc:list>
          </dcc:data>
        </dcc:result>`,
        )
        .join('')}
      </dcc:results>
    </dcc:measurementResult>
  </dcc:measurementResults>
</dcc:digitalCalibrationCertificate>
`;
}

/** A one-page PDF saying `text` (valid enough for a viewer to open). */
export function tinyPdf(text: string): Buffer {
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    '',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  const stream = `BT /F1 18 Tf 72 770 Td (${text.replace(/[()\\]/g, '')}) Tj ET`;
  objs[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
