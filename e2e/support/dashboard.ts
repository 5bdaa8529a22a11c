import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, type Locator, type Page } from '@playwright/test';
import { HOUR } from './stack-env.ts';

/** Row height of the grid in CSS pixels (the dashboard's ROW_HEIGHT). */
const ROW_HEIGHT = 24;

/** Which cell: the row (0 after filtering to one name) and the slot's interval (default one hour). */
export interface CellOptions {
  rowIndex?: number;
  intervalMs?: number;
  timeout?: number;
}

/** Screenshots of each run land here (git-ignored). */
export const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');

/** `2026-11-28 04:00`: how the dashboard writes an instant in UTC. */
export function formatUtc(date: Date): string {
  return date.toISOString().slice(0, 16).replace('T', ' ');
}

/**
 * The dashboard as a user drives it. The grid is a canvas: a cell is found from the window shown (a custom
 * range this helper sets) and read back through the tooltip, the side panel and the focus description.
 */
export class Dashboard {
  readonly page: Page;
  readonly grid: Locator;
  readonly tooltip: Locator;
  readonly panel: Locator;
  #window: { from: number; to: number } | null = null;

  constructor(
    page: Page,
    readonly baseUrl: string,
  ) {
    this.page = page;
    this.grid = page.getByTestId('grid');
    this.tooltip = page.getByTestId('tooltip');
    this.panel = page.getByTestId('side-panel');
  }

  /** Opens the dashboard, signed in with `token` when given, and waits for the live event stream. */
  async open(options: { token?: string } = {}): Promise<void> {
    if (options.token) {
      await this.page.addInitScript((token) => sessionStorage.setItem('dtm.token', token), options.token);
    }
    await this.page.goto(this.baseUrl);
    await expect(this.page.getByTestId('live-status')).toHaveAttribute('data-status', 'live');
  }

  /** Shows only the rows whose name contains `name`, over [from, to) (in UTC). */
  async show(name: string, from: Date, to: Date): Promise<void> {
    await this.page.getByLabel('Filter names').fill(name);
    const range = this.page.getByRole('form', { name: 'Custom range' });
    await range.getByLabel('From').fill(from.toISOString().slice(0, 16));
    await range.getByLabel('to', { exact: true }).fill(to.toISOString().slice(0, 16));
    await range.getByRole('button', { name: 'Show range' }).click();
    this.#window = { from: from.getTime(), to: to.getTime() };
  }

  /** Where the middle of a slot's cell is on the page. */
  async pointOf(
    slot: Date,
    options: { rowIndex?: number; intervalMs?: number } = {},
  ): Promise<{ x: number; y: number }> {
    if (!this.#window) throw new Error('call show() first');
    const box = await this.grid.boundingBox();
    if (!box) throw new Error('the grid is not on screen');
    const middle = slot.getTime() + (options.intervalMs ?? HOUR) / 2;
    const { from, to } = this.#window;
    return {
      x: box.x + ((middle - from) / (to - from)) * box.width,
      y: box.y + (options.rowIndex ?? 0) * ROW_HEIGHT + ROW_HEIGHT / 2,
    };
  }

  /** Hovers the slot's cell until its tooltip is the slot's (the grid may still be loading). */
  async hover(slot: Date, options: CellOptions = {}): Promise<Locator> {
    await this.expectCell(slot, [], options);
    return this.tooltip;
  }

  /**
   * Hovers the slot's cell until its tooltip shows every one of `texts` (the page updates live; hovering
   * again each round also survives a tooltip that a redraw took away).
   */
  async expectCell(
    slot: Date,
    texts: ReadonlyArray<string | RegExp>,
    options: CellOptions = {},
  ): Promise<void> {
    const timeout = options.timeout ?? 15_000;
    await expect(async () => {
      const { x, y } = await this.pointOf(slot, options);
      await this.page.mouse.move(x - 2, y);
      await this.page.mouse.move(x, y);
      await expect(this.tooltip).toContainText(`${formatUtc(slot)} –`, { timeout: 1_000 });
      for (const text of texts) await expect(this.tooltip).toContainText(text, { timeout: 500 });
    }).toPass({ timeout, intervals: [100, 250, 500] });
  }

  /**
   * Selects the cells from `first` to `last` (inclusive) with the keyboard: focus the grid, walk to `first`
   * with the arrow keys (reading the focus description), then Shift+ArrowRight to `last`.
   */
  async selectWithKeyboard(first: Date, last: Date): Promise<Locator> {
    const description = this.page.locator('#grid-focus-description');
    await this.grid.focus();
    await this.page.keyboard.press('Home');
    // Match a cell by its start (`<start> –`): a cell that ends on another day spells its end in full too.
    const startsAt = (slot: Date) => `${formatUtc(slot)} –`;
    for (let i = 0; i < 200 && !(await description.textContent())?.includes(startsAt(first)); i += 1) {
      await this.page.keyboard.press('ArrowRight');
    }
    await expect(description).toContainText(startsAt(first));
    for (let i = 0; i < 200 && !(await description.textContent())?.includes(startsAt(last)); i += 1) {
      await this.page.keyboard.press('Shift+ArrowRight');
    }
    await expect(description).toContainText(startsAt(last));
    const bar = this.page.getByTestId('selection-bar');
    await expect(bar).toBeVisible();
    return bar;
  }

  /** Clicks the slot's cell and waits for its side panel. */
  async openPanel(slot: Date, options: CellOptions = {}): Promise<Locator> {
    await this.hover(slot, options);
    const { x, y } = await this.pointOf(slot, options);
    await this.page.mouse.click(x, y);
    await expect(this.panel).toContainText(`${formatUtc(slot)} –`);
    return this.panel;
  }

  async closePanel(): Promise<void> {
    await this.panel.getByRole('button', { name: 'Close details' }).click();
    await expect(this.panel).toBeHidden();
  }

  /**
   * Runs a write action of the open panel (or selection bar) through its steps: the button, the reason, the
   * preview, the confirmation. Returns the outcome text.
   */
  async runAction(scope: Locator, label: RegExp, reason: string | null): Promise<Locator> {
    await scope.getByRole('button', { name: label }).click();
    if (reason !== null) await scope.getByLabel('Reason (kept in the history)').fill(reason);
    await scope.getByRole('button', { name: /^Preview/ }).click();
    await expect(scope.locator('.preview')).toBeVisible();
    await scope.getByRole('button', { name: /^Confirm/ }).click();
    const outcome = scope.locator('.outcome');
    await expect(outcome).toBeVisible();
    return outcome;
  }

  /** Saves a screenshot under e2e/artifacts/. */
  async screenshot(file: string, target: Locator | Page = this.page): Promise<void> {
    await mkdir(ARTIFACTS, { recursive: true });
    await target.screenshot({ path: join(ARTIFACTS, file) });
  }
}
