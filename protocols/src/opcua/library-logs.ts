import { format } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua';
import type { OpcuaLogger } from './types.js';

// Terminal colour codes node-opcua puts into its messages.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/gu;

/**
 * node-opcua writes its warnings and errors with console.log (to stdout, in colour). A process
 * whose stdout is a log or a protocol (JSON lines) calls this once to send them to its logger
 * instead. It is process-wide: node-opcua has one set of loggers for all its clients and servers.
 */
export function routeOpcuaLibraryLogs(logger: OpcuaLogger): void {
  const line = (context: unknown, args: unknown[]): { o: object; msg: string } => {
    const ctx = (context ?? {}) as { filename?: string; callerline?: number };
    return {
      o: { source: `node-opcua/${ctx.filename ?? '?'}:${ctx.callerline ?? '?'}` },
      msg: format(...args)
        .replace(ANSI, '')
        .trim(),
    };
  };
  setWarningLogger((context?: unknown, ...args: unknown[]) => {
    const { o, msg } = line(context, args);
    logger.warn(o, msg);
  });
  setErrorLogger((context?: unknown, ...args: unknown[]) => {
    const { o, msg } = line(context, args);
    logger.error(o, msg);
  });
}
