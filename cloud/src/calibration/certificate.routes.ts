import { Router, type Request } from 'express';
import type { Db } from '../platform/db/db.js';
import { type Accounts, viewerOf as accessViewerOf } from '../access/index.js';
import { ExportControlService, viewerOf as exportViewerOf } from '../export-control/index.js';
import { problem, sessionOnly, tokenOrSession as security } from '../platform/http/openapi-parts.js';
import type { CertificateService } from './certificate.service.js';

export interface CertificateRouteDeps {
  db: Db;
  accounts: Accounts;
  certificates: CertificateService;
}

/** A file name safe in a Content-Disposition header (RFC 6266: ASCII fallback and UTF-8 form). */
function disposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/**
 * Certificates of a calibration: attach (calibrations:write), list and download (records:read).
 * Every read is limited to viewers of the equipment (site scope and export control, as the
 * calibration itself): anyone else gets 404.
 */
export function certificateRoutes(deps: CertificateRouteDeps): Router {
  const r = Router();
  const exportControl = new ExportControlService(deps.db, deps.accounts.audit);
  const read = deps.accounts.require('records:read');
  const write = deps.accounts.require('calibrations:write');
  const id = (req: Request) => String(req.params.id);

  r.post('/calibrations/:id/certificates', write, async (req, res) => {
    const v = accessViewerOf(req);
    const ev = exportViewerOf(req, 'POST /calibrations/{id}/certificates');
    const out = await deps.certificates.attach(v, id(req), req.body, {
      actor: ev.actor,
      address: ev.address,
    });
    if (out.exportFlag)
      await exportControl.logAccess(ev, [{ type: 'calibration', id: id(req), flag: out.exportFlag }]);
    res.status(201).json(out.certificate);
  });

  // Read a DCC without storing it: the form recording a calibration is filled from it.
  r.post('/calibrations/dcc-read', write, (req, res) => {
    res.json({ dcc: deps.certificates.readDcc(req.body) });
  });

  r.get('/calibrations/:id/certificates', read, async (req, res) => {
    const v = accessViewerOf(req);
    const ev = exportViewerOf(req, 'GET /calibrations/{id}/certificates');
    const out = await deps.certificates.list(v, id(req));
    if (out.exportFlag)
      await exportControl.logAccess(ev, [{ type: 'calibration', id: id(req), flag: out.exportFlag }]);
    res.json({ items: out.items });
  });

  r.get('/calibrations/:id/dcc', read, async (req, res) => {
    const v = accessViewerOf(req);
    const ev = exportViewerOf(req, 'GET /calibrations/{id}/dcc');
    const out = await deps.certificates.exportDcc(v, id(req));
    if (out.exportFlag)
      await exportControl.logAccess(ev, [{ type: 'calibration', id: id(req), flag: out.exportFlag }]);
    res
      .status(200)
      .type('application/xml; charset=utf-8')
      .setHeader(
        'content-disposition',
        disposition(`${out.equipment}-${id(req).replace(/^manual:/, '')}.dcc.xml`),
      )
      .send(out.xml);
  });

  r.get('/calibrations/:id/certificates/:certificate', read, async (req, res) => {
    const v = accessViewerOf(req);
    const ev = exportViewerOf(req, 'GET /calibrations/{id}/certificates/{certificate}');
    const f = await deps.certificates.file(v, id(req), String(req.params.certificate));
    if (f.export_regime)
      await exportControl.logAccess(ev, [
        { type: 'calibration', id: id(req), flag: { regime: f.export_regime, eccn: f.export_eccn } },
      ]);
    res
      .status(200)
      .type(f.media_type)
      .setHeader('content-disposition', disposition(f.filename))
      .setHeader('x-content-sha256', f.sha256)
      .setHeader('content-security-policy', "default-src 'none'; sandbox")
      .send(f.content);
  });

  return r;
}

const idPath = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'calibration id (URL-encoded)',
} as const;
const certPath = { name: 'certificate', in: 'path', required: true, schema: { type: 'string' } } as const;
const dccSchema = {
  type: 'object',
  properties: {
    schemaVersion: { type: 'string', nullable: true },
    certificateNumber: { type: 'string', nullable: true },
    beginPerformanceDate: { type: 'string', nullable: true },
    endPerformanceDate: { type: 'string', nullable: true },
    points: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          unit: { type: 'string' },
          nominal: { type: 'number', nullable: true },
          asFound: { type: 'number', nullable: true },
          asLeft: { type: 'number', nullable: true },
          uncertainty: { type: 'number', nullable: true },
          lowerLimit: { type: 'number' },
          upperLimit: { type: 'number' },
          asFoundResult: { type: 'string', enum: ['pass', 'fail'] },
          asLeftResult: { type: 'string', enum: ['pass', 'fail'] },
        },
        required: ['name', 'unit', 'nominal', 'asFound', 'asLeft', 'uncertainty'],
      },
    },
    asFoundResult: { type: 'string', enum: ['pass', 'fail'] },
    asLeftResult: { type: 'string', enum: ['pass', 'fail'] },
  },
  required: ['schemaVersion', 'certificateNumber', 'beginPerformanceDate', 'endPerformanceDate', 'points'],
} as const;
const certificateSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    calibrationId: { type: 'string' },
    equipment: { type: 'string' },
    kind: { type: 'string', enum: ['pdf', 'dcc'] },
    filename: { type: 'string' },
    mediaType: { type: 'string' },
    size: { type: 'integer' },
    sha256: { type: 'string' },
    uploadedBy: { type: 'string' },
    uploadedAt: { type: 'string', format: 'date-time' },
    dcc: { ...dccSchema, nullable: true },
    differences: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          field: { type: 'string' },
          point: { type: 'string', nullable: true },
          certificate: { oneOf: [{ type: 'string' }, { type: 'number' }], nullable: true },
          entered: { oneOf: [{ type: 'string' }, { type: 'number' }], nullable: true },
          message: { type: 'string' },
        },
        required: ['field', 'point', 'certificate', 'entered', 'message'],
      },
    },
  },
  required: [
    'id',
    'calibrationId',
    'equipment',
    'kind',
    'filename',
    'mediaType',
    'size',
    'sha256',
    'uploadedBy',
    'uploadedAt',
    'dcc',
    'differences',
  ],
} as const;

export const certificateOpenApiPaths = {
  '/calibrations/{id}/certificates': {
    get: {
      summary: 'The certificate files of a calibration (without their content), oldest first',
      security,
      parameters: [idPath],
      responses: {
        '200': {
          description: '{ items }',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { items: { type: 'array', items: certificateSchema } } },
            },
          },
        },
        '401': problem,
        '404': {
          ...problem,
          description: 'no such calibration, or its equipment is not visible to the caller',
        },
      },
    },
    post: {
      summary:
        'Attach a certificate file (calibrations:write): a PDF or a Digital Calibration Certificate (DCC XML), typed by its content; a DCC is compared with the calibration',
      security: sessionOnly,
      parameters: [idPath],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: {
                filename: { type: 'string', maxLength: 200 },
                content: { type: 'string', description: 'the file, base64' },
              },
              required: ['filename', 'content'],
            },
          },
        },
      },
      responses: {
        '201': {
          description: 'the certificate',
          content: { 'application/json': { schema: certificateSchema } },
        },
        '400': { ...problem, description: 'not a PDF or a DCC, or a DCC that cannot be read' },
        '401': problem,
        '403': problem,
        '404': problem,
        '413': {
          ...problem,
          description: 'over the certificate size limit (RIGTRACE_CERTIFICATE_MAX_BYTES)',
        },
      },
    },
  },
  '/calibrations/dcc-read': {
    post: {
      summary:
        'Read a Digital Calibration Certificate without storing it (calibrations:write): what it says, to fill in a calibration being recorded',
      security: sessionOnly,
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: {
                filename: { type: 'string', maxLength: 200 },
                content: { type: 'string', description: 'the DCC XML, base64' },
              },
              required: ['filename', 'content'],
            },
          },
        },
      },
      responses: {
        '200': {
          description: '{ dcc }',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { dcc: dccSchema }, required: ['dcc'] },
            },
          },
        },
        '400': { ...problem, description: 'not a DCC, or a DCC that cannot be read' },
        '401': problem,
        '403': problem,
        '413': problem,
      },
    },
  },
  '/calibrations/{id}/dcc': {
    get: {
      summary:
        'The calibration as a Digital Calibration Certificate (PTB DCC 3.3.0 XML, quantities as D-SI si:real); readable by the viewers of its equipment',
      security,
      parameters: [idPath],
      responses: {
        '200': { description: 'the DCC XML', content: { 'application/xml': {} } },
        '401': problem,
        '404': {
          ...problem,
          description: 'no such calibration, or its equipment is not visible to the caller',
        },
      },
    },
  },
  '/calibrations/{id}/certificates/{certificate}': {
    get: {
      summary: 'Download a certificate file (its SHA-256 in x-content-sha256)',
      security,
      parameters: [idPath, certPath],
      responses: {
        '200': {
          description: 'the file',
          content: { 'application/pdf': {}, 'application/xml': {} },
        },
        '401': problem,
        '404': problem,
      },
    },
  },
} as const;
