import { parseStationMessage } from '@rigtrace/protocols/mqtt';
import { describe, expect, it } from 'vitest';
import { parseStationArgs, PASSWORD_ENV } from './config.js';
import { GARBAGE_KINDS, garbagePayload } from './run.js';

describe('parseStationArgs', () => {
  it('applies defaults and reads --flag value and --flag=value', () => {
    const r = parseStationArgs(['--url', 'mqtt://127.0.0.1:18830', '--username=stn', '--seed', '9'], {});
    expect(r).toEqual({
      ok: true,
      seedWasRandom: false,
      config: {
        url: 'mqtt://127.0.0.1:18830',
        username: 'stn',
        clientId: 'sim-STN-01',
        site: 'plant-1',
        asset: 'STN-01',
        gauges: ['GA-0101', 'GA-0102', 'GA-0103', 'GA-0104'],
        everySeconds: 3,
        seed: 9,
        partsPerShift: 40,
        faults: [],
        driftStepPct: 15,
        disconnectSeconds: 3,
        disconnectEverySeconds: 15,
      },
    });
  });

  it('takes the password from the environment when --password is absent', () => {
    const r = parseStationArgs(['--url', 'mqtt://h:1', '--username', 'u'], { [PASSWORD_ENV]: 'from-env' });
    expect('ok' in r && r.ok && r.config.password).toBe('from-env');
    const flag = parseStationArgs(['--url', 'mqtt://h:1', '--username', 'u', '--password', 'p'], {
      [PASSWORD_ENV]: 'e',
    });
    expect('ok' in flag && flag.ok && flag.config.password).toBe('p');
  });

  it('lists every problem, one line each', () => {
    const r = parseStationArgs(
      [
        '--url',
        'http://x',
        '--site',
        'plant 1',
        '--gauges',
        'GA-1,,GA-2',
        '--asset',
        'STN/01',
        '--every-seconds',
        '0',
        '--faults',
        'drift,meltdown',
        '--bogus',
        '--password',
        'p',
      ],
      {},
    );
    expect(r).toEqual({
      ok: false,
      problems: [
        '--url: scheme must be mqtt: or mqtts:, got "http://x"',
        '--site: must be 1..64 of A-Z a-z 0-9 . _ -',
        '--gauges: must be a comma separated list, got "GA-1,,GA-2"',
        '--asset: "STN/01": must be an asset tag: 1..64 of A-Z a-z 0-9 . _ : -, starting with a letter or digit',
        '--every-seconds: must be a number 0.05..86400, got "0"',
        '--faults: unknown fault "meltdown" (known: drift, garbage, disconnect, clock-skew)',
        'unknown flag --bogus',
        '--password needs --username (MQTT 3.1.1 has no password without user name)',
      ],
    });
    expect(parseStationArgs([], {})).toEqual({ ok: false, problems: ['--url is required'] });
    expect(parseStationArgs(['--help'], {})).toEqual({ help: true });
  });
});

describe('garbage payloads', () => {
  it('every kind is refused by parseStationMessage', () => {
    const good = {
      id: 'STN-01-x-000001',
      observedAt: '2026-11-23T05:00:00.000Z',
      partSerial: 'NZB-00000001',
      characteristics: [
        {
          name: 'needle.lift',
          nominal: 0.25,
          lsl: 0.24,
          usl: 0.26,
          measured: 0.2512,
          unit: 'mm',
          gauge: 'GA-0102',
        },
      ],
    };
    const topic = 'rigtrace/plant-1/STN-01/inspection';
    expect(parseStationMessage(topic, Buffer.from(JSON.stringify(good))).ok).toBe(true);
    for (const kind of GARBAGE_KINDS) {
      const r = parseStationMessage(topic, garbagePayload(kind, good));
      expect(r.ok, kind).toBe(false);
    }
  });
});
