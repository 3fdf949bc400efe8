import * as childProcess from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, DockerImage, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { EventNotificationService } from '../src';

const ROOT = path.join(__dirname, '..');
const BUNDLES = ['ingest', 'management', 'processor'];

describe('the npm package', () => {
  let files: string[];
  let pkg: { dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; bundledDependencies?: string[] };

  beforeAll(() => {
    // What `npm publish` would upload. Scripts are skipped: we want the file list, not a build.
    const out = childProcess.execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const report = JSON.parse(out) as { files: { path: string }[] }[];
    files = report[0].files.map((f) => f.path);
    pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  }, 60_000);

  test('ships the prebuilt handler bundles', () => {
    expect(files).toEqual(expect.arrayContaining(BUNDLES.map((b) => `assets/${b}/index.js`)));
    // The X-Ray tracer, next to each handler bundle.
    expect(files).toEqual(expect.arrayContaining(BUNDLES.map((b) => `assets/${b}/xray-tracing.js`)));
  });

  test('ships no handler, test, local or TypeScript sources', () => {
    expect(files.filter((f) => /^(lambda|test|local|src|bench)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('assets/') && !/^assets\/[a-z]+\/(index|xray-tracing)\.js$/.test(f))).toEqual([]);
  });

  test('has no runtime dependencies that would pull in a bundler (only the CDK peers)', () => {
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.bundledDependencies ?? []).toEqual([]);
    expect(Object.keys(pkg.peerDependencies ?? {}).sort()).toEqual(['aws-cdk-lib', 'constructs']);
  });
});

/** The real child_process module object, which aws-cdk-lib calls through (so its methods can be spied on). */
const childProcesses = jest.requireActual<typeof import('node:child_process')>('node:child_process');
const PROCESS_FUNCTIONS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync'] as const;
const FAKE_DOCKER = path.join(os.tmpdir(), 'no-such-docker-for-ens-tests');

/** Runs `fn` recording every child process started meanwhile; Docker, if called, is a missing binary. */
function recordingProcesses<T>(fn: () => T): { result?: T; error?: unknown; spawned: string[] } {
  const spawned: string[] = [];
  const spies = PROCESS_FUNCTIONS.map((name) => {
    const original = childProcesses[name] as (...args: unknown[]) => unknown;
    return jest.spyOn(childProcesses, name).mockImplementation(((...args: unknown[]) => {
      spawned.push(`${name} ${JSON.stringify(args.slice(0, 2))}`);
      return original(...args);
    }) as never);
  });
  const previousDocker = process.env.CDK_DOCKER;
  process.env.CDK_DOCKER = FAKE_DOCKER;
  try {
    return { result: fn(), spawned };
  } catch (error) {
    return { error, spawned };
  } finally {
    spies.forEach((spy) => spy.mockRestore());
    if (previousDocker === undefined) delete process.env.CDK_DOCKER;
    else process.env.CDK_DOCKER = previousDocker;
  }
}

describe('synthesizing the construct', () => {
  let outdir: string;
  let spawned: string[];
  let manifest: { files: Record<string, { source: { path: string; packaging: string } }>; dockerImages?: Record<string, unknown> };

  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-package-'));
    const run = recordingProcesses(() => {
      const app = new App({ outdir });
      const stack = new Stack(app, 'PackageStack', { env: { account: '123456789012', region: 'us-east-1' } });
      new EventNotificationService(stack, 'Notifications');
      return app.synth();
    });
    if (run.error) throw run.error;
    spawned = run.spawned;
    manifest = JSON.parse(fs.readFileSync(path.join(run.result!.directory, 'PackageStack.assets.json'), 'utf8'));
  });

  afterAll(() => {
    if (outdir) fs.rmSync(outdir, { recursive: true, force: true });
  });

  test('the recorder sees CDK bundling (control: an asset that needs Docker is caught)', () => {
    const controlOutdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-control-'));
    const run = recordingProcesses(() => {
      const app = new App({ outdir: controlOutdir });
      const stack = new Stack(app, 'ControlStack');
      new lambda.Function(stack, 'Bundled', {
        runtime: lambda.Runtime.NODEJS_24_X,
        handler: 'index.handler',
        code: lambda.Code.fromAsset(path.join(ROOT, 'assets', 'processor'), {
          bundling: { image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:24'), command: ['true'] },
        }),
      });
      return app.synth();
    });
    fs.rmSync(controlOutdir, { recursive: true, force: true });
    expect(run.error).toBeDefined();
    expect(run.spawned.some((call) => call.includes(FAKE_DOCKER))).toBe(true);
  });

  test('starts no process at all (no Docker, no esbuild)', () => {
    expect(spawned).toEqual([]);
  });

  test('has no Docker image assets', () => {
    expect(manifest.dockerImages ?? {}).toEqual({});
  });

  test('the function code is three zip file assets, each exactly a prebuilt bundle directory', () => {
    const zips = Object.values(manifest.files).filter((f) => f.source.packaging === 'zip');
    expect(zips).toHaveLength(3);
    const stagedBundles = zips.map((zip) => {
      const dir = path.join(outdir, zip.source.path);
      expect(fs.readdirSync(dir)).toEqual(['index.js', 'xray-tracing.js']);
      return fs.readFileSync(path.join(dir, 'index.js'), 'utf8');
    });
    const prebuilt = BUNDLES.map((b) => fs.readFileSync(path.join(ROOT, 'assets', b, 'index.js'), 'utf8'));
    expect(stagedBundles.sort()).toEqual(prebuilt.sort());
    // Everything else is the template itself.
    expect(Object.values(manifest.files).filter((f) => f.source.packaging !== 'zip').map((f) => f.source.path)).toEqual(['PackageStack.template.json']);
  });
});
