import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';

/** DER certificates in a PEM file (every CERTIFICATE block) or a DER file (one or a chain). */
export function readCertificates(file: string): Buffer[] {
  const bytes = readFileSync(file);
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN')) {
    const out: Buffer[] = [];
    for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/gu)) {
      out.push(Buffer.from((m[1] ?? '').replace(/\s+/gu, ''), 'base64'));
    }
    if (out.length === 0) throw new Error(`${file}: no CERTIFICATE block in this PEM file`);
    return out;
  }
  if (bytes[0] !== 0x30) throw new Error(`${file}: neither PEM nor DER`);
  return [bytes];
}

export interface ClientPki {
  certificateManager: OPCUACertificateManager;
  rootDir: string;
  /** The client certificate (created on first use), for the server operator's trust list. */
  certificateFile: string;
  dispose(): Promise<void>;
}

/**
 * Opens (creating if needed) the client's certificate store. Unknown server certificates are never
 * accepted automatically: they land in `<pki>/rejected/` and the connection is refused until the
 * certificate is listed in trustedServerCertificates or moved to `<pki>/trusted/certs/`. Without a
 * pkiDir (securityMode None) a throwaway store in a temp folder is used and removed by dispose().
 */
export async function openClientPki(
  pkiDir: string | undefined,
  trusted: string[],
  warn: (o: object, msg: string) => void,
): Promise<ClientPki> {
  const temp = pkiDir === undefined;
  const rootDir = pkiDir ?? mkdtempSync(join(tmpdir(), 'rigtrace-opcua-pki-'));
  const certificateManager = new OPCUACertificateManager({
    rootFolder: rootDir,
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  });
  await certificateManager.initialize();
  for (const file of trusted) {
    try {
      for (const der of readCertificates(file)) await certificateManager.trustCertificate(der);
    } catch (err) {
      warn({ file, error: (err as Error).message }, 'opcua: cannot read a trusted server certificate');
    }
  }
  return {
    certificateManager,
    rootDir,
    certificateFile: join(rootDir, 'own', 'certs', 'client_certificate.pem'),
    async dispose() {
      await certificateManager.dispose();
      if (temp) rmSync(rootDir, { recursive: true, force: true });
    },
  };
}
