import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * One suspect query (CALIBRATION.md, Reverse traceability): the records made with a failed
 * instrument — as their equipment, as a gauge, or by a rig while it sat in one of the rig's
 * positions — are selected in one place, InspectionRepository.suspect. The instrument's
 * suspect-records, its out-of-tolerance case and the compliance reports all read that query
 * (TraceabilityService.suspectPages), so a rule added to it holds everywhere at once.
 */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('the suspect query', () => {
  it('is written once: only the production index joins a device’s installations to the records', () => {
    const writers = sources(SRC)
      .filter((f) =>
        /FROM\s+\$\{INSTALLED_IN\}|FROM installations i\s+JOIN traceable_records/.test(
          readFileSync(f, 'utf8'),
        ),
      )
      .map((f) => path.relative(SRC, f).split(path.sep).join('/'));
    expect(writers).toEqual(['production/inspection.repository.ts']);
  });

  it('is what the reports read: no report builds its own suspect SQL', () => {
    for (const f of sources(path.join(SRC, 'reports'))) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/traceable_records t\b/);
      expect(text, f).not.toMatch(/\binstallations\b/);
    }
    expect(readFileSync(path.join(SRC, 'reports', 'builders.ts'), 'utf8')).toContain(
      'deps.traceability.suspectPages(',
    );
  });
});
