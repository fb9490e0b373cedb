import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot } from '@rigtrace/protocols/testing';
import { ENV_VARS, loadCloudConfig } from '../../cloud/src/platform/config.js';
import { openStore, startCloud } from '../../cloud/src/server.js';
import { PG_ADMIN_URL } from '../../cloud/test/helpers/storage.js';

/**
 * Docker and Kubernetes do not run here, so the deployment files are checked for what matters
 * by reading them: two cloud processes sharing one witness key and one secrets key, probes on
 * /healthz (alive) and /readyz (ready), no credentials and no default passwords in the files,
 * PostgreSQL and Redis not published, every variable a real cloud setting that validates, and
 * the database initialisation script run against the machine's PostgreSQL to show the cloud
 * starts on the roles it makes.
 */
const read = (p: string) => readFileSync(path.join(repoRoot, p), 'utf8');
const cloudVars = new Set(Object.values(ENV_VARS));

/** `${NAME:?message}` (compose: required, no default) → NAME; anything else → null. */
const requiredRef = (v: string) => /^\$\{([A-Z0-9_]+):\?[^}]*\}$/.exec(v)?.[1] ?? null;

/** A plausible value for a compose variable, to validate the settings that use it. */
const sample = (name: string) =>
  name === 'RIGTRACE_SECRETS_KEY'
    ? randomBytes(32).toString('base64')
    : name === 'RIGTRACE_DOMAIN'
      ? 'rt.example.com'
      : 'a1b2c3';
const substitute = (v: string) =>
  v.replace(/\$\{([A-Z0-9_]+)(?::[?-][^}]*)?\}/g, (_m, name: string) => sample(name));

/** Settings that are credentials or keys: they must come from outside the file. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|(?<!_FILE)_KEY$/;

describe('container image', () => {
  const text = read('deploy/container/Dockerfile');
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));

  it('builds in stages on node:20-bookworm-slim and runs as an unprivileged user', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toMatch(/^FROM node:20-bookworm-slim\b/);
    expect(instructions.find((l) => l.startsWith('RUN apt-get'))).toMatch(/python3.*make.*g\+\+/);
    expect(instructions.some((l) => /^RUN npm ci\b/.test(l))).toBe(true);
    const users = instructions.filter((l) => l.startsWith('USER '));
    expect(users).toHaveLength(1);
    expect(users[0]).not.toMatch(/\b(root|0)\b/);
    // USER comes after the last RUN: nothing runs as root in the final image.
    expect(instructions.findIndex((l) => l.startsWith('USER '))).toBeGreaterThan(
      instructions.findLastIndex((l) => l.startsWith('RUN ')),
    );
  });

  it('checks /healthz and starts `rigtrace-cloud serve`', () => {
    expect(instructions.find((l) => l.startsWith('HEALTHCHECK'))).toContain('/healthz');
    expect(text).toMatch(/ENTRYPOINT \["node", "\/app\/cloud\/dist\/cli\.js"\]/);
    expect(text).toMatch(/CMD \["serve"\]/);
  });

  it('copies only files that exist, and the files the cloud reads at run time', () => {
    for (const l of instructions.filter((x) => x.startsWith('COPY ') && !x.includes('--from'))) {
      const parts = l
        .split(/\s+/)
        .slice(1)
        .filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) expect(existsSync(path.join(repoRoot, src)), src).toBe(true);
    }
    // cloud/src/access/password.ts reads its list next to the source path.
    expect(text).toContain('/src/cloud/src/access/common-passwords.txt cloud/src/access/');
    expect(existsSync(path.join(repoRoot, 'cloud/src/access/common-passwords.txt'))).toBe(true);
  });
});

describe('compose: cloud × 2 + PostgreSQL + Redis + TLS proxy', () => {
  const compose = parse(read('deploy/compose/compose.yaml'), { merge: true }) as {
    services: Record<string, any>;
    secrets: Record<string, { file?: string }>;
    networks: Record<string, { internal?: boolean }>;
  };
  const services = compose.services;
  const clouds = Object.entries(services).filter(([, s]) =>
    String(s.image ?? '').startsWith('rigtrace-cloud'),
  );

  it('runs two cloud processes from the image of deploy/container', () => {
    expect(clouds.map(([n]) => n).sort()).toEqual(['cloud-1', 'cloud-2']);
    for (const [, s] of clouds) expect(s.build.dockerfile).toBe('deploy/container/Dockerfile');
  });

  it('gives both the same database, Redis, witness key and secrets key', () => {
    const envs = clouds.map(([, s]) => s.environment as Record<string, string>);
    for (const name of [
      'DATABASE_URL',
      'DATABASE_OWNER_URL',
      'REDIS_URL',
      'RIGTRACE_WITNESS_KEY_FILE',
      'RIGTRACE_SECRETS_KEY',
    ]) {
      expect(envs[0]![name], name).toBeTruthy();
      expect(envs[1]![name], name).toBe(envs[0]![name]);
    }
    // The witness key is one file, mounted as the same secret in both.
    const secretNames = clouds.map(([, s]) => s.secrets as string[]);
    expect(secretNames[0]).toEqual(secretNames[1]);
    const keyPath = envs[0]!.RIGTRACE_WITNESS_KEY_FILE!;
    const secret = path.basename(keyPath);
    expect(keyPath).toBe(`/run/secrets/${secret}`);
    expect(secretNames[0]).toContain(secret);
    expect(compose.secrets[secret]?.file).toMatch(/witness-key\.pem$/);
    // Their data folders are their own (nothing in them is shared state).
    expect(clouds[0]![1].volumes).not.toEqual(clouds[1]![1].volumes);
  });

  it('sets only real cloud settings, and they validate', () => {
    for (const [name, s] of clouds) {
      const env = s.environment as Record<string, string>;
      for (const key of Object.keys(env))
        expect(cloudVars.has(key), `${name}: ${key} is not a cloud setting`).toBe(true);
      const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, substitute(String(v))]));
      const cfg = loadCloudConfig(resolved);
      expect(cfg.databaseUrl).toMatch(/^postgres:\/\/rigtrace_app:/);
      expect(cfg.databaseOwnerUrl).toMatch(/^postgres:\/\/rigtrace:/);
      expect(cfg.redisUrl).toMatch(/^redis:\/\//);
      expect(cfg.witnessKeyFile).toBe('/run/secrets/witness_key');
      expect(cfg.trustProxy).toBe('uniquelocal');
    }
  });

  it('probes readiness on /readyz and gates the proxy on it', () => {
    for (const [, s] of clouds) expect(s.healthcheck.test.join(' ')).toContain('/readyz');
    expect(services.proxy.depends_on['cloud-1'].condition).toBe('service_healthy');
    expect(services.proxy.depends_on['cloud-2'].condition).toBe('service_healthy');
  });

  it('has no default passwords: every credential must be given (${VAR:?…})', () => {
    const walk = (v: unknown, at: string): void => {
      if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${at}[${i}]`));
      if (v && typeof v === 'object') return Object.entries(v).forEach(([k, x]) => walk(x, `${at}.${k}`));
      if (typeof v !== 'string') return;
      // A credential inside a URL is a required variable.
      const inUrl = /^[a-z]+:\/\/[^:/@]*:([^@]*)@/.exec(v);
      if (inUrl) expect(requiredRef(inUrl[1]!), `${at}: ${v}`).not.toBeNull();
      // Every variable with a default names no secret.
      for (const m of v.matchAll(/\$\{([A-Z0-9_]+):-/g))
        expect(SECRET_NAME.test(m[1]!), `${at}: ${m[1]}`).toBe(false);
    };
    walk(compose, 'compose');
    for (const [name, s] of Object.entries(services)) {
      for (const [k, v] of Object.entries((s.environment ?? {}) as Record<string, string>))
        if (SECRET_NAME.test(k)) expect(requiredRef(String(v)), `${name}.${k}`).not.toBeNull();
    }
    // Redis asks for a password, and it is required too.
    expect(requiredRef(services.redis.command[services.redis.command.indexOf('--requirepass') + 1])).toBe(
      'REDIS_PASSWORD',
    );
    // The example env file leaves every secret empty.
    for (const line of read('deploy/compose/env.example').split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m && SECRET_NAME.test(m[1]!)) expect(m[2], m[1]).toBe('');
    }
  });

  it('publishes only the proxy; PostgreSQL and Redis stay on a network with no route out', () => {
    const published = Object.entries(services)
      .filter(([, s]) => s.ports !== undefined)
      .map(([n]) => n);
    expect(published).toEqual(['proxy']);
    expect(services.proxy.ports.sort()).toEqual(['443:443', '80:80']);
    for (const n of ['db', 'redis']) {
      expect(services[n].networks).toEqual(['backend']);
      expect(services[n].ports).toBeUndefined();
    }
    expect(compose.networks.backend?.internal).toBe(true);
  });

  it('balances both processes with sticky sessions and keeps the ops endpoints inside', () => {
    const caddy = read('deploy/compose/Caddyfile');
    expect(caddy).toMatch(/reverse_proxy cloud-1:8080 cloud-2:8080/);
    expect(caddy).toMatch(/lb_policy cookie/);
    expect(caddy).toMatch(/@ops path \/metrics \/healthz \/readyz\s+respond @ops 404/);
  });

  it('creates database roles the cloud accepts (the hardened two-role set-up)', async () => {
    const id = randomBytes(4).toString('hex');
    const names = { db: `rt_deploy_${id}`, owner: `rt_deploy_${id}_owner`, app: `rt_deploy_${id}_app` };
    const admin = new URL(PG_ADMIN_URL);
    const r = spawnSync('sh', [path.join(repoRoot, 'deploy/compose/postgres-init/10-rigtrace.sh')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PGHOST: admin.hostname,
        PGPORT: admin.port || '5432',
        POSTGRES_USER: decodeURIComponent(admin.username),
        RIGTRACE_DB_NAME: names.db,
        RIGTRACE_DB_OWNER: names.owner,
        RIGTRACE_DB_APP_ROLE: names.app,
        RIGTRACE_OWNER_DB_PASSWORD: 'o-pw',
        RIGTRACE_APP_DB_PASSWORD: 'a-pw',
      },
    });
    const url = (role: string) => {
      const u = new URL(PG_ADMIN_URL);
      u.username = role;
      u.password = role === names.owner ? 'o-pw' : 'a-pw';
      u.pathname = `/${names.db}`;
      return u.toString();
    };
    try {
      expect(r.status, r.stderr).toBe(0);
      const store = await openStore(
        loadCloudConfig({
          DATABASE_URL: url(names.app),
          DATABASE_OWNER_URL: url(names.owner),
          RIGTRACE_DB_APP_ROLE: names.app,
        }),
      );
      try {
        await store.tenancy.createTenant('acme', 'Acme');
        expect(await store.tenancy.tenantExists('acme')).toBe(true);
      } finally {
        await store.db.close();
      }
      // The tables belong to the owner; the app role owns nothing.
      const c = new pg.Client({ connectionString: url(names.owner) });
      await c.connect();
      try {
        const owners = await c.query<{ tableowner: string }>(
          "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
        );
        expect(owners.rows.map((o) => o.tableowner)).toEqual([names.owner]);
      } finally {
        await c.end();
      }
    } finally {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${names.db} WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS ${names.app}`);
      await c.query(`DROP ROLE IF EXISTS ${names.owner}`);
      await c.end();
    }
  }, 60_000);
});

describe('Kubernetes sample', () => {
  const docs = parseAllDocuments(read('deploy/k8s/rigtrace-cloud.yaml')).map((d): any => d.toJS());
  const byKind = (k: string) => docs.filter((d) => d.kind === k);
  const deployment = byKind('Deployment')[0];
  const pod = deployment?.spec.template.spec;
  const container = pod?.containers[0];
  const env = new Map<string, any>((container?.env ?? []).map((e: any) => [e.name, e]));

  it('runs two replicas of the cloud image, unprivileged', () => {
    expect(byKind('Deployment')).toHaveLength(1);
    expect(deployment.spec.replicas).toBe(2);
    expect(container.args).toEqual(['serve']);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).not.toBe(0);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('takes the database, Redis and keys from Secrets, and every replica the same witness key', () => {
    for (const name of ['DATABASE_URL', 'DATABASE_OWNER_URL', 'REDIS_URL', 'RIGTRACE_SECRETS_KEY'])
      expect(env.get(name)?.valueFrom?.secretKeyRef?.name, name).toBeTruthy();
    const keyFile = env.get('RIGTRACE_WITNESS_KEY_FILE')?.value as string;
    const mount = container.volumeMounts.find((m: any) => keyFile.startsWith(`${m.mountPath}/`));
    expect(mount, 'the witness key file lies in a mounted volume').toBeDefined();
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    expect(volume.secret.secretName).toBeTruthy();
    expect(volume.secret.items.map((i: any) => i.path)).toContain(path.basename(keyFile));
    // One Deployment, one Secret: all replicas read the same key. The group (fsGroup) may read it.
    expect(volume.secret.defaultMode).toBe(0o440);
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
  });

  it('sets only real cloud settings, and none carries a credential in the file', () => {
    for (const [name, e] of env) {
      expect(cloudVars.has(name), `${name} is not a cloud setting`).toBe(true);
      if (e.value !== undefined) {
        expect(SECRET_NAME.test(name), `${name} must come from a Secret`).toBe(false);
        expect(String(e.value)).not.toMatch(/:\/\/[^/@]*:[^@]*@/);
      }
    }
    const plain = Object.fromEntries(
      [...env].filter(([, e]) => e.value !== undefined).map(([n, e]) => [n, String(e.value)]),
    );
    expect(loadCloudConfig(plain).trustProxy).toBe('uniquelocal');
    expect(byKind('Secret'), 'no Secret with data in the repository').toEqual([]);
  });

  it('probes readiness on /readyz and liveness on /healthz', () => {
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
  });

  it('exposes the pods through a Service and a TLS Ingress with sticky sessions', () => {
    const svc = byKind('Service')[0];
    expect(svc.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(container.ports.map((p: any) => p.name)).toContain(svc.spec.ports[0].targetPort);
    const ing = byKind('Ingress')[0];
    expect(ing.spec.tls[0].hosts).toEqual([ing.spec.rules[0].host]);
    expect(ing.spec.tls[0].secretName).toBeTruthy();
    expect(ing.spec.rules[0].http.paths[0].backend.service.name).toBe(svc.metadata.name);
    expect(ing.metadata.annotations['nginx.ingress.kubernetes.io/affinity']).toBe('cookie');
    expect(byKind('PodDisruptionBudget')[0].spec.minAvailable).toBe(1);
  });
});

describe('systemd units', () => {
  const edgeUsage = spawnSync(
    process.execPath,
    ['--conditions=rigtrace-source', '--import', 'tsx', 'edge/src/cli.ts', 'help'],
    { cwd: repoRoot, encoding: 'utf8' },
  ).stdout;
  const cloudUsage = spawnSync(
    process.execPath,
    ['--conditions=rigtrace-source', '--import', 'tsx', 'cloud/src/cli.ts', 'help'],
    { cwd: repoRoot, encoding: 'utf8' },
  ).stdout;

  it('start commands the CLIs have, with their real flags', () => {
    const edge = read('deploy/systemd/rigtrace-edge.service');
    expect(edge).toContain('/opt/rigtrace/edge/dist/cli.js run --config /etc/rigtrace/edge.yaml');
    expect(edge).toContain('/opt/rigtrace/edge/dist/cli.js check-config /etc/rigtrace/edge.yaml');
    expect(edgeUsage).toMatch(/run --config FILE/);
    expect(edgeUsage).toMatch(/check-config FILE/);
    const cloud = read('deploy/systemd/rigtrace-cloud.service');
    expect(cloud).toContain('/opt/rigtrace/cloud/dist/cli.js serve');
    expect(cloudUsage).toMatch(/\bserve\b/);
    // The variables the cloud unit names are real settings.
    for (const m of cloud.matchAll(/\b(RIGTRACE_[A-Z_]+|DATABASE_[A-Z_]+|REDIS_URL)\b/g))
      expect(cloudVars.has(m[1]!), m[1]).toBe(true);
  });

  it('pass systemd-analyze verify with nothing to say, also with the drop-ins INSTALL-PLANT.md has the reader add', () => {
    // No systemd runs here (it is not PID 1), so `systemctl edit`, `daemon-reload` and starting
    // the units are not tried; systemd's own parser checks the files. It checks that the start
    // command exists: node where this machine has it, when that is not /usr/bin/node.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-units-'));
    try {
      const units = ['rigtrace-edge.service', 'rigtrace-cloud.service'].map((name) => {
        const file = path.join(dir, name);
        const text = read(`deploy/systemd/${name}`);
        writeFileSync(
          file,
          existsSync('/usr/bin/node') ? text : text.replaceAll('/usr/bin/node ', `${process.execPath} `),
        );
        return file;
      });
      // `sudo systemctl edit rigtrace-edge` with the lines the guide shows, and the private CA's
      // Environment= line it says goes into the same drop-in.
      const guide = read('docs/INSTALL-PLANT.md');
      const edit = /^sudo systemctl edit rigtrace-edge\n((?:# {3}.*\n)+)/m.exec(guide);
      expect(edit, 'the drop-in of `systemctl edit` in INSTALL-PLANT.md').not.toBeNull();
      const ca = /same drop-in \(`(Environment=NODE_EXTRA_CA_CERTS=[^`]+)`\)/.exec(guide);
      expect(ca, 'the NODE_EXTRA_CA_CERTS line in INSTALL-PLANT.md').not.toBeNull();
      const dropIn = `${edit![1]!.replace(/^# {3}/gm, '')}${ca![1]}\n`;
      expect(dropIn).toBe(
        '[Service]\nEnvironmentFile=/etc/rigtrace/edge.env\nEnvironment=NODE_EXTRA_CA_CERTS=/etc/rigtrace/cloud-ca.pem\n',
      );
      mkdirSync(path.join(dir, 'rigtrace-edge.service.d'));
      writeFileSync(path.join(dir, 'rigtrace-edge.service.d/override.conf'), dropIn);
      const verify = (file: string) => spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      for (const file of units) {
        const r = verify(file);
        expect(r.error, 'systemd-analyze (Debian package systemd, which .ci/run installs)').toBeUndefined();
        expect({ status: r.status, said: `${r.stdout}${r.stderr}` }, file).toEqual({ status: 0, said: '' });
      }
      // It does read the drop-in: a misspelt key there is named.
      writeFileSync(
        path.join(dir, 'rigtrace-edge.service.d/override.conf'),
        dropIn.replace('EnvironmentFile', 'EnviromentFile'),
      );
      expect(verify(units[0]!).stderr).toContain("Unknown key 'EnviromentFile'");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('RIGTRACE_TRUST_PROXY, which the manifests set for their proxies', () => {
  /** Status of 31 sign-in requests (the limit is 30 per address per minute), each with its own X-Forwarded-For. */
  async function lastOf31(trustProxy?: string): Promise<number> {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rt-trust-'));
    const cloud = await startCloud(
      loadCloudConfig({}, { dataDir, port: '0', ...(trustProxy ? { trustProxy } : {}) }),
      pino({ level: 'silent' }),
    );
    try {
      let status = 0;
      for (let i = 0; i < 31; i++) {
        const res = await fetch(`${cloud.url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': `203.0.113.${i + 1}` },
          body: '{}',
        });
        status = res.status;
        await res.body?.cancel();
      }
      return status;
    } finally {
      await cloud.close();
    }
  }

  it('takes the client address from a trusted proxy, and ignores the header from anyone else', async () => {
    // Default (loopback): this test's requests come from a trusted proxy, 31 different clients.
    expect(await lastOf31()).toBe(400);
    // Loopback not trusted: the header is ignored, all 31 come from one address.
    expect(await lastOf31('10.0.0.0/8')).toBe(429);
  }, 60_000);
});
