import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 9,
  name: 'edge backlog reported on ingest',
  // The number of records an edge still holds unsent, from the X-RigTrace-Backlog header of
  // its last accepted batch, and when it said so (the admin's edges page).
  sqlite: `
ALTER TABLE edges ADD COLUMN backlog INTEGER;
ALTER TABLE edges ADD COLUMN backlog_at TEXT;
`,
  postgres: `
ALTER TABLE edges ADD COLUMN backlog BIGINT;
ALTER TABLE edges ADD COLUMN backlog_at TIMESTAMPTZ;
`,
};
