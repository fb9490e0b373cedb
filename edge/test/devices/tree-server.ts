/**
 * An OPC UA server with any node tree, for the edge's tests of tools and profiles: a plain
 * node-opcua server whose address space comes from the JSON argument, nothing like our bench
 * simulator. A tree maps browse names to objects (`{ "id"?: "i=1000", "children": {...} }`) or
 * variables (`{ "type": "Double", "value": 1.5, "id"?: "s=Doser.Setpoint", "array"?: true }`);
 * DateTime values are ISO texts. Objects are organized under Objects; ids are in namespace 1.
 *
 * Usage: tree-server.ts '{"port":0,"tree":{…}}'. Prints {"event":"listening","port":…}.
 */
import { DataType, OPCUAServer, Variant, VariantArrayType, nodesets, type UAObject } from 'node-opcua';

type Leaf = { type: keyof typeof DataType; value: unknown; id?: string; array?: boolean };
type Obj = { id?: string; children: Record<string, Node> };
type Node = Leaf | Obj;

const cfg = JSON.parse(process.argv[2] ?? '{}') as { port?: number; tree: Record<string, Node> };
const server = new OPCUAServer({
  port: cfg.port ?? 0,
  nodeset_filename: [nodesets.standard],
  buildInfo: { productName: 'TreeServer', manufacturerName: 'Elsewhere Controls' },
});
await server.initialize();
const space = server.engine.addressSpace!;
const ns = space.getOwnNamespace();

function add(parent: UAObject, name: string, node: Node, top: boolean): void {
  if ('type' in node) {
    const dataType = DataType[node.type];
    const value =
      node.type === 'DateTime'
        ? node.array
          ? (node.value as string[]).map((x) => new Date(x))
          : new Date(node.value as string)
        : node.value;
    ns.addVariable({
      componentOf: parent,
      browseName: name,
      ...(node.id ? { nodeId: node.id } : {}),
      dataType: node.type,
      ...(node.array ? { valueRank: 1, arrayDimensions: [0] } : {}),
      value: new Variant({
        dataType,
        arrayType: node.array ? VariantArrayType.Array : VariantArrayType.Scalar,
        value,
      }),
    });
    return;
  }
  const obj = ns.addObject({
    ...(top ? { organizedBy: parent } : { componentOf: parent }),
    browseName: name,
    ...(node.id ? { nodeId: node.id } : {}),
  });
  for (const [k, v] of Object.entries(node.children)) add(obj, k, v, false);
}

for (const [k, v] of Object.entries(cfg.tree)) add(space.rootFolder.objects, k, v, true);
await server.start();
process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.endpoints[0]!.port })}\n`);
process.on('SIGTERM', () => {
  void server.shutdown(0).then(() => process.exit(0));
});
