import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { EdgeError } from '../errors.js';
import { parseJsonConfig } from './json-config.js';

/**
 * Reads a config file into a plain value, not yet validated (see loadConfig). JSON, what tools
 * write, is read with JSON.parse; anything else, or JSON that YAML would refuse, as YAML.
 *
 * This module loads only the YAML parser, so that the CLI can read a large config before it loads
 * the schema and the agent: the parse (~50 MB of transient heap for 10,000 points in YAML) then
 * peaks on a small process, and the agent's modules reuse the memory it frees.
 */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new EdgeError('EDGE_CONFIG_UNREADABLE', `${file}: ${(err as Error).message}`);
  }
  const json = parseJsonConfig(text);
  if (json) return json;
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new EdgeError(
      'EDGE_CONFIG_INVALID',
      undefined,
      doc.errors.map((e) => `${file}: ${e.message.split('\n')[0] ?? e.message}`),
    );
  }
  try {
    // toJS resolves aliases: an unresolved one or an alias bomb throws here.
    return doc.toJS() ?? {};
  } catch (err) {
    throw new EdgeError('EDGE_CONFIG_INVALID', undefined, [`${file}: ${(err as Error).message}`]);
  }
}
