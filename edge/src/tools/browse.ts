import path from 'node:path';
import type { BrowsedNode } from '@rigtrace/protocols/opcua';

/**
 * `rigtrace-edge browse opc.tcp://host:port[/path]`: lists a server's nodes (browse path, node
 * id, data type, value) from the Objects folder or `--from` a node, `--depth` levels down, so a
 * technician can find the nodes of a result block before writing a mapping.
 */
export interface BrowseArgs {
  url: string;
  depth: number;
  from: string | undefined;
  max: number;
  timeoutMs: number;
  pkiDir: string | undefined;
}

/** Checks the command's input; throws with a message naming what is wrong (exit 2). */
export function parseBrowseArgs(
  positionals: string[],
  v: { depth?: string; from?: string; max?: string; 'timeout-ms'?: string; pki?: string },
): BrowseArgs {
  if (positionals.length !== 1) throw new Error('browse takes one opc.tcp://host:port[/path]');
  const url = positionals[0]!;
  if (!/^opc\.tcp:\/\/([^\s/:]+|\[[^\]\s]+\])(:\d{1,5})?(\/\S*)?$/.test(url))
    throw new Error(`"${url}" is not opc.tcp://host:port[/path]`);
  const port = /:(\d+)(\/|$)/.exec(url.replace(/^opc\.tcp:\/\//, ''))?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    throw new Error(`port ${port} is out of range`);
  const int = (name: string, s: string | undefined, dflt: number, lo: number, hi: number) => {
    if (s === undefined) return dflt;
    if (!/^\d+$/.test(s) || Number(s) < lo || Number(s) > hi)
      throw new Error(`--${name} "${s}" must be a whole number from ${lo} to ${hi}`);
    return Number(s);
  };
  return {
    url,
    depth: int('depth', v.depth, 3, 1, 20),
    from: v.from,
    max: int('max', v.max, 2000, 1, 100_000),
    timeoutMs: int('timeout-ms', v['timeout-ms'], 5000, 100, 120_000),
    pkiDir: v.pki ? path.resolve(v.pki) : undefined,
  };
}

function show(v: unknown): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) {
    const head = v.slice(0, 8).map((x) => JSON.stringify(x));
    return `[${head.join(', ')}${v.length > 8 ? `, … ${v.length} values` : ''}]`;
  }
  const s = typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 119)}…` : s;
}

/** An error about what was asked (exit code 2), not about the server. */
const inputError = (message: string) => Object.assign(new Error(message), { exitCode: 2 });

/** Browses and formats: a header, then one tab-separated line per node. */
export async function browse(a: BrowseArgs): Promise<string[]> {
  // Loaded here: node-opcua takes seconds to load, and input is checked without it.
  const { BrowseInputError, browseServer, isNodeId, routeOpcuaLibraryLogs } =
    await import('@rigtrace/protocols/opcua');
  if (a.from !== undefined && !isNodeId(a.from))
    throw inputError(`--from "${a.from}" is not a node id (e.g. ns=2;s=Line4, ns=3;i=5001, i=85)`);
  let result: { nodes: BrowsedNode[]; truncated: boolean };
  // node-opcua prints its own notices on stdout; the answer is what goes there.
  const quiet = () => undefined;
  routeOpcuaLibraryLogs({ warn: quiet, error: quiet, info: quiet, debug: quiet });
  try {
    result = await browseServer({
      endpointUrl: a.url,
      depth: a.depth,
      maxNodes: a.max,
      timeoutMs: a.timeoutMs,
      ...(a.from ? { from: a.from } : {}),
      ...(a.pkiDir ? { pkiDir: a.pkiDir } : {}),
    });
  } catch (err) {
    if (err instanceof BrowseInputError) throw inputError(err.message);
    throw err;
  }
  const lines = [
    `${a.url}: ${result.nodes.length} nodes from ${a.from ?? 'Objects'}, ${a.depth} level${a.depth === 1 ? '' : 's'} down`,
    ['path', 'nodeId', 'type', 'value'].join('\t'),
  ];
  for (const n of result.nodes) {
    const type = n.nodeClass === 'Variable' ? (n.dataType ?? 'Variable') : n.nodeClass;
    const value = n.status ? `(${n.status})` : show(n.value);
    lines.push([n.path, n.nodeId, type, value].join('\t'));
  }
  if (result.truncated)
    lines.push(`(stopped after ${a.max} nodes: use --from and --depth to narrow, or --max)`);
  return lines;
}
