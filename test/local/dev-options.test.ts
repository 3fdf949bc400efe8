import { parseDuration, parseSchedule } from '../../local/dev';

/* Durations on the dev command line (--retry-schedule, --secret-rotation-overlap). */

test('parseDuration reads ms, s, m, h, d and plain seconds', () => {
  expect(['500ms', '5s', '2m', '1h', '2d', '7', ' 1.5s '].map((v) => parseDuration(v, '--x'))).toEqual([0.5, 5, 120, 3600, 172800, 7, 1.5]);
});

test('a malformed duration names the flag', () => {
  for (const bad of ['', '-1s', '1w', '1 h', 's', '1e3']) {
    expect(() => parseDuration(bad, '--secret-rotation-overlap')).toThrow(/^--secret-rotation-overlap: ".*" is not a duration/);
  }
});

test('parseSchedule still names --retry-schedule', () => {
  expect(parseSchedule('0s,1s,2m')).toEqual([0, 1, 120]);
  expect(() => parseSchedule('0s,x')).toThrow(/^--retry-schedule: "x" is not a duration/);
});
