import { Router, type Request, type RequestHandler } from 'express';
import { tenantOf, viewerOfPrincipal } from '../access/index.js';
import { problem, sessionOnly, tokenOrSession as security } from '../platform/http/openapi-parts.js';
import type { CalibrationService } from './calibration.service.js';
import {
  installInputSchema,
  positionInputSchema,
  removeInputSchema,
  type PositionActor,
} from './positions.service.js';
import { z } from 'zod';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { parseQuery } from '../platform/http/validation.js';

export interface PositionRouteDeps {
  calibration: CalibrationService;
  /** records:read */
  read: RequestHandler;
  /** calibrations:write (a register change) */
  write: RequestHandler;
  /**
   * Site scope, then export control, for the equipment named in the path (404 when the caller may
   * not see it; the refusal of flagged equipment is audited, a cleared caller's access logged).
   */
  visible: (req: Request, route: string, tag: string) => Promise<unknown>;
}

/**
 * Positions of a rig, bench or station and the devices installed in them (positions.service.ts):
 * `/equipment/{tag}/positions…` for the rig, `/equipment/{tag}/installations` for a device.
 */
export function positionRoutes(deps: PositionRouteDeps): Router {
  const r = Router();
  const tag = (req: Request) => String(req.params.tag);
  const position = (req: Request) => String(req.params.position);
  const viewer = (req: Request) => viewerOfPrincipal(req.principal!);
  const actor = (req: Request): PositionActor => {
    const p = req.principal!;
    return {
      actor: { type: 'user', id: p.id, ...(p.email ? { email: p.email } : {}), role: p.role },
      address: req.ip ?? null,
      principal: `user:${p.id}`,
    };
  };
  const positions = deps.calibration.positions;
  // Each route answers for equipment the caller may not see exactly as for absent equipment
  // (404) before it looks at the body.

  mount(r, positionApi.positions, deps.read, async (req, res) => {
    await deps.visible(req, 'GET /equipment/{tag}/positions', tag(req));
    await deps.calibration.mustSee(viewer(req), tag(req));
    res.json(await positions.positionsOf(viewer(req), tag(req)));
  });

  mount(r, positionApi.createPosition, deps.write, async (req, res) => {
    await deps.visible(req, 'POST /equipment/{tag}/positions', tag(req));
    await deps.calibration.mustSee(viewer(req), tag(req));
    const out = await positions.createPosition(tenantOf(req), tag(req), req.body, actor(req));
    res
      .status(201)
      .location(`positions/${encodeURIComponent(out.name)}`)
      .json(out);
  });

  mount(r, positionApi.install, deps.write, async (req, res) => {
    await deps.visible(req, 'POST /equipment/{tag}/positions/{position}/installations', tag(req));
    await deps.calibration.mustSee(viewer(req), tag(req));
    res.status(201).json(await positions.install(viewer(req), tag(req), position(req), req.body, actor(req)));
  });

  mount(r, positionApi.remove, deps.write, async (req, res) => {
    await deps.visible(req, 'POST /equipment/{tag}/positions/{position}/removal', tag(req));
    await deps.calibration.mustSee(viewer(req), tag(req));
    res.json(await positions.remove(tenantOf(req), tag(req), position(req), req.body, actor(req)));
  });

  mount(r, positionApi.unresolved, deps.read, async (req, res) => {
    await deps.visible(req, 'GET /equipment/{tag}/unresolved-positions', tag(req));
    await deps.calibration.mustSee(viewer(req), tag(req));
    const q = parseQuery(positionApi.unresolved, req);
    res.json(await positions.unresolved(viewer(req), tag(req), q.limit));
  });

  mount(r, positionApi.installations, deps.read, async (req, res) => {
    await deps.visible(req, 'GET /equipment/{tag}/installations', tag(req));
    await deps.calibration.mustSee(viewer(req), tag(req));
    res.json(await positions.installationsOf(viewer(req), tag(req)));
  });

  return r;
}

// ---- OpenAPI ------------------------------------------------------------------------------------

const tagParams = z.strictObject({ tag: z.string().describe('asset tag (URL-encoded)') });
const positionParams = tagParams.extend({
  position: z.string().describe('position name (URL-encoded), e.g. "rail pressure"'),
});
const installation = z.object({
  id: z.string(),
  equipment: z.string().describe('the rig, bench or station'),
  position: z.string(),
  label: z.string().describe('"RIG-01 / rail pressure"'),
  device: z.string().describe('the installed instrument (asset tag)'),
  from: dateTime.describe('installed from (inclusive)'),
  until: dateTime.nullable().describe('removed at (exclusive); null while installed'),
  installedBy: z.string().describe('user:<id>'),
  removedBy: z.string().nullable(),
});
const positionView = z.object({
  name: z.string(),
  label: z.string(),
  description: z.string().nullable(),
  createdAt: dateTime,
  createdBy: z.string(),
  current: installation.nullable().describe('the device there now'),
  history: z.array(installation).describe('every installation there, newest first'),
});

/** The positions routes' contracts (served by positionRoutes, documented by openapi.ts). */
export const positionApi = {
  positions: operation({
    method: 'get',
    path: '/equipment/{tag}/positions',
    summary:
      'Positions of a rig, bench or station, each with the device installed now and its history (devices the caller may see)',
    security,
    params: tagParams,
    responses: {
      '200': z
        .object({ equipment: z.string(), positions: z.array(positionView) })
        .describe('{ equipment, positions }'),
    },
    errors: [401, 404],
  }),
  createPosition: operation({
    method: 'post',
    path: '/equipment/{tag}/positions',
    summary: 'Add a position to equipment (technician, admin); on the audit trail (position.create)',
    security: sessionOnly,
    params: tagParams,
    body: positionInputSchema,
    responses: {
      '201': positionView.describe('the position'),
      '409': { ...problem, description: 'the position exists, or the equipment is retired' },
    },
    errors: [400, 401, 403, 404],
  }),
  install: operation({
    method: 'post',
    path: '/equipment/{tag}/positions/{position}/installations',
    summary:
      'Install a device in the position from a time (until a time, for a past installation); one device in one position at a time; on the audit trail (device.install)',
    security: sessionOnly,
    params: positionParams,
    body: installInputSchema,
    responses: {
      '201': installation.describe('the installation'),
      '409': {
        ...problem,
        description: 'the device is installed elsewhere, or the position holds a device, in that time',
      },
    },
    errors: [400, 401, 403, 404],
  }),
  remove: operation({
    method: 'post',
    path: '/equipment/{tag}/positions/{position}/removal',
    summary:
      'Remove the device installed in the position, at a time; the installation stays in the history; on the audit trail (device.remove)',
    security: sessionOnly,
    params: positionParams,
    body: removeInputSchema,
    responses: {
      '200': installation.describe('the closed installation'),
      '409': { ...problem, description: 'nothing is installed in the position' },
    },
    errors: [400, 401, 403, 404],
  }),
  unresolved: operation({
    method: 'get',
    path: '/equipment/{tag}/unresolved-positions',
    summary:
      'Records of the equipment that name a position with nothing installed there at their observedAt (or a position it does not have), newest first',
    security,
    params: tagParams,
    query: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    responses: {
      '200': z
        .object({
          equipment: z.string(),
          items: z.array(
            z.object({
              edge: z.string(),
              seq: z.int(),
              kind: z.enum(['telemetry', 'inspection']),
              observedAt: dateTime,
              position: z.string().describe('the name the record gives'),
              label: z.string().describe('"RIG-01 / rail pressure"'),
            }),
          ),
        })
        .describe('{ equipment, items }'),
    },
    errors: [400, 401, 404],
  }),
  installations: operation({
    method: 'get',
    path: '/equipment/{tag}/installations',
    summary: 'Where a device is installed now and was installed before (in equipment the caller may see)',
    security,
    params: tagParams,
    responses: {
      '200': z
        .object({
          device: z.string(),
          current: installation.nullable(),
          history: z.array(installation).describe('newest first'),
        })
        .describe('{ device, current, history }'),
    },
    errors: [401, 404],
  }),
} as const;
