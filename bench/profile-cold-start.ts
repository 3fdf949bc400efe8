import { execSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { firstEvent } from './cold-start';
import type { FunctionName } from '../local/template-config';
import { buildLambdaChild, FUNCTIONS, LambdaEndpoints, startLambdaEndpoints } from '../test/helpers/lambda-process';

/**
 * Where a cold start's CPU goes: `ts-node bench/profile-cold-start.ts [--fn ingest] [--runs 5] [--tracing false]`.
 * Bundles the handlers as `bundle:handlers` does, plus a source map, runs the first request
 * with `--cpu-prof` (the benchmark's environment and local endpoints) and prints self time per
 * package (node_modules package or our folder), summed over the runs.
 */

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly url: string; readonly lineNumber: number; readonly columnNumber: number; readonly functionName: string };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/* eslint-disable no-bitwise -- base64 VLQ decoding */
/** Source map `mappings` → per generated line, sorted [column, source index]. */
function decodeMappings(mappings: string): [number, number][][] {
  const lines: [number, number][][] = [];
  let source = 0;
  for (const line of mappings.split(';')) {
    const segments: [number, number][] = [];
    let column = 0;
    for (const segment of line.split(',')) {
      if (!segment) continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const char of segment) {
        const digit = BASE64.indexOf(char);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += values[0];
      if (values.length > 1) source += values[1];
      // (original line and column are not needed: the source file names the package)
      segments.push([column, source]);
    }
    lines.push(segments);
  }
  return lines;
}

/* eslint-enable no-bitwise */

function packageOf(source: string): string {
  const at = source.lastIndexOf('node_modules/');
  if (at < 0) return source.replace(/^(\.\.\/)+/, '').split('/').slice(0, 2).join('/');
  const rest = source.slice(at + 'node_modules/'.length).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

function attribute(profile: Profile, bundle: string, map: { sources: string[]; mappings: string }): Map<string, number> {
  const lines = decodeMappings(map.mappings);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const bundleUrl = `file://${bundle}`;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    let key: string;
    if (frame.url === bundleUrl) {
      const segments = lines[frame.lineNumber] ?? [];
      let found = -1;
      for (const [column, source] of segments) {
        if (column > frame.columnNumber) break;
        found = source;
      }
      key = found >= 0 ? packageOf(map.sources[found]) : 'bundle (unmapped)';
    } else if (frame.url.startsWith('node:') || frame.url === '') {
      key = frame.url === '' ? frame.functionName || '(native)' : 'node:' + frame.url.slice(5).split('/').slice(0, 2).join('/');
    } else {
      key = frame.url.includes('cold-start-child') ? 'bench child' : frame.url;
    }
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return self;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      fn: { type: 'string' },
      runs: { type: 'string', default: '5' },
      tracing: { type: 'string', default: 'true' },
      mode: { type: 'string', default: 'first' },
      top: { type: 'string', default: '30' },
    },
  });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-profile-'));
  const outdir = path.join(tmp, 'assets');
  // The bundle:handlers task's own command, into a temporary folder and with a source map.
  const tasks = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '.projen', 'tasks.json'), 'utf8'));
  const command: string = tasks.tasks['bundle:handlers'].steps[0].exec;
  execSync(`npx ${command.replace('--outdir=assets', `--outdir=${outdir}`)} --sourcemap`, { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
  // The tracer file next to each bundle, as bundle:handlers leaves it in assets/ (run it first).
  for (const fn of FUNCTIONS) fs.copyFileSync(path.join(__dirname, '..', 'assets', fn, 'xray-tracing.js'), path.join(outdir, fn, 'xray-tracing.js'));
  const child = buildLambdaChild(tmp);
  let fixture: LambdaEndpoints | undefined;
  try {
    fixture = await startLambdaEndpoints();
    for (const fn of (values.fn ? [values.fn] : FUNCTIONS) as FunctionName[]) {
      const bundle = path.join(outdir, fn, 'index.js');
      const map = JSON.parse(fs.readFileSync(bundle + '.map', 'utf8'));
      const total = new Map<string, number>();
      const runs = Number(values.runs);
      for (let i = 0; i < runs; i++) {
        const dir = path.join(tmp, `prof-${fn}-${i}`);
        const env = { ...fixture.environment(fn, { tracing: values.tracing !== 'false' }), LAMBDA_TASK_ROOT: path.dirname(bundle) };
        // spawnSync would block the local endpoints (they run in this process): run it asynchronously.
        await new Promise<void>((resolve, reject) => {
          const args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250', child, values.mode!, bundle, JSON.stringify(firstEvent(fn))];
          const p = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          p.stderr.on('data', (c: Buffer) => (err += c));
          p.on('close', (code: number) => (code === 0 ? resolve() : reject(new Error(err))));
        });
        const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
        for (const [k, v] of attribute(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')), bundle, map)) total.set(k, (total.get(k) ?? 0) + v);
      }
      const sum = [...total.values()].reduce((a, b) => a + b, 0) / runs;
      console.log(`\n${fn} (${values.mode}, tracing ${values.tracing}): ${sum.toFixed(1)} ms sampled per run; self time per package, ms per run`);
      for (const [k, v] of [...total].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
        console.log(`  ${(v / runs).toFixed(2).padStart(7)}  ${k}`);
      }
    }
  } finally {
    await fixture?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
