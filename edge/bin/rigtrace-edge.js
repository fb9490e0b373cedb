#!/usr/bin/env node
// The rigtrace-edge command (see scripts/bin/launch.js).
import { launch } from '../../scripts/bin/launch.js';

await launch(
  'rigtrace-edge',
  new URL('../dist/cli.js', import.meta.url),
  new URL('../src/cli.ts', import.meta.url),
);
