// Editing a query as text: the term a click adds, toggling it in or out, and the top-level
// terms of a query. The core parses and evaluates; this only writes text the core will parse.

/** Values that need no quotes: anything else is quoted, with `\`, `"` and `*` escaped. */
const BARE = /^[A-Za-z0-9_.@$+\-]+$/;
/** Path keys the language can write (see docs/filter.md). */
const KEY = /^[A-Za-z0-9_\-$@]+$/;

/** A value as the language writes it literally (no glob, no list). */
export function quoteValue(value: string): string {
  if (BARE.test(value)) return value;
  return `"${value.replace(/[\\"*]/g, (c) => `\\${c}`)}"`;
}

/** The envelope fields a click in the table or the detail pane can filter on. */
export type EnvField = "org" | "source" | "resource" | "event" | "name" | "id" | "resourceId";

/** `org:org_1`, `resourceId:"conv 42"`. */
export function fieldTerm(field: EnvField, value: string): string {
  return `${field}:${quoteValue(value)}`;
}

/**
 * The term for a JSON value at `path` in the body (`["payload", "status"]`), or null when the
 * language cannot name it (a key with spaces, an object or array value). Array indexes are
 * dropped: `payload.participants:part_1` holds when any element matches.
 */
export function pathTerm(path: readonly (string | number)[], value: unknown): string | null {
  const keys = path.filter((k): k is string => typeof k === "string");
  if (keys.length < 2 || (keys[0] !== "payload" && keys[0] !== "metadata")) return null;
  if (!keys.every((k) => KEY.test(k))) return null;
  let text: string;
  if (typeof value === "string") text = quoteValue(value);
  else if (typeof value === "number" && Number.isFinite(value)) text = String(value);
  else if (typeof value === "boolean" || value === null) text = String(value);
  else return null;
  return `${keys.join(".")}:${text}`;
}

/** The top-level pieces of a query, split at spaces outside quotes, regexes and parentheses. */
export function topLevelTerms(query: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  let quote: '"' | "/" | null = null;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (quote) {
      current += c;
      if (c === "\\" && i + 1 < query.length) current += query[++i];
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || (c === "/" && current.replace(/^-/, "") === "")) quote = c;
    else if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (/\s/.test(c) && depth === 0) {
      if (current) out.push(current);
      current = "";
      continue;
    }
    if (c === "\\" && i + 1 < query.length) {
      current += c + query[++i];
      continue;
    }
    current += c;
  }
  if (current) out.push(current);
  return out;
}

/** Whether `term` (or its negation, with `negated`) stands alone at the top level of `query`. */
export function hasTerm(query: string, term: string, negated = false): boolean {
  return topLevelTerms(query).includes(negated ? `-${term}` : term);
}

/**
 * Clicking a value: adds `term` (or `-term` when `exclude`), removes it when it is there
 * already, and replaces the opposite one (a click flips an exclusion into an inclusion).
 */
export function toggleTerm(query: string, term: string, exclude = false): string {
  const want = exclude ? `-${term}` : term;
  const opposite = exclude ? term : `-${term}`;
  const terms = topLevelTerms(query);
  if (terms.length > 1 && terms.some((t) => t === "OR")) {
    // Top-level OR: adding a term must apply to the whole query, not its last alternative.
    return `(${query.trim()}) ${want}`;
  }
  if (terms.includes(want)) return terms.filter((t) => t !== want).join(" ");
  if (terms.includes(opposite)) return terms.map((t) => (t === opposite ? want : t)).join(" ");
  return [...terms, want].join(" ");
}

/** The query with the text the problem points at (UTF-16 offsets, as the core gives them)
 * replaced by its suggestion: `orgg:org_1` becomes `org:org_1`. Unchanged without one. */
export function withSuggestion(query: string, problem: { pos: number; end: number; suggestion: string | null }): string {
  if (problem.suggestion === null || problem.end <= problem.pos || problem.end > query.length) return query;
  return query.slice(0, problem.pos) + problem.suggestion + query.slice(problem.end);
}

/** The events with these ids: `id:evt_1` for one, `(id:evt_1 OR id:evt_2)` for several. */
export function idsQuery(ids: readonly string[]): string {
  const unique = [...new Set(ids)];
  if (unique.length === 1) return fieldTerm("id", unique[0]);
  return `(${unique.map((id) => fieldTerm("id", id)).join(" OR ")})`;
}
