import { useCallback, useState } from 'react';
import type { TimeZoneChoice } from '../lib/time.ts';

/** localStorage key of the UTC/local choice. */
export const TIME_ZONE_STORAGE_KEY = 'dtm.timeZone';

function read(): TimeZoneChoice {
  try {
    return localStorage.getItem(TIME_ZONE_STORAGE_KEY) === 'local' ? 'local' : 'utc';
  } catch {
    return 'utc';
  }
}

/** Whether times show in UTC (the default) or local time; the choice is remembered in localStorage. */
export function useTimeZone(): [TimeZoneChoice, (zone: TimeZoneChoice) => void] {
  const [zone, setZone] = useState<TimeZoneChoice>(read);
  const choose = useCallback((next: TimeZoneChoice) => {
    setZone(next);
    try {
      localStorage.setItem(TIME_ZONE_STORAGE_KEY, next);
    } catch {
      // Not remembered when storage is disabled.
    }
  }, []);
  return [zone, choose];
}
