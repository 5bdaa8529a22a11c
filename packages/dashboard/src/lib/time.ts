/** Which clock times are shown in. */
export type TimeZoneChoice = 'utc' | 'local';

/** The window presets, each ending now. */
export const WINDOW_PRESETS = [
  { id: '6h', label: '6 h', ms: 6 * 3_600_000 },
  { id: '24h', label: '24 h', ms: 24 * 3_600_000 },
  { id: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { id: '30d', label: '30 d', ms: 30 * 86_400_000 },
] as const;

/** Id of a window preset. */
export type PresetId = (typeof WINDOW_PRESETS)[number]['id'];

/** The grid's window: a preset ending now, or a fixed range. */
export type TimeWindow = { kind: 'preset'; preset: PresetId } | { kind: 'custom'; from: Date; to: Date };

/** Length of a preset in ms. */
export function presetMs(id: PresetId): number {
  return WINDOW_PRESETS.find((p) => p.id === id)?.ms ?? 86_400_000;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function parts(date: Date, zone: TimeZoneChoice): Record<string, string> {
  const key = zone;
  let formatter = formatters.get(key);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone === 'utc' ? 'UTC' : undefined,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(key, formatter);
  }
  const out: Record<string, string> = {};
  for (const part of formatter.formatToParts(date)) out[part.type] = part.value;
  return out;
}

/** `2026-11-28 04:05` (with `:ss` when `withSeconds`), in the chosen zone. */
export function formatInstant(date: Date, zone: TimeZoneChoice, withSeconds = false): string {
  const p = parts(date, zone);
  const time = withSeconds ? `${p.hour}:${p.minute}:${p.second}` : `${p.hour}:${p.minute}`;
  return `${p.year}-${p.month}-${p.day} ${time}`;
}

/** `2026-11-28 04:05 – 04:10` (the end's date only when it differs), with the zone's name. */
export function formatRange(start: Date, end: Date, zone: TimeZoneChoice): string {
  const a = formatInstant(start, zone);
  const b = formatInstant(end, zone);
  const sameDay = a.slice(0, 10) === b.slice(0, 10);
  return `${a} – ${sameDay ? b.slice(11) : b} ${zoneName(zone)}`;
}

/** `UTC`, or the browser's zone name. */
export function zoneName(zone: TimeZoneChoice): string {
  return zone === 'utc' ? 'UTC' : (Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'local');
}

/** A duration in words: `45 s`, `5 min`, `2 h 30 min`, `3 d 4 h`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  const s = Math.round(abs / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** The value of a `datetime-local` input showing `date` in the chosen zone. */
export function toInputValue(date: Date, zone: TimeZoneChoice): string {
  return formatInstant(date, zone).replace(' ', 'T');
}

/** Reads a `datetime-local` input's value in the chosen zone; null when empty or invalid. */
export function fromInputValue(value: string, zone: TimeZoneChoice): Date | null {
  if (value === '') return null;
  const date = new Date(zone === 'utc' ? `${value}Z` : value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const TICK_STEPS = [
  60_000,
  5 * 60_000,
  15 * 60_000,
  30 * 60_000,
  3_600_000,
  3 * 3_600_000,
  6 * 3_600_000,
  12 * 3_600_000,
  86_400_000,
  2 * 86_400_000,
  7 * 86_400_000,
];

/** One label on the time axis. */
export interface Tick {
  ms: number;
  label: string;
}

/** Ticks for the axis, at least `minGapPx` apart, aligned to round times of the chosen zone. */
export function timeTicks(
  fromMs: number,
  toMs: number,
  width: number,
  zone: TimeZoneChoice,
  minGapPx = 90,
): Tick[] {
  const span = toMs - fromMs;
  if (span <= 0 || width <= 0) return [];
  const step = TICK_STEPS.find((s) => (s / span) * width >= minGapPx) ?? 30 * 86_400_000;
  // Align to the zone's midnight by shifting with the zone's offset at the start.
  const offset = zone === 'utc' ? 0 : -new Date(fromMs).getTimezoneOffset() * 60_000;
  const first = Math.ceil((fromMs + offset) / step) * step - offset;
  const ticks: Tick[] = [];
  for (let ms = first; ms < toMs && ticks.length < 200; ms += step) {
    const text = formatInstant(new Date(ms), zone);
    const isMidnight = text.endsWith('00:00');
    const label = step >= 86_400_000 || isMidnight ? text.slice(5, 10) : text.slice(11);
    ticks.push({ ms, label });
  }
  return ticks;
}
