import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');

export interface BundleTaskOptions {
  readonly entryPoints?: readonly string[];
  /** More esbuild arguments (e.g. --metafile). */
  readonly extraArgs?: readonly string[];
}

/**
 * Runs the bundle:handlers task's own esbuild command (read from .projen/tasks.json, so it stays
 * what the functions are built with: minify, target, main fields, the credential alias) into
 * `outdir`, for its own entry points or for `entryPoints` (paths from the repository root) instead.
 */
export function runBundleTask(outdir: string, options: BundleTaskOptions = {}): void {
  const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8'));
  const command: string = tasks.tasks['bundle:handlers'].steps[0].exec;
  const args = command.split(' ').slice(1).map((a) => (a === '--outdir=assets' ? `--outdir=${outdir}` : a));
  if (!args.includes(`--outdir=${outdir}`)) throw new Error(`bundle:handlers no longer writes --outdir=assets: ${command}`);
  const entryPoints = options.entryPoints ?? args.filter((a) => !a.startsWith('-'));
  const flags = args.filter((a) => a.startsWith('-'));
  const esbuild = path.join(ROOT, 'node_modules', '.bin', 'esbuild');
  execFileSync(esbuild, [...entryPoints, ...flags, ...(options.extraArgs ?? [])], { cwd: ROOT, stdio: 'inherit' });
}
