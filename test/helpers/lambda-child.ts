/**
 * One cold start, as a new Lambda execution environment makes it: load a handler bundle and, in
 * `first` mode, answer one invocation; then exit. The benchmark (bench/cold-start.ts) times the
 * whole process from spawn to exit, against an empty Node.js process timed the same way; tests
 * run the deployed bundles through it with Lambda's environment (test/helpers/lambda-process.ts).
 *
 * Run as plain JavaScript (bundled by the benchmark): `node child.js <empty|load|first|invoke> [bundle] [event JSON]`.
 * `invoke` takes a JSON array of events, invokes them one after another (a warm instance) and
 * also reports the bytes each invocation wrote to stdout (its log lines and EMF metrics) and
 * the CPU time it took.
 * At exit it writes one line to stderr: milliseconds since the process started when the bundle
 * was loaded and when the first answer came, and the process's CPU time (user + system, the
 * figure that other processes on the machine disturb least), the invocation's answer, and
 * whether the X-Ray SDK was loaded. It exits non-zero if the handler failed. `empty` loads
 * nothing: the baseline.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const [mode, bundle, eventArgument] = process.argv.slice(2);
/** The event(s) as JSON, or `@file` holding them (an argument is limited to 128 KiB). */
const eventJson = eventArgument?.startsWith('@') ? readFileSync(eventArgument.slice(1), 'utf8') : eventArgument;
const values: Record<string, unknown> = {};

process.on('exit', () => {
  const cpu = process.cpuUsage();
  // The X-Ray SDK registers its context namespace (cls-hooked) when it loads.
  const xraySdkLoaded = !!(process as unknown as { namespaces?: Record<string, unknown> }).namespaces?.AWSXRay;
  process.stderr.write(JSON.stringify({ ...values, cpuMs: (cpu.user + cpu.system) / 1000, xraySdkLoaded }) + '\n');
});

function report(more: Record<string, unknown>): void {
  Object.assign(values, more);
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { handler } = mode === 'empty' ? { handler: undefined } : require(bundle) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
const loadMs = performance.now();
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:000000000000:function:${process.env.AWS_LAMBDA_FUNCTION_NAME}`,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  awsRequestId: 'c0ffee00-0000-4000-8000-000000000001',
  logGroupName: `/aws/lambda/${process.env.AWS_LAMBDA_FUNCTION_NAME}`,
  logStreamName: '2026/11/24/[$LATEST]0123456789abcdef',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 30_000,
};

if (mode === 'first' && handler) {
  handler(JSON.parse(eventJson), context).then((result) => {
    report({ loadMs, firstMs: performance.now(), result });
    // The Lambda runtime would now post the answer (an HTTP request to its runtime API, during which
    // queued X-Ray datagrams go out) and freeze; keep-alive sockets would hold the process here.
    setImmediate(() => process.exit(0));
  }, (error: Error) => {
    report({ loadMs, error: error.stack ?? String(error) });
    process.exit(2);
  });
} else if (mode === 'invoke' && handler) {
  let written = 0;
  let lines = 0;
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    written += bytes.length;
    lines += bytes.filter((b) => b === 0x0a).length;
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  void (async () => {
    const results: unknown[] = [];
    const stdoutBytes: number[] = [];
    const stdoutLines: number[] = [];
    const cpuMs: number[] = [];
    for (const event of JSON.parse(eventJson) as unknown[]) {
      written = 0;
      lines = 0;
      const cpu = process.cpuUsage();
      results.push(await handler(event, context));
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
      stdoutBytes.push(written);
      stdoutLines.push(lines);
    }
    report({ loadMs, results, stdoutBytes, stdoutLines, invocationCpuMs: cpuMs });
    setImmediate(() => process.exit(0));
  })().catch((error: Error) => {
    report({ loadMs, error: error.stack ?? String(error) });
    process.exit(2);
  });
} else {
  report({ loadMs });
}
