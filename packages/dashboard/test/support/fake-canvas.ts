/** One recorded drawing call. */
export interface DrawCall {
  op: string;
  /** The fill style in effect when the call was made. */
  fillStyle: string;
  globalAlpha: number;
  args: number[];
}

/**
 * A 2D context that records what is drawn (jsdom has no canvas). It implements the subset the grid uses;
 * `createPattern` answers null, so paints fall back to plain colours.
 */
export class FakeContext {
  fillStyle: string | CanvasGradient | CanvasPattern = '#000000';
  strokeStyle: string | CanvasGradient | CanvasPattern = '#000000';
  globalAlpha = 1;
  lineWidth = 1;
  calls: DrawCall[] = [];

  private record(op: string, args: number[]) {
    this.calls.push({ op, fillStyle: String(this.fillStyle), globalAlpha: this.globalAlpha, args });
  }
  clearRect(x: number, y: number, w: number, h: number) {
    this.calls = [];
    this.record('clearRect', [x, y, w, h]);
  }
  fillRect(x: number, y: number, w: number, h: number) {
    this.record('fillRect', [x, y, w, h]);
  }
  strokeRect(x: number, y: number, w: number, h: number) {
    this.record('strokeRect', [x, y, w, h]);
  }
  rect(x: number, y: number, w: number, h: number) {
    this.record('rect', [x, y, w, h]);
  }
  beginPath() {
    this.record('beginPath', []);
  }
  fill() {
    this.record('fill', []);
  }
  moveTo(x: number, y: number) {
    this.record('moveTo', [x, y]);
  }
  lineTo(x: number, y: number) {
    this.record('lineTo', [x, y]);
  }
  stroke() {
    this.record('stroke', []);
  }
  setTransform() {}
  getImageData() {
    return { data: new Uint8ClampedArray(4) };
  }
  createPattern(): CanvasPattern | null {
    return null;
  }
  /** The calls of one kind. */
  ops(op: string): DrawCall[] {
    return this.calls.filter((call) => call.op === op);
  }
}

const contexts = new WeakMap<HTMLCanvasElement, FakeContext>();

/** The fake context of a canvas rendered in a test. */
export function contextOf(canvas: HTMLElement): FakeContext {
  if (!(canvas instanceof HTMLCanvasElement)) throw new Error('not a canvas');
  const ctx = contexts.get(canvas);
  if (!ctx) throw new Error('canvas never drawn');
  return ctx;
}

/** Makes every canvas in jsdom hand out a recording {@link FakeContext}. */
export function installFakeCanvas(): void {
  Object.defineProperty(HTMLCanvasElement.prototype, 'getContext', {
    configurable: true,
    value(this: HTMLCanvasElement) {
      let ctx = contexts.get(this);
      if (!ctx) {
        ctx = new FakeContext();
        contexts.set(this, ctx);
      }
      return ctx;
    },
  });
}
