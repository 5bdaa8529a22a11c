import { DEV_DATA_DIR, openDatabase } from '@dtm/dev-db';
import { type ChildMessage, onStopRequest } from './children.ts';

/**
 * The demo's PostgreSQL, in a process of its own so that a Ctrl-C does not stop it before the workers have
 * finished: DATABASE_URL when set, else the embedded server on <repo>/.data/pg (the data `dtm` and the API
 * server use too).
 */
const dataDir = process.env.DTM_DATA_DIR ?? DEV_DATA_DIR;
const db = await openDatabase({ dataDir });
onStopRequest(() => db.stop());
process.send?.({ type: 'ready', url: db.url, isEmbedded: db.isEmbedded } satisfies ChildMessage);
