// Starts a package's command: its built entry point (dist/, after `npm run build`) when there is
// one, otherwise, in a checkout that was not built, its TypeScript sources through tsx (a
// development dependency). The commands in node_modules/.bin (`npx rigtrace-cloud`, ...) link to
// the small bin/ files that call this, which exist from the moment the repository is cloned.
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * @param {string} name the command, for the error message
 * @param {URL} built the compiled entry point, e.g. dist/cli.js
 * @param {URL} source its TypeScript source, e.g. src/cli.ts
 */
export async function launch(name, built, source) {
  if (existsSync(fileURLToPath(built))) {
    await import(built.href);
    return;
  }
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write(
      `${name}: ${fileURLToPath(built)} does not exist: run \`npm run build\` in the repository first\n`,
    );
    process.exit(2);
  }
  tsx.register();
  register('./source-conditions.js', import.meta.url);
  await import(source.href);
}
