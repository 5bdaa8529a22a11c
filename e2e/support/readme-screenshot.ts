import { join } from 'node:path';
import { chromium } from '@playwright/test';
import config from '../playwright.config.ts';

/**
 * Takes the README's screenshot (docs/dashboard.png) of a running dashboard, normally the demo's:
 *   pnpm start                                   # in one terminal
 *   pnpm --filter @dtm/e2e screenshot:readme http://127.0.0.1:8080
 * It hovers a failing cell so that the tooltip shows a failure message.
 */
const url = process.argv[2] ?? 'http://127.0.0.1:8080';
const out = join(import.meta.dirname, '..', '..', 'docs', 'dashboard.png');
const browser = await chromium.launch(config.use?.launchOptions);
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 430 }, timezoneId: 'UTC' });
  await page.goto(url);
  await page.getByTestId('live-status').and(page.locator('[data-status="live"]')).waitFor();
  const grid = page.getByTestId('grid');
  await grid.waitFor();
  await page.waitForFunction(
    () => Number(document.querySelector('[data-testid="grid"]')?.getAttribute('data-cells')) > 0,
  );
  const box = await grid.boundingBox();
  if (box) {
    // Look along the sensor-count row for a failing cell to hover; keep the first tooltip that shows one.
    const rows = Math.floor(box.height / 24);
    search: for (let row = 0; row < Math.min(rows, 4); row += 1) {
      for (let x = box.x + 3; x < box.x + box.width; x += 8) {
        await page.mouse.move(x, box.y + row * 24 + 12);
        const text = await page
          .getByTestId('tooltip')
          .textContent({ timeout: 200 })
          .catch(() => null);
        if (text?.includes('Failing')) break search;
      }
    }
  }
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
