import { format } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua';
import type { OpcuaLogger } from './types.js';

// Terminal colour codes node-opcua puts into its messages.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/gu;

/**
 * node-opcua tests at import whether this Node.js still decrypts RSA PKCS#1 v1.5 and, on Node 20
 * (from 20.11.1) and 21, warns `[NODE-OPCUA-W27] … use node flag --security-revert=CVE-2023-46809`.
 * Node disabled that decryption because of a timing attack (CVE-2023-46809, "Marvin"); in OPC UA
 * only the Basic128Rsa15 security policy needs it, and RigTrace neither offers nor accepts that
 * policy (SECURITY_POLICIES; the simulated bench neither). So the warning is answered by this one
 * plain line instead, and the flag, which would turn the vulnerable decryption back on, must not
 * be used.
 */
export const PKCS1_NOTE =
  'OPC UA: this Node.js refuses RSA PKCS#1 v1.5 decryption (CVE-2023-46809); only the deprecated ' +
  'Basic128Rsa15 security policy needs it, and RigTrace neither offers nor accepts that policy: ' +
  'nothing is affected (do not start Node.js with --security-revert)';

const isPkcs1Warning = (msg: string) => /NODE-OPCUA-W27|security-revert=CVE-2023-46809/.test(msg);

/** Where node-opcua's warnings and errors go: the routed logger, else stderr. */
let routed: OpcuaLogger | undefined;
let pkcs1Noted = false;

function warn(o: object, msg: string): void {
  if (isPkcs1Warning(msg)) {
    if (pkcs1Noted) return;
    pkcs1Noted = true;
    if (routed) routed.info({ source: 'node-opcua' }, PKCS1_NOTE);
    else process.stderr.write(`${PKCS1_NOTE}\n`);
    return;
  }
  if (routed) routed.warn(o, msg);
  else process.stderr.write(`node-opcua: ${msg}\n`);
}

/**
 * node-opcua writes its warnings and errors with console.log (to stdout, in colour). A process
 * whose stdout is a log or a protocol (JSON lines) calls this once to send them to its logger
 * instead. It is process-wide: node-opcua has one set of loggers for all its clients and servers.
 */
export function routeOpcuaLibraryLogs(logger: OpcuaLogger): void {
  routed = logger;
  setErrorLogger((context?: unknown, ...args: unknown[]) => {
    const { o, msg } = line(context, args);
    logger.error(o, msg);
  });
}

const line = (context: unknown, args: unknown[]): { o: object; msg: string } => {
  const ctx = (context ?? {}) as { filename?: string; callerline?: number };
  return {
    o: { source: `node-opcua/${ctx.filename ?? '?'}:${ctx.callerline ?? '?'}` },
    msg: format(...args)
      .replace(ANSI, '')
      .trim(),
  };
};

// Installed as soon as this module is loaded, before node-opcua's import-time check reports (it
// awaits an RSA key generation first): every process that uses the adapter gets the plain line.
setWarningLogger((context?: unknown, ...args: unknown[]) => {
  const { o, msg } = line(context, args);
  warn(o, msg);
});
