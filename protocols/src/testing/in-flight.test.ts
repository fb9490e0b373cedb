import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InFlight } from './in-flight.js';

describe('InFlight', () => {
  it('waits for the run fast-check abandoned at its time limit', async () => {
    const inFlight = new InFlight();
    let finished = 0;
    let started = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        inFlight.track(async () => {
          // The first run ends at once (fast-check counts it), the next outlasts the time limit.
          if (started++ > 0) await new Promise((r) => setTimeout(r, 300));
          finished++;
        }),
      ),
      { numRuns: 100, interruptAfterTimeLimit: 100 },
    );
    // fast-check returned while a run was still under way …
    expect(finished).toBeLessThan(started);
    await inFlight.settled();
    // … and settled() waited for it.
    expect(finished).toBe(started);
  });
});
