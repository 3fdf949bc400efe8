import { App, Duration, Lazy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { IDEMPOTENCY_LEASE_MS } from '../../lambda/core/idempotency';
import { MAX_DELAY_SECONDS } from '../../lambda/core/retry-policy';
import { EventNotificationService, EventNotificationServiceProps, FunctionOverrides } from '../../src';
import {
  API_GATEWAY_TIMEOUT_SECONDS, MAX_EVENT_SOURCE_CONCURRENCY, MAX_INGEST_TIMEOUT_SECONDS, MAX_PROCESSOR_TIMEOUT_SECONDS,
} from '../../src/functions/sizing';

const ENV = { account: '123456789012', region: 'us-east-1' };

function synth(props: EventNotificationServiceProps) {
  const stack = new Stack(new App(), 'Overrides', { env: ENV });
  const svc = new EventNotificationService(stack, 'Svc', props);
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  const propsOf = (fn: lambda.Function) => resources[stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction)].Properties;
  const queue = resources[stack.getLogicalId(svc.queue.node.defaultChild as any)].Properties;
  const mapping = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping')!.Properties;
  return { svc, propsOf, queue, mapping };
}

/** The synth error for these props (the test fails if there is none). */
function synthError(props: EventNotificationServiceProps): string {
  const stack = new Stack(new App(), 'Overrides', { env: ENV });
  try {
    new EventNotificationService(stack, 'Svc', props);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a synth error');
}

describe('per-function overrides reach the template', () => {
  test('ingest: memory, timeout and reserved concurrency; the other functions keep their defaults', () => {
    const { svc, propsOf } = synth({ ingestFunctionProps: { memorySize: 1024, timeout: Duration.seconds(14), reservedConcurrentExecutions: 5 } });
    expect(propsOf(svc.ingestFunction)).toMatchObject({ MemorySize: 1024, Timeout: 14, ReservedConcurrentExecutions: 5 });
    expect(propsOf(svc.managementFunction)).toMatchObject({ MemorySize: 256, Timeout: 10 });
    expect(propsOf(svc.processorFunction)).toMatchObject({ MemorySize: 512, Timeout: 60 });
    for (const fn of [svc.managementFunction, svc.processorFunction]) expect(propsOf(fn).ReservedConcurrentExecutions).toBeUndefined();
  });

  test('management: memory, timeout up to API Gateway\'s 29 s, reserved concurrency', () => {
    const { svc, propsOf } = synth({ managementFunctionProps: { memorySize: 128, timeout: Duration.seconds(29), reservedConcurrentExecutions: 1 } });
    expect(propsOf(svc.managementFunction)).toMatchObject({ MemorySize: 128, Timeout: 29, ReservedConcurrentExecutions: 1 });
    expect(propsOf(svc.ingestFunction)).toMatchObject({ MemorySize: 256, Timeout: 10 });
  });

  test('processor: memory and timeout; the events queue\'s visibility timeout is 6 x the timeout', () => {
    const { svc, propsOf, queue, mapping } = synth({ processorFunctionProps: { memorySize: 10240, timeout: Duration.minutes(5) } });
    expect(propsOf(svc.processorFunction)).toMatchObject({ MemorySize: 10240, Timeout: 300 });
    // The processor sizes fan-out parts by the time it has: it is told the overridden limit.
    expect(propsOf(svc.processorFunction).Environment.Variables.FUNCTION_TIMEOUT_SECONDS).toBe('300');
    expect(queue.VisibilityTimeout).toBe(1800);
    expect(mapping.ScalingConfig).toBeUndefined();
  });

  test('processor timeout at both ends of its range: webhook.timeout + 10 s and 10 minutes', () => {
    const low = synth({ webhook: { timeout: Duration.seconds(15) }, processorFunctionProps: { timeout: Duration.seconds(25) } });
    expect(low.propsOf(low.svc.processorFunction).Timeout).toBe(25);
    expect(low.queue.VisibilityTimeout).toBe(150);
    const high = synth({ processorFunctionProps: { timeout: Duration.minutes(10) } });
    expect(high.queue.VisibilityTimeout).toBe(3600);
  });

  test('processor reserved concurrency also limits the event source\'s maximum concurrency (capped at 1,000)', () => {
    const some = synth({ processorFunctionProps: { reservedConcurrentExecutions: 50 } });
    expect(some.propsOf(some.svc.processorFunction).ReservedConcurrentExecutions).toBe(50);
    expect(some.mapping.ScalingConfig).toEqual({ MaximumConcurrency: 50 });
    const many = synth({ processorFunctionProps: { reservedConcurrentExecutions: 1500 } });
    expect(many.propsOf(many.svc.processorFunction).ReservedConcurrentExecutions).toBe(1500);
    expect(many.mapping.ScalingConfig).toEqual({ MaximumConcurrency: MAX_EVENT_SOURCE_CONCURRENCY });
    const fifo = synth({ fifo: true, processorFunctionProps: { reservedConcurrentExecutions: 2 } });
    expect(fifo.mapping).toMatchObject({ BatchSize: 1, ScalingConfig: { MaximumConcurrency: 2 } });
  });

  test('the concrete functions are lambda.Function escape hatches', () => {
    const { svc } = synth({});
    for (const fn of [svc.ingestFunction, svc.managementFunction, svc.processorFunction]) expect(fn).toBeInstanceOf(lambda.Function);
  });
});

describe('bad overrides fail the synth with the prop, the bound, its reason and the construct path', () => {
  const each = (prop: 'ingestFunctionProps' | 'managementFunctionProps' | 'processorFunctionProps', overrides: FunctionOverrides) => ({ [prop]: overrides });

  test.each([
    ['ingestFunctionProps', 127], ['managementFunctionProps', 10241], ['processorFunctionProps', 256.5], ['ingestFunctionProps', 0],
  ] as const)('%s.memorySize %p', (prop, memorySize) => {
    expect(synthError(each(prop, { memorySize })))
      .toMatch(new RegExp(`${prop}\\.memorySize must be a whole number of MB from 128 to 10240 \\(Lambda's range\\), got ${memorySize}`));
  });

  test('a memorySize token is refused (the range cannot be checked)', () => {
    const memorySize = Lazy.number({ produce: () => 512 });
    expect(synthError({ ingestFunctionProps: { memorySize } })).toMatch(/ingestFunctionProps\.memorySize must be a whole number of MB/);
  });

  test.each([Duration.seconds(15), Duration.seconds(29), Duration.millis(500), Duration.millis(1500)])('ingestFunctionProps.timeout %s', (timeout) => {
    expect(synthError({ ingestFunctionProps: { timeout } }))
      .toMatch(/ingestFunctionProps\.timeout must be whole seconds from 1 to 14 \(an Idempotency-Key claim is held for 15 s: a request still running after that could be overtaken by its own retry\)/);
  });

  test.each([Duration.seconds(30), Duration.minutes(1), Duration.seconds(0)])('managementFunctionProps.timeout %s', (timeout) => {
    expect(synthError({ managementFunctionProps: { timeout } }))
      .toMatch(/managementFunctionProps\.timeout must be whole seconds from 1 to 29 \(API Gateway waits at most 29 s for an answer\)/);
  });

  test.each([
    ['below webhook.timeout + 10 s (default webhook timeout 15 s)', {}, Duration.seconds(24), 25],
    ['below webhook.timeout + 10 s (webhook timeout 60 s)', { webhook: { timeout: Duration.seconds(60) } }, Duration.seconds(69), 70],
    ['above 10 minutes', {}, Duration.seconds(601), 25],
    ['the Lambda maximum of 15 minutes', {}, Duration.minutes(15), 25],
  ] as const)('processorFunctionProps.timeout %s', (_name, props, timeout, min) => {
    expect(synthError({ ...props, processorFunctionProps: { timeout } })).toMatch(new RegExp(
      `processorFunctionProps\\.timeout must be whole seconds from ${min} to 600 \\(at least webhook\\.timeout \\+ 10 s, or no delivery could start; `
      + 'at most 10 minutes, so a retry can still be scheduled within SQS\'s 12 hours of visibility\\)'));
  });

  test.each([0, -1, 1.5])('ingest and management reservedConcurrentExecutions %p', (reservedConcurrentExecutions) => {
    for (const prop of ['ingestFunctionProps', 'managementFunctionProps'] as const) {
      expect(synthError(each(prop, { reservedConcurrentExecutions })))
        .toMatch(new RegExp(`${prop}\\.reservedConcurrentExecutions must be a whole number of at least 1 \\(0 would stop the function\\)`));
    }
  });

  test.each([0, 1])('processorFunctionProps.reservedConcurrentExecutions %p (the event source needs at least 2)', (reservedConcurrentExecutions) => {
    expect(synthError({ processorFunctionProps: { reservedConcurrentExecutions } })).toMatch(
      /processorFunctionProps\.reservedConcurrentExecutions must be a whole number of at least 2 \(the events queue's event source is limited to the same concurrency, and its maximumConcurrency is at least 2\)/);
  });

  test('a timeout token is refused (the bounds and the queue\'s visibility need its value)', () => {
    expect(synthError({ processorFunctionProps: { timeout: Duration.seconds(Lazy.number({ produce: () => 60 })) } }))
      .toMatch(/processorFunctionProps\.timeout must be whole seconds from 25 to 600 .*, got a token/);
  });

  test('every problem at once, under the path of the service that has them (two services in one stack)', () => {
    const stack = new Stack(new App(), 'Overrides', { env: ENV });
    new EventNotificationService(stack, 'First', { ingestFunctionProps: { memorySize: 1024 } });
    expect(() => new EventNotificationService(stack, 'Second', {
      ingestFunctionProps: { memorySize: 64 },
      managementFunctionProps: { timeout: Duration.seconds(30) },
      processorFunctionProps: { reservedConcurrentExecutions: 1 },
    })).toThrow(new Error('Invalid EventNotificationService props at Overrides/Second:\n'
      + '- ingestFunctionProps.memorySize must be a whole number of MB from 128 to 10240 (Lambda\'s range), got 64\n'
      + '- managementFunctionProps.timeout must be whole seconds from 1 to 29 (API Gateway waits at most 29 s for an answer), got 30 seconds\n'
      + '- processorFunctionProps.reservedConcurrentExecutions must be a whole number of at least 2 (the events queue\'s event source is limited '
      + 'to the same concurrency, and its maximumConcurrency is at least 2), got 1'));
  });
});

describe('the bounds follow from the handlers\' own limits', () => {
  test('an ingest request ends before its Idempotency-Key claim may be taken over', () => {
    expect(MAX_INGEST_TIMEOUT_SECONDS * 1000).toBeLessThan(IDEMPOTENCY_LEASE_MS);
    expect(MAX_INGEST_TIMEOUT_SECONDS).toBeLessThanOrEqual(API_GATEWAY_TIMEOUT_SECONDS);
  });

  test('a processor that ran its whole time limit can still ask SQS for the longest retry delay (12 h from the receive)', () => {
    expect(MAX_PROCESSOR_TIMEOUT_SECONDS + MAX_DELAY_SECONDS).toBeLessThan(12 * 3600);
    // And the derived visibility timeout stays within SQS's 12 hours.
    expect(6 * MAX_PROCESSOR_TIMEOUT_SECONDS).toBeLessThanOrEqual(12 * 3600);
  });
});
