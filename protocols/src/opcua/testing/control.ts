/**
 * Test fixture: a plain node-opcua session (not our adapter) to drive the bench: SetFault and
 * StartCalibration method calls.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataType,
  OPCUACertificateManager,
  OPCUAClient,
  UserTokenType,
  type ClientSession,
} from 'node-opcua';

export interface BenchControl {
  session: ClientSession;
  setFault(name: string, on: boolean): Promise<string>;
  startCalibration(equipmentId: string): Promise<string>;
  close(): Promise<void>;
}

export async function benchControl(
  endpointUrl: string,
  user?: { username: string; password: string },
): Promise<BenchControl> {
  const dir = mkdtempSync(join(tmpdir(), 'rigtrace-opcua-control-'));
  const certificateManager = new OPCUACertificateManager({
    rootFolder: dir,
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  });
  const client = OPCUAClient.create({
    endpointMustExist: false,
    clientCertificateManager: certificateManager,
    connectionStrategy: { maxRetry: 0 },
  });
  await client.connect(endpointUrl);
  const session = await client.createSession(
    user ? { type: UserTokenType.UserName, userName: user.username, password: user.password } : undefined,
  );
  const call = async (
    method: string,
    inputArguments: { dataType: DataType; value: unknown }[],
  ): Promise<string> => {
    const r = await session.call({
      objectId: 'ns=1;s=Bench',
      methodId: `ns=1;s=Bench.${method}`,
      inputArguments,
    });
    return r.statusCode.name;
  };
  return {
    session,
    setFault: (name, on) =>
      call('SetFault', [
        { dataType: DataType.String, value: name },
        { dataType: DataType.Boolean, value: on },
      ]),
    startCalibration: (equipmentId) =>
      call('StartCalibration', [{ dataType: DataType.String, value: equipmentId }]),
    async close() {
      await session.close().catch(() => undefined);
      await client.disconnect();
      await certificateManager.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
