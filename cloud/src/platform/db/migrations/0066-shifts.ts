import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 66,
  name: 'shifts per site',
  // JSON array of { name, start: "HH:MM" } in the site's time zone; null: the default three shifts.
  sqlite: `ALTER TABLE sites ADD COLUMN shifts TEXT;`,
  postgres: `ALTER TABLE sites ADD COLUMN shifts TEXT;`,
};
