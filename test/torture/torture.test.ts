import { NO_VIOLATIONS, runTorture } from '../helpers/torture/torture';

/*
 * The torture suite, short: 150 events, one SIGKILL and restart while publishing, in each queue
 * mode. `npm run torture` runs the full one (1,000 events, two kills, both modes).
 */

const EVENTS = 150;

describe('torture (short): the local runtime under concurrent publishes, a SIGKILL and hostile payloads', () => {
  test.each(['standard', 'fifo'] as const)('%s queue: every invariant holds', async (mode) => {
    const result = await runTorture({ mode, events: EVENTS, kills: 1, seed: 20261124, settleTimeoutMs: 60_000 });
    // On failure the diff shows the counts and examples of each broken invariant; the log file has them all.
    const report = {
      summary: result.summary,
      error: result.error,
      accepted: result.accepted,
      counts: result.counts,
      examples: result.examples.slice(0, 12).map((line) => (line.length > 240 ? `${line.slice(0, 237)}...` : line)),
      log: result.logFile,
    };
    // Every valid event accepted; those that set the service's own fields refused (400).
    expect(result.spoofing).toBeGreaterThan(0);
    expect(report).toEqual({ ...report, error: undefined, accepted: EVENTS - result.spoofing, counts: NO_VIOLATIONS, examples: [] });
  }, 180_000);
});
