import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startProcess, type Proc } from '@rigtrace/protocols/testing';

/**
 * `rigtrace-edge browse` against an independent OPC UA server (node-opcua) with a tree nothing
 * like our bench: a dosing line with numeric and string node ids, a DateTime, an array, nested
 * objects below the default depth.
 */
const tree = {
  Line4: {
    id: 'i=5000',
    children: {
      Doser: {
        id: 'i=5001',
        children: {
          Setpoint: { type: 'Double', value: 12.5, id: 'i=5002' },
          Running: { type: 'Boolean', value: true, id: 's=Line4.Doser.Running' },
          Recipe: { type: 'String', value: 'PU-Foam 7', id: 's=Line4.Doser.Recipe' },
          LastClean: { type: 'DateTime', value: '2026-11-30T05:00:00.000Z', id: 's=Line4.Doser.LastClean' },
          Temps: { type: 'Float', value: [21.5, 22, 22.5], array: true, id: 's=Line4.Doser.Temps' },
          Counters: {
            id: 'i=5010',
            children: {
              Batches: { type: 'UInt32', value: 1842, id: 'i=5011' },
              Deep: { id: 'i=5020', children: { Hidden: { type: 'Int16', value: -3, id: 'i=5021' } } },
            },
          },
        },
      },
    },
  },
};

describe('rigtrace-edge browse', () => {
  // The client certificate is made once, on the first browse, and kept here.
  const pki = mkdtempSync(path.join(os.tmpdir(), 'rt-browse-'));
  const edge = (...args: string[]) => runCli('edge/src/cli.ts', ['browse', ...args, '--pki', pki]);
  let server: Proc;
  let url = '';
  beforeAll(async () => {
    let port = 0;
    server = await startProcess(
      'edge/test/devices/tree-server.ts',
      [JSON.stringify({ port: 0, tree })],
      (l) => l.includes('"listening"'),
      30_000,
      (line, stream) => {
        if (stream === 'stdout' && line.startsWith('{')) port = (JSON.parse(line) as { port: number }).port;
      },
    );
    url = `opc.tcp://127.0.0.1:${port}`;
  }, 40_000);
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  const rows = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .slice(2)
      .map((l) => l.split('\t'));

  it(
    'lists paths, node ids, data types and values, down to --depth, without the server object',
    { timeout: 60_000 },
    () => {
      const r = edge(url, '--depth', '4');
      expect(r.status, r.stderr).toBe(0);
      const byPath = new Map(rows(r.stdout).map((c) => [c[0], c.slice(1)]));
      expect(byPath.get('1:Line4')).toEqual(['ns=1;i=5000', 'Object', '']);
      expect(byPath.get('1:Line4/1:Doser/1:Setpoint')).toEqual(['ns=1;i=5002', 'Double', '12.5']);
      expect(byPath.get('1:Line4/1:Doser/1:Running')).toEqual([
        'ns=1;s=Line4.Doser.Running',
        'Boolean',
        'true',
      ]);
      expect(byPath.get('1:Line4/1:Doser/1:Recipe')).toEqual([
        'ns=1;s=Line4.Doser.Recipe',
        'String',
        '"PU-Foam 7"',
      ]);
      expect(byPath.get('1:Line4/1:Doser/1:LastClean')).toEqual([
        'ns=1;s=Line4.Doser.LastClean',
        'DateTime',
        '"2026-11-30T05:00:00.000Z"',
      ]);
      expect(byPath.get('1:Line4/1:Doser/1:Temps')).toEqual([
        'ns=1;s=Line4.Doser.Temps',
        'Float[]',
        '[21.5, 22, 22.5]',
      ]);
      expect(byPath.get('1:Line4/1:Doser/1:Counters/1:Batches')).toEqual(['ns=1;i=5011', 'UInt32', '1842']);
      // Level 4 is the Deep object; its variable is on level 5.
      expect(byPath.has('1:Line4/1:Doser/1:Counters/1:Deep')).toBe(true);
      expect(byPath.has('1:Line4/1:Doser/1:Counters/1:Deep/1:Hidden')).toBe(false);
      expect([...byPath.keys()].some((p) => p!.startsWith('Server'))).toBe(false);
    },
  );

  it('starts --from a node', { timeout: 60_000 }, () => {
    const r = edge(url, '--from', 'ns=1;i=5010', '--depth', '1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`${url}: 2 nodes from ns=1;i=5010, 1 level down`);
    expect(rows(r.stdout).map((c) => c.slice(0, 3))).toEqual([
      ['1:Batches', 'ns=1;i=5011', 'UInt32'],
      ['1:Deep', 'ns=1;i=5020', 'Object'],
    ]);
    const deep = edge(url, '--from', 'ns=1;i=5020');
    expect(rows(deep.stdout)).toEqual([['1:Hidden', 'ns=1;i=5021', 'Int16', '-3']]);
  });

  it('refuses bad input with exit 2, and an unreachable server with exit 1', { timeout: 120_000 }, () => {
    for (const [args, message] of [
      [['http://127.0.0.1:4840'], 'is not opc.tcp://host:port[/path]'],
      [[url, '--depth', '0'], '--depth "0" must be a whole number from 1 to 20'],
      [[url, '--depth', 'deep'], '--depth "deep" must be a whole number'],
      [[url, '--from', 'Line4'], '--from "Line4" is not a node id'],
      [[url, '--colour', 'blue'], "Unknown option '--colour'"],
      [[url, url], 'browse takes one opc.tcp://host:port[/path]'],
    ] as const) {
      const r = edge(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe('');
    }
    const unknown = edge(url, '--from', 'ns=1;i=987654');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('the server has no node ns=1;i=987654');
    const down = edge('opc.tcp://127.0.0.1:9', '--timeout-ms', '2000');
    expect(down.status).toBe(1);
    expect(down.stderr).toContain('opc.tcp://127.0.0.1:9');
  });
});
