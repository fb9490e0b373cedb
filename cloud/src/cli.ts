#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

type Values<T extends ParseArgsOptionsConfig> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string;
};
import { VERIFY_EVIDENCE_USAGE, verifyEvidenceCommand } from '@rigtrace/protocols/record';
import { ConfigError, loadCloudConfig, type CloudConfig } from './platform/config.js';
import { describeDatabaseUrl } from './platform/db/postgres.js';
import { createLogger } from './platform/logger.js';
import { MissingDatabaseError, openStore, startCloud, type Store } from './server.js';
import { enrollCommand } from './tenancy/index.js';
import { createAccounts, isRole, OPERATOR_REALM, ROLES, wholeTenant } from './access/index.js';
import { AuditRepository, AuditService, SecurityEventsRepository } from './audit/index.js';
import { OperatorService } from './operator/index.js';
import { Witness } from './platform/witness.js';
import { parseReportArgs, REPORT_USAGE, runReport } from './reports/index.js';
import {
  parseMonth,
  planRetention,
  RecordsRetention,
  SQLITE_KEEPS_LEAVES,
  type OpenCase,
  type RetentionHold,
} from './records/index.js';
import { suspectWindowOf } from './calibration/index.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

const COMMON = `every command that opens the database takes:
  --config FILE          the settings file the service reads (e.g. /etc/rigtrace/cloud.env):
                         NAME=value lines with the environment variables' names (docs/INSTALL-CLOUD.md)
  --data-dir DIR         the SQLite database and the witness key (RIGTRACE_DATA_DIR)
  --database-url URL     PostgreSQL instead of SQLite (prefer the DATABASE_URL variable or the
                         settings file, which keep a password out of the process list)
Each setting comes from the first of: a flag, the settings file, the environment. The admin
commands (tenant, site, token, user, report) refuse a database that does not exist yet, naming
where they looked; --create-database makes one there instead. serve and seed-demo create it.`;

/** Each command's help (`rigtrace-cloud help <command>`, `rigtrace-cloud <command> --help`). */
const HELP: Record<string, string> = {
  serve: `serve [--config FILE] [--host H] [--port P] [--data-dir DIR] [--database-url URL]
      run the API and the portal (creates and migrates the database). Environment: RIGTRACE_HOST,
      RIGTRACE_PORT, RIGTRACE_DATA_DIR, DATABASE_URL, RIGTRACE_PUBLIC_URL, ... (docs/INSTALL-CLOUD.md)`,
  tenant: `tenant create --id ID --name NAME [--admin-email E]
      a tenant; with --admin-email also its first admin (every site), whose one-time password is
      printed (JSON); the same as the portal's Tenants page for cloud operators`,
  operator: `operator create --email E [--name NAME]
      a cloud operator (reads the password from stdin): signs in to the portal with the tenant
      "${OPERATOR_REALM}", must set up two-step verification at the first sign-in, then lists
      tenants and creates them with their first admin; reads nothing of any tenant's data
  operator list
      the cloud operators (JSON lines: email, name, enabled, two-step verification set up)
  operator disable --email E [--force]
      ends the operator's sessions and refuses its sign-ins; the last enabled operator only
      with --force (then nobody can reach the Tenants page until one is enabled or created)
  operator enable --email E
      lets a disabled operator sign in again
  operator reset-mfa --email E
      for a lost authenticator: clears its two-step verification and backup codes and ends its
      sessions; the next sign-in must set it up again (password unchanged)
      Each is on the operators' audit trail (actor "system cli"; Tenants page, GET /operator/audit).`,
  site: `site create --tenant ID --id ID --name NAME`,
  token: `token enroll --tenant ID --site ID [--ttl-hours N] [--output json|token]
      a one-time edge enrollment token, and the command that uses it on the line PC
      (with RIGTRACE_PUBLIC_URL, the cloud's address for line PCs); --output token: the token alone
  token api --tenant ID --name NAME
      an API token for a tenant (Authorization: Bearer <token>; cloud/API.md)`,
  user: `user create --tenant ID --email E --role ROLE [--sites A,B] [--password-stdin]
      a user (roles: admin manager technician auditor); prints a one-time initial password
      unless --password-stdin reads one`,
  'seed-demo': `seed-demo
      demo tenant, site, tokens and users (prints JSON)`,
  report: `report --tenant T --type TYPE --from D --to D [--site S] --format pdf|csv|json --out FILE
      a compliance report into FILE (types: calibration-register due-list out-of-tolerance
      access-review export-access integrity; see cloud/REPORTS.md)`,
  records: `records retention --before YYYY-MM [--drop]
      the months of stored records, oldest first, with how many each holds (JSON lines), and
      which months before YYYY-MM (at most the current month) would go; nothing changes without
      --drop. With --drop, on PostgreSQL, drops those whole months (each month's partition, as
      the schema owner, DATABASE_OWNER_URL or else DATABASE_URL), keeping every record's leaf
      hash so the edges' logs and the remaining records' evidence still verify. Refuses, changing
      nothing, while a month before the cutoff holds records of an open out-of-tolerance case's
      suspect window (from its last good calibration to now or its closing calibration). Each
      drop and refusal is on the system log and each affected tenant's audit trail (actor
      "system cli"). SQLite lists months but drops none (its records carry the log's leaves).`,
  'verify-evidence': VERIFY_EVIDENCE_USAGE,
  help: `help [COMMAND]
      this text, or one command's`,
};

const USAGE = `usage: rigtrace-cloud <command> [options]

commands:
${Object.values(HELP)
  .map((h) => `  ${h}`)
  .join('\n')}

${COMMON}
`;

const helpOf = (cmd: string) =>
  `usage: rigtrace-cloud ${HELP[cmd]!.trimStart()}\n${cmd === 'verify-evidence' || cmd === 'help' ? '' : `\n${COMMON}\n`}`;

function fail(lines: string[], code: number): never {
  for (const l of lines) process.stderr.write(`${l}\n`);
  process.exit(code);
}

function parse<T extends ParseArgsOptionsConfig>(argv: string[], options: T): Values<T> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    fail([`rigtrace-cloud: ${(err as Error).message}`, USAGE], 2);
  }
}

function need(v: string | undefined, flag: string): string {
  if (!v) fail([`rigtrace-cloud: --${flag} is required`, USAGE], 2);
  return v;
}

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** What the CLI does is done by the person at the cloud's host: the audit trail's "system cli". */
const CLI = { actor: { type: 'system' as const, id: 'cli' }, address: null };

/** The operator service over a store (the CLI's tenant and operator commands; the portal's routes use the same). */
function operatorOf(store: Store, cfg: CloudConfig): OperatorService {
  const accounts = createAccounts({
    ...store,
    witness: Witness.load(cfg.dataDir, cfg.witnessName, cfg.witnessKeyFile),
  });
  return new OperatorService({ db: store.db, tenancy: store.tenancy, accounts });
}
/**
 * What the records retention must keep: each open out-of-tolerance case's suspect window (the
 * records it lists, to be decided on). A case whose window cannot be read keeps everything.
 */
async function suspectHolds(store: Store, cases: readonly OpenCase[]): Promise<RetentionHold[]> {
  const holds: RetentionHold[] = [];
  for (const k of cases) {
    const name = `open out-of-tolerance case ${k.id} (tenant ${k.tenant_id}, ${k.equipment})`;
    let w: ReturnType<typeof suspectWindowOf> = null;
    try {
      w = suspectWindowOf(
        k.equipment,
        await store.calibrations.forEquipment(wholeTenant(k.tenant_id), k.equipment),
        k.calibration_id,
      );
    } catch {
      holds.push({ from: null, to: null, reason: `${name}: its suspect window cannot be read` });
      continue;
    }
    holds.push({
      from: w?.start ?? null,
      to: w?.end ?? null,
      reason: `${name}: suspect records from ${w?.start ?? 'the first record'} to ${w?.end ?? 'now'}`,
    });
  }
  return holds;
}
function id(v: string | undefined, flag: string): string {
  const s = need(v, flag);
  if (!ID.test(s)) fail([`rigtrace-cloud: --${flag} must be lowercase letters, digits and -, max 63`], 2);
  return s;
}

async function main(argv: string[]) {
  const [cmd, sub, ...rest] = argv;
  // Help: `help [COMMAND]`, `--help`, `-h`, and `COMMAND ... --help`.
  const wantsHelp = (a: string | undefined) => a === 'help' || a === '--help' || a === '-h';
  if (wantsHelp(cmd)) {
    if (sub === undefined) return void process.stdout.write(USAGE);
    if (!(sub in HELP)) fail([`rigtrace-cloud: no command "${sub}"`, USAGE], 2);
    return void process.stdout.write(helpOf(sub));
  }
  if (cmd !== undefined && cmd in HELP && argv.slice(1).some((a) => a === '--help' || a === '-h'))
    return void process.stdout.write(helpOf(cmd));

  const storeOpts = {
    config: { type: 'string' },
    'data-dir': { type: 'string' },
    'database-url': { type: 'string' },
  } as const;
  type StoreFlags = {
    config?: string | undefined;
    'data-dir'?: string | undefined;
    'database-url'?: string | undefined;
  };
  const storeOverrides = (v: StoreFlags) => ({
    ...(v['data-dir'] ? { dataDir: v['data-dir'] } : {}),
    ...(v['database-url'] ? { databaseUrl: v['database-url'] } : {}),
  });
  const cfgFor = (v: StoreFlags) => loadCloudConfig(process.env, storeOverrides(v), v.config);
  /** The admin commands' store: it must exist unless --create-database. */
  const adminStore = (cfg: CloudConfig, v: { 'create-database'?: boolean | undefined }) =>
    openStore(cfg, undefined, { mustExist: v['create-database'] !== true });

  if (cmd === 'serve') {
    const v = parse(
      [sub, ...rest].filter((x): x is string => x !== undefined),
      {
        ...storeOpts,
        host: { type: 'string' },
        port: { type: 'string' },
      },
    );
    const cfg = loadCloudConfig(
      process.env,
      {
        ...(v.host ? { host: v.host } : {}),
        ...(v.port ? { port: v.port } : {}),
        ...storeOverrides(v),
      },
      v.config,
    );
    const logger = createLogger(cfg.logLevel);
    const running = await startCloud(cfg, logger);
    logger.info(
      {
        url: running.url,
        dataDir: cfg.dataDir,
        storage: cfg.databaseUrl ? describeDatabaseUrl(cfg.databaseUrl) : 'sqlite',
      },
      'cloud listening',
    );
    // One machine-readable line for supervisors and tests.
    process.stdout.write(`${JSON.stringify({ event: 'listening', url: running.url, port: running.port })}\n`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      running.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    return;
  }

  if (cmd === 'report') {
    const parsed = parseReportArgs([sub, ...rest].filter((x): x is string => x !== undefined));
    if (!parsed.args) fail([...parsed.problems.map((p) => `rigtrace-cloud: ${p}`), REPORT_USAGE], 2);
    const out = await runReport(parsed.args, cfgFor(parsed.args.store));
    if (!out.ok) fail([`rigtrace-cloud: ${out.problem}`], 2);
    process.stdout.write(`${out.line}\n`);
    return;
  }

  if (cmd === 'verify-evidence') {
    const { values, positionals } = (() => {
      try {
        return parseArgs({
          args: argv.slice(1),
          options: { 'edge-key': { type: 'string' }, 'witness-key': { type: 'string' } },
          strict: true,
          allowPositionals: true,
        });
      } catch (err) {
        fail([`rigtrace-cloud: ${(err as Error).message}`, helpOf('verify-evidence')], 2);
      }
    })();
    if (positionals.length !== 1)
      fail(['rigtrace-cloud: verify-evidence takes one BUNDLE.json', helpOf('verify-evidence')], 2);
    const out = verifyEvidenceCommand({
      bundleFile: positionals[0]!,
      edgeKey: need(values['edge-key'], 'edge-key'),
      witnessKey: need(values['witness-key'], 'witness-key'),
    });
    if (out.code !== 0)
      fail(
        out.lines.map((l) => `rigtrace-cloud: ${l}`),
        out.code,
      );
    process.stdout.write(`${out.lines.join('\n')}\n`);
    return;
  }

  if (cmd === 'seed-demo') {
    const v = parse(
      [sub, ...rest].filter((x): x is string => x !== undefined),
      storeOpts,
    );
    const store = await openStore(cfgFor(v));
    if (!(await store.tenancy.tenantExists('demo'))) {
      await store.tenancy.createTenant('demo', 'Demo Injector Works');
      await store.tenancy.createSite('demo', 'plant-1', 'Plant 1 — injector test');
    }
    const apiToken = await store.tenancy.createApiToken('demo', 'demo');
    const enr = await store.tenancy.createEnrollmentToken('demo', 'plant-1', 24 * 3600_000);
    // Demo users only: random passwords printed once, no forced change. An existing demo user
    // gets a new password each run, so the demo always prints logins that work.
    const cfg = cfgFor(v);
    const accounts = createAccounts({
      ...store,
      witness: Witness.load(cfg.dataDir, cfg.witnessName, cfg.witnessKeyFile),
    });
    const by = { actor: { type: 'system' as const, id: 'seed-demo' }, address: null };
    const users: { email: string; role: string; password: string }[] = [];
    for (const role of ROLES) {
      const email = `${role}@demo.rigtrace.example`;
      const existing = (await accounts.users.list('demo')).find((u) => u.email === email);
      const password = existing
        ? (await accounts.users.resetPassword(by, 'demo', existing.id)).temporaryPassword
        : (await accounts.users.create(by, 'demo', { email, role, mustChangePassword: false }))
            .initialPassword!;
      if (existing) await accounts.users.clearMustChange('demo', existing.id);
      users.push({ email, role, password });
    }
    await store.db.close();
    process.stdout.write(
      `${JSON.stringify({ tenant: 'demo', site: 'plant-1', apiToken, enrollmentToken: enr.token, users })}\n`,
    );
    return;
  }

  const key = `${cmd ?? ''} ${sub ?? ''}`;
  const opts = {
    ...storeOpts,
    'create-database': { type: 'boolean' },
    id: { type: 'string' },
    name: { type: 'string' },
    tenant: { type: 'string' },
    site: { type: 'string' },
    'ttl-hours': { type: 'string' },
    output: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string' },
    sites: { type: 'string' },
    'password-stdin': { type: 'boolean' },
    'admin-email': { type: 'string' },
    force: { type: 'boolean' },
    before: { type: 'string' },
    drop: { type: 'boolean' },
  } as const;
  switch (key) {
    case 'tenant create': {
      const v = parse(rest, opts);
      const tenantId = id(v.id, 'id');
      const name = need(v.name, 'name');
      const adminEmail = v['admin-email'];
      if (adminEmail !== undefined && !/^[^\s@]+@[^\s@]+$/.test(adminEmail))
        fail(['rigtrace-cloud: --admin-email is not an email address'], 2);
      const cfg = cfgFor(v);
      const store = await adminStore(cfg, v);
      try {
        const operator = operatorOf(store, cfg);
        const out = await operator
          .createTenant(CLI, { id: tenantId, name, ...(adminEmail ? { admin: { email: adminEmail } } : {}) })
          .catch((err: unknown) => {
            const e = err as { code?: string; message?: string };
            if (e.code === 'CLOUD_CONFLICT' || e.code === 'CLOUD_VALIDATION')
              fail([`rigtrace-cloud: ${e.message ?? ''}`], 2);
            throw err;
          });
        process.stdout.write(
          out.admin
            ? `${JSON.stringify({ tenant: tenantId, admin: { id: out.admin.user.id, email: out.admin.user.email, role: 'admin', initialPassword: out.admin.initialPassword } })}\n`
            : `tenant ${tenantId} created\n`,
        );
      } finally {
        await store.db.close();
      }
      return;
    }
    case 'operator create': {
      const v = parse(rest, opts);
      const email = need(v.email, 'email');
      if (!/^[^\s@]+@[^\s@]+$/.test(email)) fail(['rigtrace-cloud: --email is not an email address'], 2);
      const password = await readStdin();
      if (!password) fail(["rigtrace-cloud: give the operator's password on stdin"], 2);
      const cfg = cfgFor(v);
      const store = await adminStore(cfg, v);
      try {
        const user = await operatorOf(store, cfg)
          .createOperator(CLI, { email, ...(v.name ? { name: v.name } : {}), password })
          .catch((err: unknown) => {
            const e = err as { code?: string; message?: string };
            if (e.code === 'CLOUD_PASSWORD_REJECTED' || e.code === 'CLOUD_CONFLICT')
              fail([`rigtrace-cloud: ${e.message ?? ''}`], 2);
            throw err;
          });
        process.stdout.write(
          `${JSON.stringify({ id: user.id, email: user.email, role: user.role, signInTenant: OPERATOR_REALM, mfa: 'set up at the first sign-in' })}\n`,
        );
      } finally {
        await store.db.close();
      }
      return;
    }
    case 'operator list': {
      const v = parse(rest, opts);
      const cfg = cfgFor(v);
      const store = await adminStore(cfg, v);
      try {
        for (const u of await operatorOf(store, cfg).listOperators())
          process.stdout.write(
            `${JSON.stringify({ email: u.email, name: u.name, enabled: u.disabled_at === null, mfa: u.totp_enabled_at !== null, createdAt: u.created_at })}\n`,
          );
      } finally {
        await store.db.close();
      }
      return;
    }
    case 'operator disable':
    case 'operator enable':
    case 'operator reset-mfa': {
      const v = parse(rest, opts);
      const email = need(v.email, 'email');
      if (v.force && sub !== 'disable') fail(['rigtrace-cloud: --force is for operator disable'], 2);
      const cfg = cfgFor(v);
      const store = await adminStore(cfg, v);
      try {
        const operator = operatorOf(store, cfg);
        const u = await (
          sub === 'reset-mfa'
            ? operator.resetOperatorMfa(CLI, email)
            : operator.setOperatorDisabled(CLI, email, sub === 'disable', { force: v.force === true })
        ).catch((err: unknown) => {
          const e = err as { code?: string; message?: string };
          if (e.code === 'CLOUD_NOT_FOUND' || e.code === 'CLOUD_CONFLICT')
            fail([`rigtrace-cloud: ${e.message ?? ''}`], 2);
          throw err;
        });
        const done = sub === 'disable' ? 'disabled' : sub === 'enable' ? 'enabled' : 'mfa reset';
        process.stdout.write(
          `${JSON.stringify({ email: u.email, enabled: u.disabled_at === null, mfa: u.totp_enabled_at !== null, done })}\n`,
        );
      } finally {
        await store.db.close();
      }
      return;
    }
    case 'site create': {
      const v = parse(rest, opts);
      const store = await adminStore(cfgFor(v), v);
      const tenant = id(v.tenant, 'tenant');
      if (!(await store.tenancy.tenantExists(tenant))) fail([`rigtrace-cloud: no tenant ${tenant}`], 2);
      await store.tenancy.createSite(tenant, id(v.id, 'id'), need(v.name, 'name'));
      await store.db.close();
      process.stdout.write(`site ${v.id} created in tenant ${tenant}\n`);
      return;
    }
    case 'token enroll': {
      const v = parse(rest, opts);
      if (v.output !== undefined && v.output !== 'json' && v.output !== 'token')
        fail(['rigtrace-cloud: --output is json or token'], 2);
      const hours = Number(v['ttl-hours'] ?? '24');
      if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 30)
        fail(['rigtrace-cloud: --ttl-hours must be > 0 and <= 720'], 2);
      const cfg = cfgFor(v);
      const store = await adminStore(cfg, v);
      const tenant = id(v.tenant, 'tenant');
      const site = id(v.site, 'site');
      if (!(await store.tenancy.siteExists(wholeTenant(tenant), site)))
        fail([`rigtrace-cloud: no site ${site} in tenant ${tenant}`], 2);
      const t = await store.tenancy.createEnrollmentToken(tenant, site, hours * 3600_000);
      await store.db.close();
      // Without RIGTRACE_PUBLIC_URL the command names the address to fill in.
      const command = enrollCommand(cfg.publicUrl ?? 'https://CLOUD-ADDRESS', t.token);
      process.stdout.write(v.output === 'token' ? `${t.token}\n` : `${JSON.stringify({ ...t, command })}\n`);
      return;
    }
    case 'user create': {
      const v = parse(rest, opts);
      const tenant = id(v.tenant, 'tenant');
      const email = need(v.email, 'email');
      const role = need(v.role, 'role');
      if (!isRole(role)) fail([`rigtrace-cloud: --role must be one of ${ROLES.join(', ')}`], 2);
      if (!/^[^\s@]+@[^\s@]+$/.test(email)) fail(['rigtrace-cloud: --email is not an email address'], 2);
      const sites = v.sites ? v.sites.split(',').map((s) => id(s, 'sites')) : null;
      const password = v['password-stdin'] ? await readStdin() : undefined;
      const cfg = cfgFor(v);
      const store = await adminStore(cfg, v);
      try {
        if (!(await store.tenancy.tenantExists(tenant))) fail([`rigtrace-cloud: no tenant ${tenant}`], 2);
        const accounts = createAccounts({
          ...store,
          witness: Witness.load(cfg.dataDir, cfg.witnessName, cfg.witnessKeyFile),
        });
        const out = await accounts.users.create(
          { actor: { type: 'system', id: 'cli' }, address: null },
          tenant,
          {
            email,
            role,
            sites,
            ...(password !== undefined ? { password } : {}),
          },
        );
        process.stdout.write(
          `${JSON.stringify({ id: out.user.id, tenant, email: out.user.email, role, sites, initialPassword: out.initialPassword })}\n`,
        );
      } finally {
        await store.db.close();
      }
      return;
    }
    case 'token api': {
      const v = parse(rest, opts);
      const store = await adminStore(cfgFor(v), v);
      const tenant = id(v.tenant, 'tenant');
      if (!(await store.tenancy.tenantExists(tenant))) fail([`rigtrace-cloud: no tenant ${tenant}`], 2);
      const token = await store.tenancy.createApiToken(tenant, need(v.name, 'name'));
      await store.db.close();
      process.stdout.write(`${token}\n`);
      return;
    }
    case 'records retention': {
      const v = parse(rest, opts);
      const before = parseMonth(need(v.before, 'before'));
      if (!before) fail(['rigtrace-cloud: --before is a month, YYYY-MM (e.g. 2025-07)'], 2);
      const thisMonth = new Date().toISOString().slice(0, 7);
      if (before > thisMonth)
        fail(
          [
            `rigtrace-cloud: --before ${before} is after the current month (${thisMonth}), whose records stay`,
          ],
          2,
        );
      const cfg = cfgFor(v);
      // The dry run changes nothing: no migration, no partition made, a read-only listing.
      const store = v.drop ? await adminStore(cfg, v) : await openStore(cfg, undefined, { migrate: false });
      const retention = await RecordsRetention.open(
        store.db,
        cfg.databaseUrl ? (cfg.databaseOwnerUrl ?? cfg.databaseUrl) : undefined,
      );
      try {
        if (v.drop && retention.backend === 'sqlite') fail([`rigtrace-cloud: ${SQLITE_KEEPS_LEAVES}`], 2);
        const holds = await suspectHolds(store, await retention.openCases());
        const plan = planRetention(await retention.months(), before, holds);
        for (const m of plan.months)
          process.stdout.write(
            `${JSON.stringify({ month: m.month, records: m.records, drop: m.drop, ...(m.unpartitioned ? { unpartitioned: m.unpartitioned } : {}), ...(m.keptBy.length ? { keptBy: m.keptBy } : {}) })}\n`,
          );
        const going = plan.months.filter((m) => m.drop);
        if (!v.drop) {
          process.stdout.write(
            `${JSON.stringify({ dryRun: true, before, wouldDrop: going.map((m) => m.month), records: going.reduce((n, m) => n + m.records, 0), refused: plan.refused.map((m) => m.month) })}\n`,
          );
          return;
        }
        const witness = Witness.load(cfg.dataDir, cfg.witnessName, cfg.witnessKeyFile);
        if (plan.refused.length > 0) {
          const why = plan.refused.map((m) => `${m.month}: kept by ${m.keptBy.join('; ')}`);
          await store.security.record({
            tenantId: null,
            code: 'records_retention_refused',
            detail: JSON.stringify({
              before,
              refused: plan.refused.map((m) => ({ month: m.month, keptBy: m.keptBy })),
            }),
          });
          fail(
            [
              `rigtrace-cloud: nothing dropped: ${plan.refused.length} month(s) before ${before} hold records the product must keep`,
              ...why.map((w) => `  ${w}`),
            ],
            2,
          );
        }
        const byTenant = new Map<string, { month: string; records: number }[]>();
        let total = 0;
        // The system log and each tenant's audit trail are written in the DROP's transaction:
        // both commit, or neither.
        await retention.drop(
          going.map((m) => m.month),
          async (db, dropped) => {
            await new SecurityEventsRepository(db).record({
              tenantId: null,
              code: 'records_retention',
              detail: JSON.stringify({
                before,
                months: going.map((m) => ({
                  month: m.month,
                  records: dropped.filter((d) => d.month === m.month).reduce((n, d) => n + d.records, 0),
                })),
              }),
            });
            byTenant.clear();
            for (const d of dropped)
              byTenant.set(d.tenantId, [
                ...(byTenant.get(d.tenantId) ?? []),
                { month: d.month, records: d.records },
              ]);
            const audit = new AuditService(db, new AuditRepository(db), witness);
            for (const [tenantId, months] of byTenant)
              await audit.record({
                tenantId,
                action: 'records.retention',
                outcome: 'success',
                ...CLI,
                target: { type: 'records', id: `before ${before}` },
                after: { months },
                detail: `records observed before ${before} dropped by the cloud's retention (${months.map((m) => `${m.month}: ${m.records}`).join(', ')}); their leaf hashes stay in the edges' logs`,
              });
            total = dropped.reduce((n, d) => n + d.records, 0);
          },
        );
        process.stdout.write(
          `${JSON.stringify({ dropped: going.map((m) => m.month), records: total, tenants: byTenant.size })}\n`,
        );
      } finally {
        await retention.close();
        await store.db.close();
      }
      return;
    }
    default:
      fail(
        [
          cmd
            ? `rigtrace-cloud: unknown command "${key.trim()}" (rigtrace-cloud help)`
            : 'rigtrace-cloud: a command is required',
          USAGE,
        ],
        2,
      );
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof MissingDatabaseError) fail([`rigtrace-cloud: ${err.message}`], 2);
  if (err instanceof ConfigError)
    fail(['rigtrace-cloud: invalid configuration', ...err.problems.map((p) => `  ${p}`)], 2);
  fail([`rigtrace-cloud: ${(err as Error).message}`], 1);
});
