export { type AppType, createApp } from './app.ts';
export { type ApiManagerOptions, createApiManager } from './database.ts';
export { type AppDeps, type AuthConfig, DEFAULT_LIMITS, type Limits, type Logger } from './deps.ts';
export { EventHub } from './event-hub.ts';
export { type CreateLoggerOptions, createLogger, quietLogger } from './logger.ts';
export {
  DEFAULT_DASHBOARD_DIR,
  type RunningServer,
  type StartServerOptions,
  startServer,
} from './start-server.ts';
