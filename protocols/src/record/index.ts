/**
 * The RigTrace record format: schemas, RFC 8785 canonical JSON, the RFC 6962 Merkle log, C2SP signed
 * checkpoints and cosignatures, batch and evidence verification. See protocols/RECORDS.md.
 */
export * from './errors.js';
export * from './base64.js';
export * from './canonical.js';
export * from './schema.js';
export * from './builder.js';
export * from './merkle.js';
export * from './keys.js';
export * from './checkpoint.js';
export * from './batch.js';
export * from './evidence.js';
export * from './evidence-command.js';
