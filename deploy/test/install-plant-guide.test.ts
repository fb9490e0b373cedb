import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, repoRoot, runCli, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import {
  asUid,
  guideCommands,
  marker,
  outputOf,
  readUnit,
  securityOf,
  npmSettings,
  runScript,
  snapshotRepository,
  startUnitLines,
  stopScript,
  verifyUnit,
  type Command,
  type ScriptRun,
} from './helpers/guide.js';

// `npm ci` (sqlite3 and argon2 compiled from source), making the linux-x64 bundle (~40 s),
// installing it twice, a cloud and the agent: several minutes on a loaded machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 1_200_000 });

/**
 * docs/INSTALL-PLANT.md followed as written on this machine. The commands of its ```sh blocks run
 * in one bash script (two, split where the service is first started: the second one starts from
 * the unit the first installed), with only these mechanical changes:
 *
 * - The paths /etc/rigtrace, /etc/systemd/system, /var/lib/rigtrace-edge, /opt/rigtrace-edge and
 *   /usr/local/bin are folders under one temp folder T. `sudo ./install.sh` is
 *   `./install.sh --prefix … --bin-dir … --unit-dir … --user NAME` with the state and config
 *   folders under T (two variables of the script).
 * - Three users: root (`sudo CMD` is CMD as root); the person at the line PC, a normal user
 *   (uid 65533), who runs the commands without sudo and owns the folder the bundle is carried to;
 *   the service user NAME, a name unique to the run instead of `rigtrace`, which install.sh
 *   makes with its own `useradd` (run for real; `userdel` afterwards): `sudo -u rigtrace CMD` is
 *   CMD as NAME with no other groups and sudo's clean environment, `root:rigtrace` is
 *   `root:NAME`. So a missing chown or mode in the guide fails here.
 * - The bundle is made as section 2.1 says, by the person (as a normal user) in their home: the
 *   repository they clone (https://git.example.com/rigtrace.git) is T/git/rigtrace.git, this
 *   checkout's files as they are (tracked and new, not ignored) in one commit; `npm ci` runs as
 *   written, with their own npm cache seeded with a copy of this machine's and this machine's
 *   `nodedir` (npmSettings: node-gyp compiles sqlite3 and argon2 against the installed Node.js
 *   headers instead of downloading them); `npm run bundle:edge` is for linux-x64 only
 *   (`-- --platform linux-x64`). The bundle is "carried over" by copying it into another folder
 *   of the person's; section 8's new release is the same one (and going back puts the same one in
 *   place again).
 * - `sudo editor /etc/rigtrace/edge.yaml` writes section 3's YAML with the test's cloud, rig and
 *   ports, the rig's points from deploy/demo/edge.yaml.template; the station's hash is pasted
 *   from `rigtrace-edge hash-password`'s output.
 * - The cloud (https://rigtrace.example.com) is one started here with its demo tenant; 'TOKEN' is
 *   its enrollment token. Port 8099 is a free port, and so is the stations' port 1884.
 * - `sudo systemctl edit rigtrace-edge` saves the drop-in the guide shows as
 *   rigtrace-edge.service.d/override.conf beside the unit.
 * - `systemctl enable --now` / `start` do what systemd would with the installed unit and its
 *   drop-in (startUnitLines): its StateDirectory made, its ExecStartPre and ExecStart lines run as
 *   its User= and Group= in /, with its UMask= and only the environment systemd gives a service
 *   (with its Environment= and EnvironmentFile=), in the background; then wait for the agent's
 *   first acknowledged batch. `stop` sends SIGTERM and waits. `systemd-analyze verify` and
 *   `security` check the unit files themselves (systemd is not running here).
 * - Skipped, as listed in SKIPPED below. A command in the guide that is in none of the lists
 *   fails the test until it is classified here.
 */

const GUIDE = path.join(repoRoot, 'docs/INSTALL-PLANT.md');
const VERSION = (
  JSON.parse(readFileSync(path.join(repoRoot, 'edge/package.json'), 'utf8')) as { version: string }
).version;
const PLATFORM = `${process.platform}-${process.arch}`;
const BUNDLE = `rigtrace-edge-${VERSION}-${PLATFORM}`;
/** The person at the line PC, and the service user install.sh makes (named for this run). */
const ADMIN = 65533;
const NAME = `rtplant${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const SERVICE = { user: NAME, group: NAME };
/** The service user's uid and gid, once install.sh made it. */
const serviceIds = () => {
  const [uid, gid] = ['-u', '-g'].map((f) => Number(spawnSync('id', [f, NAME], { encoding: 'utf8' }).stdout));
  return { uid: uid!, gid: gid! };
};

/** Commands of the guide not run here, exactly as written (without a trailing comment). */
const SKIPPED = new Map<string, string>([
  [
    'sudo tar -xJf node-v20.19.5-linux-x64.tar.xz -C /usr/local --strip-components=1',
    "this machine's Node.js",
  ],
  [
    'sudo apt-get install g++-aarch64-linux-gnu',
    'only linux-x64 is made here (edge-bundle.test.ts cross-builds)',
  ],
  ['sudo systemctl daemon-reload', 'no systemd'],
  // Section 5's firewall: install-plant-firewall.test.ts runs it in a network namespace of its own.
  ['sudo apt-get install nftables', 'install-plant-firewall.test.ts'],
  ['sudo install -d /etc/nftables.d', 'install-plant-firewall.test.ts'],
  ["sudo tee /etc/nftables.d/rigtrace-edge.nft > /dev/null <<'EOF'", 'install-plant-firewall.test.ts'],
  ['sudo nft -f /etc/nftables.d/rigtrace-edge.nft', 'install-plant-firewall.test.ts'],
  [
    `echo 'include "/etc/nftables.d/*.nft"' | sudo tee -a /etc/nftables.conf`,
    'install-plant-firewall.test.ts',
  ],
  ['sudo systemctl enable nftables', 'install-plant-firewall.test.ts'],
  ['systemctl status rigtrace-edge', 'no systemd: the test checks the process'],
  ['journalctl -u rigtrace-edge -f', 'the test reads the service log'],
]);
/** Commands run as written by the person at the line PC (no sudo). */
const AS_ADMIN = [
  /^node -v$/,
  /^sha256sum -c rigtrace-edge-[\d.]+-linux-x64\.tar\.gz\.sha256$/,
  /^tar -xzf rigtrace-edge-[\d.]+-linux-x64\.tar\.gz$/,
  /^rigtrace-edge --help$/,
  /^curl -s http:\/\/127\.0\.0\.1:8099\/(status|metrics)$/,
];
/** Commands run as written as root (`sudo CMD`) or as the service user (`sudo -u rigtrace CMD`). */
const RUN = [
  /^cd rigtrace-edge-[\d.]+-linux-x64$/,
  /^sudo cp \/opt\/rigtrace-edge\/share\/edge\.yaml\.example \/etc\/rigtrace\/edge\.yaml$/,
  /^sudo chown root:rigtrace \/etc\/rigtrace\/edge\.yaml && sudo chmod 0640 \/etc\/rigtrace\/edge\.yaml$/,
  /^sudo install -m 0600 \/dev\/null \/etc\/rigtrace\/edge\.env$/,
  /^sudo -u rigtrace rigtrace-edge (enroll|check-config|status) /,
  /^sudo rm -rf \/opt\/rigtrace-edge && sudo mv \/opt\/rigtrace-edge\.previous \/opt\/rigtrace-edge$/,
];

describe('docs/INSTALL-PLANT.md followed as written (the bundle, install.sh, the config, enrollment, the unit, "Is it working?")', () => {
  const T = mkdtempSync(path.join(os.tmpdir(), 'rt-install-plant-'));
  const home = path.join(T, 'home/admin');
  const serviceLog = path.join(T, 'service.log');
  const procs: Proc[] = [];
  let statusPort = 0;
  let cloudUrl = '';
  let tokens: { apiToken: string; enrollmentToken: string; tenant: string; site: string };
  const runs: ScriptRun[] = [];
  let output!: (prefix: string) => string;

  const rewrite = (s: string) =>
    s
      .replace(
        /(?<![\w./-])(\/etc\/rigtrace|\/etc\/systemd\/system|\/var\/lib\/rigtrace-edge|\/opt\/rigtrace-edge|\/usr\/local\/bin)(?![\w-])/g,
        `${T}$1`,
      )
      .replaceAll('https://rigtrace.example.com', cloudUrl)
      .replaceAll("'TOKEN'", `'${tokens.enrollmentToken}'`)
      .replaceAll('8099', String(statusPort))
      .replaceAll('root:rigtrace', `root:${SERVICE.group}`)
      .replace(
        /^sudo -u rigtrace /,
        `setpriv --reuid=${NAME} --regid=${NAME} --clear-groups env -i PATH="$PATH" HOME=${T}/var/lib/rigtrace-edge `,
      )
      .replace(/(^|&& )sudo /g, '$1');
  const asAdmin = `${asUid(ADMIN, ADMIN)} env -i PATH="$PATH" HOME=${home}`;
  /** Where `npm run bundle:edge` writes in the person's clone. */
  const built = `${home}/rigtrace/dist/bundles`;
  /**
   * The person's npm: their own cache (~/.npm, seeded with a copy of this machine's, as on a build
   * machine that has run npm before) and this machine's nodedir.
   */
  const npmAsAdmin = Object.entries(npmSettings())
    .filter(([k]) => k !== 'npm_config_cache')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

  /** The bundle and its checksum file copied to a folder of the person's, and `cd` there. */
  const carry = (to: string) => [
    `install -d -o ${ADMIN} -g ${ADMIN} ${to}`,
    `install -o ${ADMIN} -g ${ADMIN} -m 0644 ${built}/${BUNDLE}.tar.gz ${built}/${BUNDLE}.tar.gz.sha256 ${to}/`,
    `cd ${to}`,
  ];
  const install = () =>
    [
      `RIGTRACE_EDGE_INSTALL_DATA_DIR=${T}/var/lib/rigtrace-edge`,
      `RIGTRACE_EDGE_INSTALL_CONFIG_DIR=${T}/etc/rigtrace`,
      './install.sh',
      `--prefix ${T}/opt/rigtrace-edge`,
      `--bin-dir ${T}/usr/local/bin`,
      `--unit-dir ${T}/etc/systemd/system`,
      `--user ${SERVICE.user}`,
    ].join(' ');

  /** Section 3's YAML as the person edits it for this plant. */
  function editedConfig(): string {
    const text = readFileSync(GUIDE, 'utf8');
    const yaml = /What a plant install changes:\n\n```yaml\n([\s\S]*?)```/.exec(text)?.[1];
    expect(yaml, "section 3's YAML").toBeDefined();
    const template = readFileSync(path.join(repoRoot, 'deploy/demo/edge.yaml.template'), 'utf8');
    const rig = /\n {4}unitId: [\s\S]*?(?=\n {2}- id: flow-rig-02)/.exec(template)?.[0];
    expect(rig, "the template's first rig").toBeDefined();
    return rewrite(yaml!)
      .replace(
        /host: 10\.20\.0\.31\n( +)port: 502/,
        (_m, indent: string) => `host: 127.0.0.1\n${indent}port: ${rigPort}`,
      )
      .replace(/\n +# … points, telemetry, records, usage as in the template/, rig!)
      .replace(/port: 1884/, `port: ${brokerPort}`);
  }
  let rigPort = 0;
  let brokerPort = 0;

  /** `systemctl start`: the installed unit's lines (and its drop-in's), as systemd would run them. */
  function startService(): string[] {
    const unit = readUnit(path.join(T, 'etc/systemd/system/rigtrace-edge.service'));
    expect([unit.user, unit.group]).toEqual([SERVICE.user, SERVICE.group]);
    return [
      ...startUnitLines(unit, {
        user: unit.user!,
        group: unit.group!,
        stateRoot: path.join(T, 'var/lib'),
        rewrite,
        log: serviceLog,
        pidFile: `${T}/service.pid`,
      }),
      // Running, and the first batch acknowledged by the cloud.
      `for _ in $(seq 1 900); do curl -sf http://127.0.0.1:${statusPort}/status | grep -q '"lastAckAt": *"' && break; kill -0 $(cat ${T}/service.pid) || { echo "the service exited"; tail -n 30 ${serviceLog}; exit 1; }; sleep 0.2; done`,
      `curl -sf http://127.0.0.1:${statusPort}/status | grep -q '"lastAckAt": *"' || { echo "no batch acknowledged"; tail -n 30 ${serviceLog}; exit 1; }`,
    ];
  }
  const stopService = () => [
    `kill $(cat ${T}/service.pid)`,
    `while kill -0 $(cat ${T}/service.pid) 2> /dev/null; do sleep 0.2; done`,
  ];

  /** The script lines of one command; undefined when the test does not know it. */
  function translate(c: Command, dry = false): string[] | undefined {
    if (c.first === 'git clone https://git.example.com/rigtrace.git && cd rigtrace')
      return [`cd ${home}`, `${asAdmin} git clone ${T}/git/rigtrace.git && cd rigtrace`];
    if (c.first === 'npm ci') return [`${asAdmin} ${npmAsAdmin} npm ci`];
    if (c.first === 'npm run bundle:edge')
      return [`${asAdmin} ${npmAsAdmin} npm run bundle:edge -- --platform ${PLATFORM}`];
    if (c.first === 'sudo systemctl edit rigtrace-edge') {
      // The drop-in the guide shows, saved from the editor where systemctl edit saves it.
      const lines = /sudo systemctl edit rigtrace-edge\n((?:# {3}.*\n)+)/
        .exec(readFileSync(GUIDE, 'utf8'))?.[1]
        ?.split('\n')
        .filter(Boolean)
        .map((l) => l.slice('#   '.length));
      expect(lines, "the drop-in's lines").toBeDefined();
      const dir = `${T}/etc/systemd/system/rigtrace-edge.service.d`;
      return [
        `mkdir -p ${dir}`,
        `printf '%s\\n' ${lines!.map((l) => `'${l}'`).join(' ')} > ${dir}/override.conf`,
      ];
    }
    if (c.first === `sha256sum -c ${BUNDLE}.tar.gz.sha256`)
      return [...carry(`${home}/usb`), `${asAdmin} ${c.text}`];
    if (c.first === 'sudo ./install.sh') return [install()];
    if (c.first === 'sudo editor /etc/rigtrace/edge.yaml')
      return [`cat ${T}/edge.yaml.edited > ${T}/etc/rigtrace/edge.yaml`];
    if (c.first === 'rigtrace-edge hash-password')
      return [
        `${asAdmin} rigtrace-edge hash-password < ${T}/station-password | tee ${T}/station-hash`,
        // Pasted into the file (as root, with the editor).
        `sed -i "s|passwordHash: .*|passwordHash: $(cat ${T}/station-hash)|" ${T}/etc/rigtrace/edge.yaml`,
      ];
    if (
      c.first === 'sudo systemctl enable --now rigtrace-edge' ||
      c.first === 'sudo systemctl start rigtrace-edge'
    )
      return dry ? [] : startService();
    if (c.first === 'sudo systemctl stop rigtrace-edge') return stopService();
    const upgrade =
      /^tar -xzf rigtrace-edge-([\d.]+)-linux-x64\.tar\.gz && cd rigtrace-edge-\1-linux-x64$/.exec(c.first);
    if (upgrade)
      return [
        ...carry(`${home}/usb-upgrade`),
        `${asAdmin} sha256sum -c ${BUNDLE}.tar.gz.sha256`,
        `${asAdmin} tar -xzf ${BUNDLE}.tar.gz && cd ${BUNDLE}`,
      ];
    if (SKIPPED.has(c.first)) return [];
    if (AS_ADMIN.some((re) => re.test(c.first))) return [`${asAdmin} ${rewrite(c.text)}`];
    if (RUN.some((re) => re.test(c.first))) return [rewrite(c.text)];
    return undefined;
  }

  beforeAll(async () => {
    chmodSync(T, 0o755);
    for (const d of ['etc/systemd/system', 'var/lib', 'opt', 'usr/local/bin', 'home'])
      mkdirSync(path.join(T, d), { recursive: true, mode: 0o755 });
    mkdirSync(home, { mode: 0o755 });
    chmodSync(home, 0o755);
    chownSync(home, ADMIN, ADMIN);
    // The repository the person clones, theirs to read; their npm cache, a copy of this machine's.
    snapshotRepository(path.join(T, 'git/rigtrace.git'));
    const seeded = spawnSync(
      'bash',
      [
        '-c',
        'mkdir -p "$2/.npm" && cp -a "$1/." "$2/.npm/" && chown -R "$3:$3" "$2/.npm" "$4"',
        'seed',
        npmSettings().npm_config_cache!,
        home,
        String(ADMIN),
        path.join(T, 'git/rigtrace.git'),
      ],
      { encoding: 'utf8' },
    );
    expect(seeded.status, seeded.stderr).toBe(0);
    [statusPort, brokerPort] = [await freePort(), await freePort()];
    writeFileSync(path.join(T, 'station-password'), 'station-01-password-long\n', { mode: 0o644 });

    const [rig, cloud] = await Promise.all([
      startProcess(
        'firmware-sim/src/cli.ts',
        ['flow-rig', '--port', '0', '--asset', 'RIG-01', '--test-seconds', '1', '--idle-seconds', '0.2'],
        (l) => l.includes('"event":"listening"'),
      ),
      startProcess(
        'cloud/src/cli.ts',
        ['serve', '--port', '0', '--data-dir', path.join(T, 'cloud')],
        (l) => l.includes('"event":"listening"'),
        60_000,
      ),
    ]);
    procs.push(rig, cloud);
    rigPort = (JSON.parse(rig.readyLine) as { port: number }).port;
    cloudUrl = `http://127.0.0.1:${(JSON.parse(cloud.readyLine) as { port: number }).port}`;
    const seed = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', path.join(T, 'cloud')]);
    expect(seed.status, seed.stderr).toBe(0);
    tokens = JSON.parse(seed.stdout) as typeof tokens;
    writeFileSync(path.join(T, 'edge.yaml.edited'), editedConfig());

    const commands = guideCommands(GUIDE);
    const unclassified = commands.filter((c) => translate(c, true) === undefined);
    expect(
      unclassified.map((c) => c.first),
      'commands in the guide this test does not know: classify them',
    ).toEqual([]);
    const start = commands.findIndex((c) => c.first === 'sudo systemctl enable --now rigtrace-edge');
    expect(start).toBeGreaterThan(0);
    const env = {
      PATH: `${T}/usr/local/bin:/usr/bin:/bin`,
      HOME: T,
      npm_config_update_notifier: 'false',
      TMPDIR: os.tmpdir(),
    };
    const first = [
      ...commands.slice(0, start).flatMap((c) => [marker(c), ...translate(c)!]),
      `pwd > ${T}/cwd`,
    ];
    runs.push(await runScript(T, first, env));
    if (runs[0]!.code === 0)
      runs.push(
        await runScript(
          T,
          [`cd "$(cat ${T}/cwd)"`, ...commands.slice(start).flatMap((c) => [marker(c), ...translate(c)!])],
          env,
        ),
      );
    output = (prefix) =>
      outputOf(
        runs.find((r) => [...r.outputs.keys()].some((k) => k.startsWith(prefix)))!,
        prefix,
      );
  });

  afterAll(async () => {
    for (const r of runs) stopScript(r);
    for (const p of procs.reverse()) await p.stop();
    spawnSync('userdel', [NAME]);
    spawnSync('groupdel', [NAME]);
    rmSync(T, { recursive: true, force: true });
  });

  const log = () => (existsSync(serviceLog) ? readFileSync(serviceLog, 'utf8') : '');
  const api = async (p: string): Promise<any> => {
    const res = await fetch(`${cloudUrl}/api/v1${p}`, {
      headers: { authorization: `Bearer ${tokens.apiToken}` },
    });
    expect(res.status, p).toBe(200);
    return res.json();
  };

  it('runs to the end', () => {
    for (const r of runs) expect(r.code, `${r.stdout}\n${r.stderr}\n${log()}`).toBe(0);
    expect(runs).toHaveLength(2);
  });

  it('prints what the guide says: node, the bundle, its checksum, the install, --help, the hash, check-config, enroll', () => {
    const [major, minor] = output('node -v').trim().slice(1).split('.').map(Number);
    expect(major! > 20 || (major === 20 && minor! >= 19), output('node -v')).toBe(true);
    expect(output('npm run bundle:edge')).toContain(
      `{"event":"bundled","archive":"${built}/${BUNDLE}.tar.gz"`,
    );
    expect(output('sha256sum -c')).toBe(`${BUNDLE}.tar.gz: OK\n`);
    expect(output('sudo ./install.sh')).toContain(
      `rigtrace-edge ${VERSION} installed in ${T}/opt/rigtrace-edge`,
    );
    expect(output('sudo ./install.sh')).toContain('not started');
    expect(output('rigtrace-edge --help')).toMatch(/^usage: rigtrace-edge <command>/);
    expect(output('rigtrace-edge hash-password')).toMatch(/^\$argon2id\$/);
    expect(output('sudo -u rigtrace rigtrace-edge check-config')).toBe(
      `${T}/etc/rigtrace/edge.yaml: valid (2 sources)\n`,
    );
    expect(output('sudo -u rigtrace rigtrace-edge enroll')).toMatch(
      new RegExp(`^enrolled as edge \\S+ \\(tenant ${tokens.tenant}, site ${tokens.site}\\)\\n$`),
    );
  });

  it('leaves the files owned and moded as the guide says', () => {
    // install.sh's useradd: a system account with its own group, no shell, the state folder as home.
    const passwd = spawnSync('getent', ['passwd', NAME], { encoding: 'utf8' }).stdout.trim().split(':');
    expect(passwd[0]).toBe(NAME);
    expect(Number(passwd[2])).toBeLessThan(1000);
    expect(passwd.slice(5)).toEqual([path.join(T, 'var/lib/rigtrace-edge'), '/usr/sbin/nologin']);
    expect(spawnSync('getent', ['group', NAME], { encoding: 'utf8' }).stdout.split(':')[2]).toBe(passwd[3]);
    const SERVICE = serviceIds();
    const mode = (f: string) => {
      const st = statSync(path.join(T, f));
      return { mode: (st.mode & 0o777).toString(8), uid: st.uid, gid: st.gid };
    };
    expect(mode('etc/rigtrace')).toEqual({ mode: '755', uid: 0, gid: 0 });
    expect(mode('etc/rigtrace/edge.yaml')).toEqual({ mode: '640', uid: 0, gid: SERVICE.gid });
    expect(mode('etc/rigtrace/edge.env')).toEqual({ mode: '600', uid: 0, gid: 0 });
    expect(mode('var/lib/rigtrace-edge')).toEqual({ mode: '700', uid: SERVICE.uid, gid: SERVICE.gid });
    expect(mode('var/lib/rigtrace-edge/edge-key.pem')).toEqual({
      mode: '600',
      uid: SERVICE.uid,
      gid: SERVICE.gid,
    });
    // The upgrade kept the earlier install beside the new one, and going back put it in place.
    expect(output('sudo rm -rf /opt/rigtrace-edge && sudo mv /opt/rigtrace-edge.previous')).toBe('');
    expect(existsSync(path.join(T, 'opt/rigtrace-edge.previous'))).toBe(false);
    expect(existsSync(path.join(T, 'opt/rigtrace-edge/edge/dist/cli.js'))).toBe(true);
  });

  it('installs a unit (and the drop-in of section 3) that systemd-analyze accepts, whose commands, user, folders and files the guide made; the agent runs as that user in /', () => {
    const installed = path.join(T, 'etc/systemd/system/rigtrace-edge.service');
    // Every directive known to this systemd (a misspelt one is only a warning there), each
    // program executable (deploy.test.ts checks the units as shipped).
    expect(verifyUnit(installed)).toEqual({ status: 0, output: '' });
    // "systemd-analyze security rigtrace-edge rates it": at most 2.0 of 10 ("OK").
    const security = securityOf(installed);
    expect(security.status, security.stdout + security.stderr).toBe(0);
    expect(security.stdout).toMatch(/Overall exposure level for rigtrace-edge\.service: [01]\.\d OK/);
    const unit = readUnit(installed);
    expect(unit.environmentFiles).toEqual(['/etc/rigtrace/edge.env']);
    const files = [unit.execStart, ...unit.execStartPre]
      .flatMap((l) => l.split(/\s+/))
      .filter((a) => a.startsWith('/'));
    expect(files).toContain(`${T}/opt/rigtrace-edge/edge/dist/cli.js`);
    expect(files).toContain('/etc/rigtrace/edge.yaml');
    for (const f of [...files, ...unit.environmentFiles]) expect(existsSync(rewrite(f)), f).toBe(true);
    for (const p of unit.readWritePaths) expect(statSync(rewrite(p)).isDirectory(), p).toBe(true);
    expect(unit.workingDirectory).toBeUndefined();
    const pid = readFileSync(path.join(T, 'service.pid'), 'utf8').trim();
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe('/');
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain(
      `HOME=${T}/var/lib/rigtrace-edge`,
    );
  });

  it("runs the service as its user; the rig's records arrive in the cloud, before and after the upgrade", async () => {
    const SERVICE = serviceIds();
    const pid = readFileSync(path.join(T, 'service.pid'), 'utf8').trim();
    const ids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    expect(ids?.slice(1).map(Number)).toEqual([SERVICE.uid, SERVICE.uid, SERVICE.uid, SERVICE.uid]);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain(
      `${T}/opt/rigtrace-edge/edge/dist/cli.js\0run`,
    );
    const edgeId = /^enrolled as edge (\S+)/.exec(output('sudo -u rigtrace rigtrace-edge enroll'))![1]!;
    const before = ((await api(`/records?edge=${edgeId}&limit=1000`)).items as unknown[]).length;
    const records = await waitFor(
      async () => {
        const page = await api(`/records?edge=${edgeId}&limit=1000`);
        const kinds = new Set(page.items.map((i: any) => i.record.kind));
        return page.items.length > before && kinds.has('inspection') && kinds.has('telemetry')
          ? page.items
          : undefined;
      },
      60_000,
      "the rig's inspection and telemetry records in the cloud",
    );
    expect(records.map((r: any) => r.seq)).toEqual(records.map((_: unknown, i: number) => i + 1));
    expect(records.find((r: any) => r.record.kind === 'inspection').record.equipment).toBe('RIG-01');
    expect(log()).not.toMatch(/EACCES|permission denied/i);
  });

  it('"Is it working?": status and /status say healthy as the guide\'s table reads, /metrics has what it says to alert on', () => {
    const status = JSON.parse(output('curl -s http://127.0.0.1:8099/status'));
    const viaCli = JSON.parse(output('sudo -u rigtrace rigtrace-edge status'));
    expect(Object.keys(viaCli).sort()).toEqual(Object.keys(status).sort());
    for (const s of [status, viaCli]) {
      expect(s.sources.map((x: any) => x.id).sort()).toEqual(['flow-rig-01', 'stations']);
      for (const src of s.sources) {
        expect(src.up, src.id).toBe(true);
        expect(src.lastError, src.id).toBeNull();
        expect(src.counters, src.id).toBeTypeOf('object');
      }
      expect(s.buffer.unsent).toBeTypeOf('number');
      expect(s.buffer).toHaveProperty('oldestUnsentAgeS');
      expect(s.forwarder.lastAckAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(s.forwarder.consecutiveFailures).toBe(0);
      expect(s.forwarder.lastError).toBeNull();
      expect(s.buffer.telemetryKeepOneIn).toBe(1);
      expect(s.buffer.recovered).toBeNull();
      expect(s.buffer.damaged.total).toBe(0);
    }
    const metrics = output('curl -s http://127.0.0.1:8099/metrics');
    const guide = readFileSync(GUIDE, 'utf8');
    const named = [...guide.matchAll(/`(rigtrace_edge_[a-z_]+)/g)].map((m) => m[1]!);
    const suffixes = [...guide.matchAll(/`(_[a-z_]+_total)`/g)].map((m) => `rigtrace_edge_source${m[1]}`);
    expect(named.length + suffixes.length).toBeGreaterThan(8);
    for (const name of [...named, ...suffixes])
      expect(metrics, name).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
  });
});
