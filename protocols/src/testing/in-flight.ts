/**
 * fast-check's `interruptAfterTimeLimit` races an async property's run against the time limit and
 * abandons the run under way at the limit: that run goes on in the background, and its requests
 * can land while the test (or the next one) already reads the state they change. Wrap the
 * predicate with `track` and wait for `settled()` after `fc.assert`, before checking shared state.
 */
export class InFlight {
  private last: Promise<void> = Promise.resolve();

  track<A extends unknown[], R>(predicate: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return (...args: A) => {
      const run = predicate(...args);
      this.last = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    };
  }

  /** Resolves once the last run started has finished (passed or failed). */
  settled(): Promise<void> {
    return this.last;
  }
}
