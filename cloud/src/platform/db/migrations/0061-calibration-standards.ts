import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 61,
  name: 'reference standards used by each calibration; re-evaluations of a calibration traceability',
  // calibration_standards: which calibrations cited a standard, found by a range scan when the
  // standard's own history changes (filled from the stored bodies here, then as each calibration
  // is stored). calibration_trace_reviews: every change of a stored calibration's traceability
  // after it was stored (append-only), the reason kept.
  sqlite: `
CREATE TABLE calibration_standards (
  tenant_id TEXT NOT NULL,
  standard TEXT NOT NULL,
  calibrated_at TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, standard, calibrated_at, calibration_id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE TABLE calibration_trace_reviews (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  standard TEXT NOT NULL,
  cause TEXT NOT NULL,
  status_before TEXT NOT NULL,
  status_after TEXT NOT NULL,
  issues_before TEXT NOT NULL,
  issues_after TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE INDEX calibration_trace_reviews_by_calibration ON calibration_trace_reviews (tenant_id, calibration_id, at);

INSERT OR IGNORE INTO calibration_standards (tenant_id, standard, calibrated_at, calibration_id)
  SELECT c.tenant_id, json_extract(s.value, '$.id'), c.calibrated_at, c.id
  FROM calibrations c, json_each(c.body, '$.standards') s
  WHERE json_extract(s.value, '$.id') IS NOT NULL;
`,
  postgres: `
CREATE TABLE calibration_standards (
  tenant_id TEXT NOT NULL,
  standard TEXT NOT NULL,
  calibrated_at TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, standard, calibrated_at, calibration_id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE TABLE calibration_trace_reviews (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  standard TEXT NOT NULL,
  cause TEXT NOT NULL,
  status_before TEXT NOT NULL,
  status_after TEXT NOT NULL,
  issues_before TEXT NOT NULL,
  issues_after TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE INDEX calibration_trace_reviews_by_calibration ON calibration_trace_reviews (tenant_id, calibration_id, at);

INSERT INTO calibration_standards (tenant_id, standard, calibrated_at, calibration_id)
  SELECT c.tenant_id, s.value->>'id', c.calibrated_at, c.id
  FROM calibrations c, jsonb_array_elements(COALESCE(c.body::jsonb->'standards', '[]'::jsonb)) s
  WHERE s.value->>'id' IS NOT NULL
  ON CONFLICT DO NOTHING;
ALTER TABLE calibration_standards ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibration_standards
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE calibration_trace_reviews ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibration_trace_reviews
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    { table: 'calibration_standards', privileges: 'SELECT, INSERT' },
    { table: 'calibration_trace_reviews', privileges: 'SELECT, INSERT' },
  ],
};
