import type { EndedAttempt } from './attempts.ts';
import { onAttemptEnd } from './attempts.ts';
import type { Worker } from './worker.ts';

type OpenTelemetry = typeof import('@opentelemetry/api');

/** `@opentelemetry/api` once loaded: null when it is not installed (an optional peer dependency). */
let openTelemetry: OpenTelemetry | null | undefined;
let loading: Promise<OpenTelemetry | null> | null = null;
let tracer: import('@opentelemetry/api').Tracer | undefined;

function loadOpenTelemetry(): Promise<OpenTelemetry | null> {
  loading ??= import('@opentelemetry/api').then(
    (api) => (openTelemetry = api),
    () => (openTelemetry = null),
  );
  return loading;
}

/**
 * When `@opentelemetry/api` is installed, records each of the worker's attempts as a span `dtm.attempt`
 * (kind consumer; attributes `dtm.task.name`, `dtm.task.slot`, `dtm.attempt`, `dtm.outcome`, `dtm.worker`;
 * status error when it failed or was abandoned), made when the attempt ends, with its start and end times.
 * Without an SDK registered the API records nothing; without the package, nothing listens.
 */
export function traceAttempts(worker: Worker): void {
  if (openTelemetry === null) return;
  const stop = onAttemptEnd(worker, (attempt) => {
    const end = new Date();
    if (openTelemetry) recordSpan(openTelemetry, worker.workerName, attempt, end);
    else void loadOpenTelemetry().then((api) => api && recordSpan(api, worker.workerName, attempt, end));
  });
  // Not installed: the worker's events need no listener.
  void loadOpenTelemetry().then((api) => api ?? stop());
}

function recordSpan(otel: OpenTelemetry, workerName: string, attempt: EndedAttempt, end: Date): void {
  // A tracer from the global provider follows an SDK registered later: one is enough.
  tracer ??= otel.trace.getTracer('@dtm/core');
  const span = tracer.startSpan('dtm.attempt', {
    kind: otel.SpanKind.CONSUMER,
    startTime: new Date(end.getTime() - attempt.durationMs),
    attributes: {
      'dtm.task.name': attempt.task.name,
      'dtm.task.slot': attempt.task.slot.toISOString(),
      'dtm.attempt': attempt.attempt,
      'dtm.outcome': attempt.outcome,
      'dtm.worker': workerName,
    },
  });
  if (attempt.outcome === 'failed' || attempt.outcome === 'abandoned') {
    const error = attempt.error;
    if (error instanceof Error) span.recordException(error);
    span.setStatus({
      code: otel.SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
  }
  span.end(end);
}
