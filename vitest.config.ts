import { defineConfig } from 'vitest/config';

// One runner for every package. Workspace packages resolve to their TypeScript sources
// through the "rigtrace-source" export condition, so tests never need a build first.
export default defineConfig({
  resolve: { conditions: ['rigtrace-source'] },
  ssr: { resolve: { conditions: ['rigtrace-source'], externalConditions: ['rigtrace-source'] } },
  test: {
    include: ['{protocols,firmware-sim,edge,cloud,portal,deploy}/{src,test}/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['./vitest.global-setup.ts'],
  },
});
