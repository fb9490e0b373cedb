#!/usr/bin/env node
// The rigtrace-sim command (see scripts/bin/launch.js).
import { launch } from '../../scripts/bin/launch.js';

await launch(
  'rigtrace-sim',
  new URL('../dist/cli.js', import.meta.url),
  new URL('../src/cli.ts', import.meta.url),
);
