import { toGrid, type WireGrid } from '../../src/api/grid.ts';
import { FROM, STEP, wireGrid, wireRow, wireTask } from './fixtures.ts';
import { apiError, type Handler, json, route } from './network.ts';

/** The token the stubbed API accepts. */
export const TOKEN = 's3cret';

/** A small grid: alpha (complete, failing, missing, …) and beta (running, skipped, …). */
export function smallGrid(): WireGrid {
  return wireGrid(
    [
      wireRow(
        'alpha',
        ['COMPLETE', 'FAILING', 'MISSING', 'COMPLETE', 'SKIP', 'FUTURE'],
        {
          1: { failedAttempts: 3, message: 'timeout' },
          4: { message: 'source down for maintenance' },
        },
        { missing: 1, failing: 1, running: 0 },
      ),
      wireRow(
        'beta',
        ['COMPLETE', 'ACQUIRED', 'COMPLETE', 'COMPLETE', 'AVAILABLE', 'FUTURE'],
        {
          1: { holder: { worker: 'worker-7', since: new Date(FROM + STEP).toISOString() } },
        },
        { missing: 0, failing: 0, running: 1 },
      ),
    ],
    6,
  );
}

/** whoami: no token → anonymous; {@link TOKEN} → may write; anything else → 401. */
export function whoamiHandler(options: { isReadOnly?: boolean } = {}): Handler {
  return route('GET', '/api/whoami', (r) => {
    if (r.authorization && r.authorization !== `Bearer ${TOKEN}`)
      return apiError(401, 'UNAUTHORIZED', 'wrong token');
    const isReadOnly = options.isReadOnly ?? false;
    return json({
      isReadOnly,
      canWrite: !isReadOnly && r.authorization !== null,
      actor: r.authorization ? 'ops' : null,
    });
  });
}

/** Answers the grid with `grid` (default {@link smallGrid}). */
export function gridHandler(grid: () => WireGrid = smallGrid): Handler {
  return route('GET', '/api/grid', () => json(grid()));
}

/** Every slot's detail: a COMPLETE row, or the state the grid shows. */
export function detailHandler(): Handler {
  return route('GET', /^\/api\/tasks\/[^/]+\/[^/]+$/, (r) => {
    const [, , , name = '', slot = ''] = r.url.pathname.split('/');
    const decodedName = decodeURIComponent(name);
    const decodedSlot = decodeURIComponent(slot);
    const cell = toGrid(smallGrid())
      .rows.find((row) => row.name === decodedName)
      ?.cells.find((c) => c.start.toISOString() === decodedSlot);
    if (!cell || cell.state === 'MISSING' || cell.state === 'FUTURE')
      return apiError(404, 'NOT_FOUND', 'no row');
    const state = cell.state === 'FAILING' ? 'AVAILABLE' : cell.state;
    return json({
      task: wireTask({
        name: decodedName,
        slot: decodedSlot,
        state,
        failedAttempts: cell.failedAttempts,
        holder: cell.holder && {
          worker: cell.holder.worker,
          since: cell.holder.since?.toISOString() ?? null,
        },
      }),
      history: [
        { id: 1, fromState: null, toState: 'AVAILABLE', actor: 'scheduler', message: null, at: decodedSlot },
      ],
    });
  });
}
