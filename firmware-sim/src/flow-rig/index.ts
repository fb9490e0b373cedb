export * from './config.js';
export * from './flow-rig-server.js';
export * from './prng.js';
export * from './register-map.js';
export * from './rig-model.js';
export * from './run.js';
