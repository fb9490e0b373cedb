import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startPymodbus, type PymodbusServer } from '@rigtrace/protocols/testing';

/** `rigtrace-edge probe` against an independent device (pymodbus): registers decoded every way. */
describe('rigtrace-edge probe', () => {
  let server: PymodbusServer | undefined;
  afterEach(async () => {
    await server?.kill();
  });

  it('shows each register as integers, floats in both word orders and text', async () => {
    // 7 at 0; float32 60.5 (0x4272 0x0000) at 1; "AB" at 3.
    server = await startPymodbus({ 1: { hr: { 0: 7, 1: 0x4272, 2: 0, 3: 0x4142, 4: 0xffff } } });
    const r = runCli('edge/src/cli.ts', [
      'probe',
      `modbus://127.0.0.1:${server.port}/1`,
      '--registers',
      '0-4',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .slice(2)
      .map((l) => l.split('\t'));
    expect(rows.map((c) => c[0])).toEqual(['0', '1', '2', '3', '4']);
    expect(rows[0]!.slice(1, 4)).toEqual(['0x0007', '7', '7']);
    expect(rows[1]![6]).toBe('60.5'); // float32, big-endian words, from register 1
    expect(rows[3]![9]).toBe('"AB"');
    expect(rows[4]!.slice(2, 4)).toEqual(['65535', '-1']);
  });

  it('refuses a target that is not modbus://host:port/unit with exit 2', () => {
    const r = runCli('edge/src/cli.ts', ['probe', 'http://x', '--registers', '0-4']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('is not modbus://host:port/unit');
  });
});
