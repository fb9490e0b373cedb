import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runCli } from '../testing/processes.js';
import { toBase64 } from './base64.js';
import { recordLeafHash } from './batch.js';
import { cosignCheckpoint, formatVerifierKey, signCheckpoint } from './checkpoint.js';
import { formatWitnessKey, parseWitnessKey, verifyEvidenceCommand } from './evidence-command.js';
import { buildEvidence, type EvidenceBundle } from './evidence.js';
import { generateKeyPair } from './keys.js';
import { merkleRoot } from './merkle.js';
import { TEST_EDGE_KEY, TEST_WITNESS_KEY, exampleRecords } from './testing.js';

vi.setConfig({ testTimeout: 60_000 });

const EDGE = 'plant1-line3-edge';
const WITNESS = 'rigtrace-cloud';
const log = exampleRecords(EDGE, 1, 13);
const hashes = log.map(recordLeafHash);
const signed = signCheckpoint(
  { origin: EDGE, size: 13, root: merkleRoot(hashes), extensions: [] },
  EDGE,
  TEST_EDGE_KEY.privateKeyPem,
);
const cosigned = cosignCheckpoint(signed, WITNESS, TEST_WITNESS_KEY.privateKeyPem, 1_790_000_000);
const bundle = (): EvidenceBundle =>
  structuredClone(
    buildEvidence({
      edge: EDGE,
      publicKey: TEST_EDGE_KEY.publicKey,
      checkpoint: cosigned,
      leafHashes: hashes,
      records: log.filter((r) => r.kind === 'calibration'),
    }),
  );

const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-verify-evidence-'));
function file(name: string, b: unknown): string {
  const f = path.join(dir, name);
  writeFileSync(f, typeof b === 'string' ? b : JSON.stringify(b));
  return f;
}
const edgeKey = formatVerifierKey(EDGE, TEST_EDGE_KEY.publicKey);
const witnessKey = formatWitnessKey(WITNESS, TEST_WITNESS_KEY.publicKey);
const check = (bundleFile: string, keys: { edgeKey?: string; witnessKey?: string } = {}) =>
  verifyEvidenceCommand({ bundleFile, edgeKey, witnessKey, ...keys });

describe('verify-evidence', () => {
  it('verifies a good bundle in one line, with the keys given as text, base64, JSON or files', () => {
    const good = file('good.json', bundle());
    const ok = check(good);
    expect(ok.code).toBe(0);
    expect(ok.lines).toEqual([
      expect.stringMatching(
        /^good\.json: verified: 2 records of edge plant1-line3-edge in its log of 13 \(root \S+\), signed by plant1-line3-edge\+[0-9a-f]{8}, cosigned by witness rigtrace-cloud$/,
      ),
    ]);
    // The edges list gives the edge's bare public key; GET /api/v1/witness gives { name, publicKey }.
    const witnessJson = JSON.stringify({ name: WITNESS, publicKey: toBase64(TEST_WITNESS_KEY.publicKey) });
    expect(check(good, { edgeKey: toBase64(TEST_EDGE_KEY.publicKey), witnessKey: witnessJson }).code).toBe(0);
    expect(
      check(good, { edgeKey: file('edge.vkey', `${edgeKey}\n`), witnessKey: file('w.json', witnessJson) })
        .code,
    ).toBe(0);
    expect(parseWitnessKey(witnessKey)).toEqual({ name: WITNESS, publicKey: TEST_WITNESS_KEY.publicKey });
  });

  it('names a tampered record', () => {
    const b = bundle();
    (b.records[1]!.record as { equipment: string }).equipment = 'PT-RAIL-99';
    const r = check(file('tampered.json', b));
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([
      expect.stringMatching(/^tampered\.json: NOT VERIFIED: EVIDENCE_PROOF_INVALID \(seq 9, record 1\): /),
    ]);
  });

  it('names a bad checkpoint signature', () => {
    const b = bundle();
    // The same checkpoint body for a different root, under the edge's signature line.
    b.checkpoint = b.checkpoint.replace(
      /^(.*\n\d+\n)(\S+)/,
      (_m, head: string, root: string) => `${head}${root.startsWith('A') ? 'B' : 'A'}${root.slice(1)}`,
    );
    const r = check(file('badsig.json', b));
    expect(r.code).toBe(1);
    expect(r.lines.join('\n')).toMatch(/^badsig\.json: NOT VERIFIED: CHECKPOINT_[A-Z_]+ \(checkpoint\): /);
  });

  it('names a wrong edge key and a wrong witness key', () => {
    const good = file('good2.json', bundle());
    const other = generateKeyPair();
    const wrongEdge = check(good, { edgeKey: formatVerifierKey(EDGE, other.publicKey) });
    expect(wrongEdge.code).toBe(1);
    expect(wrongEdge.lines.join('\n')).toContain(
      'NOT VERIFIED: EVIDENCE_KEY_MISMATCH: the verifier key is not the trusted key of the edge',
    );
    const wrongWitness = check(good, { witnessKey: formatWitnessKey(WITNESS, other.publicKey) });
    expect(wrongWitness.code).toBe(1);
    expect(wrongWitness.lines.join('\n')).toMatch(
      /NOT VERIFIED: EVIDENCE_WITNESS \(checkpoint\): COSIGNATURE_MISSING/,
    );
    // Not a key at all: a usage problem (2), not a verdict on the bundle.
    expect(check(good, { witnessKey: 'rigtrace-cloud' }).code).toBe(2);
    expect(check(good, { edgeKey: 'not-a-key' }).code).toBe(2);
    expect(check(path.join(dir, 'absent.json')).code).toBe(2);
    expect(check(file('notjson.json', '{ "v": 1,')).lines).toEqual([
      'notjson.json: NOT VERIFIED: EVIDENCE_SCHEMA: the file is not JSON',
    ]);
  });

  it('is the same command in rigtrace-cloud and rigtrace-edge, exit 0 and 1', () => {
    const good = file('cli-good.json', bundle());
    const b = bundle();
    b.records[0]!.index = 4;
    const bad = file('cli-bad.json', b);
    for (const entry of ['cloud/src/cli.ts', 'edge/src/cli.ts']) {
      const ok = runCli(entry, ['verify-evidence', good, '--edge-key', edgeKey, '--witness-key', witnessKey]);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^cli-good\.json: verified: 2 records/);
      const no = runCli(entry, ['verify-evidence', bad, '--edge-key', edgeKey, '--witness-key', witnessKey]);
      expect(no.status).toBe(1);
      expect(no.stderr).toMatch(/cli-bad\.json: NOT VERIFIED: EVIDENCE_INDEX_MISMATCH \(seq 4, record 0\)/);
      expect(runCli(entry, ['verify-evidence', good]).status).toBe(2);
    }
  });
});
