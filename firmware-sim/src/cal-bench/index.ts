export * from './bench-model.js';
export * from './bench-server.js';
export * from './catalog.js';
export * from './config.js';
export * from './run.js';
