// The connection dialog's form model: filled from a SavedConnection, turned into a ConnectionProfile
// of either kind (NATS, or the platform's WebSocket gateway).
import type { ConnectionProfile } from "./bindings/ConnectionProfile";
import type { NatsAuth } from "./bindings/NatsAuth";
import type { NatsContextInfo } from "./bindings/NatsContextInfo";
import type { SavedConnection } from "./bindings/SavedConnection";
import type { WireError } from "./bindings/WireError";

export type AuthKind = NatsAuth["kind"];

/** Where events come from: NATS directly, or the WebSocket gateway with an org-scoped token. */
export type SourceKind = "nats" | "gateway";

export const SOURCE_KINDS: ReadonlyArray<{ kind: SourceKind; label: string }> = [
  { kind: "nats", label: "NATS" },
  { kind: "gateway", label: "Gateway (WebSocket)" },
];

export const AUTH_KINDS: ReadonlyArray<{ kind: AuthKind; label: string }> = [
  { kind: "none", label: "None" },
  { kind: "userPassword", label: "User and password" },
  { kind: "token", label: "Token" },
  { kind: "nKey", label: "NKey seed" },
  { kind: "credsFile", label: ".creds file" },
];

export const DEFAULT_SERVER = "nats://127.0.0.1:4222";
export const DEFAULT_SUBJECT = "events.>";
export const DEFAULT_GATEWAY_URL = "ws://127.0.0.1:8787/ws";

export interface ConnectionForm {
  kind: SourceKind;
  gatewayUrl: string;
  /** The gateway's JWT; blank means "keep the stored one" when the core holds it. */
  gatewayToken: string;
  servers: string;
  subjects: string;
  authKind: AuthKind;
  user: string;
  password: string;
  token: string;
  seed: string;
  credsPath: string;
  tlsRequired: boolean;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The `nats` CLI context the form was filled from ("" for none): its secret is read from it. */
  natsContext: string;
  /** Publishing through this connection is refused. */
  readOnly: boolean;
}

export function emptyForm(): ConnectionForm {
  return {
    kind: "nats",
    gatewayUrl: DEFAULT_GATEWAY_URL,
    gatewayToken: "",
    servers: DEFAULT_SERVER,
    subjects: DEFAULT_SUBJECT,
    authKind: "none",
    user: "",
    password: "",
    token: "",
    seed: "",
    credsPath: "",
    tlsRequired: false,
    caFile: "",
    certFile: "",
    keyFile: "",
    natsContext: "",
    readOnly: false,
  };
}

/** The form as the remembered connection fills it (secrets are blank: the core never sends them). */
export function formFromSaved(saved: SavedConnection | null): ConnectionForm {
  const form = emptyForm();
  if (!saved) return form;
  const p = saved.profile;
  if (p.gateway) {
    form.kind = "gateway";
    if (p.gateway.url.trim() !== "") form.gatewayUrl = p.gateway.url;
  }
  if (p.servers.length > 0) form.servers = p.servers.join("\n");
  if (p.subjects.length > 0) form.subjects = p.subjects.join("\n");
  form.authKind = p.auth.kind;
  switch (p.auth.kind) {
    case "userPassword":
      form.user = p.auth.user;
      break;
    case "credsFile":
      form.credsPath = p.auth.path;
      break;
    default:
      break;
  }
  form.tlsRequired = p.tls.required;
  form.caFile = p.tls.caFile ?? "";
  form.certFile = p.tls.certFile ?? "";
  form.keyFile = p.tls.keyFile ?? "";
  form.natsContext = p.natsContext ?? "";
  form.readOnly = p.readOnly;
  return form;
}

/** The form filled from a `nats` CLI context: its servers, authentication (secrets stay in the
 * context) and TLS files; the subjects are kept. */
export function formFromContext(form: ConnectionForm, context: NatsContextInfo): ConnectionForm {
  const auth = context.auth;
  return {
    ...form,
    kind: "nats",
    servers: context.servers.join("\n"),
    authKind: auth.kind,
    user: auth.kind === "userPassword" ? auth.user : "",
    password: "",
    token: "",
    seed: "",
    credsPath: auth.kind === "credsFile" ? auth.path : "",
    caFile: context.tls.caFile ?? "",
    certFile: context.tls.certFile ?? "",
    keyFile: context.tls.keyFile ?? "",
    natsContext: context.name,
  };
}

/** The form's nats context while the form still connects where it does (same servers, same kind
 * of secret, same user): edited away from it, the form is a connection of its own. */
export function formContext(form: ConnectionForm, contexts: readonly NatsContextInfo[]): NatsContextInfo | null {
  const context = contexts.find((c) => c.name === form.natsContext);
  if (form.kind !== "nats" || !context || context.problem !== null) return null;
  if (context.auth.kind !== form.authKind || splitList(form.servers).join("\n") !== context.servers.join("\n")) return null;
  if (context.auth.kind === "userPassword" && context.auth.user !== form.user.trim()) return null;
  return context;
}

/** True when the form's nats context holds the secret, which the core then reads from it (after
 * the same check) to fill a blank secret field. */
export function contextSecretApplies(form: ConnectionForm, contexts: readonly NatsContextInfo[]): boolean {
  return formContext(form, contexts)?.hasSecret ?? false;
}

/** Splits on commas and line breaks, trims, drops empty entries. */
export function splitList(text: string, commas = true): string[] {
  return text
    .split(commas ? /[,\r\n]+/ : /[\r\n]+/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * True when the secret field may stay empty because the core holds the secret for exactly what
 * the form connects to. The core holds one secret, that of the remembered profile, and sends it
 * only where it was saved for: the same gateway URL, or the same NATS servers with the same kind
 * of secret (and user, for a password). Editing any of them asks for the secret again.
 */
export function secretIsStored(saved: SavedConnection | null, form: ConnectionForm): boolean {
  if (!saved || !saved.hasSecret) return false;
  const p = saved.profile;
  if (form.kind === "gateway") return !!p.gateway && p.gateway.url.trim() === form.gatewayUrl.trim();
  if (p.gateway || p.auth.kind !== form.authKind) return false;
  if (splitList(form.servers).join("\n") !== p.servers.map((s) => s.trim()).filter((s) => s !== "").join("\n")) return false;
  return p.auth.kind !== "userPassword" || p.auth.user.trim() === form.user.trim();
}

/** Placeholder of a secret field whose secret is held for the form's target: by a nats context,
 * or by the core (and where it keeps it). */
export function storedSecretPlaceholder(saved: SavedConnection | null, form: ConnectionForm, contexts: readonly NatsContextInfo[] = []): string {
  if (contextSecretApplies(form, contexts)) return `•••• from nats context ${form.natsContext}`;
  if (!secretIsStored(saved, form)) return "";
  return saved?.secretStorage === "session" ? "•••• kept for this session" : "•••• stored in keyring";
}

export type FormResult = { ok: true; profile: ConnectionProfile } | { ok: false; error: string };

const optional = (s: string) => (s.trim() === "" ? null : s.trim());

/** Validates the form and builds the profile to send to `connect`. */
export function profileFromForm(form: ConnectionForm, saved: SavedConnection | null, contexts: readonly NatsContextInfo[] = []): FormResult {
  const subjects = splitList(form.subjects, false);
  if (subjects.length === 0) subjects.push(DEFAULT_SUBJECT);
  const bad = subjects.find((s) => /\s/.test(s));
  if (bad !== undefined) {
    const what = form.kind === "gateway" ? "topic" : "subject";
    return { ok: false, error: `A ${what} cannot contain spaces: "${bad}".` };
  }
  if (form.kind === "gateway") return gatewayProfile(form, subjects, saved);
  const servers = splitList(form.servers);
  if (servers.length === 0) return { ok: false, error: "Give at least one server URL." };
  const stored = secretIsStored(saved, form) || contextSecretApplies(form, contexts);
  let auth: NatsAuth;
  switch (form.authKind) {
    case "none":
      auth = { kind: "none" };
      break;
    case "userPassword":
      if (form.user.trim() === "") return { ok: false, error: "Give a user name." };
      if (form.password === "" && !stored) return { ok: false, error: "Give a password." };
      auth = { kind: "userPassword", user: form.user.trim(), password: form.password };
      break;
    case "token":
      if (form.token === "" && !stored) return { ok: false, error: "Give a token." };
      auth = { kind: "token", token: form.token };
      break;
    case "nKey":
      if (form.seed.trim() === "" && !stored) return { ok: false, error: "Give an NKey seed." };
      auth = { kind: "nKey", seed: form.seed.trim() };
      break;
    case "credsFile":
      if (form.credsPath.trim() === "") return { ok: false, error: "Give the path of a .creds file." };
      auth = { kind: "credsFile", path: form.credsPath.trim() };
      break;
  }
  const certFile = optional(form.certFile);
  const keyFile = optional(form.keyFile);
  if ((certFile === null) !== (keyFile === null)) {
    return { ok: false, error: "A client certificate needs its key, and a key needs its certificate." };
  }
  const profile: ConnectionProfile = {
    servers,
    subjects,
    auth,
    tls: { required: form.tlsRequired, caFile: optional(form.caFile), certFile, keyFile },
    readOnly: form.readOnly,
  };
  const context = formContext(form, contexts);
  if (context) profile.natsContext = context.name;
  return { ok: true, profile };
}

/**
 * A gateway profile: URL, token and topics. The hidden NATS fields are not validated; the server
 * list is kept (so switching back to NATS later finds it) but NATS auth and TLS are not, because
 * the core remembers a single secret per profile and a gateway profile's is its token.
 */
function gatewayProfile(form: ConnectionForm, topics: string[], saved: SavedConnection | null): FormResult {
  const url = form.gatewayUrl.trim();
  if (url === "") return { ok: false, error: "Give the gateway URL." };
  if (!/^wss?:\/\/\S+$/i.test(url)) {
    return { ok: false, error: `The gateway URL must start with ws:// or wss:// and contain no spaces: "${url}".` };
  }
  const token = form.gatewayToken.trim();
  if (token === "" && !secretIsStored(saved, form)) return { ok: false, error: "Give the gateway token." };
  const servers = splitList(form.servers);
  return {
    ok: true,
    profile: {
      servers: servers.length > 0 ? servers : [DEFAULT_SERVER],
      subjects: topics,
      auth: { kind: "none" },
      tls: { required: false, caFile: null, certFile: null, keyFile: null },
      gateway: { url, token },
      readOnly: form.readOnly,
    },
  };
}

/** A field to fix reads differently from a server that did not answer. */
export function connectErrorText(err: WireError): string {
  switch (err.code) {
    case "invalid_input":
      return `Check the connection: ${err.message}`;
    case "connect_failed":
      return `Could not connect: ${err.message}`;
    default:
      return err.message;
  }
}
