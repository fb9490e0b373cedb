import { z } from 'zod';
import type { Db } from '../platform/db/db.js';
import { ProblemError, validationProblem } from '../platform/errors.js';
import type { SecurityEventsRepository } from '../audit/index.js';
import type { TenancyRepository } from './tenancy.repository.js';
import type { Witness } from '../platform/witness.js';

export const enrollRequestSchema = z.strictObject({
  token: z.string().min(1).max(256),
  publicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a base64 Ed25519 public key (32 bytes)'),
  name: z.string().min(1).max(128),
});

/** Admits an edge with a one-time site token and its locally generated public key. */
export class EnrollmentService {
  constructor(
    private readonly db: Db,
    private readonly tenancy: TenancyRepository,
    private readonly security: SecurityEventsRepository,
    private readonly witness: Witness,
  ) {}

  async enroll(body: unknown, address: string) {
    const parsed = enrollRequestSchema.safeParse(body);
    if (!parsed.success) throw validationProblem(parsed.error, 'enrollment request is not valid');
    const req = parsed.data;
    const edgeId = this.tenancy.newEdgeId();
    const admitted = await this.db.transaction(async () => {
      const t = await this.tenancy.consumeEnrollmentToken(req.token, edgeId);
      if (!t) return undefined;
      await this.tenancy.createEdge({
        tenantId: t.tenant_id,
        id: edgeId,
        siteId: t.site_id,
        name: req.name,
        publicKey: Buffer.from(req.publicKey, 'base64'),
      });
      return t;
    });
    if (!admitted) {
      await this.security.record({
        tenantId: null,
        code: 'ENROLL_REFUSED',
        address,
        detail: `enrollment of "${req.name}" with an unknown, used or expired token`,
      });
      throw new ProblemError(
        'CLOUD_ENROLL_TOKEN_INVALID',
        'the enrollment token is unknown, already used or expired',
      );
    }
    return {
      edgeId,
      tenantId: admitted.tenant_id,
      siteId: admitted.site_id,
      witness: this.witness.describe(),
    };
  }
}
