// The composer's form fields and its JSON stay in sync: organization, resource id, metadata
// filters and tags read from the envelope text, and written back into it.

export interface ComposerFields {
  org: string;
  resourceId: string;
  /** Metadata filters in order, as `key=value` lines. */
  filters: string;
  /** Tags, comma separated. */
  tags: string;
}

type Json = Record<string, unknown>;

function parseObject(text: string): Json | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    return null;
  }
}

const str = (v: unknown) => (typeof v === "string" ? v : "");

/** The fields as the envelope text has them; null while the text is not a JSON object. */
export function fieldsOf(text: string): ComposerFields | null {
  const envelope = parseObject(text);
  if (!envelope) return null;
  const metadata = (typeof envelope.metadata === "object" && envelope.metadata !== null ? envelope.metadata : {}) as Json;
  const filters = (typeof metadata.filters === "object" && metadata.filters !== null ? metadata.filters : {}) as Json;
  const tags = Array.isArray(metadata.tags) ? metadata.tags.filter((t): t is string => typeof t === "string") : [];
  return {
    org: str(envelope.organizationId),
    resourceId: str(envelope.resourceId),
    filters: Object.entries(filters)
      .map(([k, v]) => `${k}=${str(v)}`)
      .join("\n"),
    tags: tags.join(", "),
  };
}

/** `key=value` lines as pairs; blank lines skipped, a line without `=` has an empty value. */
export function filterPairs(lines: string): [string, string][] {
  return lines
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l) => {
      const at = l.indexOf("=");
      return at < 0 ? [l, ""] : [l.slice(0, at).trim(), l.slice(at + 1).trim()];
    });
}

/** The envelope text with the fields written in (pretty-printed); unchanged while it is not a
 * JSON object, so a half-typed envelope is never lost. */
export function withFields(text: string, fields: ComposerFields): string {
  const envelope = parseObject(text);
  if (!envelope) return text;
  envelope.organizationId = fields.org;
  envelope.resourceId = fields.resourceId;
  const metadata = (typeof envelope.metadata === "object" && envelope.metadata !== null ? envelope.metadata : {}) as Json;
  metadata.filters = Object.fromEntries(filterPairs(fields.filters));
  metadata.tags = fields.tags
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  envelope.metadata = metadata;
  return JSON.stringify(envelope, null, 2);
}

/** What a send did: `sent 500 of 500 in 5.0 s`, `cancelled: sent 120 of 500 in 1.2 s`. */
export function outcomeText(o: { sent: number; total: number; elapsedMs: number; cancelled: boolean }): string {
  const seconds = (o.elapsedMs / 1000).toFixed(1);
  const text = `sent ${o.sent} of ${o.total} in ${seconds} s`;
  return o.cancelled ? `cancelled: ${text}` : text;
}

/** The progress bar's fill, 0 to 100. */
export function progressPercent(p: { sent: number; total: number } | null): number {
  if (!p || p.total <= 0) return 0;
  return Math.min(100, Math.round((p.sent / p.total) * 100));
}
