import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emptyLogState, verifyBatch } from './batch.js';
import { canonicalJson } from './canonical.js';
import { cosignCheckpoint, parseVerifierKey, verifyCheckpoint, verifyCosignature } from './checkpoint.js';
import { RECORD_ERROR_CODES } from './errors.js';
import { verifyEvidence } from './evidence.js';
import { fromHex, toBase64, toHex } from './base64.js';
import { EXAMPLE_EDGE_ID, TEST_EDGE_KEY, TEST_WITNESS_KEY, exampleBatch } from './testing.js';

// protocols/RECORDS.md: every example in it must be real, and must be what the code produces today.
const DOC = readFileSync(new URL('../../RECORDS.md', import.meta.url), 'utf8');

/** The content of the fenced block that follows `<!-- marker -->`. */
function block(marker: string, lang: 'json' | 'text'): string {
  const re = new RegExp(`<!-- ${marker} -->\\n\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, 'm');
  const m = re.exec(DOC);
  if (!m) throw new Error(`no \`\`\`${lang} block after <!-- ${marker} --> in RECORDS.md`);
  return m[1]!;
}

const expected = exampleBatch();
const vkey = block('example-vkey', 'text').trim();
const { publicKey } = parseVerifierKey(vkey);

describe('RECORDS.md', () => {
  it('holds the example batch, which verifies and is exactly what the code generates', () => {
    const batch = JSON.parse(block('example-batch', 'json')) as unknown;
    const v = verifyBatch(batch, { publicKey, state: emptyLogState() });
    expect(v.ok, JSON.stringify(v)).toBe(true);
    if (!v.ok) return;
    expect(v.records.map((r) => r.kind)).toEqual([
      'telemetry',
      'usage',
      'inspection',
      'calibration',
      'event',
    ]);
    expect(batch).toEqual(expected.batch);
    expect(v.newState).toEqual(expected.state);
    expect(DOC).toContain(toBase64(v.newState.root));
    expect(DOC).toContain(JSON.stringify(v.newState.range));
    v.leafHashes.forEach((h, i) => expect(DOC).toContain(`| ${i + 1} | \`${toHex(h)}\` |`));
  });

  it('holds the example checkpoint, verifier key and canonical record', () => {
    const note = block('example-checkpoint', 'text');
    expect(note).toBe(expected.batch.checkpoint);
    expect(verifyCheckpoint(note, EXAMPLE_EDGE_ID, publicKey).ok).toBe(true);
    expect(publicKey).toEqual(TEST_EDGE_KEY.publicKey);
    expect(vkey.startsWith(`${EXAMPLE_EDGE_ID}+`)).toBe(true);
    const canonical = block('example-canonical', 'json').trimEnd();
    expect(canonical).toBe(canonicalJson(expected.batch.records[0]));
    expect(DOC).toContain(`Its leaf hash (hex) is \`${toHex(expected.leafHashes[0]!)}\``);
  });

  it('holds a cosigned checkpoint that verifies', () => {
    const cosigned = block('example-cosigned', 'text');
    const witnessHex = /public `([0-9a-f]{64})`/.exec(DOC)![1]!;
    expect(fromHex(witnessHex)).toEqual(TEST_WITNESS_KEY.publicKey);
    expect(verifyCosignature(cosigned, 'cloud.rigtrace.example/witness', fromHex(witnessHex))).toEqual({
      ok: true,
      timestamp: 1795413072,
    });
    expect(cosigned).toBe(
      cosignCheckpoint(
        expected.batch.checkpoint,
        'cloud.rigtrace.example/witness',
        TEST_WITNESS_KEY.privateKeyPem,
        1795413072,
      ),
    );
  });

  it('holds an evidence bundle that verifies offline with the published key', () => {
    const bundle = JSON.parse(block('example-evidence', 'json')) as { records: { index: number }[] };
    expect(verifyEvidence(bundle, { trustedVerifierKey: vkey })).toEqual({ ok: true, verified: 1 });
    expect(bundle.records[0]!.index).toBe(3);
  });

  it('documents every code of the catalogue, and no other', () => {
    const rows = [...DOC.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
    expect(rows).toEqual(RECORD_ERROR_CODES);
  });
});
