import path from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import { filterCovers, topicFilterProblem } from '@rigtrace/protocols/mqtt';
import { EdgeError } from '../errors.js';
import { edgeConfigSchema, type EdgeConfig } from './config.schema.js';
import { readConfigFile } from './config-file.js';
import { recordMappingProblems } from '../mapping/check.js';
import { mqttRecordMappingProblems } from '../mapping/mqtt-records.js';
import { expandProfiles } from '../mapping/profiles.js';
import { translateLegacyBlocks } from '../mapping/legacy-blocks.js';

/** Formats a zod issue path as `sources[0].points[3].type`. */
export function formatPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const part of p) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

function issueLines(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

/** Whether two valid topic filters can match the same topic (one covers the other). */
const overlaps = (a: string, b: string) => filterCovers(a, b) || filterCovers(b, a);

/** Problems a schema cannot see: references between fields. */
function crossChecks(cfg: EdgeConfig): string[] {
  const problems: string[] = [];
  const sourceIds = new Set<string>();
  cfg.sources.forEach((s, si) => {
    if (sourceIds.has(s.id)) problems.push(`sources[${si}].id: duplicate source id "${s.id}"`);
    sourceIds.add(s.id);
    if (s.protocol === 'mqtt-broker') {
      const users = new Set<string>();
      s.devices.forEach((d, di) => {
        if (users.has(d.username))
          problems.push(`sources[${si}].devices[${di}].username: duplicate "${d.username}"`);
        users.add(d.username);
        [...d.publish, ...d.subscribe].forEach((f) => {
          const p = topicFilterProblem(f);
          if (p) problems.push(`sources[${si}].devices[${di}]: topic filter "${f}" ${p}`);
        });
      });
      problems.push(
        ...mqttRecordMappingProblems(s.records ?? [], si, topicFilterProblem, (f) =>
          s.devices.some((d) => d.publish.some((a) => !topicFilterProblem(a) && overlaps(a, f))),
        ),
      );
      return;
    }
    if (s.protocol === 'opcua') {
      const items = new Set<string>();
      s.items.forEach((it, ii) => {
        if (items.has(it.name))
          problems.push(`sources[${si}].items[${ii}].name: duplicate item "${it.name}"`);
        items.add(it.name);
      });
      s.telemetry?.items?.forEach((n, i) => {
        if (!items.has(n)) problems.push(`sources[${si}].telemetry.items[${i}]: no item named "${n}"`);
      });
      if (s.securityMode !== 'None' && s.securityPolicy === 'None')
        problems.push(
          `sources[${si}].securityPolicy: ${s.securityMode} needs a security policy other than None`,
        );
      if (s.securityMode !== 'None' && s.trustedServerCertificates.length === 0)
        problems.push(
          `sources[${si}].trustedServerCertificates: ${s.securityMode} needs the server's certificate in the trust list`,
        );
      if (s.passwordEnv && !process.env[s.passwordEnv])
        problems.push(`sources[${si}].passwordEnv: environment variable ${s.passwordEnv} is not set`);
      problems.push(...recordMappingProblems(s, si));
      return;
    }
    if (s.protocol === 'mqtt') {
      s.topics.forEach((t, ti) => {
        const p = topicFilterProblem(t.filter);
        if (p) problems.push(`sources[${si}].topics[${ti}].filter: ${p}`);
      });
      if (s.passwordEnv && !process.env[s.passwordEnv])
        problems.push(`sources[${si}].passwordEnv: environment variable ${s.passwordEnv} is not set`);
      if ((s.certFile === undefined) !== (s.keyFile === undefined))
        problems.push(`sources[${si}]: certFile and keyFile go together`);
      problems.push(
        ...mqttRecordMappingProblems(s.records ?? [], si, topicFilterProblem, (f) =>
          s.topics.some((t) => !topicFilterProblem(t.filter) && overlaps(t.filter, f)),
        ),
      );
      return;
    }
    const names = new Map<string, number>();
    s.points.forEach((p, pi) => {
      if (names.has(p.name)) problems.push(`sources[${si}].points[${pi}].name: duplicate point "${p.name}"`);
      names.set(p.name, pi);
      const bit = p.area === 'coil' || p.area === 'discrete';
      if (bit !== (p.type === 'bool'))
        problems.push(
          `sources[${si}].points[${pi}].type: ${p.type} cannot be read from ${p.area} ${bit ? 'bits' : 'registers'}`,
        );
      if (p.type === 'string' && p.length === undefined)
        problems.push(`sources[${si}].points[${pi}].length: required for type string`);
    });
    const ref = (where: string, point: string | number | undefined) => {
      if (typeof point === 'string' && !names.has(point))
        problems.push(`sources[${si}].${where}: no point named "${point}" in this source`);
    };
    s.telemetry?.points?.forEach((n, i) => ref(`telemetry.points[${i}]`, n));
    if (s.usage) {
      for (const k of ['state', 'cycles', 'operator', 'workOrder', 'partSerial'] as const)
        ref(`usage.${k}`, s.usage[k]);
    }
    problems.push(...recordMappingProblems(s, si));
  });
  try {
    const u = new URL(cfg.cloud.url);
    const loopback =
      ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname) || u.hostname.startsWith('127.');
    if (u.protocol === 'http:' && !loopback && !cfg.cloud.allowInsecureHttp)
      problems.push(
        `cloud.url: plain http to ${u.hostname} is refused; use https, or set cloud.allowInsecureHttp: true to accept the risk`,
      );
  } catch {
    /* the schema already reported an invalid URL */
  }
  return problems;
}

/** Validates a parsed config object. Every problem is listed, one per line, path first. */
export function validateConfig(raw: unknown, baseDir = process.cwd()): EdgeConfig {
  const profileProblems = expandProfiles(raw);
  if (profileProblems.length > 0) throw new EdgeError('EDGE_CONFIG_INVALID', undefined, profileProblems);
  // The older result blocks become records entries; their problems are listed with the schema's.
  const legacyProblems = translateLegacyBlocks(raw, issueLines);
  const parsed = edgeConfigSchema.safeParse(raw);
  if (!parsed.success)
    throw new EdgeError('EDGE_CONFIG_INVALID', undefined, [
      ...legacyProblems,
      ...issueLines(parsed.error.issues),
    ]);
  const problems = [...legacyProblems, ...crossChecks(parsed.data)];
  if (problems.length > 0) throw new EdgeError('EDGE_CONFIG_INVALID', undefined, problems);
  const cfg = parsed.data;
  cfg.edge.dataDir = path.resolve(baseDir, cfg.edge.dataDir);
  return deepFreeze(cfg);
}

type AnySchema = z.ZodType & {
  _zod: { def: { type: string; innerType?: AnySchema; shape?: Record<string, AnySchema> } };
};

function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  while (cur._zod.def.innerType) cur = cur._zod.def.innerType;
  return cur;
}

/**
 * Environment overrides, derived from the schema: `RIGTRACE_EDGE_<SECTION>_<KEY>` sets
 * `<section>.<key>` (upper-cased, e.g. RIGTRACE_EDGE_CLOUD_URL, RIGTRACE_EDGE_BUFFER_QUOTAMB,
 * RIGTRACE_EDGE_LOG_LEVEL). Values are read as YAML scalars, so numbers and booleans work.
 */
export function envOverrides(
  env: NodeJS.ProcessEnv,
): { path: [string, string]; value: unknown; name: string }[] {
  const out: { path: [string, string]; value: unknown; name: string }[] = [];
  const top = unwrap(edgeConfigSchema)._zod.def.shape ?? {};
  for (const [section, sectionSchema] of Object.entries(top)) {
    const shape = unwrap(sectionSchema)._zod.def.shape;
    if (!shape) continue;
    for (const key of Object.keys(shape)) {
      const name = `RIGTRACE_EDGE_${section.toUpperCase()}_${key.toUpperCase()}`;
      const raw = env[name];
      if (raw !== undefined && raw !== '') out.push({ path: [section, key], value: parse(raw), name });
    }
  }
  return out;
}

/**
 * Reads (see readConfigFile) and validates a config file; relative paths in it are relative to
 * the file. `read` is the file's value when the caller has read it already.
 */
export function loadConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  read: unknown = readConfigFile(file),
): EdgeConfig {
  const raw = read as Record<string, unknown>;
  // Overrides go into a mapping only; anything else is refused by the schema below.
  const isMapping = typeof raw === 'object' && !Array.isArray(raw) && !Buffer.isBuffer(raw);
  for (const o of isMapping ? envOverrides(env) : []) {
    const [section, key] = o.path;
    const obj = raw[section];
    raw[section] = {
      ...(obj && typeof obj === 'object' ? obj : {}),
      [key]: o.value,
    };
  }
  return validateConfig(raw, path.dirname(path.resolve(file)));
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
