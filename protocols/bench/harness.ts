/**
 * `npm run bench`: runs every `<package>/bench/*.bench.ts` as its own process (so each one's
 * memory is its own), collects the figures they print, shows one table and writes
 * bench-results/latest.json. A bench prints one JSON line per figure, prefixed with `BENCH `:
 *   BENCH {"bench":"edge pipeline","metric":"records/s","value":41000,"baseline":52000,"ratio":0.79,"target":">= 0.7 of baseline"}
 * Figures are reported as ratios to a baseline measured in the same run, because the machines
 * are shared and noisy. `npm run bench -- edge` runs only benches whose path contains "edge".
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface BenchFigure {
  bench: string;
  metric: string;
  value: number;
  unit?: string;
  baseline?: number;
  baselineName?: string;
  ratio?: number;
  target?: string;
  pass?: boolean;
  note?: string;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const filter = process.argv.slice(2).filter((a) => a !== '--');

const files = ['protocols', 'firmware-sim', 'edge', 'cloud', 'portal']
  .flatMap((pkg) => {
    const dir = path.join(root, pkg, 'bench');
    try {
      return readdirSync(dir)
        .filter((f) => f.endsWith('.bench.ts'))
        .map((f) => path.join(pkg, 'bench', f));
    } catch {
      return [];
    }
  })
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)));

function run(file: string): Promise<BenchFigure[]> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    process.stderr.write(`▶ ${file}\n`);
    const child = spawn(
      process.execPath,
      ['--conditions=rigtrace-source', '--import', 'tsx', '--expose-gc', file],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const figures: BenchFigure[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('BENCH ')) {
        const f = JSON.parse(line.slice(6)) as BenchFigure;
        figures.push(f);
        process.stderr.write(
          `  ${f.metric}: ${fmt(f.value)}${f.unit ? ` ${f.unit}` : ''}${f.ratio !== undefined ? ` (ratio ${f.ratio.toFixed(2)})` : ''}\n`,
        );
      } else process.stderr.write(`  ${line}\n`);
    });
    child.once('exit', (code) => {
      process.stderr.write(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      if (code === 0) resolve(figures);
      else reject(new Error(`${file} exited with ${code}`));
    });
  });
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return String(Math.round(n * 100) / 100);
}

async function main() {
  // Some benches run the built JavaScript, as production does.
  process.stderr.write('▶ npm run build\n');
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  const all: BenchFigure[] = [];
  const failed: string[] = [];
  for (const f of files) {
    try {
      all.push(...(await run(f)));
    } catch (err) {
      failed.push(`${f}: ${(err as Error).message}`);
    }
  }
  const rows = all.map((f) => [
    f.bench,
    f.metric,
    `${fmt(f.value)}${f.unit ? ` ${f.unit}` : ''}`,
    f.baseline !== undefined ? `${fmt(f.baseline)} (${f.baselineName ?? 'baseline'})` : '',
    f.ratio !== undefined ? f.ratio.toFixed(2) : '',
    f.target ?? '',
    f.pass === undefined ? '' : f.pass ? 'yes' : 'NO',
  ]);
  const head = ['bench', 'metric', 'value', 'baseline (same run)', 'ratio', 'target', 'met'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const table = [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join(
    '\n',
  );
  process.stdout.write(`\n${table}\n`);
  const out = path.join(root, 'bench-results');
  mkdirSync(out, { recursive: true });
  const result = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: (await import('node:os')).cpus().length,
    figures: all,
    failed,
  };
  writeFileSync(path.join(out, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(path.join(out, 'latest.md'), table + '\n');
  process.stdout.write(`\nwritten: bench-results/latest.json, bench-results/latest.md\n`);
  if (failed.length > 0) {
    process.stderr.write(`failed:\n${failed.join('\n')}\n`);
    process.exit(1);
  }
}

await main();
