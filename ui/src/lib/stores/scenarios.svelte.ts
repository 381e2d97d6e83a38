// The scenarios panel's state: the open file, its steps as they run, and saving the view as a
// scenario. The core parses, runs and writes; this keeps what the panel shows.
import type { ScenarioOutline } from "../bindings/ScenarioOutline";
import type { StepUpdate } from "../bindings/StepUpdate";
import { request } from "../ipc";

export class ScenariosStore {
  isOpen = $state(false);
  path = $state<string | null>(null);
  outline = $state<ScenarioOutline | null>(null);
  /** Each step's latest state, by index. */
  steps = $state<StepUpdate[]>([]);
  /** `key=value` lines overriding the file's vars. */
  vars = $state("");
  running = $state(false);
  /** What the last run said: `passed in 3.2 s`, `2 of 5 steps failed`. */
  verdict = $state<string | null>(null);
  error = $state<string | null>(null);
  saved = $state<string | null>(null);

  open(): void {
    this.isOpen = true;
  }

  close(): void {
    if (!this.running) this.isOpen = false;
  }

  /** Reads and checks a scenario file; an invalid one says where. The same file again is only
   * read again when `force`d (Enter), not when the field merely loses focus. */
  async load(path: string, force = true): Promise<void> {
    if (!force && path === this.path && this.outline !== null) return;
    this.path = path;
    this.error = null;
    this.verdict = null;
    this.outline = null;
    this.steps = [];
    try {
      this.outline = await request((b) => b.scenarioCheck(path, this.varPairs()));
      this.steps = this.outline.steps;
    } catch (e) {
      this.error = (e as { message: string }).message;
    }
  }

  async pick(): Promise<void> {
    const path = await request((b) => b.pickFile("Open a scenario", [{ name: "Scenarios", extensions: ["yaml", "yml", "json"] }])).catch(
      (e: { message: string }) => {
        this.error = e.message;
        return null;
      },
    );
    if (path) await this.load(path);
  }

  async run(): Promise<void> {
    if (this.running || this.path === null) return;
    const path = this.path;
    this.running = true;
    this.error = null;
    this.verdict = null;
    this.steps = this.steps.map((s) => ({ ...s, status: "pending", elapsedMs: 0, message: null, eventIds: [] }));
    try {
      const outcome = await request((b) =>
        b.scenarioRun(path, this.varPairs(), (u) => {
          const next = [...this.steps];
          next[u.index] = u;
          this.steps = next;
        }),
      );
      this.steps = outcome.steps;
      this.verdict = verdictText(outcome.steps, outcome.elapsedMs);
    } catch (e) {
      this.error = (e as { message: string }).message;
    } finally {
      this.running = false;
    }
  }

  async cancel(): Promise<void> {
    await request((b) => b.cancelScenario()).catch(() => undefined);
  }

  /** Writes the events of the current view as a scenario file the user picks. */
  async saveView(): Promise<void> {
    this.saved = null;
    this.error = null;
    try {
      const path = await request((b) => b.pickSaveFile("Save the view as a scenario", "scenario.yaml"));
      if (!path) return;
      const written = await request((b) => b.saveScenario(path, nameOf(path)));
      this.saved = `saved ${written} events as ${path}`;
      await this.load(path);
    } catch (e) {
      this.error = (e as { message: string }).message;
    }
  }

  private varPairs(): [string, string][] {
    return this.vars
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1).trim()]);
  }
}

/** The file name without its folder and extension: the scenario's name. */
export function nameOf(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  return base.replace(/\.(ya?ml|json)$/i, "") || "scenario";
}

/** The run's one-line verdict. */
export function verdictText(steps: readonly Pick<StepUpdate, "status">[], elapsedMs: number): string {
  const seconds = (elapsedMs / 1000).toFixed(1);
  const failed = steps.filter((s) => s.status === "failed").length;
  const skipped = steps.filter((s) => s.status === "skipped").length;
  if (failed === 0 && skipped === 0) return `passed: ${steps.length} of ${steps.length} steps in ${seconds} s`;
  const parts = [`${failed} of ${steps.length} steps failed`];
  if (skipped > 0) parts.push(`${skipped} skipped`);
  return `${parts.join(", ")} (${seconds} s)`;
}

export const scenarios = new ScenariosStore();
