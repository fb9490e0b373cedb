// Module resolve hook: packages resolve to their TypeScript sources (the "rigtrace-source"
// export condition), as `node --conditions=rigtrace-source` would do.

/** @type {import('node:module').ResolveHook} */
export function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes('rigtrace-source')
    ? context.conditions
    : [...context.conditions, 'rigtrace-source'];
  return nextResolve(specifier, { ...context, conditions });
}
