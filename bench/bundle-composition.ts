import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBundleTask } from './bundle-task';

export interface BundleComposition {
  readonly name: string;
  readonly bytes: number;
  /** Bytes of the bundle per package (node_modules package, or our own folder), largest first. */
  readonly packages: readonly { readonly name: string; readonly bytes: number }[];
}

function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return input.replace(/^(\.\.\/)+/, '').split('/').slice(0, 2).join('/');
  const rest = input.slice(at + 'node_modules/'.length).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

/**
 * What each handler bundle is made of: the bundle:handlers task's own esbuild command (from
 * .projen/tasks.json), into a temporary folder, with esbuild's metafile.
 */
export function bundleComposition(): BundleComposition[] {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-meta-'));
  try {
    runBundleTask(outdir, { extraArgs: [`--metafile=${path.join(outdir, 'meta.json')}`] });
    const meta = JSON.parse(fs.readFileSync(path.join(outdir, 'meta.json'), 'utf8')) as {
      outputs: Record<string, { bytes: number; entryPoint?: string; inputs: Record<string, { bytesInOutput: number }> }>;
    };
    return Object.values(meta.outputs).filter((o) => o.entryPoint).map((o) => {
      const packages = new Map<string, number>();
      for (const [input, { bytesInOutput }] of Object.entries(o.inputs)) {
        packages.set(packageOf(input), (packages.get(packageOf(input)) ?? 0) + bytesInOutput);
      }
      return {
        name: path.basename(o.entryPoint!, '.ts'),
        bytes: o.bytes,
        packages: [...packages].filter(([, bytes]) => bytes > 0).sort((a, b) => b[1] - a[1]).map(([name, bytes]) => ({ name, bytes })),
      };
    });
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
