import { describe, expect, it, vi } from 'vitest';
import { startNode, startProcess } from '../testing/processes.js';
import { PKCS1_NOTE } from './library-logs.js';

vi.setConfig({ testTimeout: 90_000 });

// node-opcua's import-time check warns only on Node 20 and 21 (Node 22 removed the revert flag).
const major = Number(/^v(\d+)/.exec(process.version)![1]);
const checks = major === 20 || major === 21;

/**
 * Waits for the PKCS#1 note (node-opcua reports after generating a 4096-bit RSA key, seconds on a
 * busy machine), then a little longer for anything node-opcua would still print after it.
 */
async function linesAfterCheck(p: { lines: string[]; stop(): Promise<unknown> }): Promise<string[]> {
  const until = Date.now() + 60_000;
  while (checks && !p.lines.some((l) => l.includes(PKCS1_NOTE)) && Date.now() < until)
    await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 1500));
  await p.stop();
  return p.lines;
}

describe("node-opcua's PKCS#1 v1.5 warning (NODE-OPCUA-W27)", () => {
  it('is one plain line, never the advice to run with --security-revert, in a process that uses the adapter', async () => {
    const p = await startNode(
      '-e',
      [`await import('@rigtrace/protocols/opcua'); console.error('imported'); setTimeout(() => {}, 60000);`],
      (l) => l === 'imported',
      60_000,
      ['--conditions=rigtrace-source', '--import', 'tsx', '--input-type=module'],
    );
    const lines = await linesAfterCheck(p);
    expect(lines.join('\n')).not.toMatch(/W27|security-revert=/);
    expect(lines.filter((l) => l === PKCS1_NOTE)).toHaveLength(checks ? 1 : 0);
  });

  it('is one plain line when the simulated OPC UA bench starts', async () => {
    const p = await startProcess(
      'firmware-sim/src/cli.ts',
      ['cal-bench', '--port', '0', '--asset', 'BENCH-01', '--seed', '5'],
      (l) => l.includes('"event":"listening"'),
      60_000,
    );
    const lines = await linesAfterCheck(p);
    expect(lines.join('\n')).not.toMatch(/W27|security-revert=/);
    expect(lines.filter((l) => l === PKCS1_NOTE)).toHaveLength(checks ? 1 : 0);
  });
});
