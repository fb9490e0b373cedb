import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AttributeIds,
  BrowseDirection,
  DataType,
  MessageSecurityMode,
  NodeClass,
  NodeClassMask,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  makeResultMask,
  resolveNodeId,
  type ClientSession,
  type NodeId,
  type ReferenceDescription,
} from 'node-opcua';
import { variantValue } from './convert.js';

/** One node found while browsing a server. */
export interface BrowsedNode {
  /** Browse names from the start node, `/`-separated; a name outside namespace 0 is prefixed `ns:`. */
  path: string;
  nodeId: string;
  nodeClass: 'Object' | 'Variable' | 'Method';
  /** A variable's data type (`Double`, `DateTime`, a structure's name), with `[]` for an array. */
  dataType?: string;
  /** A variable's current value, or its status when it has none. */
  value?: unknown;
  status?: string;
  depth: number;
}

export interface BrowseOptions {
  endpointUrl: string;
  /** The node to start from (default the Objects folder, i=85). */
  from?: string;
  /** How many levels below the start node (1 = its children only). */
  depth: number;
  /** Stop after this many nodes. */
  maxNodes: number;
  timeoutMs: number;
  /** Where the client keeps its certificate (made on first use); default a temporary folder removed afterwards. */
  pkiDir?: string;
}

/** A problem with what was asked (a node id that does not parse or that the server does not have). */
export class BrowseInputError extends Error {}

const SERVER_OBJECT = 'ns=0;i=2253';

/**
 * Browses a server's address space (security mode None, anonymous) from a node, depth first,
 * following hierarchical references, and reads each variable's data type and value. The Server
 * object under Objects (the server's own diagnostics) is skipped unless it is the start node.
 * The client's certificate lives in `pkiDir`, or in a temporary folder removed afterwards.
 */
export async function browseServer(o: BrowseOptions): Promise<{ nodes: BrowsedNode[]; truncated: boolean }> {
  let start: NodeId;
  try {
    start = resolveNodeId(o.from ?? 'ns=0;i=85');
  } catch (err) {
    throw new BrowseInputError(`--from "${o.from}" is not a node id (${(err as Error).message})`);
  }
  const pkiDir = o.pkiDir ?? mkdtempSync(path.join(os.tmpdir(), 'rigtrace-browse-'));
  const certificateManager = new OPCUACertificateManager({
    rootFolder: pkiDir,
    automaticallyAcceptUnknownCertificate: false,
  });
  const client = OPCUAClient.create({
    applicationName: 'RigTrace-Edge-Browse',
    clientCertificateManager: certificateManager,
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    defaultTransactionTimeout: o.timeoutMs,
  });
  try {
    await withTimeout(client.connect(o.endpointUrl), o.timeoutMs, `cannot connect to ${o.endpointUrl}`);
    const session = await client.createSession();
    try {
      return await walk(session, start, o);
    } finally {
      await session.close().catch(() => undefined);
    }
  } finally {
    await client.disconnect().catch(() => undefined);
    await certificateManager.dispose().catch(() => undefined);
    if (!o.pkiDir) rmSync(pkiDir, { recursive: true, force: true });
  }
}

async function walk(
  session: ClientSession,
  start: NodeId,
  o: BrowseOptions,
): Promise<{ nodes: BrowsedNode[]; truncated: boolean }> {
  const [startClass] = await session.read([{ nodeId: start, attributeId: AttributeIds.NodeClass }]);
  if (!startClass?.statusCode.isGood())
    throw new BrowseInputError(
      `the server has no node ${start.toString()} (${startClass?.statusCode.name ?? 'no answer'})`,
    );
  const nodes: BrowsedNode[] = [];
  const typeNames = new Map<string, string>();
  let truncated = false;
  const visit = async (nodeId: NodeId, prefix: string, depth: number): Promise<void> => {
    if (depth > o.depth || truncated) return;
    const refs = await children(session, nodeId);
    for (const r of refs) {
      if (nodes.length >= o.maxNodes) {
        truncated = true;
        return;
      }
      const id = r.nodeId.toString();
      if (id === SERVER_OBJECT && start.toString() !== SERVER_OBJECT) continue;
      const name =
        r.browseName.namespaceIndex === 0
          ? r.browseName.name!
          : `${r.browseName.namespaceIndex}:${r.browseName.name}`;
      const p = prefix ? `${prefix}/${name}` : name;
      const cls = NodeClass[r.nodeClass] as BrowsedNode['nodeClass'];
      const node: BrowsedNode = { path: p, nodeId: id, nodeClass: cls, depth };
      nodes.push(node);
      if (cls === 'Variable') await describeVariable(session, r.nodeId, node, typeNames);
      await visit(r.nodeId, p, depth + 1);
    }
  };
  await visit(start, '', 1);
  return { nodes, truncated };
}

async function children(session: ClientSession, nodeId: NodeId): Promise<ReferenceDescription[]> {
  const out: ReferenceDescription[] = [];
  let result = await session.browse({
    nodeId,
    browseDirection: BrowseDirection.Forward,
    referenceTypeId: 'HierarchicalReferences',
    includeSubtypes: true,
    nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable | NodeClassMask.Method,
    resultMask: makeResultMask('ReferenceType | IsForward | BrowseName | NodeClass | TypeDefinition'),
  });
  out.push(...(result.references ?? []));
  while (result.continuationPoint && result.continuationPoint.length > 0) {
    result = await session.browseNext(result.continuationPoint, false);
    out.push(...(result.references ?? []));
  }
  return out;
}

async function describeVariable(
  session: ClientSession,
  nodeId: NodeId,
  node: BrowsedNode,
  typeNames: Map<string, string>,
): Promise<void> {
  const [dt, rank, value] = await session.read([
    { nodeId, attributeId: AttributeIds.DataType },
    { nodeId, attributeId: AttributeIds.ValueRank },
    { nodeId, attributeId: AttributeIds.Value },
  ]);
  const typeId = dt?.value.value as NodeId | undefined;
  if (typeId) {
    let name = typeNames.get(typeId.toString());
    if (name === undefined) {
      if (typeId.namespace === 0 && typeof typeId.value === 'number' && DataType[typeId.value])
        name = DataType[typeId.value]!;
      else {
        const [bn] = await session.read([{ nodeId: typeId, attributeId: AttributeIds.BrowseName }]);
        name = (bn?.value.value as { name?: string } | undefined)?.name ?? typeId.toString();
      }
      typeNames.set(typeId.toString(), name);
    }
    const r = rank?.value.value as number | undefined;
    node.dataType = r !== undefined && r >= 1 ? `${name}[]` : name;
  }
  if (value?.statusCode.isGood()) node.value = variantValue(value.value);
  else node.status = value?.statusCode.name ?? 'no answer';
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
