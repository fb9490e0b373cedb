import { createHash, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from './base64.js';
import {
  MAX_NOTE_SIGNATURES,
  cosignCheckpoint,
  cosignatureKeyId,
  ed25519KeyId,
  formatCheckpointBody,
  formatVerifierKey,
  parseSignedCheckpoint,
  parseVerifierKey,
  signCheckpoint,
  verifyCheckpoint,
  verifyCosignature,
  type Checkpoint,
} from './checkpoint.js';
import { RecordFormatError } from './errors.js';
import { generateKeyPair, publicKeyFromPrivatePem, signEd25519, verifyEd25519 } from './keys.js';
import { TEST_EDGE_KEY, TEST_WITNESS_KEY } from './testing.js';

// RFC 8032 section 7.1 TEST 1 secret key as PKCS#8 PEM, and its public key.
const PEM =
  '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n';
const PUB = Uint8Array.from(
  Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'),
);
const EDGE = 'plant1-line3-edge';
const CP: Checkpoint = {
  origin: EDGE,
  size: 5,
  root: fromBase64('y2dhZhPK8X1YHu1hbCIEHuPzmXL73/O268tf30PLilQ='),
  extensions: [],
};
// Ed25519 is deterministic: this is the one note that key makes for this checkpoint.
const NOTE =
  'plant1-line3-edge\n5\ny2dhZhPK8X1YHu1hbCIEHuPzmXL73/O268tf30PLilQ=\n\n' +
  '— plant1-line3-edge rssohAAjF1Xc/FdNGmux2+p3YDA5VHSs4ZgNiAL3Zu3jOIOPCij2ZWEu7KUcoYLOlzI29oNhJ6QuIvXlrqDC/Fsj6wk=\n';

const code = (r: { ok: boolean; code?: string }): string => (r.ok ? 'ok' : r.code!);

function parseCode(text: string): string {
  try {
    parseSignedCheckpoint(text);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(RecordFormatError);
    return (err as RecordFormatError).code;
  }
}

describe('Ed25519 keys', () => {
  it('reproduce RFC 8032 TEST 1 from the hard-coded PEM', () => {
    expect(publicKeyFromPrivatePem(PEM)).toEqual(PUB);
    expect(TEST_EDGE_KEY.privateKeyPem).toBe(PEM);
    expect(toHex(signEd25519(PEM, new Uint8Array(0)))).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(publicKeyFromPrivatePem(TEST_WITNESS_KEY.privateKeyPem)).toEqual(TEST_WITNESS_KEY.publicKey);
    // Each caller gets its own copy of the (remembered) public key.
    publicKeyFromPrivatePem(PEM).fill(0);
    expect(publicKeyFromPrivatePem(PEM)).toEqual(PUB);
  });

  it('generate working pairs and refuse bad keys', () => {
    const k = generateKeyPair();
    expect(k.publicKey).toHaveLength(32);
    expect(publicKeyFromPrivatePem(k.privateKeyPem)).toEqual(k.publicKey);
    const sig = signEd25519(k.privateKeyPem, Uint8Array.of(1, 2, 3));
    expect(verifyEd25519(k.publicKey, Uint8Array.of(1, 2, 3), sig)).toBe(true);
    expect(verifyEd25519(k.publicKey, Uint8Array.of(1, 2, 4), sig)).toBe(false);
    expect(verifyEd25519(PUB, Uint8Array.of(1, 2, 3), sig)).toBe(false);
    expect(verifyEd25519(k.publicKey.slice(1), Uint8Array.of(1, 2, 3), sig)).toBe(false);
    expect(verifyEd25519(k.publicKey, Uint8Array.of(1, 2, 3), sig.slice(1))).toBe(false);
    expect(() => signEd25519('not a pem', new Uint8Array())).toThrow(
      expect.objectContaining({ code: 'KEY_INVALID' }),
    );
    // An X25519 key (same length, another algorithm) must be refused.
    expect(() =>
      publicKeyFromPrivatePem(
        '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n',
      ),
    ).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
  });
});

describe('checkpoint notes', () => {
  it('sign a fixed checkpoint into the exact expected note', () => {
    expect(formatCheckpointBody(CP)).toBe(
      'plant1-line3-edge\n5\ny2dhZhPK8X1YHu1hbCIEHuPzmXL73/O268tf30PLilQ=\n',
    );
    expect(signCheckpoint(CP, EDGE, PEM)).toBe(NOTE);
    expect(verifyCheckpoint(NOTE, EDGE, PUB)).toEqual({ ok: true, checkpoint: CP });
  });

  it('compute the key id as SHA-256(name || 0x0A || 0x01 || key)[0..4]', () => {
    const want = createHash('sha256')
      .update(Buffer.concat([Buffer.from(EDGE), Buffer.from([0x0a, 0x01]), PUB]))
      .digest()
      .subarray(0, 4);
    expect(toHex(ed25519KeyId(EDGE, PUB))).toBe(want.toString('hex'));
    expect(toHex(ed25519KeyId(EDGE, PUB))).toBe('aecb2884');
    expect(
      fromBase64(
        'rssohAAjF1Xc/FdNGmux2+p3YDA5VHSs4ZgNiAL3Zu3jOIOPCij2ZWEu7KUcoYLOlzI29oNhJ6QuIvXlrqDC/Fsj6wk=',
      ).slice(0, 4),
    ).toEqual(ed25519KeyId(EDGE, PUB));
    const cos = createHash('sha256')
      .update(Buffer.concat([Buffer.from('w'), Buffer.from([0x0a, 0x04]), PUB]))
      .digest()
      .subarray(0, 4);
    expect(toHex(cosignatureKeyId('w', PUB))).toBe(cos.toString('hex'));
  });

  it('refuse a wrong key: another key → CHECKPOINT_UNSIGNED, same id with a bad signature → CHECKPOINT_BAD_SIGNATURE', () => {
    expect(code(verifyCheckpoint(NOTE, EDGE, TEST_WITNESS_KEY.publicKey))).toBe('CHECKPOINT_UNSIGNED');
    expect(code(verifyCheckpoint(NOTE, 'another-edge', PUB))).toBe('CHECKPOINT_UNSIGNED');
    const other = generateKeyPair();
    const forged = signCheckpoint(CP, EDGE, other.privateKeyPem);
    const r = verifyCheckpoint(forged, EDGE, PUB);
    expect(code(r)).toBe('CHECKPOINT_UNSIGNED');
    expect(r.ok ? '' : r.message).toMatch(/another key/);
    // The right key id in front of another key's signature.
    const sig = fromBase64(forged.split(' ').at(-1)!.trim());
    sig.set(ed25519KeyId(EDGE, PUB), 0);
    const spliced = `${formatCheckpointBody(CP)}\n— ${EDGE} ${toBase64(sig)}\n`;
    expect(code(verifyCheckpoint(spliced, EDGE, PUB))).toBe('CHECKPOINT_BAD_SIGNATURE');
    // A good signature by the key is not enough when another one by the same key fails.
    expect(code(verifyCheckpoint(`${NOTE}— ${EDGE} ${toBase64(sig)}\n`, EDGE, PUB))).toBe(
      'CHECKPOINT_BAD_SIGNATURE',
    );
    // Signatures by unknown keys are ignored.
    expect(code(verifyCheckpoint(`${NOTE}— someone.else ${toBase64(sig)}\n`, EDGE, PUB))).toBe('ok');
  });

  it('keep extension lines, which are signed', () => {
    const cp = { ...CP, extensions: ['rigtrace/v1', 'x y z'] };
    const note = signCheckpoint(cp, EDGE, PEM);
    expect(note.startsWith(`${formatCheckpointBody(CP)}rigtrace/v1\nx y z\n\n— `)).toBe(true);
    expect(verifyCheckpoint(note, EDGE, PUB)).toEqual({ ok: true, checkpoint: cp });
    expect(code(verifyCheckpoint(note.replace('x y z', 'x y Z'), EDGE, PUB))).toBe(
      'CHECKPOINT_BAD_SIGNATURE',
    );
  });

  it('refuse each malformation with a precise code', () => {
    const body = formatCheckpointBody(CP);
    const sigLine = NOTE.slice(body.length + 1);
    const withBody = (b: string) => `${b}\n${sigLine}`;
    const root = toBase64(CP.root);
    const cases: [string, string, string][] = [
      ['valid', NOTE, 'ok'],
      ['no blank line', `${body}${sigLine}`, 'CHECKPOINT_NO_BLANK_LINE'],
      ['no signatures', `${body}\n`, 'CHECKPOINT_NO_SIGNATURES'],
      ['no final newline', NOTE.slice(0, -1), 'CHECKPOINT_NO_FINAL_NEWLINE'],
      ['CR line ends', NOTE.replace(/\n/g, '\r\n'), 'CHECKPOINT_CONTROL_CHAR'],
      ['tab', withBody(`${EDGE}\n5\n${root}\next\tension\n`), 'CHECKPOINT_CONTROL_CHAR'],
      ['NUL', NOTE.replace('5', '5\u0000'), 'CHECKPOINT_CONTROL_CHAR'],
      ['lone surrogate (not UTF-8)', withBody(`${EDGE}\n5\n${root}\n\ud800\n`), 'CHECKPOINT_NOT_UTF8'],
      ['too large', withBody(`${EDGE}\n5\n${root}\n${'x'.repeat(17000)}\n`), 'CHECKPOINT_TOO_LARGE'],
      ['two body lines', withBody(`${EDGE}\n5\n`), 'CHECKPOINT_TOO_FEW_LINES'],
      ['empty origin', withBody(`\n5\n${root}\n`), 'CHECKPOINT_BAD_ORIGIN'],
      ['origin with a space', withBody(`a b\n5\n${root}\n`), 'CHECKPOINT_BAD_ORIGIN'],
      ['origin with a no-break space', withBody(`a\u00a0b\n5\n${root}\n`), 'CHECKPOINT_BAD_ORIGIN'],
      ['origin with +', withBody(`a+b\n5\n${root}\n`), 'CHECKPOINT_BAD_ORIGIN'],
      ['size with a leading zero', withBody(`${EDGE}\n05\n${root}\n`), 'CHECKPOINT_BAD_SIZE'],
      ['negative size', withBody(`${EDGE}\n-1\n${root}\n`), 'CHECKPOINT_BAD_SIZE'],
      ['size 1.0', withBody(`${EDGE}\n1.0\n${root}\n`), 'CHECKPOINT_BAD_SIZE'],
      ['size 2^53', withBody(`${EDGE}\n9007199254740992\n${root}\n`), 'CHECKPOINT_BAD_SIZE'],
      ['hex size', withBody(`${EDGE}\n0x5\n${root}\n`), 'CHECKPOINT_BAD_SIZE'],
      ['fullwidth digit', withBody(`${EDGE}\n\uff15\n${root}\n`), 'CHECKPOINT_BAD_SIZE'],
      ['empty size', withBody(`${EDGE}\n\n${root}\n`), 'CHECKPOINT_BAD_SIZE'],
      ['size with a space', withBody(`${EDGE}\n 5\n${root}\n`), 'CHECKPOINT_BAD_SIZE'],
      ['root without padding', withBody(`${EDGE}\n5\n${root.slice(0, -1)}\n`), 'CHECKPOINT_BAD_ROOT'],
      ['root with pad bits set', withBody(`${EDGE}\n5\n${root.slice(0, -2)}R=\n`), 'CHECKPOINT_BAD_ROOT'],
      ['root of 31 bytes', withBody(`${EDGE}\n5\n${toBase64(CP.root.slice(1))}\n`), 'CHECKPOINT_BAD_ROOT'],
      ['root in base64url', withBody(`${EDGE}\n5\n${root.replace('/', '_')}\n`), 'CHECKPOINT_BAD_ROOT'],
      ['empty extension line', `${body}\next\n\n${sigLine}`, 'CHECKPOINT_BAD_EXTENSION'],
      ['hyphen instead of em dash', `${body}\n${sigLine.replace('—', '-')}`, 'CHECKPOINT_BAD_SIGNATURE_LINE'],
      ['no space after the dash', `${body}\n${sigLine.replace('— ', '—')}`, 'CHECKPOINT_BAD_SIGNATURE_LINE'],
      ['no signature after the name', `${body}\n— ${EDGE}\n`, 'CHECKPOINT_BAD_SIGNATURE_LINE'],
      ['empty signature', `${body}\n— ${EDGE} \n`, 'CHECKPOINT_BAD_SIGNATURE_LINE'],
      ['signature of 4 bytes', `${body}\n— ${EDGE} AAAAAA==\n`, 'CHECKPOINT_BAD_SIGNATURE_LINE'],
      ['two spaces', `${body}\n${sigLine.replace(`${EDGE} `, `${EDGE}  `)}`, 'CHECKPOINT_BAD_SIGNATURE_LINE'],
      ['name with +', `${body}\n${sigLine.replace(EDGE, `${EDGE}+x`)}`, 'CHECKPOINT_BAD_SIGNATURE_LINE'],
      ['trailing text', `${body}\n${sigLine.replace(/\n$/, ' x\n')}`, 'CHECKPOINT_BAD_SIGNATURE_LINE'],
      ['blank line between signatures', `${NOTE}\n${sigLine}`, 'CHECKPOINT_BAD_EXTENSION'],
      ['ends with a blank line', `${NOTE}\n`, 'CHECKPOINT_NO_SIGNATURES'],
      [`${MAX_NOTE_SIGNATURES} signatures`, `${body}\n${sigLine.repeat(MAX_NOTE_SIGNATURES)}`, 'ok'],
      [
        `${MAX_NOTE_SIGNATURES + 1} signatures`,
        `${body}\n${sigLine.repeat(MAX_NOTE_SIGNATURES + 1)}`,
        'CHECKPOINT_TOO_MANY_SIGNATURES',
      ],
    ];
    for (const [name, text, want] of cases) {
      expect(parseCode(text), name).toBe(want);
      const v = verifyCheckpoint(text, EDGE, PUB);
      if (want === 'ok') expect(v.ok, name).toBe(true);
      else expect(v, name).toMatchObject({ ok: false, code: 'CHECKPOINT_MALFORMED', reason: want });
    }
  });

  it('detect a flipped bit in every byte of the note, with the code of the part that was hit', () => {
    const bytes = Buffer.from(NOTE, 'utf8');
    const bodyEnd = Buffer.byteLength(formatCheckpointBody(CP));
    const sigStart = bodyEnd + 1 + Buffer.byteLength('— ');
    const nameEnd = sigStart + EDGE.length;
    const b64Start = nameEnd + 1;
    let checked = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0x01, 0x02, 0x20, 0x80]) {
        const t = Buffer.from(bytes);
        t[i]! ^= bit;
        const text = t.toString('utf8'); // invalid UTF-8 becomes U+FFFD, as a JSON/HTTP decoder would do
        const r = verifyCheckpoint(text, EDGE, PUB);
        let allowed: string[];
        if (i < bodyEnd) allowed = ['CHECKPOINT_MALFORMED', 'CHECKPOINT_BAD_SIGNATURE'];
        else if (i >= sigStart && i < nameEnd) allowed = ['CHECKPOINT_MALFORMED', 'CHECKPOINT_UNSIGNED'];
        else if (i >= b64Start && i < b64Start + 6) {
          // The first 6 base64 characters carry the key id (and the first bits of the signature).
          allowed = ['CHECKPOINT_MALFORMED', 'CHECKPOINT_UNSIGNED', 'CHECKPOINT_BAD_SIGNATURE'];
        } else if (i >= b64Start && i < bytes.length - 1)
          allowed = ['CHECKPOINT_MALFORMED', 'CHECKPOINT_BAD_SIGNATURE'];
        else allowed = ['CHECKPOINT_MALFORMED'];
        expect(allowed, `byte ${i} bit ${bit}: ${JSON.stringify(text)}`).toContain(code(r));
        checked++;
      }
    }
    expect(checked).toBe(bytes.length * 4);
  });
});

describe('verifier keys', () => {
  it('format and parse the edge key', () => {
    const vkey = formatVerifierKey(EDGE, PUB);
    expect(vkey).toBe('plant1-line3-edge+aecb2884+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea');
    expect(parseVerifierKey(vkey)).toEqual({ keyName: EDGE, keyId: ed25519KeyId(EDGE, PUB), publicKey: PUB });
  });

  it('accept and reproduce the keys of signed-note and golang.org/x/mod/sumdb/note', () => {
    for (const vkey of [
      'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k',
      'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop',
      'TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6', // base64 with a '+' in it
    ]) {
      const k = parseVerifierKey(vkey);
      expect(formatVerifierKey(k.keyName, k.publicKey)).toBe(vkey);
    }
  });

  it('refuse malformed keys', () => {
    const good = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
    for (const bad of [
      'example.com/foo',
      'example.com/foo+530d903a',
      good.replace('530d903a', '530D903A'),
      good.replace('530d903a', '530d903b'),
      good.replace('530d903a', '530d903'),
      `${good}!`,
      good.replace('Aeky', 'Ae\nky'),
      good.replace('example.com/foo', 'a b'),
      'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2', // a type 0x04 (cosignature) key
    ]) {
      expect(() => parseVerifierKey(bad), bad).toThrow(
        expect.objectContaining({ code: 'VERIFIER_KEY_INVALID' }),
      );
    }
  });

  it('reproduce the golang.org/x/mod/sumdb/note signature (key id, signature line bytes)', () => {
    // PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz: 0x01 then the seed.
    const seed = Buffer.from('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz', 'base64').subarray(1);
    const pem = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
      format: 'der',
      type: 'pkcs8',
    })
      .export({ format: 'pem', type: 'pkcs8' })
      .toString();
    const text =
      "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const pub = publicKeyFromPrivatePem(pem);
    expect(formatVerifierKey('PeterNeumann', pub)).toBe(
      'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
    );
    const line = new Uint8Array([
      ...ed25519KeyId('PeterNeumann', pub),
      ...signEd25519(pem, new TextEncoder().encode(text)),
    ]);
    expect(toBase64(line)).toBe(
      'x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=',
    );
  });
});

// A checkpoint of the arche2025h1 staging CT log (transparency.dev) as published with its witnesses'
// cosignatures: an independent check of the note format, the Ed25519 log signature and cosignature/v1.
const REAL =
  'arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n\n' +
  '— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n' +
  '— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n' +
  '— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n' +
  '— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n' +
  '— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n' +
  '— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n';

describe('interoperability with a published checkpoint', () => {
  it('verifies the log signature and the remora.n621.de cosignature', () => {
    const log = parseVerifierKey(
      'arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f',
    );
    const v = verifyCheckpoint(REAL, log.keyName, log.publicKey);
    expect(v).toMatchObject({
      ok: true,
      checkpoint: { origin: 'arche2025h1.staging.ct.transparency.dev', size: 1432088532 },
    });
    const remora = fromBase64('BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2'); // 0x04 || key
    expect(remora[0]).toBe(0x04);
    expect(toHex(cosignatureKeyId('remora.n621.de', remora.slice(1)))).toBe('da77ade7');
    const c = verifyCosignature(REAL, 'remora.n621.de', remora.slice(1));
    expect(c.ok).toBe(true);
    expect(c.ok && new Date(c.timestamp * 1000).getUTCFullYear()).toBeGreaterThanOrEqual(2025);
    const tampered = REAL.replace('1432088532', '1432088533');
    expect(code(verifyCheckpoint(tampered, log.keyName, log.publicKey))).toBe('CHECKPOINT_BAD_SIGNATURE');
    expect(code(verifyCosignature(tampered, 'remora.n621.de', remora.slice(1)))).toBe(
      'COSIGNATURE_BAD_SIGNATURE',
    );
  });
});

describe('witness cosignatures (cosignature/v1)', () => {
  const W = 'cloud.rigtrace.example/witness';
  const T = 1795413072;

  it('append an exact, verifiable cosignature line', () => {
    const cosigned = cosignCheckpoint(NOTE, W, TEST_WITNESS_KEY.privateKeyPem, T);
    expect(cosigned).toBe(
      `${NOTE}— cloud.rigtrace.example/witness DP4I+wAAAABrA9RQ+RLKYKZhmxxzOe11wxVFHNrMw903Q3324F1o+NQEPYPH9dmzkRF8XsxmFYk3o7xCF+cgduGOgroV74UBEEUYAQ==\n`,
    );
    expect(verifyCosignature(cosigned, W, TEST_WITNESS_KEY.publicKey)).toEqual({ ok: true, timestamp: T });
    // The edge's own signature still verifies on the cosigned note.
    expect(verifyCheckpoint(cosigned, EDGE, PUB).ok).toBe(true);
    // The signed message is "cosignature/v1\ntime <t>\n" + body.
    const line = fromBase64(cosigned.trimEnd().split(' ').at(-1)!);
    expect(line).toHaveLength(4 + 8 + 64);
    expect(Buffer.from(line.subarray(4, 12)).readBigUInt64BE()).toBe(BigInt(T));
    const msg = new TextEncoder().encode(`cosignature/v1\ntime ${T}\n${formatCheckpointBody(CP)}`);
    expect(verifyEd25519(TEST_WITNESS_KEY.publicKey, msg, line.subarray(12))).toBe(true);
  });

  it('refuse missing, wrong-key, tampered and malformed cosignatures', () => {
    const cosigned = cosignCheckpoint(NOTE, W, TEST_WITNESS_KEY.privateKeyPem, T);
    expect(code(verifyCosignature(NOTE, W, TEST_WITNESS_KEY.publicKey))).toBe('COSIGNATURE_MISSING');
    expect(code(verifyCosignature(cosigned, W, PUB))).toBe('COSIGNATURE_MISSING');
    // The edge's Ed25519 signature is not a cosignature (type 0x01 vs 0x04 key id).
    expect(code(verifyCosignature(NOTE, EDGE, PUB))).toBe('COSIGNATURE_MISSING');
    const line = fromBase64(cosigned.trimEnd().split(' ').at(-1)!);
    const later = line.slice();
    later[11]! ^= 1; // timestamp changed
    expect(code(verifyCosignature(`${NOTE}— ${W} ${toBase64(later)}\n`, W, TEST_WITNESS_KEY.publicKey))).toBe(
      'COSIGNATURE_BAD_SIGNATURE',
    );
    expect(
      code(
        verifyCosignature(`${NOTE}— ${W} ${toBase64(line.slice(0, 70))}\n`, W, TEST_WITNESS_KEY.publicKey),
      ),
    ).toBe('COSIGNATURE_MALFORMED');
    const huge = line.slice();
    huge.fill(0xff, 4, 12);
    expect(code(verifyCosignature(`${NOTE}— ${W} ${toBase64(huge)}\n`, W, TEST_WITNESS_KEY.publicKey))).toBe(
      'COSIGNATURE_MALFORMED',
    );
    expect(code(verifyCosignature('garbage', W, TEST_WITNESS_KEY.publicKey))).toBe('CHECKPOINT_MALFORMED');
    expect(() => cosignCheckpoint(NOTE, W, TEST_WITNESS_KEY.privateKeyPem, -1)).toThrow(RecordFormatError);
    expect(() => cosignCheckpoint(NOTE, 'bad name', TEST_WITNESS_KEY.privateKeyPem, T)).toThrow(
      expect.objectContaining({ code: 'KEY_NAME_INVALID' }),
    );
  });
});
