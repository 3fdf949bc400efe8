import * as path from 'node:path';
import { runBundleTask } from './bundle-task';
import type { FunctionName } from '../local/template-config';

/**
 * Floors of the cold-start benchmark: small handlers (bench/floor/*) that do only what a cold start
 * cannot avoid, bundled exactly as the functions are, run in the same rounds as the functions. How
 * far a function is above its SDK floor is what its own code costs; the floor itself is Node.js,
 * TLS and AWS SDK v3.
 */
export const FLOORS = [
  { name: 'https-request', sdk: false, description: 'no SDK: one HTTPS POST (node:https) to the queue, the least a first request to AWS costs' },
  { name: 'sdk-sqs', sdk: true, description: '@aws-sdk/client-sqs alone, environment credentials: one SendMessage' },
  { name: 'sdk-dynamodb', sdk: true, description: '@aws-sdk/client-dynamodb and lib-dynamodb alone, environment credentials: one Query' },
] as const;

export type FloorName = (typeof FLOORS)[number]['name'];

/** The SDK floor each function is compared with: the client its first request uses. */
export const SDK_FLOOR_OF: Record<FunctionName, FloorName> = { ingest: 'sdk-sqs', management: 'sdk-dynamodb', processor: 'sdk-dynamodb' };

/** Bundles the floors into `outdir` with the bundle:handlers task's esbuild flags; each floor's bundle path. */
export function buildFloors(outdir: string): Record<FloorName, string> {
  runBundleTask(outdir, { entryPoints: FLOORS.map((f) => `bench/floor/${f.name}.ts`) });
  return Object.fromEntries(FLOORS.map((f) => [f.name, path.join(outdir, f.name, 'index.js')])) as Record<FloorName, string>;
}
