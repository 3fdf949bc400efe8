import { createRequire } from 'node:module';

/**
 * A new instance of a handler bundle, with module state of its own, as a new Lambda execution
 * environment loads it: the bundle's entry in Node's require cache is deleted first, so
 * require() runs its top level again instead of handing out the one cached module (Node
 * documents this). The bundles are self-contained (they only require Node.js built-ins), so
 * nothing else is reloaded or shared through the cache. Under jest, require() and its cache
 * are jest's and every load would be the same instance: run the runtime in a Node.js process
 * of its own, as dev.ts, the demo, the benchmark and the tests do.
 */
export function loadFunction<T>(file: string): T {
  const load = createRequire(file);
  delete load.cache[file];
  const exports = load(file) as Record<string, unknown>;
  delete load.cache[file]; // no later require() of the file gets this instance either
  if (typeof exports.handler !== 'function') throw new Error(`${file} exports no handler function`);
  return exports.handler as T;
}
