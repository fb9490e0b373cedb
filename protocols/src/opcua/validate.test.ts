import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OpcuaConfigError } from './errors.js';
import { OpcuaSubscriber } from './subscriber.js';
import { isNodeId, validateOpcuaOptions } from './validate.js';

const base = {
  endpointUrl: 'opc.tcp://127.0.0.1:14840/rigtrace/bench',
  securityMode: 'None',
  securityPolicy: 'None',
  items: [{ name: 'oil', nodeId: 'ns=1;s=Bench.Live.OilTemperature' }],
};

describe('validateOpcuaOptions', () => {
  it('applies the defaults', () => {
    const r = validateOpcuaOptions(base);
    expect(r).toEqual({
      ok: true,
      options: {
        ...base,
        items: [
          { name: 'oil', nodeId: 'ns=1;s=Bench.Live.OilTemperature', samplingIntervalMs: 500, queueSize: 1 },
        ],
        publishingIntervalMs: 500,
        watchdogMs: 10_000,
        connectTimeoutMs: 10_000,
        reconnect: { initialMs: 500, maxMs: 30_000 },
      },
    });
  });

  it('derives the watchdog from the publishing interval and the queue from the sampling interval', () => {
    const r = validateOpcuaOptions({
      ...base,
      publishingIntervalMs: 5000,
      items: [
        { name: 'a', nodeId: 'i=2258', samplingIntervalMs: 1000 },
        {
          name: 'b',
          nodeId: 'i=2258',
          samplingIntervalMs: 0,
          deadband: { type: 'percent', value: 2 },
          queueSize: 3,
        },
      ],
    });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.options.watchdogMs).toBe(20_000);
    expect(r.options.items.map((i) => [i.samplingIntervalMs, i.queueSize, i.deadband])).toEqual([
      [1000, 5, undefined],
      [0, 3, { type: 'percent', value: 2 }],
    ]);
  });

  it('lists every problem with its path', () => {
    const r = validateOpcuaOptions({
      endpointUrl: 'http://x',
      securityMode: 'Sign',
      securityPolicy: 'None',
      user: { username: '', pass: 'x' },
      trustedServerCertificates: ['/no/such/file.pem', 3],
      items: [
        { name: 'a', nodeId: 'ns=1;s=X' },
        { name: 'a', nodeId: 'Bench.State' },
        { name: 'c', nodeId: 'i=1', deadband: { type: 'percent', value: 150 }, queueSize: 0, sampling: 5 },
        'x',
      ],
      publishingIntervalMs: 1000,
      watchdogMs: 1500,
      reconnect: { initialMs: 500, maxMs: 100 },
      logger: { info() {} },
      extra: true,
    });
    if (r.ok) throw new Error('accepted');
    expect(r.problems).toEqual([
      { path: 'extra', message: 'unknown field' },
      { path: 'endpointUrl', message: 'must be an opc.tcp:// URL, got "http://x"' },
      { path: 'securityPolicy', message: 'must not be None when securityMode is Sign' },
      { path: 'user.pass', message: 'unknown field' },
      { path: 'user.username', message: 'must be a non-empty string' },
      { path: 'user.password', message: 'must be a string' },
      { path: 'pkiDir', message: 'is required for securityMode Sign (the client certificate lives there)' },
      { path: 'trustedServerCertificates[0]', message: 'no such file: /no/such/file.pem' },
      { path: 'trustedServerCertificates[1]', message: 'must be a file path' },
      { path: 'watchdogMs', message: 'must be at least 2 × publishingIntervalMs' },
      { path: 'reconnect.maxMs', message: 'must be >= reconnect.initialMs' },
      { path: 'logger', message: 'must have info, warn and error functions' },
      { path: 'items[1].name', message: 'duplicate name "a" (also items[0])' },
      { path: 'items[1].nodeId', message: 'must be a NodeId like ns=1;s=Name or i=2258, got "Bench.State"' },
      { path: 'items[2].sampling', message: 'unknown field' },
      { path: 'items[2].deadband.value', message: 'must be a number 0..100' },
      { path: 'items[2].queueSize', message: 'must be an integer 1..10000, got 0' },
      { path: 'items[3]', message: 'must be an object, got "x"' },
    ]);
  });

  it('accepts a secure configuration with an existing trust list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rigtrace-opcua-validate-'));
    const cert = join(dir, 'server.pem');
    writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n');
    const r = validateOpcuaOptions({
      ...base,
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Aes256_Sha256_RsaPss',
      pkiDir: join(dir, 'pki'),
      trustedServerCertificates: [cert],
      user: { username: 'tech', password: 'x' },
    });
    rmSync(dir, { recursive: true, force: true });
    expect(r.ok).toBe(true);
  });

  it('the subscriber refuses invalid options with every problem', () => {
    let caught: unknown;
    try {
      new OpcuaSubscriber({ ...base, securityMode: 'Sign', items: [] } as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OpcuaConfigError);
    expect((caught as OpcuaConfigError).problems.map((p) => p.path)).toEqual([
      'securityPolicy',
      'pkiDir',
      'items',
    ]);
  });

  it('recognises NodeIds in their string forms', () => {
    for (const ok of [
      'i=2258',
      'ns=1;s=Bench.Live.OilTemperature',
      'ns=2;s=with;semicolon',
      'nsu=urn:rigtrace:sim:cal-bench;s=Bench.State',
      'ns=3;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63',
      'ns=1;b=M/RbKBsRVkePCePcx24oRA==',
    ])
      expect(isNodeId(ok), ok).toBe(true);
    for (const bad of ['', 'Bench.State', 'ns=1;x=3', 'ns=a;i=1', 'i=', 'ns=1;g=123'])
      expect(isNodeId(bad), bad).toBe(false);
  });
});
