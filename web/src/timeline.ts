/**
 * The timeline as a windowed list: a spacer as tall as every visible row, and in it only the
 * rows the viewport shows (plus a margin), rebuilt on scroll. A trace of 100,000 entries costs
 * the DOM about a hundred rows, so loading, scrolling and stepping stay fast at any length.
 * Rows have one fixed height (--row-h in style.css); model events can be hidden, which
 * re-indexes the rows shown, not the entries.
 */

/** What the list needs to draw entry `i` as a row. */
export interface RowSource {
  /** Number of entries. */
  count: number;
  /** Whether entry `i` is a model event (hidden with the events toggle). */
  isEvent(i: number): boolean;
  /** The row's inner HTML and its extra classes. */
  row(i: number): { html: string; cls: string; step: number };
}

/** Rows drawn above and below the viewport. */
const OVERSCAN = 30;

export class VirtualTimeline {
  private src: RowSource | null = null;
  /** Entry index of each shown row. */
  private order = new Int32Array(0);
  /** Row position of each entry (a hidden entry: the row before it, or 0). */
  private posOf = new Int32Array(0);
  private readonly space: HTMLElement;
  private readonly win: HTMLElement;
  private first = -1;
  private last = -1;
  private frame = 0;
  /** Entry → classes added on top of the row's own (selection, group). */
  private marks: (i: number) => string = () => '';

  constructor(
    private readonly wrap: HTMLElement,
    private readonly host: HTMLElement,
    private readonly rowHeight: number,
  ) {
    this.space = document.createElement('div');
    this.space.className = 'vt-space';
    this.win = document.createElement('div');
    this.win.className = 'vt-win';
    this.space.appendChild(this.win);
    wrap.addEventListener('scroll', () => this.schedule(), { passive: true });
    window.addEventListener('resize', () => this.schedule());
  }

  /** Shows `src` under the header row `head`; `showEvents` false hides model events. */
  setSource(src: RowSource, head: HTMLElement, showEvents: boolean): void {
    this.src = src;
    this.host.replaceChildren(head, this.space);
    this.filter(showEvents);
  }

  /** Re-indexes the rows for the events toggle. */
  filter(showEvents: boolean): void {
    const src = this.src;
    if (src === null) return;
    const order = new Int32Array(src.count);
    const posOf = new Int32Array(src.count);
    let n = 0;
    for (let i = 0; i < src.count; i++) {
      if (showEvents || !src.isEvent(i)) order[n++] = i;
      posOf[i] = Math.max(0, n - 1);
    }
    this.order = order.subarray(0, n);
    this.posOf = posOf;
    this.space.style.height = `${n * this.rowHeight}px`;
    this.refresh();
  }

  /** Sets the per-entry extra classes and redraws the rows shown. */
  setMarks(marks: (i: number) => string): void {
    this.marks = marks;
    this.refresh();
  }

  /** Redraws the rows shown (their classes may have changed). */
  refresh(): void {
    this.first = -1;
    this.draw();
  }

  /** Scrolls just enough to show entry `i` below the sticky header. */
  reveal(i: number): void {
    const head = this.space.offsetTop;
    const top = head + this.posOf[i] * this.rowHeight;
    const wrap = this.wrap;
    if (top - head < wrap.scrollTop) wrap.scrollTop = top - head;
    else if (top + this.rowHeight > wrap.scrollTop + wrap.clientHeight)
      wrap.scrollTop = top + this.rowHeight - wrap.clientHeight;
    this.draw();
  }

  /** Rows currently in the DOM (for tests and diagnostics). */
  get rendered(): number {
    return this.win.childElementCount;
  }

  private schedule(): void {
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const src = this.src;
    if (src === null) return;
    const n = this.order.length;
    const top = Math.max(0, this.wrap.scrollTop - this.space.offsetTop);
    const first = Math.max(0, Math.floor(top / this.rowHeight) - OVERSCAN);
    const last = Math.min(n, Math.ceil((top + this.wrap.clientHeight) / this.rowHeight) + OVERSCAN);
    if (first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    const html: string[] = [];
    for (let p = first; p < last; p++) {
      const i = this.order[p];
      const r = src.row(i);
      const extra = this.marks(i);
      html.push(`<div class="row${r.cls}${extra}" data-i="${i}" data-step="${r.step}">${r.html}</div>`);
    }
    this.win.style.transform = `translateY(${first * this.rowHeight}px)`;
    this.win.innerHTML = html.join('');
  }
}
