export {
  connectDatabase,
  type Database,
  DEFAULT_DATA_DIR,
  findRunningServer,
  REPO_ROOT,
} from './database.ts';
export { main } from './main.ts';
