import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 65,
  name: 'live floor: signal dictionary and last completed test per rig',
  // signals: the JSON of the latest signal dictionary the rig's telemetry carried (RECORDS.md),
  // signals_at its observation time; last_test: the JSON of the rig's latest inspection (its
  // characteristics by test point), last_test_at its observation time. Newer wins, as for values.
  sqlite: `
ALTER TABLE live_rigs ADD COLUMN signals TEXT;
ALTER TABLE live_rigs ADD COLUMN signals_at TEXT;
ALTER TABLE live_rigs ADD COLUMN last_test TEXT;
ALTER TABLE live_rigs ADD COLUMN last_test_at TEXT;
`,
  postgres: `
ALTER TABLE live_rigs ADD COLUMN signals TEXT;
ALTER TABLE live_rigs ADD COLUMN signals_at TEXT;
ALTER TABLE live_rigs ADD COLUMN last_test TEXT;
ALTER TABLE live_rigs ADD COLUMN last_test_at TEXT;
`,
};
