/**
 * Where an edge's CPU goes, from a V8 .cpuprofile (e.g. the fleet bench's edge run with
 * `BENCH_EDGE_PROF_DIR=/tmp/prof-fleet npm run bench -- fleet`):
 *
 *   node --import tsx firmware-sim/bench/cpuprofile-summary.ts <file.cpuprofile> [skip seconds]
 *
 * Leaves out the first `skip` seconds (default 10: start-up and the bench's warm-up) and prints
 * the busy time (everything but idle) by area of the edge and the functions with the most self
 * time. A sample goes to the area of the nearest frame, from the function running upwards, that
 * names one (so a socket write under the Modbus transport counts as Modbus, one under the
 * forwarder's HTTP post as forwarding). The profiler samples the wall clock: on a loaded machine
 * a function descheduled mid-run collects samples too, so compare shares, not seconds, between
 * runs.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const AREAS: [string, RegExp][] = [
  ['start-up (module loading, config)', /node:internal\/modules|dist\/config\/config\.js/],
  [
    'buffer: EdgeLog and SQLite (append, commit, checkpoint signing, acknowledge, next batch)',
    /edge\/dist\/buffer\/|node_modules\/sqlite3|record\/canonical|record\/checkpoint|record\/keys|crypto/,
  ],
  ['forwarder (HTTP posts to the cloud)', /edge\/dist\/forwarder|node:_http|node:http/],
  ['records mapping', /edge\/dist\/mapping\/(capture|record-mapping|modbus-records|expressions)/],
  ['collector: telemetry records, health', /edge\/dist\/collectors\/|mapping\/signals/],
  ['Modbus: poll cycle, decode, transport, modbus-serial, its socket I/O', /dist\/modbus\/|modbus-serial/],
  ['status and metrics', /edge\/dist\/status|prom-client/],
  ['logging', /pino|edge\/dist\/logger/],
];

const [file, skipArg, untilArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-summary.ts <file.cpuprofile> [skip seconds] [until seconds]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const skipUs = Number(skipArg ?? 10) * 1e6;
// The fleet bench measures 8 s after the edge is running, for 20 s: `10 28` leaves out its start and stop.
const untilUs = untilArg === undefined ? Infinity : Number(untilArg) * 1e6;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const shortUrl = (url: string) =>
  url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|[a-z-]+\/dist)\//, '$1/');
const label = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;

let clock = 0;
let wall = 0;
let idle = 0;
const areas = new Map<string, number>();
const selfTime = new Map<string, number>();
const add = (m: Map<string, number>, k: string, t: number) => m.set(k, (m.get(k) ?? 0) + t);
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  clock += dt;
  if (clock < skipUs || clock > untilUs) return;
  wall += dt;
  const node = byId.get(id)!;
  const fn = node.callFrame.functionName;
  if (fn === '(idle)') {
    idle += dt;
    return;
  }
  add(selfTime, label(node), dt);
  if (fn === '(garbage collector)' || fn === '(program)') {
    add(areas, fn === '(program)' ? '(program): V8 and native code outside JS' : 'garbage collector', dt);
    return;
  }
  let area = 'other (timers, promises, native code without a JS caller)';
  for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
    const cf = byId.get(x)!.callFrame;
    const hit = AREAS.find(([, re]) => re.test(`${cf.url} ${cf.functionName}`));
    if (hit) {
      area = hit[0];
      break;
    }
  }
  add(areas, area, dt);
});

const busy = wall - idle;
const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`;
const sec = (t: number) => `${(t / 1e6).toFixed(2).padStart(6)} s`;
console.log(
  `${file}: ${sec(wall).trim()} after the first ${skipUs / 1e6} s${untilArg === undefined ? '' : ` until ${untilArg} s`}, busy ${sec(busy).trim()} (${(busy / wall).toFixed(2)} of one core by the clock)`,
);
console.log('\nbusy time by area');
for (const [k, t] of [...areas].sort((a, b) => b[1] - a[1])) console.log(`${pct(t)} ${sec(t)}  ${k}`);
console.log('\nself time, top 25 functions');
for (const [k, t] of [...selfTime].sort((a, b) => b[1] - a[1]).slice(0, 25))
  console.log(`${pct(t)} ${sec(t)}  ${k}`);
