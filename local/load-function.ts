import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

/**
 * A new instance of a handler bundle, with module state of its own, as a new Lambda execution
 * environment loads it. require() hands every caller the one cached module; compiling the file
 * into a fresh CommonJS wrapper runs its top level again every time, with no module cache to
 * manage, in this process's global scope, and with a require() that resolves from the bundle's
 * folder (the bundles only require Node.js built-ins).
 */
export function loadFunction<T>(file: string): T {
  const source = fs.readFileSync(file, 'utf8');
  const wrapper = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], {
    filename: file,
    // The AWS SDK import()s some Node.js modules lazily: resolve them as the bundle's own file would.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} as Record<string, unknown> };
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  if (typeof module.exports.handler !== 'function') throw new Error(`${file} exports no handler function`);
  return module.exports.handler as T;
}
