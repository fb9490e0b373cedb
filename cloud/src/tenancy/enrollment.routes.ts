import { Router } from 'express';
import type { EnrollmentService } from './enrollment.service.js';

/** Edge enrollment: an edge presents a one-time token and its public key (no session, no API token). */
export function enrollmentRoutes(deps: { enrollment: EnrollmentService }): Router {
  const r = Router();
  r.post('/edges/enroll', async (req, res) => {
    res.status(201).json(await deps.enrollment.enroll(req.body, req.ip ?? ''));
  });
  return r;
}
