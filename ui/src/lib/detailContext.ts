// What the detail pane shares with the JSON tree below it: the texts to highlight and how a
// click on a value adds its term to the filter.
import { getContext, setContext } from "svelte";

export interface DetailContext {
  readonly highlights: readonly string[];
  addTerm(term: string, exclude: boolean): void;
}

const KEY = Symbol("detail");

export function setDetailContext(context: DetailContext): void {
  setContext(KEY, context);
}

/** The context, or one that highlights nothing and adds nothing (a tree outside the pane). */
export function detailContext(): DetailContext {
  return getContext<DetailContext | undefined>(KEY) ?? { highlights: [], addTerm: () => {} };
}
