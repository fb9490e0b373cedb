import { Router } from 'express';
import { z } from 'zod';
import { enrollRequestSchema, type EnrollmentService } from './enrollment.service.js';
import { mount, operation } from '../platform/http/contract.js';

/** Edge enrollment: an edge presents a one-time token and its public key (no session, no API token). */
export function enrollmentRoutes(deps: { enrollment: EnrollmentService }): Router {
  const r = Router();
  mount(r, enrollmentApi.enroll, async (req, res) => {
    res.status(201).json(await deps.enrollment.enroll(req.body, req.ip ?? ''));
  });
  return r;
}

/** Enrollment's contract (served by enrollmentRoutes, documented by openapi.ts). */
export const enrollmentApi = {
  enroll: operation({
    method: 'post',
    path: '/edges/enroll',
    summary: 'Enroll an edge with a one-time site token',
    security: [],
    body: enrollRequestSchema,
    responses: {
      '201': z
        .object({
          edgeId: z.string(),
          tenantId: z.string(),
          siteId: z.string(),
          witness: z
            .object({ name: z.string(), publicKey: z.string() })
            .describe("the cloud's witness key, which countersigns the edge's checkpoints"),
        })
        .describe('{ edgeId, tenantId, siteId, witness }'),
    },
    errors: [400, 403],
  }),
} as const;
