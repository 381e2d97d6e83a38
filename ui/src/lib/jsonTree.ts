// JSON tree model for the detail pane: safe parsing, node kinds, paging, truncation, pretty text.
//
// Built for hostile bodies: 10,000 levels of nesting and megabyte payloads. Nothing here
// recurses over the value (JSON.stringify does, and overflows the stack on deep input), and
// the view only asks for the children of nodes the user expanded, one page at a time.

export type JsonKind = "object" | "array" | "string" | "number" | "boolean" | "null";

/** Children shown per page of an object or array. */
export const PAGE_SIZE = 100;
/** Nodes at depth below this start expanded (the root is depth 0). */
export const DEFAULT_EXPANDED_DEPTH = 2;
/** Characters of a string shown before "show all". */
export const STRING_LIMIT = 300;

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/** JSON.parse that never throws (syntax errors, stack overflow, anything else). */
export function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

export function kindOf(value: unknown): JsonKind {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  switch (typeof value) {
    case "object":
      return "object";
    case "string":
      return "string";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    default:
      return "null";
  }
}

export function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  return typeof value === "object" && value !== null;
}

/** A container with children: one that opens and closes. An empty one reads inline, `[]` or
 * `{}`, as browser devtools draw it. */
export function isExpandable(value: unknown): value is Record<string, unknown> | unknown[] {
  return isContainer(value) && childCount(value) > 0;
}

/** Small containers stay open deeper than this, so a typical payload reads at a glance. */
export const SMALL_EXPANDED_DEPTH = 5;
/** A container with at most this many children counts as small. */
export const SMALL_CONTAINER = 12;

/**
 * Whether a node starts open: the top levels always, small containers a few levels deeper
 * (an event's `payload.error` or `payload.sender`), large or deep ones collapsed.
 */
export function startsExpanded(depth: number, children = Infinity): boolean {
  return depth < DEFAULT_EXPANDED_DEPTH || (depth < SMALL_EXPANDED_DEPTH && children <= SMALL_CONTAINER);
}

/** Number of children of an object or array (0 for scalars). */
export function childCount(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  if (isContainer(value)) return Object.keys(value).length;
  return 0;
}

export interface Child {
  /** Object key, or array index. */
  key: string | number;
  value: unknown;
}

export interface ChildPage {
  children: Child[];
  /** Children not shown yet. */
  remaining: number;
}

/** The first `shown` children of a container (pass PAGE_SIZE, then add PAGE_SIZE per "show more"). */
export function childPage(value: unknown, shown: number): ChildPage {
  const limit = Math.max(0, Math.floor(shown));
  if (Array.isArray(value)) {
    const n = Math.min(limit, value.length);
    const children: Child[] = new Array(n);
    for (let i = 0; i < n; i++) children[i] = { key: i, value: value[i] };
    return { children, remaining: value.length - n };
  }
  if (isContainer(value)) {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    const n = Math.min(limit, keys.length);
    const children: Child[] = new Array(n);
    for (let i = 0; i < n; i++) children[i] = { key: keys[i], value: object[keys[i]] };
    return { children, remaining: keys.length - n };
  }
  return { children: [], remaining: 0 };
}

/** One-line summary of a container: `{3 keys}`, `[120 items]`, `{}`, `[]`. */
export function summary(value: unknown): string {
  const n = childCount(value);
  if (Array.isArray(value)) return n === 0 ? "[]" : `[${n} ${n === 1 ? "item" : "items"}]`;
  return n === 0 ? "{}" : `{${n} ${n === 1 ? "key" : "keys"}}`;
}

export interface ScalarText {
  text: string;
  /** Characters hidden by truncation (0 when all is shown). */
  hidden: number;
}

/**
 * How a leaf reads in the tree: strings quoted and escaped as JSON (so control characters
 * and markup show as the characters they are), cut after `limit` characters unless `showAll`;
 * an empty container as `[]` or `{}`.
 */
export function scalarText(value: unknown, showAll = false, limit = STRING_LIMIT): ScalarText {
  if (typeof value === "string") {
    if (showAll || value.length <= limit) return { text: JSON.stringify(value), hidden: 0 };
    const cut = JSON.stringify(value.slice(0, limit));
    return { text: `${cut.slice(0, -1)}…"`, hidden: value.length - limit };
  }
  if (value === null) return { text: "null", hidden: 0 };
  if (isContainer(value)) return { text: summary(value), hidden: 0 };
  return { text: String(value), hidden: 0 };
}

/** How an object key reads: bare when it is a plain identifier, else JSON-quoted. */
export function keyText(key: string | number): string {
  if (typeof key === "number") return String(key);
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
}

const INDENT = "  ";

/**
 * Re-indents JSON text without parsing it: numbers keep every digit (JSON.parse would round
 * integers past 2^53), and no recursion, so any depth works. Indentation stops growing after
 * `maxIndent` levels so pathological nesting stays readable. Meant for text that is valid JSON;
 * other text comes out re-spaced but otherwise unchanged.
 */
export function prettyJson(text: string, maxIndent = 40): string {
  const out: string[] = [];
  const indents: string[] = [];
  const indent = (depth: number) => {
    const d = Math.min(Math.max(0, depth), maxIndent);
    return (indents[d] ??= "\n" + INDENT.repeat(d));
  };
  let depth = 0;
  let i = 0;
  const n = text.length;
  const nextSignificant = (from: number) => {
    let j = from;
    while (j < n && (text[j] === " " || text[j] === "\n" || text[j] === "\r" || text[j] === "\t")) j++;
    return j;
  };
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out.push(text.slice(i, Math.min(j + 1, n)));
      i = j + 1;
    } else if (c === "{" || c === "[") {
      const j = nextSignificant(i + 1);
      const close = c === "{" ? "}" : "]";
      if (text[j] === close) {
        out.push(c + close);
        i = j + 1;
      } else {
        depth++;
        out.push(c, indent(depth));
        i++;
      }
    } else if (c === "}" || c === "]") {
      depth--;
      out.push(indent(depth), c);
      i++;
    } else if (c === ",") {
      out.push(",", indent(depth));
      i++;
    } else if (c === ":") {
      out.push(": ");
      i++;
    } else if (c === " " || c === "\n" || c === "\r" || c === "\t") {
      i++;
    } else {
      let j = i + 1;
      while (j < n && !'"{}[],: \n\r\t'.includes(text[j])) j++;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out.join("");
}
