/**
 * Test helpers shared by the edge and cloud tests: fixed keys, example records and signed
 * batches. Kept out of the package's main export so that product code never reaches test keys.
 */
export * from '../record/testing.js';
export * from './processes.js';
export * from './raw-modbus-server.js';
export { freePort, startPymodbus, type PymodbusServer } from '../modbus/testing/test-device.js';
export { InFlight } from './in-flight.js';
export { startTcpProxy, type TcpProxy } from '../opcua/testing/tcp-proxy.js';
