#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

type Values<T extends ParseArgsOptionsConfig> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string;
};
import { readConfigFile } from './config/config-file.js';
import { EdgeError } from './errors.js';
// Only the usage text: the record module itself is imported by the command that needs it.
const VERIFY_EVIDENCE_USAGE = `verify-evidence BUNDLE.json --edge-key KEY --witness-key KEY
                                                  check an evidence bundle offline (exit 0 verified, 1 not;
                                                  protocols/RECORDS.md section 7 for the keys)`;

/** Each command's help (`rigtrace-edge help <command>`, `rigtrace-edge <command> --help`). */
const HELP: Record<string, string> = {
  run: `run --config FILE                               start the agent`,
  'check-config': `check-config FILE                               validate a config file and exit (0 valid, 2 invalid)`,
  enroll: `enroll --config FILE --cloud URL --token TOKEN  register this edge with the cloud (once); URL is the
                                                  cloud's public address, TOKEN a one-time enrollment token`,
  status: `status --config FILE                            print the running agent's status`,
  probe: `probe modbus://HOST:PORT/UNIT [--registers 0-40] [--area holding|input]
                                                  read registers once and show each decoded every way
                                                  (to find where a device keeps its values before mapping it)`,
  browse: `browse opc.tcp://HOST:PORT[/PATH] [--depth 3] [--from NODEID] [--max 2000] [--pki DIR]
                                                  list an OPC UA server's nodes: browse path, node id,
                                                  data type and value (to find the nodes to map)`,
  'hash-password': `hash-password                                   read a device password on stdin, print its argon2id hash
                                                  (for sources[].devices[].passwordHash of an mqtt-broker source)`,
  'verify-evidence': VERIFY_EVIDENCE_USAGE,
  help: `help [COMMAND]                                  this text, or one command's`,
};

const USAGE = `usage: rigtrace-edge <command> [options]

commands:
${Object.values(HELP)
  .map((h) => `  ${h}`)
  .join('\n')}
`;

const helpOf = (cmd: string) => `usage: rigtrace-edge ${HELP[cmd]!}\n`;

/**
 * Reads and validates the config. The file is read first, and the modules that validate and use
 * it (and everything else heavy: the agent, the MQTT broker, SQLite, pino) are imported only
 * afterwards, so that a large config is parsed while the process is still small: for 10,000 points
 * in YAML this keeps ~13 MB off the agent's peak RSS.
 */
async function config(file: string) {
  const read = readConfigFile(file);
  const { loadConfig } = await import('./config/config.js');
  return loadConfig(file, process.env, read);
}

/** A stop that takes longer is cut short (see `run`). */
const STOP_DEADLINE_MS = 4500;

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration problem. */
function fail(lines: string[], code: number): never {
  for (const l of lines) process.stderr.write(`${l}\n`);
  process.exit(code);
}

function parse<T extends ParseArgsOptionsConfig>(
  argv: string[],
  options: T,
  positionals = false,
): { values: Values<T>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
    return { values: r.values, positionals: r.positionals };
  } catch (err) {
    fail([`rigtrace-edge: ${(err as Error).message}`, USAGE], 2);
  }
}

function requireFlag(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') fail([`rigtrace-edge: --${name} is required`, USAGE], 2);
  return v;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    if (topic === undefined) return void process.stdout.write(USAGE);
    if (!(topic in HELP)) fail([`rigtrace-edge: no command "${topic}"`, USAGE], 2);
    return void process.stdout.write(helpOf(topic));
  }
  if (command === undefined) fail(['rigtrace-edge: a command is required', USAGE], 2);
  if (command in HELP && rest.some((a) => a === '--help' || a === '-h'))
    return void process.stdout.write(helpOf(command));
  switch (command) {
    case 'check-config': {
      const { values, positionals } = parse(rest, { config: { type: 'string' } }, true);
      const file = values.config ?? positionals[0];
      if (!file || positionals.length > 1) fail(['rigtrace-edge: check-config takes one FILE', USAGE], 2);
      const cfg = await config(file);
      process.stdout.write(
        `${file}: valid (${cfg.sources.length} source${cfg.sources.length === 1 ? '' : 's'})\n`,
      );
      return;
    }
    case 'enroll': {
      const { values } = parse(rest, {
        config: { type: 'string' },
        cloud: { type: 'string' },
        token: { type: 'string' },
      });
      const cfg = await config(requireFlag(values, 'config'));
      const { enroll } = await import('./identity.js');
      const id = await enroll({
        dataDir: cfg.edge.dataDir,
        cloudUrl: requireFlag(values, 'cloud'),
        token: requireFlag(values, 'token'),
        name: cfg.edge.name,
      });
      process.stdout.write(`enrolled as edge ${id.edgeId} (tenant ${id.tenantId}, site ${id.siteId})\n`);
      return;
    }
    case 'status': {
      const { values } = parse(rest, { config: { type: 'string' } });
      const cfg = await config(requireFlag(values, 'config'));
      let url: string;
      try {
        url = (
          JSON.parse(readFileSync(path.join(cfg.edge.dataDir, 'status.json'), 'utf8')) as { url: string }
        ).url;
      } catch {
        fail([`rigtrace-edge: no running agent found for ${cfg.edge.dataDir}`], 1);
      }
      const res = await fetch(`${url}/status`).catch(() =>
        fail([`rigtrace-edge: the agent at ${url} does not answer`], 1),
      );
      process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
      return;
    }
    case 'run': {
      const { values } = parse(rest, { config: { type: 'string' } });
      const cfg = await config(requireFlag(values, 'config'));
      const { Agent } = await import('./agent.js');
      const { createLogger } = await import('./logger.js');
      const logger = createLogger(cfg.log.level);
      const agent = new Agent(cfg, logger);
      const started = await agent.start();
      logger.info(started, 'edge agent running');
      // One machine-readable line, whatever the log level, for supervisors and tests.
      process.stdout.write(`${JSON.stringify({ event: 'running', ...started })}\n`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping');
        // Done within 5 s whatever the state (systemd's TimeoutStopSec is 30): every record the
        // agent acknowledged is already durable, so cutting a slow stop short loses nothing.
        setTimeout(() => {
          logger.warn({ signal }, 'stop took longer than 4.5 s; exiting now');
          process.exit(1);
        }, STOP_DEADLINE_MS).unref();
        agent.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, 'stop failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      return;
    }
    case 'probe': {
      const { values, positionals } = parse(
        rest,
        { registers: { type: 'string' }, area: { type: 'string' }, 'timeout-ms': { type: 'string' } },
        true,
      );
      if (positionals.length !== 1)
        fail(['rigtrace-edge: probe takes one modbus://host:port/unit', USAGE], 2);
      const area = values.area ?? 'holding';
      if (area !== 'holding' && area !== 'input') fail(['rigtrace-edge: --area is holding or input'], 2);
      const { probe, parseProbeTarget, parseRange } = await import('./tools/probe.js');
      try {
        parseProbeTarget(positionals[0]!);
        parseRange(values.registers ?? '0-39');
      } catch (err) {
        fail([`rigtrace-edge: ${(err as Error).message}`], 2);
      }
      try {
        const lines = await probe({
          url: positionals[0]!,
          registers: values.registers ?? '0-39',
          area,
          timeoutMs: Number(values['timeout-ms'] ?? 2000),
        });
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (err) {
        fail([`rigtrace-edge: ${(err as Error).message}`], 1);
      }
      return;
    }
    case 'browse': {
      const { values, positionals } = parse(
        rest,
        {
          depth: { type: 'string' },
          from: { type: 'string' },
          max: { type: 'string' },
          'timeout-ms': { type: 'string' },
          pki: { type: 'string' },
        },
        true,
      );
      const { browse, parseBrowseArgs } = await import('./tools/browse.js');
      let args;
      try {
        args = parseBrowseArgs(positionals, values);
      } catch (err) {
        fail([`rigtrace-edge: ${(err as Error).message}`, USAGE], 2);
      }
      try {
        const lines = await browse(args);
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (err) {
        const code = (err as { exitCode?: number }).exitCode === 2 ? 2 : 1;
        fail([`rigtrace-edge: ${(err as Error).message}`], code);
      }
      // node-opcua leaves timers behind; the answer is out.
      process.exit(0);
      break;
    }
    case 'hash-password': {
      parse(rest, {});
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      const password = Buffer.concat(chunks)
        .toString('utf8')
        .replace(/\r?\n$/, '');
      if (password.length < 12) fail(['rigtrace-edge: a device password must be at least 12 characters'], 2);
      const { hashDevicePassword } = await import('@rigtrace/protocols/mqtt');
      process.stdout.write(`${await hashDevicePassword(password)}\n`);
      return;
    }
    case 'verify-evidence': {
      const { values, positionals } = parse(
        rest,
        { 'edge-key': { type: 'string' }, 'witness-key': { type: 'string' } },
        true,
      );
      if (positionals.length !== 1)
        fail(['rigtrace-edge: verify-evidence takes one BUNDLE.json', helpOf('verify-evidence')], 2);
      const { verifyEvidenceCommand } = await import('@rigtrace/protocols/record');
      const out = verifyEvidenceCommand({
        bundleFile: positionals[0]!,
        edgeKey: requireFlag(values, 'edge-key'),
        witnessKey: requireFlag(values, 'witness-key'),
      });
      if (out.code !== 0)
        fail(
          out.lines.map((l) => `rigtrace-edge: ${l}`),
          out.code,
        );
      process.stdout.write(`${out.lines.join('\n')}\n`);
      return;
    }
    default:
      fail([`rigtrace-edge: unknown command "${command}" (rigtrace-edge help)`, USAGE], 2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof EdgeError) {
    const lines = [`rigtrace-edge: ${err.message}`, ...err.problems.map((p) => `  ${p}`)];
    fail(lines, err.code === 'EDGE_CONFIG_INVALID' || err.code === 'EDGE_CONFIG_UNREADABLE' ? 2 : 1);
  }
  fail([`rigtrace-edge: ${(err as Error).stack ?? String(err)}`], 1);
});
