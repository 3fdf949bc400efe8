import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadFunction } from '../../local/load-function';

/* Each load of a handler bundle is a new instance with module state of its own, as in Lambda. */

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

test('every load runs the bundle\'s top level again: module state is not shared between instances', async () => {
  write('helper.js', 'exports.label = "helper";');
  const file = write('index.js', `
    const { label } = require('./helper');
    const os = require('node:os');
    let invocations = 0;
    exports.handler = async () => {
      // As the AWS SDK loads some modules (a bundle that cannot do this fails its first request).
      const { createHash } = await import('node:crypto');
      return { invocations: ++invocations, label, file: __filename, dir: __dirname, cpus: os.cpus().length > 0, hash: typeof createHash };
    };
  `);
  type Handler = () => Promise<{ invocations: number; label: string; file: string; dir: string; cpus: boolean; hash: string }>;
  const first = loadFunction<Handler>(file);
  const second = loadFunction<Handler>(file);
  expect(await first()).toEqual({ invocations: 1, label: 'helper', file, dir, cpus: true, hash: 'function' });
  expect((await first()).invocations).toBe(2);
  expect((await second()).invocations).toBe(1);
  const thrower = loadFunction<() => Promise<void>>(write('throws.js', 'exports.handler = async () => { throw new TypeError("nope"); };'));
  await expect(thrower()).rejects.toEqual(expect.objectContaining({ name: 'TypeError', message: 'nope' }));
});

test('a bundle without a handler export is refused, naming the file', () => {
  const file = write('index.js', 'exports.other = 1;');
  expect(() => loadFunction(file)).toThrow(`${file} exports no handler function`);
});
