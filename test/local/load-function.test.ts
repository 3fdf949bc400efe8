import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/*
 * Each load of a handler bundle is a new instance with module state of its own, as in Lambda.
 * Run in a plain Node.js process, as the local runtime runs: jest replaces require() and its
 * cache with its own module registry.
 */

const ROOT = path.join(__dirname, '..', '..');
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-load-function-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, source: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

/** Runs `script` (with `loadFunction` in scope) in a child Node.js process; its JSON output. */
function inNode(script: string): any {
  const run = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', `
    const { loadFunction } = require('./local/load-function');
    (async () => { ${script} })().then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });
  `], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' } });
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(run.stdout);
}

test('every load runs the bundle\'s top level again: module state is not shared between instances', () => {
  const file = write('index.js', `
    const os = require('node:os');
    let invocations = 0;
    exports.handler = async () => {
      // As the AWS SDK loads some modules: import() works in a loaded instance, without warnings.
      const { createHash } = await import('node:crypto');
      return { invocations: ++invocations, file: __filename, hash: typeof createHash, cpus: os.cpus().length > 0 };
    };
  `);
  const result = inNode(`
    const first = loadFunction(${JSON.stringify(file)});
    const second = loadFunction(${JSON.stringify(file)});
    const a = await first();
    const b = await first();
    const c = await second();
    // require() of the file afterwards is another instance again.
    const d = await require(${JSON.stringify(file)}).handler();
    return [a, b.invocations, c.invocations, d.invocations];
  `);
  expect(result).toEqual([{ invocations: 1, file, hash: 'function', cpus: true }, 2, 1, 1]);
});

test('a bundle without a handler export is refused, naming the file', () => {
  const file = write('index.js', 'exports.other = 1;');
  expect(inNode(`try { loadFunction(${JSON.stringify(file)}); return 'loaded'; } catch (e) { return e.message; }`)).toBe(`${file} exports no handler function`);
});
