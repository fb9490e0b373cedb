export * from './config.js';
export * from './run.js';
export * from './station-model.js';
