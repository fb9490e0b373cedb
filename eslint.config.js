import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import svelte from 'eslint-plugin-svelte';
import path from 'node:path';
import svelteConfig from './portal/svelte.config.js';

/**
 * The cloud's layout (cloud/src/README.md): `platform/` is the core and imports no feature; a
 * feature folder is used by others only through its `index.ts`. Root files (the composition:
 * app.ts, server.ts, cli.ts, openapi.ts) also go through the features' index files.
 */
const CLOUD_SRC = path.join(import.meta.dirname, 'cloud/src');
/** @param {string} file the folder under cloud/src ('' at its root), or undefined outside it */
const folderOf = (file) => {
  const rel = path.relative(CLOUD_SRC, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0] : '';
};
/** @type {import('eslint').ESLint.Plugin} */
const cloudLayout = {
  rules: {
    'feature-boundaries': {
      meta: {
        type: 'problem',
        docs: { description: "imports in cloud/src respect the platform and the features' public surfaces" },
        schema: [],
      },
      create(context) {
        const from = folderOf(context.filename);
        if (from === undefined) return {};
        /** @param {import('estree').ImportDeclaration | import('estree').ExportNamedDeclaration | import('estree').ExportAllDeclaration | import('estree').ImportExpression} node */
        const check = (node) => {
          const source = node.source;
          const spec = source && 'value' in source ? source.value : undefined;
          if (typeof spec !== 'string' || !spec.startsWith('.')) return;
          const target = path.resolve(path.dirname(context.filename), spec);
          const to = folderOf(target);
          if (to === undefined || to === '' || to === from) return;
          if (to === 'platform') return;
          if (from === 'platform') {
            context.report({ node, message: `platform/ may not import a feature (${to}/)` });
          } else if (path.relative(path.join(CLOUD_SRC, to), target) !== 'index.js') {
            context.report({ node, message: `import ${to}/ through its public surface ../${to}/index.js` });
          }
        };
        return {
          ImportDeclaration: check,
          ExportNamedDeclaration: check,
          ExportAllDeclaration: check,
          ImportExpression: check,
        };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.rigtrace-demo/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  ...svelte.configs['flat/recommended'],
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*/bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // The portal runs in the browser. Its .svelte files (and *.svelte.ts rune modules) are parsed by
    // svelte-eslint-parser, which hands <script lang="ts"> to typescript-eslint with the portal's
    // own tsconfig (found by the project service), so the type-aware rules above apply there too.
    files: ['portal/src/**/*.ts', 'portal/src/**/*.svelte'],
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'], svelteConfig },
    },
    rules: {
      // `{' '}` is how a template keeps a space at the edge of an {#if}/{:else} block (Svelte trims
      // whitespace there, even `&#32;`), and that is all this rule finds in the portal.
      'svelte/no-useless-mustaches': 'off',
    },
  },
  {
    // In rune modules (*.svelte.ts) this rule reports every Date, Map or Set made inside an exported
    // function or class, mutated or not (`new Date().toISOString()`, a fresh Map returned as a
    // value). It stays on in components, where it only reports instances that are mutated.
    files: ['portal/src/**/*.svelte.ts'],
    rules: { 'svelte/prefer-svelte-reactivity': 'off' },
  },
  {
    files: ['cloud/src/**/*.ts'],
    ignores: ['cloud/src/**/*.test.ts'],
    plugins: { 'cloud-layout': cloudLayout },
    rules: { 'cloud-layout/feature-boundaries': 'error' },
  },
  {
    // The layers inside a feature (cloud/src/README.md): services and repositories do not see
    // express; they take the request's Viewer (or Caller) and plain values.
    files: ['cloud/src/**/*.service.ts', 'cloud/src/**/*.repository.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'express',
              message: 'services and repositories do not see express: take a Viewer or Caller',
            },
          ],
          patterns: [{ group: ['express-*'], message: 'services and repositories do not see express' }],
        },
      ],
    },
  },
  {
    // Routes parse the input, call one service method and answer: the composition root (server.ts)
    // builds the services, and the services open the transactions.
    files: ['cloud/src/**/*.routes.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'CallExpression[callee.property.name=/^(transaction|withTenant|withTenantStatement)$/]',
          message:
            'routes open no transactions and scope no statements (Db.transaction, Db.withTenant…): services do',
        },
        {
          selector: 'NewExpression[callee.name=/(Service|Repository)$/]',
          message: 'routes build no services or repositories: server.ts does, and hands them to the routes',
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', '**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  prettier,
  ...svelte.configs['flat/prettier'],
);
