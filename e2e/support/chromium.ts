import { existsSync } from 'node:fs';

/** Debian's Chromium (apt-get install chromium): the suite never downloads a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Why the browser tests cannot run on this machine, or null when they can; decided once per process. */
export const noChromium: string | null = existsSync(CHROMIUM_PATH)
  ? null
  : `${CHROMIUM_PATH} is missing (apt-get install chromium)`;
