/**
 * The mirrorlab trace viewer: a timeline of one run (threads as columns, trace entries as
 * rows) and, for the selected entry, the state the model was in: interval subscriptions and
 * their sequences, the notifier's invalidate_seq, the CPU and device page tables and the locks
 * each thread held. Loads `trace.json` from the server (`mirrorlab view`), or a file chosen or
 * dropped on the page.
 */
import './style.css';
import { parseTraceDocument, type TraceDocument, type TraceViolation } from '../../src/report/trace-file.js';
import type { TraceEntry } from '../../src/sim/trace.js';
import { StateIndex, type ViewState } from './state.js';
import { VirtualTimeline } from './timeline.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

interface Loaded {
  doc: TraceDocument;
  name: string;
  index: StateIndex;
  /** Number of entries. */
  n: number;
  threads: string[];
  violation: TraceViolation | undefined;
  selected: number;
  /** The selected step's own model events: entries (selected, groupEnd]. */
  groupEnd: number;
}

let cur: Loaded | null = null;

/** Row height in pixels: --row-h of style.css. */
const ROW_H = 18;
const timeline = new VirtualTimeline($('timeline-wrap'), $('timeline'), ROW_H);

const PAGE_SIZE = 0x1000;
const PMD_SIZE = 0x200000;

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

function showError(text: string | null): void {
  const el = $('error');
  el.hidden = text === null;
  el.textContent = text ?? '';
}

/** One timeline cell: label, object, note. */
function cellHtml(e: TraceEntry): string {
  let h = `<span class="lbl">${e.event ? '· ' : ''}${esc(e.label)}</span>`;
  if (e.object !== undefined) h += ` <span class="obj">${esc(e.object)}</span>`;
  if (e.note !== undefined) h += ` <span class="note">[${esc(e.note)}]</span>`;
  return h;
}

function load(doc: TraceDocument, name: string): void {
  showError(null);
  const trace = doc.trace;
  const threads: string[] = [];
  const tidOf = new Map<string, number>();
  for (const e of trace) if (!tidOf.has(e.thread)) tidOf.set(e.thread, e.tid);
  threads.push(...[...tidOf].sort((a, b) => a[1] - b[1]).map(([n]) => n));
  const col = new Map(threads.map((t, i) => [t, i]));
  const v = doc.violations[0];
  const head = document.createElement('div');
  head.className = 'row head';
  head.innerHTML =
    '<span class="step">step</span><span class="time">ns</span>' +
    threads.map((t) => `<span class="th">${esc(t)}</span>`).join('');
  $('timeline').style.setProperty('--cols', String(threads.length));
  const empty = threads.map(() => '<span></span>');
  timeline.setSource(
    {
      count: trace.length,
      isEvent: (i) => trace[i].event === true,
      row(i) {
        const e = trace[i];
        let cls = e.event ? ' event' : '';
        if (v !== undefined && e.step === v.step) cls += ' viol';
        if (v?.conflictStep !== undefined && e.step === v.conflictStep) cls += ' conflict';
        const c = col.get(e.thread)!;
        const cells = empty.slice();
        cells[c] = `<span class="cell t${c % 6}">${cellHtml(e)}</span>`;
        return {
          cls,
          step: e.step,
          html:
            `<span class="step">${e.event ? '' : e.step}</span>` +
            `<span class="time">${e.event ? '' : e.timeNs}</span>${cells.join('')}`,
        };
      },
    },
    head,
    showEvents(),
  );
  cur = {
    doc,
    name,
    index: new StateIndex(trace),
    n: trace.length,
    threads,
    violation: v,
    selected: -1,
    groupEnd: -1,
  };
  $('title').innerHTML =
    `<b>${esc(doc.scenario)}</b> <span class="dim">seed ${doc.seed} · ${doc.steps} steps · ${doc.timeNs} ns · ` +
    `${trace.length} entries ·</span> <span class="status s-${esc(doc.status)}">${esc(doc.status)}</span>`;
  document.title = `${doc.scenario} · mirrorlab trace`;
  const vb = $('violation');
  if (v !== undefined) {
    vb.hidden = false;
    vb.innerHTML =
      `<b class="kind">${esc(v.kind)}</b> <span class="msg" data-testid="violation-message">${esc(v.message)}</span>` +
      ` <span class="dim">detected by ${esc(v.thread)} at step ${v.step}</span>` +
      ` <button id="go-viol" data-testid="go-violation">violating step ${v.step} (v)</button>` +
      (v.conflictStep !== undefined
        ? ` <button id="go-conf" data-testid="go-conflict">conflicting step ${v.conflictStep} (c)</button>`
        : '');
    $('go-viol').onclick = () => goStep(v.step);
    if (v.conflictStep !== undefined) $('go-conf').onclick = () => goStep(v.conflictStep!);
  } else {
    vb.hidden = true;
  }
  const fromHash = /^#i=(\d+)$/.exec(location.hash);
  select(fromHash !== null ? Number(fromHash[1]) : v !== undefined ? lastIndexOfStep(v.step) : 0);
}

function lastIndexOfStep(step: number): number {
  if (cur === null) return 0;
  const t = cur.doc.trace;
  for (let i = t.length - 1; i >= 0; i--) if (t[i].step === step) return i;
  return 0;
}

function goStep(step: number): void {
  select(lastIndexOfStep(step));
}

function visible(i: number): boolean {
  return cur !== null && (showEvents() || !cur.doc.trace[i].event);
}

function showEvents(): boolean {
  return $<HTMLInputElement>('events').checked;
}

/** Moves by `delta` visible rows. */
function move(delta: number): void {
  if (cur === null) return;
  let i = cur.selected;
  const n = cur.n;
  const dir = Math.sign(delta);
  for (let left = Math.abs(delta); left > 0;) {
    const j = i + dir;
    if (j < 0 || j >= n) break;
    i = j;
    if (visible(i)) left--;
  }
  select(i);
}

let hashTimer: ReturnType<typeof setTimeout> | undefined;

function select(i: number): void {
  if (cur === null || cur.n === 0) return;
  i = Math.max(0, Math.min(i, cur.n - 1));
  cur.selected = i;
  // The URL keeps the selection (a reload comes back to it); updated once the stepping pauses.
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => history.replaceState(null, '', `#i=${cur?.selected ?? 0}`), 250);
  const trace = cur.doc.trace;
  const e = trace[i];
  $('pos').textContent = `step ${e.step} · entry ${i + 1}/${cur.n}`;
  // A scheduling step shows the state after it and the model events it produced (they follow
  // it, same thread and step); an event row shows the state right after that event.
  let end = i;
  if (!e.event) {
    while (
      end + 1 < trace.length &&
      trace[end + 1].event &&
      trace[end + 1].step === e.step &&
      trace[end + 1].tid === e.tid
    )
      end++;
  }
  cur.groupEnd = end;
  const sel = i;
  timeline.setMarks((j) => (j === sel ? ' sel' : j > sel && j <= end ? ' group' : ''));
  timeline.reveal(i);
  renderPanels(cur.index.at(end, i), e, cur, i);
}

function renderPanels(s: ViewState, e: TraceEntry, c: Loaded, from: number): void {
  const changed = (at: number): boolean => at >= from && at <= s.index;
  // The entry itself.
  const v = c.violation;
  const tags: string[] = [];
  if (v !== undefined && e.step === v.step) tags.push('<span class="tag viol">violating step</span>');
  if (v?.conflictStep !== undefined && e.step === v.conflictStep)
    tags.push('<span class="tag conflict">conflicting step</span>');
  if (e.event) tags.push('<span class="tag ev">model event</span>');
  $('entry').innerHTML =
    `<div><b>${esc(e.thread)}</b> <span class="dim">step ${e.step} · ${e.timeNs} ns</span> ${tags.join(' ')}</div>` +
    `<div class="mono">${cellHtml(e)}</div>` +
    `<div class="held">holding: ${(e.held ?? []).map((n) => `<span class="lock">${esc(n)}</span>`).join(' ') || '<span class="none">no lock</span>'}</div>`;

  // Interval notifiers.
  const g = s.invalidateSeq;
  const subs = [...s.subs.values()];
  let h =
    `<div class="g" data-testid="invalidate-seq">invalidate_seq <b>${g ?? '–'}</b>` +
    (g === null
      ? ''
      : (g & 1) === 1
        ? ' <span class="tag open">odd: invalidation window open</span>'
        : ' <span class="tag closed">even: no window</span>') +
    '</div>';
  if (subs.length === 0) h += '<div class="none">no interval subscription yet</div>';
  else {
    const lo = Math.min(...subs.map((x) => x.start));
    const hi = Math.max(...subs.map((x) => x.last));
    const span = Math.max(1, hi - lo);
    h +=
      '<table class="subs"><tr><th>subscription</th><th>range</th><th>seq</th><th>read</th><th>tree</th></tr>';
    for (const x of subs) {
      const state = x.deferred ? 'deferred' : x.inTree ? 'in tree' : 'removed';
      const moved = x.readSeq !== null && x.seq !== null && x.readSeq !== x.seq;
      const left = ((x.start - lo) / span) * 100;
      const width = Math.max(1.5, ((x.last - x.start) / span) * 100);
      h +=
        `<tr data-sub="${esc(x.name)}" class="${changed(x.changedAt) ? 'changed' : ''} st-${state.replace(' ', '-')}">` +
        `<td><b>${esc(x.name)}</b><div class="bar"><i style="left:${left}%;width:${width}%"></i></div></td>` +
        `<td class="mono">[${hex(x.start)}, ${hex(x.last)}]</td>` +
        `<td class="mono seq" data-testid="sub-seq">${x.seq ?? '–'}</td>` +
        `<td class="mono">${x.readSeq ?? '–'}${moved ? ' <span class="tag open" title="the sequence moved since read_begin: read_retry will say retry">moved</span>' : ''}</td>` +
        `<td>${state}</td></tr>`;
    }
    h += '</table>';
  }
  $('notifier').innerHTML = h;

  // Locks.
  let l = '';
  for (const t of c.threads) {
    const held = s.locks.get(t);
    if (held === undefined) continue;
    l +=
      `<div class="lockrow${t === e.thread ? ' me' : ''}" data-thread="${esc(t)}"><b>${esc(t)}</b> ` +
      (held.length === 0
        ? '<span class="none">none</span>'
        : held.map((n) => `<span class="lock">${esc(n)}</span>`).join(' ')) +
      ` <span class="doing">${esc(s.doing.get(t) ?? '')}</span></div>`;
  }
  $('locks').innerHTML = l || '<div class="none">no thread has run yet</div>';

  // Page tables.
  $('cpu').innerHTML = pageTables(s.cpu, changed, (p) => p.entry, 'no CPU page-table change yet');
  $('dev').innerHTML = pageTables(
    s.device,
    changed,
    (p) => p.value,
    'no device mapping yet',
    (p, dev) => (p.cleared ? '' : cpuMismatch(s, dev, p.va, p.value)),
  );
}

function pageTables<T extends { va: number; changedAt: number; cleared: boolean }>(
  tables: Map<string, Map<number, T>>,
  changed: (at: number) => boolean,
  text: (p: T) => string,
  empty: string,
  annotate: (p: T, table: string) => string = () => '',
): string {
  let h = '';
  for (const [name, t] of [...tables].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (t.size === 0) continue;
    h += `<div class="ptname">${esc(name)}</div><table class="pt" data-table="${esc(name)}">`;
    for (const p of [...t.values()].sort((a, b) => a.va - b.va)) {
      const cls = (changed(p.changedAt) ? 'changed' : '') + (p.cleared ? ' cleared' : '');
      h += `<tr class="${cls}"><td class="mono va">${hex(p.va)}</td><td class="mono">${esc(text(p))}${annotate(p, name)}</td></tr>`;
    }
    h += '</table>';
  }
  return h || `<div class="none">${empty}</div>`;
}

/**
 * A device entry no CPU page table agrees with: no mm maps `va` to the same pfn (present), or
 * the device may write where no CPU entry is writable. Only when the trace has CPU page tables.
 */
function cpuMismatch(s: ViewState, device: string, va: number, value: string): string {
  const m = /^pfn (\d+)/.exec(value);
  if (m === null || s.cpu.size === 0) return '';
  const pfn = Number(m[1]);
  const write = /\brw\b/.test(value);
  const seen: string[] = [];
  // The mm the device mirrors: from its own notes, or its subscription's; else any mm.
  const mm = s.deviceMm.get(device) ?? s.subs.get(device)?.mm ?? null;
  const tables = mm === null ? [...s.cpu.values()] : s.cpu.has(mm) ? [s.cpu.get(mm)!] : [];
  for (const t of tables) {
    // The PTE at va, or a huge PMD entry covering it (4 KiB pages, 2 MiB PMDs).
    const pte = t.get(va);
    const haddr = va - (va % PMD_SIZE);
    const pmd = pte === undefined ? t.get(haddr) : undefined;
    const p = pte ?? (pmd !== undefined && pmd.entry.startsWith('pmd ') ? pmd : undefined);
    if (p === undefined || p.cleared) continue;
    seen.push(p.entry);
    const cm = /^(pte|pmd) present pfn=0x([0-9a-f]+) (rw|ro)/.exec(p.entry);
    if (cm === null) continue;
    const want = parseInt(cm[2], 16) + (cm[1] === 'pmd' ? (va - haddr) / PAGE_SIZE : 0);
    if (want === pfn && (!write || cm[3] === 'rw')) return '';
  }
  const cpu = seen.length === 0 ? 'no CPU mapping' : `CPU: ${seen.join('; ')}`;
  return ` <span class="tag stale" title="no CPU page table maps this address to this page${write ? ' writable' : ''}">stale: ${esc(cpu)}</span>`;
}

async function loadText(text: string, name: string): Promise<void> {
  try {
    load(parseTraceDocument(text, name), name);
  } catch (err) {
    showError((err as Error).message);
  }
}

// --- wiring ---------------------------------------------------------------------------------

$('timeline').addEventListener('click', (ev) => {
  const row = (ev.target as HTMLElement).closest<HTMLElement>('.row[data-i]');
  if (row !== null) select(Number(row.dataset.i));
});
$('prev').onclick = () => move(-1);
$('next').onclick = () => move(1);
$('first').onclick = () => select(0);
$('last').onclick = () => cur && select(cur.n - 1);
$('events').onchange = () => {
  document.body.classList.toggle('no-events', !showEvents());
  timeline.filter(showEvents());
  if (cur !== null) {
    if (!visible(cur.selected)) move(-1);
    else timeline.reveal(cur.selected);
  }
};
document.addEventListener('keydown', (ev) => {
  if (ev.target instanceof HTMLInputElement || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key;
  if (k === 'ArrowDown' || k === 'ArrowRight' || k === 'j') move(1);
  else if (k === 'ArrowUp' || k === 'ArrowLeft' || k === 'k') move(-1);
  else if (k === 'PageDown') move(20);
  else if (k === 'PageUp') move(-20);
  else if (k === 'Home') select(0);
  else if (k === 'End') select(Number.MAX_SAFE_INTEGER);
  else if (k === 'v' && cur?.violation) goStep(cur.violation.step);
  else if (k === 'c' && cur?.violation?.conflictStep !== undefined) goStep(cur.violation.conflictStep);
  else if (k === 'e') {
    const cb = $<HTMLInputElement>('events');
    cb.checked = !cb.checked;
    cb.dispatchEvent(new Event('change'));
  } else return;
  ev.preventDefault();
});
$<HTMLInputElement>('file').onchange = async (ev) => {
  const f = (ev.target as HTMLInputElement).files?.[0];
  if (f !== undefined) await loadText(await f.text(), f.name);
};
document.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (ev) => {
  ev.preventDefault();
  document.body.classList.remove('dragging');
  const f = ev.dataTransfer?.files[0];
  if (f !== undefined) void f.text().then((t) => loadText(t, f.name));
});

// The server's trace (mirrorlab view); opened from disk, the picker and drop still work.
if (location.protocol.startsWith('http')) {
  void fetch('trace.json', { cache: 'no-store' })
    .then(async (r) => (r.ok ? loadText(await r.text(), 'trace.json') : undefined))
    .catch(() => undefined);
}
