import { describe, expect, it } from 'vitest';
import { alignToInterval, BadInputError, formatInterval, parseInterval } from '../src/index.ts';

describe('intervals', () => {
  it('parses fixed ISO-8601 durations and milliseconds', () => {
    expect(parseInterval('PT1S')).toBe(1_000);
    expect(parseInterval('PT5M')).toBe(300_000);
    expect(parseInterval('PT1H')).toBe(3_600_000);
    expect(parseInterval('P1D')).toBe(86_400_000);
    expect(parseInterval('P1W')).toBe(604_800_000);
    expect(parseInterval('P1DT12H')).toBe(129_600_000);
    expect(parseInterval(60_000)).toBe(60_000);
  });

  it.each([
    ['P1M'],
    ['P1Y'],
    ['PT'],
    ['P'],
    [''],
    ['5 minutes'],
    ['PT0.5S'],
    [0],
    [999],
    [-1000],
    [1.5e3 + 0.5],
    [Number.NaN],
  ])('rejects %s with a clear BadInputError', (value) => {
    expect(() => parseInterval(value)).toThrow(BadInputError);
  });

  it('formats milliseconds back to ISO-8601', () => {
    expect(formatInterval(300_000)).toBe('PT5M');
    expect(formatInterval(3_600_000)).toBe('PT1H');
    expect(formatInterval(86_400_000)).toBe('P1D');
    expect(formatInterval(129_600_000)).toBe('P1DT12H');
    expect(formatInterval(1_500)).toBe('PT1.5S');
  });

  it('aligns a date to the start of its slot, from the epoch or a given origin', () => {
    expect(alignToInterval('2026-11-28T04:07:13Z', 'PT5M').toISOString()).toBe('2026-11-28T04:05:00.000Z');
    expect(alignToInterval('2026-11-28T04:07:13Z', 'P1D').toISOString()).toBe('2026-11-28T00:00:00.000Z');
    expect(alignToInterval('2026-11-28T04:07:13Z', 'P1D', '2020-01-01T06:00:00Z').toISOString()).toBe(
      '2026-11-27T06:00:00.000Z',
    );
    expect(alignToInterval('1969-12-31T23:58:00Z', 'PT5M').toISOString()).toBe('1969-12-31T23:55:00.000Z');
  });

  it('rejects invalid dates', () => {
    expect(() => alignToInterval('yesterday', 'PT5M')).toThrow(/valid date/);
  });
});
