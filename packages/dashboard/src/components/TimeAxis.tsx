import { useEffect, useRef, useState } from 'react';
import { type TimeScale, timeAt, xOf, zoomAround } from '../lib/grid-layout.ts';
import { type TimeZoneChoice, timeTicks } from '../lib/time.ts';

/** Drags shorter than this (px) count as clicks. */
const CLICK_SLOP = 4;

/**
 * The time axis above the grid. Drag across it to zoom into that range; the mouse wheel zooms in and out
 * around the pointer; a click selects the whole column under it.
 */
export function TimeAxis({
  scale,
  zone,
  onZoom,
  onSelectColumn,
}: {
  scale: TimeScale;
  zone: TimeZoneChoice;
  onZoom: (fromMs: number, toMs: number) => void;
  onSelectColumn: (ms: number) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [brush, setBrush] = useState<{ x0: number; x1: number } | null>(null);
  const latest = useRef({ scale, onZoom });
  latest.current = { scale, onZoom };

  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    // Native listener: React's wheel listener is passive and cannot stop the page from scrolling.
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const { scale: s, onZoom: zoom } = latest.current;
      const x = event.clientX - element.getBoundingClientRect().left;
      const next = zoomAround(s, timeAt(x, s), event.deltaY > 0 ? 1.25 : 0.8);
      zoom(next.fromMs, next.toMs);
    };
    element.addEventListener('wheel', onWheel, { passive: false });
    return () => element.removeEventListener('wheel', onWheel);
  }, []);

  const localX = (clientX: number) => {
    const left = ref.current?.getBoundingClientRect().left ?? 0;
    return Math.max(0, Math.min(scale.width, clientX - left));
  };

  return (
    <div
      ref={ref}
      className="time-axis"
      data-testid="time-axis"
      title="Drag to zoom into a range, wheel to zoom, click to select a whole column"
      onPointerDown={(event) => {
        if (event.button !== 0) return;
        event.currentTarget.setPointerCapture?.(event.pointerId);
        const x = localX(event.clientX);
        setBrush({ x0: x, x1: x });
      }}
      onPointerMove={(event) => {
        if (brush) setBrush({ ...brush, x1: localX(event.clientX) });
      }}
      onPointerUp={(event) => {
        if (!brush) return;
        const x1 = localX(event.clientX);
        setBrush(null);
        if (Math.abs(x1 - brush.x0) < CLICK_SLOP) {
          onSelectColumn(timeAt(x1, scale));
        } else {
          onZoom(timeAt(Math.min(brush.x0, x1), scale), timeAt(Math.max(brush.x0, x1), scale));
        }
      }}
      onPointerCancel={() => setBrush(null)}
    >
      {timeTicks(scale.fromMs, scale.toMs, scale.width, zone).map((tick) => (
        <span key={tick.ms} className="tick" style={{ left: xOf(tick.ms, scale) }}>
          {tick.label}
        </span>
      ))}
      {brush ? (
        <span
          className="brush"
          style={{ left: Math.min(brush.x0, brush.x1), width: Math.abs(brush.x1 - brush.x0) }}
          aria-hidden="true"
        />
      ) : null}
    </div>
  );
}
