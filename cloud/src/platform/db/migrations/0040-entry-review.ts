import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 40,
  name: 'second-person review of manual calibration entries: reject and return with a reason',
  // A manual entry is reviewed once: approved, rejected or returned for correction (a partial
  // unique index makes the three exclusive). Rejection and return carry the reviewer's reason,
  // bound into the signature manifest. A corrected entry names the returned one it replaces.
  sqlite: `
ALTER TABLE calibration_signatures ADD COLUMN reason TEXT;
CREATE UNIQUE INDEX calibration_signatures_one_review ON calibration_signatures (tenant_id, calibration_id)
  WHERE purpose IN ('approval', 'rejection', 'return');
ALTER TABLE calibrations ADD COLUMN corrects TEXT;
`,
  postgres: `
ALTER TABLE calibration_signatures ADD COLUMN reason TEXT;
CREATE UNIQUE INDEX calibration_signatures_one_review ON calibration_signatures (tenant_id, calibration_id)
  WHERE purpose IN ('approval', 'rejection', 'return');
ALTER TABLE calibrations ADD COLUMN corrects TEXT;
`,
};
