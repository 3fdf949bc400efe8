import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { cli, localUrl, progressWriter } from '../../cli/main';
import { ReplayOutput } from '../../cli/replay';

/**
 * Every operator mistake gets one line on stderr and an exit code (2: the command line, 1: the
 * rest), never a stack trace (README "Runbook"). The packaged command runs as a child process; AWS
 * errors run in-process with the control plane mocked.
 */

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'assets', 'cli', 'index.js');
const HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-cli-home-'));
/** No region, profile or credentials from the machine running the tests. */
const CLEAN_ENV: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
const ENV: NodeJS.ProcessEnv = {
  ...CLEAN_ENV,
  HOME,
  USERPROFILE: HOME,
  AWS_CONFIG_FILE: path.join(HOME, 'config'),
  AWS_SHARED_CREDENTIALS_FILE: path.join(HOME, 'credentials'),
  AWS_EC2_METADATA_DISABLED: 'true',
};

/** The command as a child process (asynchronously: the test's own HTTP server must keep answering). */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: os.tmpdir(), env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Exactly one line on stderr, no stack frames. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0];
}

afterAll(() => fs.rmSync(HOME, { recursive: true, force: true }));

describe('the packaged command (assets/cli/index.js)', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    // Something on a port that is not the local runtime.
    server = http.createServer((_request, response) => {
      response.statusCode = 404;
      response.end('not here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('--local where nothing answers: one line asking whether npm run dev runs', async () => {
    const result = await run(['replay', 'dlq', 'list', '--local', 'http://127.0.0.1:1']);
    expect(result.status).toBe(1);
    expect(oneLine(result.stderr)).toBe('error: nothing answers at http://127.0.0.1:1: is `npm run dev` running (it prints the API URL to use)?');
  });

  test('--local without http:// is accepted (http:// assumed), and a bare port means 127.0.0.1', async () => {
    const hostPort = await run(['replay', 'dlq', 'list', '--local', `127.0.0.1:${port}`]);
    expect(hostPort.status).toBe(1);
    expect(oneLine(hostPort.stderr)).toBe(`error: http://127.0.0.1:${port} is not a local runtime of this service (GET /__local/config answered 404)`);
    const barePort = await run(['replay', 'dlq', 'list', '--local', String(port)]);
    expect(oneLine(barePort.stderr)).toBe(`error: http://127.0.0.1:${port} is not a local runtime of this service (GET /__local/config answered 404)`);
    const refused = await run(['replay', 'dlq', 'list', '--local', '127.0.0.1:1']);
    expect(oneLine(refused.stderr)).toBe('error: nothing answers at http://127.0.0.1:1: is `npm run dev` running (it prints the API URL to use)?');
  });

  test('--local that is no URL: the form expected, exit 2', async () => {
    const result = await run(['replay', 'dlq', 'list', '--local', 'ftp://127.0.0.1:3000']);
    expect(result.status).toBe(2);
    expect(oneLine(result.stderr)).toBe('error: --local expects the local runtime\'s URL, like http://127.0.0.1:3000 (got "ftp://127.0.0.1:3000")');
  });

  test('--stack with no region anywhere: one line saying how to set it', async () => {
    const result = await run(['replay', 'dlq', 'list', '--stack', 'Notifications']);
    expect(result.status).toBe(1);
    expect(oneLine(result.stderr)).toBe('error: no AWS region: pass --region <region>, set AWS_REGION (or AWS_DEFAULT_REGION), '
      + 'or add region = <region> to your profile in ~/.aws/config (aws configure set region <region>)');
  });

  test('the region is read as the AWS CLI does: AWS_DEFAULT_REGION, and the AWS_PROFILE profile in ~/.aws/config', async () => {
    fs.writeFileSync(ENV.AWS_CONFIG_FILE!, '[profile ops]\nregion = eu-west-1\n');
    try {
      // Past the region: the next thing missing is credentials.
      for (const env of [{ AWS_DEFAULT_REGION: 'eu-west-1' }, { AWS_PROFILE: 'ops' }]) {
        const result = await run(['replay', 'dlq', 'list', '--stack', 'Notifications'], env);
        expect(result.status).toBe(1);
        expect(oneLine(result.stderr)).toMatch(/^error: no AWS credentials found/);
      }
    } finally {
      fs.rmSync(ENV.AWS_CONFIG_FILE!);
    }
  });

  test('no AWS credentials: one line naming what to set', async () => {
    const result = await run(['replay', 'dlq', 'list', '--stack', 'Notifications', '--region', 'us-east-1']);
    expect(result.status).toBe(1);
    expect(oneLine(result.stderr)).toBe('error: no AWS credentials found: set AWS_PROFILE (after aws sso login for an SSO profile), '
      + 'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  });

  test('--debug adds the stack', async () => {
    const result = await run(['replay', 'dlq', 'list', '--local', 'http://127.0.0.1:1', '--debug']);
    expect(result.status).toBe(1);
    expect(result.stderr.split('\n')[0]).toBe('error: nothing answers at http://127.0.0.1:1: is `npm run dev` running (it prints the API URL to use)?');
    expect(result.stderr).toMatch(/ECONNREFUSED[\s\S]*\n\s+at /);
  });

  test('an unknown subcommand is named, with --help, exit 2', async () => {
    const top = await run(['replay', 'frobnicate', '--local', 'http://127.0.0.1:1']);
    expect(top.status).toBe(2);
    expect(top.stdout).toBe('');
    expect(oneLine(top.stderr)).toBe('error: unknown command "frobnicate" (commands: dlq list, dlq redrive, event <eventId>, range); see replay --help');
    const dlq = await run(['replay', 'dlq', 'purge']);
    expect(dlq.status).toBe(2);
    expect(oneLine(dlq.stderr)).toBe('error: unknown command "dlq purge" (commands: dlq list, dlq redrive, event <eventId>, range); see replay --help');
    const option = await run(['replay', 'dlq', 'list', '--stak', 'Notifications']);
    expect(option.status).toBe(2);
    expect(oneLine(option.stderr)).toBe('error: Unknown option \'--stak\'; see replay --help');
  });

  test('command-line mistakes are found before anything is called, exit 2', async () => {
    const noTarget = await run(['replay', 'dlq', 'list']);
    expect(noTarget.status).toBe(2);
    expect(oneLine(noTarget.stderr)).toBe('error: say where the service is: --stack <name>, --local http://127.0.0.1:3000, or --queue-url, --dlq-url and --events-table');
    const badId = await run(['replay', 'event', 'nope', '--local', 'http://127.0.0.1:1']);
    expect(badId.status).toBe(2);
    expect(oneLine(badId.stderr)).toBe('error: give the event id: replay event evt_…');
  });
});

describe('AWS errors (control plane mocked): one line each, exit 1', () => {
  const cloudFormation = mockClient(CloudFormationClient);
  const sqs = mockClient(SQSClient);
  const dynamo = mockClient(DynamoDBClient);
  const saved = { ...process.env };
  const awsError = (name: string, message: string) => Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
  const stackOutputs = {
    Stacks: [{
      StackName: 'Notifications',
      CreationTime: new Date(),
      StackStatus: 'CREATE_COMPLETE' as const,
      Outputs: [
        { OutputKey: 'ServiceEventsQueueUrl', OutputValue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/events' },
        { OutputKey: 'ServiceDeadLetterQueueUrl', OutputValue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq' },
        { OutputKey: 'ServiceEventsTableName', OutputValue: 'events' },
      ],
    }],
  };
  const invoke = async (...args: string[]) => {
    const errors: string[] = [];
    const out: ReplayOutput = { line: () => undefined, progress: () => undefined };
    const code = await cli(['replay', ...args], out, (line) => errors.push(line));
    return { code, errors };
  };

  beforeEach(() => {
    cloudFormation.reset();
    sqs.reset();
    dynamo.reset();
    process.env = { ...CLEAN_ENV, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'eu-west-1' };
  });
  afterAll(() => {
    process.env = saved;
    cloudFormation.restore();
    sqs.restore();
    dynamo.restore();
  });

  test('stack not found', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(awsError('ValidationError', 'Stack with id Notifcations does not exist'));
    expect(await invoke('dlq', 'list', '--stack', 'Notifcations')).toEqual({
      code: 1,
      errors: ['error: stack Notifcations not found in eu-west-1: check --stack (the CloudFormation stack name) and the region (--region or AWS_REGION)'],
    });
  });

  test('access denied names the action and the resource', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(awsError('AccessDenied',
      'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: cloudformation:DescribeStacks on resource: '
      + 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Notifications/* because no identity-based policy allows the cloudformation:DescribeStacks action'));
    expect(await invoke('dlq', 'list', '--stack', 'Notifications')).toEqual({
      code: 1,
      errors: ['error: access denied: your AWS identity may not call cloudformation:DescribeStacks on '
        + 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Notifications/*; ask for that permission, or use another AWS_PROFILE'],
    });
  });

  test('expired or rejected credentials', async () => {
    cloudFormation.on(DescribeStacksCommand).rejectsOnce(awsError('ExpiredToken', 'The security token included in the request is expired'))
      .rejectsOnce(awsError('InvalidClientTokenId', 'The security token included in the request is invalid.'));
    expect(await invoke('dlq', 'list', '--stack', 'Notifications')).toEqual({
      code: 1, errors: ['error: your AWS credentials have expired: refresh them (aws sso login, or new keys) and try again'],
    });
    expect(await invoke('dlq', 'list', '--stack', 'Notifications')).toEqual({
      code: 1,
      errors: ['error: AWS does not accept these credentials (InvalidClientTokenId): set AWS_PROFILE (after aws sso login for an SSO profile), '
        + 'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'],
    });
  });

  test('the queue does not exist', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackOutputs);
    sqs.on(ReceiveMessageCommand).rejects(awsError('QueueDoesNotExist', 'The specified queue does not exist.'));
    expect(await invoke('dlq', 'list', '--stack', 'Notifications')).toEqual({
      code: 1, errors: ['error: the queue does not exist in eu-west-1: check --queue-url / --dlq-url (or --stack), and the region'],
    });
  });

  test('the region of --queue-url when nothing else names one', async () => {
    delete process.env.AWS_REGION;
    process.env.AWS_CONFIG_FILE = path.join(HOME, 'none');
    sqs.on(ReceiveMessageCommand).rejects(awsError('QueueDoesNotExist', 'The specified queue does not exist.'));
    const where = ['--queue-url', 'https://sqs.ap-south-1.amazonaws.com/1/events', '--dlq-url', 'https://sqs.ap-south-1.amazonaws.com/1/dlq', '--events-table', 'events'];
    expect(await invoke('dlq', 'list', ...where)).toEqual({
      code: 1, errors: ['error: the queue does not exist in ap-south-1: check --queue-url / --dlq-url (or --stack), and the region'],
    });
  });
});

describe('progress', () => {
  const stream = (isTTY: boolean) => {
    const written: string[] = [];
    return { written, isTTY, write: (text: string) => written.push(text) };
  };

  test('a terminal gets a bar redrawn with \\r', async () => {
    const tty = stream(true);
    const progress = progressWriter(tty);
    progress(1, 2, 'moved');
    progress(2, 2, 'moved');
    expect(tty.written).toEqual([`\r[${'#'.repeat(15)}${'-'.repeat(15)}] 1/2 moved`, `\r[${'#'.repeat(30)}] 2/2 moved\n`]);
  });

  test('a pipe or a file gets plain lines, no \\r: each tenth once, and the last', async () => {
    const pipe = stream(false);
    const progress = progressWriter(pipe);
    for (let done = 0; done <= 100; done++) progress(done, 100, 're-queued');
    progress(100, 100, 're-queued');
    expect(pipe.written.join('')).not.toContain('\r');
    expect(pipe.written).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((n) => `${n}/100 re-queued\n`));
  });
});

test('localUrl: the forms --local accepts', async () => {
  expect(localUrl('http://127.0.0.1:3000').href).toBe('http://127.0.0.1:3000/');
  expect(localUrl('127.0.0.1:3000').href).toBe('http://127.0.0.1:3000/');
  expect(localUrl('localhost:3000').href).toBe('http://localhost:3000/');
  expect(localUrl('3000').href).toBe('http://127.0.0.1:3000/');
  expect(() => localUrl('http://')).toThrow('--local expects the local runtime\'s URL, like http://127.0.0.1:3000 (got "http://")');
});
