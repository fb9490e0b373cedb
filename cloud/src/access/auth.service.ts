import { createHash, randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import type { SessionRow, SessionState, SessionsRepository } from './sessions.repository.js';
import type { SecurityEventsRepository, AuditActor, AuditService } from '../audit/index.js';
import { hashToken, newToken, type TenancyRepository } from '../tenancy/index.js';
import type { UserRow, UsersRepository } from './users.repository.js';
import { dummyHash, hashPassword, needsRehash, passwordProblems, verifyPassword } from './password.js';
import { isAccountRole, isRole, OPERATOR_REALM, OPERATOR_ROLE, type Principal } from './policy.js';
import { SecretBox, totpContext } from './secret-box.js';
import { accountKey, addressKey, Throttle } from './throttle.js';
import { base32Decode, newTotpSecret, otpauthUri, verifyTotp } from './totp.js';
import { wholeTenant } from './viewer.js';

/** A pending step (MFA code, password change, MFA enrolment) must be done within this time. */
export const PENDING_STEP_MS = 10 * 60_000;
export const BACKUP_CODE_COUNT = 10;
const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A tenant id, or the cloud operators' realm (policy.ts): what a sign-in and a session cookie may name. */
const signInRealm = (t: string) => TENANT_ID.test(t) || t === OPERATOR_REALM;

export interface RequestInfo {
  address: string;
  userAgent: string | null;
}

/** A live session as authentication found it. */
export interface SessionContext {
  session: SessionRow;
  user: UserRow;
  principal: Principal;
}

export interface IssuedSession {
  /** The cookie value: `<tenant>.<token>`; only its token's SHA-256 is stored. */
  cookie: string;
  csrfToken: string;
  state: SessionState;
  expiresAt: string;
}

export function userSites(u: UserRow): string[] | null {
  return u.sites === null ? null : (JSON.parse(u.sites) as string[]);
}

export function principalOf(u: UserRow): Principal {
  if (!isAccountRole(u.tenant_id, u.role)) throw new Error(`user ${u.id} has an unknown role`);
  return {
    kind: 'user',
    tenantId: u.tenant_id,
    id: u.id,
    email: u.email,
    role: u.role,
    sites: userSites(u),
    usPerson: u.us_person === 1,
  };
}

export function actorOf(u: UserRow): AuditActor {
  return { type: 'user', id: u.id, email: u.email, role: u.role };
}

export function userView(u: UserRow) {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    sites: userSites(u),
    mfa: u.totp_enabled_at !== null,
    mustChangePassword: u.must_change_password === 1,
    disabled: u.disabled_at !== null,
    usPerson: u.us_person === 1,
    createdAt: u.created_at,
  };
}

/** Backup codes: 80 random bits shown as four groups of four base32 characters; SHA-256 stored. */
function newBackupCode(): string {
  const b32 = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(16);
  let s = '';
  for (let i = 0; i < 16; i++) s += b32[bytes[i]! & 31];
  return s.match(/.{4}/g)!.join('-');
}
function hashBackupCode(code: string): string {
  return createHash('sha256')
    .update(code.toUpperCase().replace(/[^A-Z0-9]/g, ''))
    .digest('hex');
}

/**
 * Sign-in, the second factor, password changes, MFA enrolment and sessions. Every outcome that
 * matters is appended to the tenant's audit log. Failures answer with one generic error, and
 * an unknown account costs the same argon2 verification as a known one.
 */
export class AuthService {
  readonly throttle: Throttle;

  constructor(
    private readonly db: Db,
    private readonly users: UsersRepository,
    private readonly sessions: SessionsRepository,
    private readonly tenancy: TenancyRepository,
    private readonly audit: AuditService,
    private readonly security: SecurityEventsRepository,
    throttle?: Throttle,
    private readonly issuer = 'RigTrace',
    /** Encrypts TOTP secrets at rest; without it, TOTP enrolment is refused. */
    private readonly secrets?: SecretBox,
  ) {
    this.throttle = throttle ?? new Throttle(sessions);
  }

  private box(): SecretBox {
    if (!this.secrets)
      throw new Error('no secrets key: TOTP secrets cannot be stored (createAccounts({ secrets }))');
    return this.secrets;
  }

  /** The user's TOTP secret (base32), decrypted; a row from before encryption reads as it is. */
  private totpSecretOf(user: UserRow, which: 'totp_secret' | 'totp_pending'): string | null {
    const stored = user[which];
    if (stored === null) return null;
    if (!SecretBox.isSealed(stored)) return stored;
    try {
      return this.box().open(stored, totpContext(user.tenant_id, user.id));
    } catch {
      // Another key, or a value copied from another user's row: it proves nothing.
      return null;
    }
  }

  /** Step one: tenant, email and password. */
  async login(
    input: { tenant: string; email: string; password: string },
    info: RequestInfo,
  ): Promise<{ issued: IssuedSession; user: UserRow }> {
    const email = input.email.trim().toLowerCase();
    const acct = accountKey(input.tenant, email);
    const addr = addressKey(info.address);
    const wait = await this.throttle.lockedFor([acct, addr]);
    if (wait > 0) {
      throw new ProblemError('CLOUD_RATE_LIMITED', 'too many failed sign-ins; try again later', {
        retryAfter: Math.ceil(wait / 1000),
      });
    }
    const tenantOk = signInRealm(input.tenant) && (await this.tenancy.tenantExists(input.tenant));
    const user = tenantOk ? await this.users.byEmail(wholeTenant(input.tenant), email) : undefined;
    const usable = user && user.disabled_at === null;
    // Always one argon2 verification, against a dummy hash when there is no usable account.
    const ok = await verifyPassword(usable ? user.password_hash : await dummyHash(), input.password);
    if (!usable || !ok) {
      await this.throttle.failure(acct, this.throttle.policy.account);
      await this.throttle.failure(addr, this.throttle.policy.address);
      const detail = !user ? 'unknown account' : !usable ? 'account disabled' : 'wrong password';
      if (tenantOk) {
        await this.audit.record({
          tenantId: input.tenant,
          action: 'auth.login',
          outcome: 'failure',
          actor: user ? actorOf(user) : { type: 'anonymous', id: '-', email: email.slice(0, 254) },
          address: info.address,
          detail,
        });
      } else {
        await this.security.record({
          tenantId: null,
          code: 'LOGIN_UNKNOWN_TENANT',
          address: info.address,
          detail: `sign-in for unknown tenant ${JSON.stringify(input.tenant.slice(0, 64))}`,
        });
      }
      throw new ProblemError('CLOUD_LOGIN_FAILED', 'the tenant, email or password is wrong');
    }
    await this.throttle.clear(acct);
    if (needsRehash(user.password_hash)) {
      await this.users.update(user.tenant_id, user.id, { password_hash: await hashPassword(input.password) });
    }
    const state: SessionState = user.totp_enabled_at ? 'mfa' : await this.nextState(user);
    const issued = await this.issue(user, state, info);
    await this.audit.record({
      tenantId: user.tenant_id,
      action: 'auth.login',
      outcome: 'success',
      actor: actorOf(user),
      address: info.address,
      after: { state },
    });
    return { issued, user };
  }

  /** What a user who proved every factor still has to do before the session is complete. */
  private async nextState(user: UserRow): Promise<SessionState> {
    if (user.must_change_password === 1) return 'change_password';
    if (!user.totp_enabled_at) {
      // A cloud operator always signs in with a second factor.
      if (user.role === OPERATOR_ROLE) return 'enroll_mfa';
      const policy = await this.users.securityPolicy(wholeTenant(user.tenant_id));
      if (isRole(user.role) && policy.mfaRequiredRoles.includes(user.role)) return 'enroll_mfa';
    }
    return 'active';
  }

  private async issue(user: UserRow, state: SessionState, info: RequestInfo): Promise<IssuedSession> {
    const token = newToken('');
    const csrfToken = randomBytes(32).toString('base64url');
    const policy = await this.users.securityPolicy(wholeTenant(user.tenant_id));
    const ttl = state === 'active' ? policy.absoluteTimeoutSeconds * 1000 : PENDING_STEP_MS;
    const expiresAt = new Date(Date.now() + ttl).toISOString();
    await this.sessions.create({
      tenant_id: user.tenant_id,
      id_hash: hashToken(token),
      user_id: user.id,
      state,
      csrf_token: csrfToken,
      expires_at: expiresAt,
      address: info.address,
      user_agent: info.userAgent?.slice(0, 512) ?? null,
    });
    return { cookie: `${user.tenant_id}.${token}`, csrfToken, state, expiresAt };
  }

  /** Replaces the session by a new one (new token): no fixation across a change of privilege. */
  private async rotate(ctx: SessionContext, user: UserRow, info: RequestInfo): Promise<IssuedSession> {
    await this.sessions.revoke(ctx.session.tenant_id, ctx.session.id_hash);
    return this.issue(user, await this.nextState(user), info);
  }

  /**
   * Finds the live session for a cookie value: unrevoked, before its absolute expiry and within
   * the tenant's inactivity timeout, its user enabled. Refreshes last-seen at most every 30 s.
   */
  /**
   * `touch: false` checks without counting as activity (a live socket's periodic re-check must
   * not keep an idle session alive).
   */
  async resolve(cookie: string, opts: { touch?: boolean } = {}): Promise<SessionContext | undefined> {
    const dot = cookie.indexOf('.');
    const tenant = cookie.slice(0, dot);
    const token = cookie.slice(dot + 1);
    if (dot < 1 || !signInRealm(tenant) || !/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const idHash = hashToken(token);
    const session = await this.sessions.get(wholeTenant(tenant), idHash);
    if (!session || session.revoked_at !== null) return undefined;
    const now = Date.now();
    if (Date.parse(session.expires_at) <= now) return undefined;
    const policy = await this.users.securityPolicy(wholeTenant(tenant));
    if (Date.parse(session.last_seen_at) + policy.idleTimeoutSeconds * 1000 <= now) {
      await this.sessions.revoke(tenant, idHash);
      return undefined;
    }
    const user = await this.users.byId(wholeTenant(tenant), session.user_id);
    if (!user || user.disabled_at !== null) return undefined;
    if (opts.touch !== false && now - Date.parse(session.last_seen_at) > 30_000) {
      await this.sessions.touch(tenant, idHash, new Date(now).toISOString());
    }
    return { session, user, principal: principalOf(user) };
  }

  /** Step two: a TOTP code or a backup code, on a session waiting for it. */
  async completeMfa(ctx: SessionContext, code: string, info: RequestInfo): Promise<IssuedSession> {
    const acct = accountKey(ctx.user.tenant_id, ctx.user.email);
    if ((await this.throttle.lockedFor([acct])) > 0)
      throw new ProblemError('CLOUD_RATE_LIMITED', 'too many failed attempts; try again later');
    const how = await this.checkSecondFactor(ctx.user, code);
    if (!how) {
      await this.throttle.failure(acct, this.throttle.policy.account);
      await this.audit.record({
        tenantId: ctx.user.tenant_id,
        action: 'auth.mfa',
        outcome: 'failure',
        actor: actorOf(ctx.user),
        address: info.address,
      });
      throw new ProblemError('CLOUD_LOGIN_FAILED', 'the code is wrong or was already used');
    }
    await this.throttle.clear(acct);
    const issued = await this.rotate(ctx, ctx.user, info);
    await this.audit.record({
      tenantId: ctx.user.tenant_id,
      action: 'auth.mfa',
      outcome: 'success',
      actor: actorOf(ctx.user),
      address: info.address,
      detail: how === 'backup' ? 'backup code used' : 'TOTP',
    });
    return issued;
  }

  /** A fresh TOTP code (never replayed) or an unused backup code. */
  private async checkSecondFactor(user: UserRow, code: string): Promise<'totp' | 'backup' | undefined> {
    const c = code.replace(/\s/g, '');
    const secret = this.totpSecretOf(user, 'totp_secret');
    if (secret && /^\d{6}$/.test(c)) {
      const step = verifyTotp(base32Decode(secret), c, Date.now() / 1000);
      if (step !== undefined && (await this.users.claimTotpStep(user.tenant_id, user.id, step))) {
        // A secret stored in clear (before encryption at rest) is sealed at its first use.
        if (!SecretBox.isSealed(user.totp_secret!) && this.secrets)
          await this.users.update(user.tenant_id, user.id, {
            totp_secret: this.secrets.seal(secret, totpContext(user.tenant_id, user.id)),
          });
        return 'totp';
      }
      return undefined;
    }
    if (/^[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}$/.test(c)) {
      if (await this.users.useBackupCode(user.tenant_id, user.id, hashBackupCode(c))) return 'backup';
    }
    return undefined;
  }

  /** Re-authentication for sensitive changes: the password, and the second factor if enrolled. */
  private async reauthenticate(user: UserRow, password: string, code: string | undefined, info: RequestInfo) {
    const acct = accountKey(user.tenant_id, user.email);
    if ((await this.throttle.lockedFor([acct])) > 0)
      throw new ProblemError('CLOUD_RATE_LIMITED', 'too many failed attempts; try again later');
    const ok =
      (await verifyPassword(user.password_hash, password)) &&
      (!user.totp_enabled_at ||
        (code !== undefined && (await this.checkSecondFactor(user, code)) !== undefined));
    if (!ok) {
      await this.throttle.failure(acct, this.throttle.policy.account);
      await this.audit.record({
        tenantId: user.tenant_id,
        action: 'auth.reauthenticate',
        outcome: 'failure',
        actor: actorOf(user),
        address: info.address,
      });
      throw new ProblemError(
        'CLOUD_REAUTH_FAILED',
        user.totp_enabled_at ? 'the password or code is wrong' : 'the password is wrong',
      );
    }
  }

  /**
   * An electronic signature's re-authentication: the signer's password, asked again at the
   * moment of signing. A wrong password counts toward the account's lockout like a failed
   * sign-in, and the refusal goes on the audit trail (`action`, with what was to be signed).
   */
  async reauthenticateSigner(
    user: UserRow,
    password: string,
    info: RequestInfo,
    what: { action: string; target: { type: string; id: string }; meaning: string },
  ): Promise<void> {
    const acct = accountKey(user.tenant_id, user.email);
    const wait = await this.throttle.lockedFor([acct]);
    if (wait > 0)
      throw new ProblemError('CLOUD_RATE_LIMITED', 'too many failed attempts; try again later', {
        retryAfter: Math.ceil(wait / 1000),
      });
    if (await verifyPassword(user.password_hash, password)) return;
    await this.throttle.failure(acct, this.throttle.policy.account);
    await this.audit.record({
      tenantId: user.tenant_id,
      action: what.action,
      outcome: 'failure',
      actor: actorOf(user),
      address: info.address,
      target: what.target,
      detail: `signature refused: wrong password (meaning "${what.meaning}")`,
    });
    throw new ProblemError('CLOUD_REAUTH_FAILED', 'the password is wrong: not signed');
  }

  async changePassword(
    ctx: SessionContext,
    current: string,
    next: string,
    info: RequestInfo,
  ): Promise<IssuedSession> {
    await this.reauthenticatePasswordOnly(ctx.user, current, info);
    const problems = passwordProblems(next, { email: ctx.user.email });
    if (current === next) problems.push('must differ from the current password');
    if (problems.length > 0)
      throw new ProblemError('CLOUD_PASSWORD_REJECTED', `the new password ${problems.join('; ')}`, {
        problems,
      });
    const hash = await hashPassword(next);
    const issued = await this.db.transaction(async () => {
      await this.users.update(ctx.user.tenant_id, ctx.user.id, {
        password_hash: hash,
        must_change_password: 0,
        password_changed_at: new Date().toISOString(),
      });
      await this.sessions.revokeAllForUser(ctx.user.tenant_id, ctx.user.id);
      const user = (await this.users.byId(wholeTenant(ctx.user.tenant_id), ctx.user.id))!;
      const issued = await this.issue(user, await this.nextState(user), info);
      await this.audit.record({
        tenantId: user.tenant_id,
        action: 'auth.password.change',
        outcome: 'success',
        actor: actorOf(user),
        address: info.address,
        detail: 'every other session revoked',
      });
      return issued;
    });
    return issued;
  }

  /** A password change proves the current password (a pending second factor was already given). */
  private async reauthenticatePasswordOnly(user: UserRow, password: string, info: RequestInfo) {
    await this.reauthenticate({ ...user, totp_enabled_at: null }, password, undefined, info);
  }

  /**
   * Starts TOTP enrolment: a new secret, kept pending until a code from it is confirmed. From a
   * complete session the password is asked again; from a session that must enrol it was just given.
   */
  async startTotp(ctx: SessionContext, password: string | undefined, info: RequestInfo) {
    if (ctx.user.totp_enabled_at)
      throw new ProblemError('CLOUD_CONFLICT', 'TOTP is already enabled; disable it first');
    if (ctx.session.state !== 'enroll_mfa')
      await this.reauthenticatePasswordOnly(ctx.user, password ?? '', info);
    const secret = newTotpSecret();
    const sealed = this.box().seal(secret, totpContext(ctx.user.tenant_id, ctx.user.id));
    await this.users.update(ctx.user.tenant_id, ctx.user.id, { totp_pending: sealed });
    const uri = otpauthUri(this.issuer, `${ctx.user.tenant_id}/${ctx.user.email}`, secret);
    // The QR code an authenticator app scans: an SVG of the otpauth:// URI (the portal shows it).
    const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { secret, otpauthUri: uri, qrSvg };
  }

  /** Confirms enrolment with a code from the pending secret; returns the ten backup codes once. */
  async confirmTotp(ctx: SessionContext, code: string, info: RequestInfo) {
    const pending = this.totpSecretOf(ctx.user, 'totp_pending');
    const step = pending ? verifyTotp(base32Decode(pending), code.trim(), Date.now() / 1000) : undefined;
    if (!pending || step === undefined) {
      await this.audit.record({
        tenantId: ctx.user.tenant_id,
        action: 'mfa.totp.enable',
        outcome: 'failure',
        actor: actorOf(ctx.user),
        address: info.address,
        detail: pending ? 'wrong code' : 'no enrolment started',
      });
      throw new ProblemError('CLOUD_VALIDATION', pending ? 'the code is wrong' : 'start the enrolment first');
    }
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, newBackupCode);
    return this.db.transaction(async () => {
      await this.users.update(ctx.user.tenant_id, ctx.user.id, {
        totp_secret: this.box().seal(pending, totpContext(ctx.user.tenant_id, ctx.user.id)),
        totp_pending: null,
        totp_enabled_at: new Date().toISOString(),
        totp_last_step: step,
      });
      await this.users.replaceBackupCodes(ctx.user.tenant_id, ctx.user.id, codes.map(hashBackupCode));
      await this.audit.record({
        tenantId: ctx.user.tenant_id,
        action: 'mfa.totp.enable',
        outcome: 'success',
        actor: actorOf(ctx.user),
        address: info.address,
        before: { mfa: false },
        after: { mfa: true, backupCodes: BACKUP_CODE_COUNT },
      });
      const user = (await this.users.byId(wholeTenant(ctx.user.tenant_id), ctx.user.id))!;
      const issued = ctx.session.state === 'enroll_mfa' ? await this.rotate(ctx, user, info) : undefined;
      return { backupCodes: codes, issued };
    });
  }

  async disableTotp(ctx: SessionContext, password: string, code: string, info: RequestInfo): Promise<void> {
    if (!ctx.user.totp_enabled_at) throw new ProblemError('CLOUD_CONFLICT', 'TOTP is not enabled');
    if (ctx.user.role === OPERATOR_ROLE)
      throw new ProblemError('CLOUD_FORBIDDEN', 'a cloud operator always signs in with a second factor');
    const policy = await this.users.securityPolicy(wholeTenant(ctx.user.tenant_id));
    if (isRole(ctx.user.role) && policy.mfaRequiredRoles.includes(ctx.user.role))
      throw new ProblemError('CLOUD_FORBIDDEN', `the tenant requires MFA for the ${ctx.user.role} role`);
    await this.reauthenticate(ctx.user, password, code, info);
    await this.db.transaction(async () => {
      await this.users.update(ctx.user.tenant_id, ctx.user.id, {
        totp_secret: null,
        totp_pending: null,
        totp_enabled_at: null,
        totp_last_step: null,
      });
      await this.users.replaceBackupCodes(ctx.user.tenant_id, ctx.user.id, []);
      await this.audit.record({
        tenantId: ctx.user.tenant_id,
        action: 'mfa.totp.disable',
        outcome: 'success',
        actor: actorOf(ctx.user),
        address: info.address,
        before: { mfa: true },
        after: { mfa: false },
      });
    });
  }

  async regenerateBackupCodes(
    ctx: SessionContext,
    password: string,
    code: string,
    info: RequestInfo,
  ): Promise<string[]> {
    if (!ctx.user.totp_enabled_at) throw new ProblemError('CLOUD_CONFLICT', 'TOTP is not enabled');
    await this.reauthenticate(ctx.user, password, code, info);
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, newBackupCode);
    await this.db.transaction(async () => {
      await this.users.replaceBackupCodes(ctx.user.tenant_id, ctx.user.id, codes.map(hashBackupCode));
      await this.audit.record({
        tenantId: ctx.user.tenant_id,
        action: 'mfa.backup_codes.regenerate',
        outcome: 'success',
        actor: actorOf(ctx.user),
        address: info.address,
        after: { backupCodes: BACKUP_CODE_COUNT },
      });
    });
    return codes;
  }

  async logout(ctx: SessionContext, everywhere: boolean, info: RequestInfo): Promise<number> {
    await this.sessions.revoke(ctx.session.tenant_id, ctx.session.id_hash);
    const others = everywhere ? await this.sessions.revokeAllForUser(ctx.user.tenant_id, ctx.user.id) : 0;
    await this.audit.record({
      tenantId: ctx.user.tenant_id,
      action: everywhere ? 'auth.logout_all' : 'auth.logout',
      outcome: 'success',
      actor: actorOf(ctx.user),
      address: info.address,
      ...(everywhere ? { detail: `${others + 1} sessions revoked` } : {}),
    });
    return others + 1;
  }

  unusedBackupCodes(u: UserRow): Promise<number> {
    return this.users.unusedBackupCodes(wholeTenant(u.tenant_id), u.id);
  }
}
