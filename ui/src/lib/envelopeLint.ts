// The composer's lint: what is wrong with an envelope as typed, and where in the text, so the
// editor can underline it while the core builds the subject. The core checks again before
// anything is sent; this is for the writer's eye.

export interface Problem {
  from: number;
  to: number;
  message: string;
}

/** The envelope fields that must be strings, in the platform's order. */
const REQUIRED_STRINGS = ["id", "organizationId", "source", "resource", "resourceId", "eventName", "timestamp"] as const;

/** Where `"key":` first appears at the top level of `text` (its key's quotes), or null. */
export function keyRange(text: string, key: string): { from: number; to: number } | null {
  const needle = JSON.stringify(key);
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === '"') {
      if (depth === 1 && text.startsWith(needle, i) && /^\s*:/.test(text.slice(i + needle.length))) {
        return { from: i, to: i + needle.length };
      }
      inString = true;
    }
  }
  return null;
}

/** The offset JSON.parse's message names (`at position N`, or `line L column C`), if any. */
function syntaxOffset(text: string, message: string): number {
  const position = /position (\d+)/.exec(message);
  if (position) return Math.min(text.length, Number(position[1]));
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) {
    const lines = text.split("\n");
    const line = Math.min(lines.length, Number(lineColumn[1])) - 1;
    const before = lines.slice(0, line).reduce((n, l) => n + l.length + 1, 0);
    return Math.min(text.length, before + Number(lineColumn[2]) - 1);
  }
  return text.length;
}

/** Problems of `text` as an envelope: JSON syntax first, then missing or mistyped fields. */
export function lintEnvelope(text: string): Problem[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const at = syntaxOffset(text, message);
    return [{ from: Math.max(0, at - 1), to: Math.min(text.length, at + 1), message: `Not JSON: ${message}` }];
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [{ from: 0, to: text.length, message: "An envelope is a JSON object." }];
  }
  const envelope = value as Record<string, unknown>;
  const problems: Problem[] = [];
  const whole = { from: 0, to: Math.min(1, text.length) };
  for (const field of REQUIRED_STRINGS) {
    const at = keyRange(text, field);
    if (!(field in envelope)) problems.push({ ...whole, message: `Missing the field "${field}".` });
    else if (typeof envelope[field] !== "string") problems.push({ ...(at ?? whole), message: `"${field}" must be a string.` });
  }
  if (!("payload" in envelope)) problems.push({ ...whole, message: 'Missing the field "payload" (use {} for none).' });
  if ("metadata" in envelope) {
    const at = keyRange(text, "metadata") ?? whole;
    const metadata = envelope.metadata;
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      problems.push({ ...at, message: '"metadata" must be an object with "filters" and "tags".' });
    } else {
      const { filters, tags } = metadata as Record<string, unknown>;
      const badFilters =
        filters !== undefined &&
        (typeof filters !== "object" || filters === null || Array.isArray(filters) || Object.values(filters).some((v) => typeof v !== "string"));
      if (badFilters) problems.push({ ...at, message: '"metadata.filters" must map keys to string values.' });
      if (tags !== undefined && (!Array.isArray(tags) || tags.some((t) => typeof t !== "string"))) {
        problems.push({ ...at, message: '"metadata.tags" must be a list of strings.' });
      }
    }
  }
  return problems;
}
