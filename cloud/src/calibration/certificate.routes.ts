import { Router, type Request } from 'express';
import type { Accounts } from '../access/index.js';
import { exportCallerOf } from '../export-control/index.js';
import { problem, sessionOnly, tokenOrSession as security } from '../platform/http/openapi-parts.js';
import { certificateUploadSchema, type CertificateService } from './certificate.service.js';
import { z } from 'zod';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { attachment } from '../platform/http/download.js';

export interface CertificateRouteDeps {
  accounts: Accounts;
  certificates: CertificateService;
}

/**
 * Certificates of a calibration: attach (calibrations:write), list and download (records:read).
 * Every read is limited to viewers of the equipment (site scope and export control, as the
 * calibration itself, checked and logged by the service): anyone else gets 404.
 */
export function certificateRoutes(deps: CertificateRouteDeps): Router {
  const r = Router();
  const read = deps.accounts.require('records:read');
  const write = deps.accounts.require('calibrations:write');
  const id = (req: Request) => String(req.params.id);

  mount(r, certificateApi.attach, write, async (req, res) => {
    const v = exportCallerOf(req, 'POST /calibrations/{id}/certificates');
    res.status(201).json(await deps.certificates.attach(v, id(req), req.body));
  });

  // Read a DCC without storing it: the form recording a calibration is filled from it.
  mount(r, certificateApi.readDcc, write, (req, res) => {
    res.json({ dcc: deps.certificates.readDcc(req.body) });
  });

  mount(r, certificateApi.list, read, async (req, res) => {
    const v = exportCallerOf(req, 'GET /calibrations/{id}/certificates');
    res.json({ items: await deps.certificates.list(v, id(req)) });
  });

  mount(r, certificateApi.dcc, read, async (req, res) => {
    const v = exportCallerOf(req, 'GET /calibrations/{id}/dcc');
    const out = await deps.certificates.exportDcc(v, id(req));
    res
      .status(200)
      .type('application/xml; charset=utf-8')
      .setHeader(
        'content-disposition',
        attachment(`${out.equipment}-${id(req).replace(/^manual:/, '')}.dcc.xml`),
      )
      .send(out.xml);
  });

  mount(r, certificateApi.file, read, async (req, res) => {
    const v = exportCallerOf(req, 'GET /calibrations/{id}/certificates/{certificate}');
    const f = await deps.certificates.file(v, id(req), String(req.params.certificate));
    res
      .status(200)
      .type(f.media_type)
      .setHeader('content-disposition', attachment(f.filename))
      .setHeader('x-content-sha256', f.sha256)
      .setHeader('content-security-policy', "default-src 'none'; sandbox")
      .send(f.content);
  });

  return r;
}

const idParams = z.strictObject({ id: z.string().describe('calibration id (URL-encoded)') });
const certParams = idParams.extend({ certificate: z.string() });
const hidden = {
  ...problem,
  description: 'no such calibration, or its equipment is not visible to the caller',
};
const passFail = z.enum(['pass', 'fail']);
/** What a DCC says (dcc.ts, DccSummary). */
const dccAnswer = z.object({
  schemaVersion: z.string().nullable(),
  certificateNumber: z.string().nullable().describe('dcc:coreData/dcc:uniqueIdentifier'),
  beginPerformanceDate: z.string().nullable(),
  endPerformanceDate: z.string().nullable(),
  points: z.array(
    z.object({
      name: z.string(),
      unit: z.string(),
      nominal: z.number().nullable(),
      asFound: z.number().nullable(),
      asLeft: z.number().nullable(),
      uncertainty: z.number().nullable(),
      lowerLimit: z.number().optional().describe('absent when the certificate gives none'),
      upperLimit: z.number().optional(),
      asFoundResult: passFail.optional().describe('the conformity stated (absent: not stated)'),
      asLeftResult: passFail.optional(),
    }),
  ),
  environment: z
    .object({
      temperatureC: z.number().optional().describe('ambient temperature, °C'),
      humidityPct: z.number().optional().describe('relative humidity, %'),
    })
    .optional()
    .describe('the influence conditions stated (absent: none)'),
  asFoundResult: passFail.optional().describe('the overall conformity stated (absent: not stated)'),
  asLeftResult: passFail.optional(),
});
const certificateAnswer = z.object({
  id: z.string(),
  calibrationId: z.string(),
  equipment: z.string(),
  kind: z.enum(['pdf', 'dcc']),
  filename: z.string(),
  mediaType: z.string(),
  size: z.int(),
  sha256: z.string(),
  uploadedBy: z.string(),
  uploadedAt: dateTime,
  dcc: dccAnswer.nullable().describe('what the DCC says (null for a PDF)'),
  differences: z
    .array(
      z.object({
        field: z.string(),
        point: z.string().nullable(),
        certificate: z.union([z.string(), z.number()]).nullable(),
        entered: z.union([z.string(), z.number()]).nullable(),
        message: z.string(),
      }),
    )
    .describe('where the DCC and the calibration differ (empty: they agree; a PDF is not read)'),
});

/** The certificate routes' contracts (served by certificateRoutes, documented by openapi.ts). */
export const certificateApi = {
  list: operation({
    method: 'get',
    path: '/calibrations/{id}/certificates',
    summary: 'The certificate files of a calibration (without their content), oldest first',
    security,
    params: idParams,
    responses: {
      '200': z.object({ items: z.array(certificateAnswer) }).describe('{ items }'),
      '404': hidden,
    },
    errors: [401],
  }),
  attach: operation({
    method: 'post',
    path: '/calibrations/{id}/certificates',
    summary:
      'Attach a certificate file (calibrations:write): a PDF or a Digital Calibration Certificate (DCC XML), typed by its content; a DCC is compared with the calibration',
    security: sessionOnly,
    params: idParams,
    body: certificateUploadSchema,
    responses: {
      '201': certificateAnswer.describe('the certificate'),
      '400': { ...problem, description: 'not a PDF or a DCC, or a DCC that cannot be read' },
      '413': {
        ...problem,
        description: 'over the certificate size limit (RIGTRACE_CERTIFICATE_MAX_BYTES)',
      },
    },
    errors: [401, 403, 404],
  }),
  readDcc: operation({
    method: 'post',
    path: '/calibrations/dcc-read',
    summary:
      'Read a Digital Calibration Certificate without storing it (calibrations:write): what it says, to fill in a calibration being recorded',
    security: sessionOnly,
    body: certificateUploadSchema,
    responses: {
      '200': z.object({ dcc: dccAnswer }).describe('{ dcc }'),
      '400': { ...problem, description: 'not a DCC, or a DCC that cannot be read' },
    },
    errors: [401, 403, 413],
  }),
  dcc: operation({
    method: 'get',
    path: '/calibrations/{id}/dcc',
    summary:
      'The calibration as a Digital Calibration Certificate (PTB DCC 3.3.0 XML, quantities as D-SI si:real); readable by the viewers of its equipment',
    security,
    params: idParams,
    responses: {
      '200': { description: 'the DCC XML', content: { 'application/xml': {} } },
      '404': hidden,
    },
    errors: [401],
  }),
  file: operation({
    method: 'get',
    path: '/calibrations/{id}/certificates/{certificate}',
    summary: 'Download a certificate file (its SHA-256 in x-content-sha256)',
    security,
    params: certParams,
    responses: {
      '200': {
        description: 'the file',
        content: { 'application/pdf': {}, 'application/xml': {} },
      },
    },
    errors: [401, 404],
  }),
} as const;
