import { describe, expect, it } from 'vitest';
import {
  alignToInterval,
  BadInputError,
  checkTaskName,
  fixedCadence,
  formatInterval,
  parseInterval,
  slotsIn,
  taskNameProblem,
  worstState,
} from '../src/index.ts';

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

describe('slots of a cadence', () => {
  const fiveMinutes = fixedCadence(300_000, Date.UTC(2026, 0, 1, 0, 2));

  it('numbers slots from the origin, before it too, and finds the slots of a window', () => {
    expect(fiveMinutes.slotNumber(Date.UTC(2026, 0, 1, 0, 2))).toBe(0);
    expect(fiveMinutes.slotNumber(Date.UTC(2026, 0, 1, 0, 6, 59))).toBe(0);
    expect(fiveMinutes.slotNumber(Date.UTC(2026, 0, 1, 0, 1))).toBe(-1);
    expect(fiveMinutes.slotStart(-1)).toBe(Date.UTC(2025, 11, 31, 23, 57));
    // [00:03, 00:17): the slots starting at 00:07 and 00:12.
    expect(slotsIn(fiveMinutes, Date.UTC(2026, 0, 1, 0, 3), Date.UTC(2026, 0, 1, 0, 17))).toEqual({
      first: 1,
      end: 3,
    });
    expect(slotsIn(fiveMinutes, Date.UTC(2026, 0, 1, 0, 7), Date.UTC(2026, 0, 1, 0, 7))).toEqual({
      first: 1,
      end: 1,
    });
    expect(slotsIn(fiveMinutes, Date.UTC(2026, 0, 1, 1), Date.UTC(2026, 0, 1, 0))).toEqual({
      first: 12,
      end: 12,
    });
  });

  it('tells a valid task name from an invalid one, and the worst of some cell states', () => {
    expect(taskNameProblem('sensor-count')).toBeNull();
    expect(taskNameProblem('')).toMatch(/1–200 characters/);
    expect(taskNameProblem('a\u0000b')).toMatch(/NUL/);
    expect(() => checkTaskName('x'.repeat(201))).toThrow(BadInputError);
    expect(worstState({ COMPLETE: 3, MISSING: 1, SKIP: 2 })).toBe('MISSING');
    expect(worstState({})).toBeNull();
  });
});
