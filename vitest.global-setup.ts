import { spawnSync } from 'node:child_process';

/**
 * Builds the portal once per test run, before any test file starts: the browser tests serve
 * portal/dist from the current sources, and building it from several test files at once would
 * let one build delete the assets another test's page is loading.
 */
export default function setup(): void {
  const build = spawnSync('npm', ['run', 'build', '-w', '@rigtrace/portal'], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (build.status !== 0) {
    throw new Error(`building the portal failed:\n${build.stdout}\n${build.stderr}`);
  }
}
