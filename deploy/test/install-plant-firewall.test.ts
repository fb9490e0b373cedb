import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@rigtrace/protocols/testing';
import { guideCommands, marker, outputOf, runScript, type ScriptRun } from './helpers/guide.js';

/**
 * docs/INSTALL-PLANT.md section 5's nftables commands, run as written in a network namespace of
 * their own (`unshare -n`: a fresh, empty ruleset, nothing of this machine's firewall touched),
 * with these mechanical changes:
 *
 * - /etc/nftables.d and /etc/nftables.conf are under a temp folder T; /etc/nftables.conf is
 *   Debian 12's as the nftables package installs it (flush, an empty `inet filter` table).
 * - `sudo CMD` is CMD (the test runs as root); `sudo apt-get install nftables` is skipped
 *   (.ci/run installs it).
 * - `sudo systemctl enable nftables` is what it leads to at boot: `nft -f /etc/nftables.conf`.
 *
 * The PC's addresses in the namespace: 10.20.5.7 (the stations' subnet) and 10.20.6.7 (another
 * one), both on its loopback; the broker's port 1884 and a port beside it (1885) listen on all
 * addresses, IPv4 and IPv6. After the guide's `nft -f`, again after loading it twice, and after
 * the boot's load: only a station's address reaches 1884; 1885 is reached from anywhere.
 */

const GUIDE = path.join(repoRoot, 'docs/INSTALL-PLANT.md');
/** Debian 12's /etc/nftables.conf (package nftables 1.0.6). */
const DEBIAN_NFTABLES_CONF = `#!/usr/sbin/nft -f

flush ruleset

table inet filter {
\tchain input {
\t\ttype filter hook input priority filter;
\t}
\tchain forward {
\t\ttype filter hook forward priority filter;
\t}
\tchain output {
\t\ttype filter hook output priority filter;
\t}
}
`;

/** Listens on [::]:1884 and [::]:1885 (IPv4 too) and tries each (source, destination, port). */
const PROBE = String.raw`
import json, socket
servers = []
for port in (1884, 1885):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(16); servers.append(s)
out = {}
for src, dst in (("10.20.5.7", "10.20.5.7"), ("10.20.6.7", "10.20.5.7"), ("127.0.0.1", "127.0.0.1"), ("::1", "::1")):
    for port in (1884, 1885):
        fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
        c = socket.socket(fam, socket.SOCK_STREAM); c.settimeout(1)
        try:
            c.bind((src, 0)); c.connect((dst, port)); ok = True
        except OSError:
            ok = False
        c.close()
        out[src + " " + str(port)] = ok
print(json.dumps(out, sort_keys=True))
`;

const PROBE_EXPECTED = {
  '10.20.5.7 1884': true,
  '10.20.5.7 1885': true,
  '10.20.6.7 1884': false,
  '10.20.6.7 1885': true,
  '127.0.0.1 1884': false,
  '127.0.0.1 1885': true,
  '::1 1884': false,
  '::1 1885': true,
};

describe('docs/INSTALL-PLANT.md section 5: the nftables table, loaded now and at boot', () => {
  const T = mkdtempSync(path.join(os.tmpdir(), 'rt-plant-firewall-'));
  let run!: ScriptRun;
  afterAll(() => rmSync(T, { recursive: true, force: true }));

  const rewrite = (s: string) =>
    s
      .replace(/(?<![\w./-])(\/etc\/nftables\.d|\/etc\/nftables\.conf)(?![\w-])/g, `${T}$1`)
      .replace(/(^|\| )sudo /gm, '$1');
  const probe = (name: string) => [`echo "@@guide@@ probe ${name}"`, `/usr/bin/python3 ${T}/probe.py`];
  const ruleset = (name: string) => [`echo "@@guide@@ ruleset ${name}"`, 'nft list ruleset'];

  it('only the stations reach the broker, after the guide loads the file, loads it again, and after a boot', async () => {
    const tools = spawnSync('nft', ['--version'], { encoding: 'utf8' });
    expect(tools.error, 'nft (Debian package nftables, which .ci/run installs)').toBeUndefined();
    mkdirSync(path.join(T, 'etc'));
    writeFileSync(path.join(T, 'etc/nftables.conf'), DEBIAN_NFTABLES_CONF);
    writeFileSync(path.join(T, 'probe.py'), PROBE);

    const script = [
      'ip link set lo up',
      'ip addr add 10.20.5.7/32 dev lo',
      'ip addr add 10.20.6.7/32 dev lo',
      ...probe('before'),
    ];
    const firewall = guideCommands(GUIDE).filter((c) => /nft/.test(c.text));
    expect(firewall.map((c) => c.first)).toEqual([
      'sudo apt-get install nftables',
      'sudo install -d /etc/nftables.d',
      "sudo tee /etc/nftables.d/rigtrace-edge.nft > /dev/null <<'EOF'",
      'sudo nft -f /etc/nftables.d/rigtrace-edge.nft',
      `echo 'include "/etc/nftables.d/*.nft"' | sudo tee -a /etc/nftables.conf`,
      'sudo systemctl enable nftables',
    ]);
    for (const c of firewall) {
      script.push(marker(c));
      if (c.first === 'sudo apt-get install nftables') continue;
      if (c.first === 'sudo systemctl enable nftables') {
        // The next boot: Debian's nftables.service runs `nft -f /etc/nftables.conf`.
        script.push(rewrite('nft -f /etc/nftables.conf'), ...probe('after boot'), ...ruleset('after boot'));
        continue;
      }
      script.push(rewrite(c.text));
      if (c.first.startsWith('sudo nft -f ')) {
        script.push(
          ...probe('loaded'),
          rewrite(c.text),
          ...probe('loaded twice'),
          ...ruleset('loaded twice'),
        );
      }
    }
    run = await runScript(T, ["unshare -n bash -euo pipefail <<'NETNS'", ...script, 'NETNS'], {
      PATH: process.env.PATH!,
    });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);

    const probed = (name: string) =>
      JSON.parse(outputOf(run, `probe ${name}`).trim()) as Record<string, boolean>;
    // Before: nothing filters.
    expect(Object.values(probed('before')).every(Boolean)).toBe(true);
    for (const name of ['loaded', 'loaded twice', 'after boot'])
      expect(probed(name), name).toEqual(PROBE_EXPECTED);
    // One table with its two rules, also after loading the file twice; at boot beside Debian's own.
    const tables = (name: string) =>
      [...outputOf(run, `ruleset ${name}`).matchAll(/^table (\S+ \S+)/gm)].map((m) => m[1]);
    expect(tables('loaded twice')).toEqual(['inet rigtrace_edge']);
    expect(tables('after boot')).toEqual(['inet filter', 'inet rigtrace_edge']);
    expect(outputOf(run, 'ruleset loaded twice').match(/tcp dport 1884/g)).toHaveLength(2);
  }, 60_000);
});
