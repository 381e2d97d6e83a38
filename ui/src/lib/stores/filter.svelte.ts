// The search box's state: the text typed, what it means (checked by the core as it is typed),
// the applied filter, narrowing the capture, the history, saved views and visible columns.
import type { FilterApplied } from "../bindings/FilterApplied";
import type { QueryCheck } from "../bindings/QueryCheck";
import type { SavedView } from "../bindings/SavedView";
import type { SavedViews } from "../bindings/SavedViews";
import { DEFAULT_COLUMNS, normalizeColumns, toggleColumn, type ColumnKey } from "../columns";
import { request } from "../ipc";
import { toggleTerm } from "../query";
import { stream } from "./stream.svelte";
import { toasts } from "./toasts.svelte";

/** Delay between the last key press and asking the core what the query means. */
const CHECK_DELAY_MS = 120;
const COLUMNS_KEY = "eventscope.columns";

function loadColumns(): ColumnKey[] {
  try {
    const raw = localStorage.getItem(COLUMNS_KEY);
    return raw ? normalizeColumns(JSON.parse(raw) as string[]) : [...DEFAULT_COLUMNS];
  } catch {
    return [...DEFAULT_COLUMNS];
  }
}

export class FilterStore {
  /** The text in the box. */
  text = $state("");
  /** What the core said of `checkedText`. */
  check = $state<QueryCheck | null>(null);
  checkedText = $state("");
  /** The filter the table shows. */
  applied = $state<FilterApplied | null>(null);
  applying = $state(false);
  saved = $state<SavedViews>({ views: [], history: [] });
  columns = $state<ColumnKey[]>(loadColumns());

  /** The problem of the text in the box, once checked. */
  problem = $derived(this.checkedText === this.text ? (this.check?.problem ?? null) : null);
  highlights = $derived(this.applied?.highlights ?? []);
  /** The text that was applied, as typed. */
  appliedText = $state("");
  /** The box differs from what is applied: Enter would change the table. */
  dirty = $derived(this.text.trim() !== this.appliedText.trim());
  private timer: ReturnType<typeof setTimeout> | null = null;
  private checking = 0;
  private applyToken = 0;

  /** The user typed: check the query shortly (never applied before Enter). */
  typed(text: string): void {
    this.text = text;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runCheck(text), CHECK_DELAY_MS);
  }

  private async runCheck(text: string): Promise<void> {
    const token = ++this.checking;
    try {
      const check = await request((b) => b.checkFilter(text));
      if (token !== this.checking) return;
      this.check = check;
      this.checkedText = text;
    } catch {
      // Outside the app there is no core to ask; Enter reports the error.
    }
  }

  /** Applies `text` (the box by default) to the held events and the stream. */
  async apply(text: string = this.text): Promise<boolean> {
    this.text = text;
    if (this.timer) clearTimeout(this.timer);
    const token = ++this.applyToken;
    this.applying = true;
    try {
      const applied = await request((b) => b.setFilter(text));
      if (token !== this.applyToken) return false;
      this.applied = applied;
      this.appliedText = text;
      stream.adoptView(applied.view);
      this.check = { problem: null, subjects: applied.subjects };
      this.checkedText = text;
      if (applied.view.query && this.saved.history[0] !== applied.view.query) {
        this.saved.history = [applied.view.query, ...this.saved.history.filter((q) => q !== applied.view.query)].slice(0, 30);
      }
      return true;
    } catch (e) {
      if (token !== this.applyToken) return false;
      // An invalid query: show where (the check has the position), keep the table as it was.
      await this.runCheck(text);
      const err = e as { code?: string | null; message: string };
      if (err.code !== "invalid_filter") toasts.push({ key: "filter", tone: "error", text: `Could not filter: ${err.message}` });
      return false;
    } finally {
      if (token === this.applyToken) this.applying = false;
    }
  }

  /** Esc: empties the box and shows every event. */
  async clear(): Promise<void> {
    await this.apply("");
  }

  /** A click on a value (facet, table cell, detail pane): adds or removes its term and applies. */
  async toggle(term: string, exclude: boolean): Promise<void> {
    await this.apply(toggleTerm(this.text, term, exclude));
  }

  /** Captures only the subjects the query implies (asked for explicitly: it stops the rest). */
  async captureOnly(subjects: string[]): Promise<void> {
    try {
      await request((b) => b.captureSubjects(subjects));
    } catch (e) {
      toasts.push({ key: "capture", tone: "error", text: `Could not narrow the capture: ${(e as { message: string }).message}` });
    }
  }

  async captureAll(): Promise<void> {
    try {
      await request((b) => b.captureSubjects(null));
    } catch (e) {
      toasts.push({ key: "capture", tone: "error", text: `Could not restore the capture: ${(e as { message: string }).message}` });
    }
  }

  setColumns(columns: ColumnKey[]): void {
    this.columns = normalizeColumns(columns);
    try {
      localStorage.setItem(COLUMNS_KEY, JSON.stringify(this.columns));
    } catch {
      // Private mode or a full store: the choice lasts for the session.
    }
  }

  toggleColumn(key: ColumnKey): void {
    this.setColumns(toggleColumn(this.columns, key));
  }

  async loadSaved(): Promise<void> {
    try {
      this.saved = await request((b) => b.savedViews());
    } catch {
      // Outside the app: no saved views.
    }
  }

  /** Saves the box's query and the visible columns under `name`. */
  async saveView(name: string): Promise<boolean> {
    const view: SavedView = { name, query: this.text, columns: [...this.columns] };
    try {
      this.saved = await request((b) => b.saveView(view));
      toasts.push({ key: "views", tone: "info", text: `Saved view “${name.trim()}”` });
      return true;
    } catch (e) {
      toasts.push({ key: "views", tone: "error", text: `Could not save the view: ${(e as { message: string }).message}` });
      return false;
    }
  }

  async deleteView(name: string): Promise<void> {
    try {
      this.saved = await request((b) => b.deleteView(name));
    } catch (e) {
      toasts.push({ key: "views", tone: "error", text: `Could not delete the view: ${(e as { message: string }).message}` });
    }
  }

  async openView(view: SavedView): Promise<void> {
    if (view.columns.length > 0) this.setColumns(normalizeColumns(view.columns));
    await this.apply(view.query);
  }
}

export const filter = new FilterStore();
