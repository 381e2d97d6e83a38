// Specification of the connection dialog's form: prefill, secrets kept by the core, validation, both source kinds.
import { describe, expect, it } from "vitest";
import type { NatsContextInfo } from "./bindings/NatsContextInfo";
import type { SavedConnection } from "./bindings/SavedConnection";
import { DEFAULT_GATEWAY_URL, connectErrorText, contextSecretApplies, emptyForm, formFromContext, formFromSaved, profileFromForm, splitList, storedSecretPlaceholder, type ConnectionForm } from "./connectionForm";

function check(actual: unknown, expected: unknown) {
  expect(actual).toEqual(expected);
}

const saved = (over: Partial<SavedConnection> = {}): SavedConnection => ({
  profile: {
    servers: ["nats://a:4222", "nats://b:4222"],
    subjects: ["events.org_1.>", "events.*.tasks.>"],
    auth: { kind: "userPassword", user: "alice", password: "" },
    tls: { required: true, caFile: "/ca.pem", certFile: null, keyFile: null },
    readOnly: false,
  },
  hasSecret: true,
  secretStorage: "keyring",
  overridden: false,
  ...over,
});
const form = (over: Partial<ConnectionForm> = {}): ConnectionForm => ({ ...emptyForm(), ...over });

describe("prefill", () => {
  it("without a remembered connection: the local server and every event", () =>
    check([form().kind, form().servers, form().subjects, form().authKind], ["nats", "nats://127.0.0.1:4222", "events.>", "none"]));

  it("without a remembered connection, the gateway URL is the local gateway's", () =>
    check([form().gatewayUrl, form().gatewayToken], ["ws://127.0.0.1:8787/ws", ""]));

  it("from the remembered connection: one server and one subject per line, user, TLS", () => {
    const f = formFromSaved(saved());
    check([f.servers, f.subjects, f.authKind, f.user, f.password, f.tlsRequired, f.caFile, f.certFile],
      ["nats://a:4222\nnats://b:4222", "events.org_1.>\nevents.*.tasks.>", "userPassword", "alice", "", true, "/ca.pem", ""]);
  });
});

const savedGateway = (over: Partial<SavedConnection> = {}): SavedConnection =>
  saved({
    profile: {
      servers: ["nats://a:4222"],
      subjects: ["events.org_1.>"],
      auth: { kind: "none" },
      tls: { required: false, caFile: null, certFile: null, keyFile: null },
      gateway: { url: "wss://gw.example:8787/ws", token: "" },
      readOnly: false,
    },
    ...over,
  });

describe("prefill of a gateway profile", () => {
  it("chooses the gateway kind, its URL and its topics; the token stays blank", () => {
    const f = formFromSaved(savedGateway());
    check([f.kind, f.gatewayUrl, f.gatewayToken, f.subjects], ["gateway", "wss://gw.example:8787/ws", "", "events.org_1.>"]);
  });

  it("a NATS profile leaves the gateway URL at its default", () => check(formFromSaved(saved()).gatewayUrl, DEFAULT_GATEWAY_URL));
});

describe("secret placeholders", () => {
  /** The placeholder of the form filled from `conn` and then edited with `over`. */
  const placeholder = (conn: SavedConnection, over: Partial<ConnectionForm> = {}) =>
    storedSecretPlaceholder(conn, { ...formFromSaved(conn), ...over });
  it("say the secret is in the keyring", () => check(placeholder(saved()), "•••• stored in keyring"));
  it("say the secret is kept for this session without a keyring", () =>
    check(placeholder(saved({ secretStorage: "session" })), "•••• kept for this session"));
  it("are empty when no secret is held", () => check(placeholder(saved({ hasSecret: false })), ""));
  it("are empty for another auth method than the stored one", () => check(placeholder(saved(), { authKind: "token" }), ""));
  it("the gateway token's says where it is kept", () => check(placeholder(savedGateway()), "•••• stored in keyring"));
  it("a stored NATS secret is not a gateway token", () => check(placeholder(saved(), { kind: "gateway" }), ""));
  it("a stored gateway token is not a NATS secret", () =>
    check(placeholder(savedGateway({ profile: { ...savedGateway().profile, auth: { kind: "token", token: "" } } }), { kind: "nats", authKind: "token" }), ""));
});

describe("a stored secret is bound to where it was saved for", () => {
  const placeholder = (conn: SavedConnection, over: Partial<ConnectionForm> = {}) =>
    storedSecretPlaceholder(conn, { ...formFromSaved(conn), ...over });
  it("the same servers, spaced or separated otherwise, keep it", () => check(placeholder(saved(), { servers: " nats://a:4222 ,nats://b:4222" }), "•••• stored in keyring"));
  it("another server asks again", () => check(placeholder(saved(), { servers: "nats://evil:4222" }), ""));
  it("one server more asks again", () => check(placeholder(saved(), { servers: "nats://a:4222\nnats://b:4222\nnats://c:4222" }), ""));
  it("another user asks again", () => check(placeholder(saved(), { user: "mallory" }), ""));
  it("another gateway URL asks again", () => check(placeholder(savedGateway(), { gatewayUrl: "wss://other.example/ws" }), ""));
  it("and the form then refuses to connect without it", () =>
    check(profileFromForm({ ...formFromSaved(saved()), servers: "nats://evil:4222" }, saved()), { ok: false, error: "Give a password." }));
  it("a gateway URL edited without a new token is refused", () =>
    check(profileFromForm({ ...formFromSaved(savedGateway()), gatewayUrl: "ws://other/ws" }, savedGateway()), { ok: false, error: "Give the gateway token." }));
});

describe("lists", () => {
  it("servers split on commas and newlines, trimmed, blanks dropped", () =>
    check(splitList(" nats://a:1, nats://b:2\n\nnats://c:3 ,"), ["nats://a:1", "nats://b:2", "nats://c:3"]));
  it("subjects split on newlines only", () => check(splitList("a.b\nc.>\n", false), ["a.b", "c.>"]));
});

describe("the profile sent to connect", () => {
  it("with the defaults", () =>
    check(profileFromForm(form(), null), {
      ok: true,
      profile: {
        servers: ["nats://127.0.0.1:4222"],
        subjects: ["events.>"],
        auth: { kind: "none" },
        tls: { required: false, caFile: null, certFile: null, keyFile: null },
        readOnly: false,
      },
    }));

  it("a read-only connection says so in its profile", () => {
    const r = profileFromForm(form({ readOnly: true }), null);
    check(r.ok && r.profile.readOnly, true);
  });

  it("an empty subject list means every event", () =>
    check(profileFromForm(form({ subjects: "  \n" }), null), {
      ok: true,
      profile: { servers: ["nats://127.0.0.1:4222"], subjects: ["events.>"], auth: { kind: "none" }, tls: { required: false, caFile: null, certFile: null, keyFile: null }, readOnly: false },
    }));

  it("needs a server", () => check(profileFromForm(form({ servers: " , " }), null), { ok: false, error: "Give at least one server URL." }));

  it("rejects subjects with spaces", () =>
    check(profileFromForm(form({ subjects: "events.a b" }), null), { ok: false, error: 'A subject cannot contain spaces: "events.a b".' }));

  it("an empty password is sent empty when the core holds one (it then uses the stored one)", () => {
    const r = profileFromForm(formFromSaved(saved()), saved());
    check(r.ok && r.profile.auth, { kind: "userPassword", user: "alice", password: "" });
  });

  it("an empty password is refused when the core holds none", () =>
    check(profileFromForm(form({ authKind: "userPassword", user: "bob" }), null), { ok: false, error: "Give a password." }));

  it("a token", () => {
    const r = profileFromForm(form({ authKind: "token", token: "s3cret" }), null);
    check(r.ok && r.profile.auth, { kind: "token", token: "s3cret" });
  });

  it("an NKey seed, trimmed", () => {
    const r = profileFromForm(form({ authKind: "nKey", seed: " SUABC \n" }), null);
    check(r.ok && r.profile.auth, { kind: "nKey", seed: "SUABC" });
  });

  it("a .creds file needs its path", () =>
    check(profileFromForm(form({ authKind: "credsFile" }), null), { ok: false, error: "Give the path of a .creds file." }));

  it("a client certificate needs its key", () =>
    check(profileFromForm(form({ certFile: "/c.pem" }), null).ok, false));

  it("TLS paths are sent, blanks as null", () => {
    const r = profileFromForm(form({ tlsRequired: true, caFile: " /ca.pem ", certFile: "/c.pem", keyFile: "/k.pem" }), null);
    check(r.ok && r.profile.tls, { required: true, caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/k.pem" });
  });
});

describe("the gateway profile sent to connect", () => {
  const gw = (over: Partial<ConnectionForm> = {}) => form({ kind: "gateway", gatewayToken: "eyJ.jwt", subjects: "events.org_1.>", ...over });

  it("carries the URL, the token and the subjects as topics; NATS auth and TLS are not sent", () =>
    check(profileFromForm(gw({ gatewayUrl: " ws://gw:8787/ws " }), null), {
      ok: true,
      profile: {
        servers: ["nats://127.0.0.1:4222"],
        subjects: ["events.org_1.>"],
        auth: { kind: "none" },
        tls: { required: false, caFile: null, certFile: null, keyFile: null },
        gateway: { url: "ws://gw:8787/ws", token: "eyJ.jwt" },
        readOnly: false,
      },
    }));

  it("hidden NATS fields do not block it", () =>
    check(profileFromForm(gw({ servers: "", authKind: "userPassword", certFile: "/c.pem" }), null).ok, true));

  it("needs a URL", () => check(profileFromForm(gw({ gatewayUrl: "  " }), null), { ok: false, error: "Give the gateway URL." }));

  it("needs a ws:// or wss:// URL", () =>
    check(profileFromForm(gw({ gatewayUrl: "http://gw:8787/ws" }), null), {
      ok: false,
      error: 'The gateway URL must start with ws:// or wss:// and contain no spaces: "http://gw:8787/ws".',
    }));

  it("needs a token when the core holds none", () =>
    check(profileFromForm(gw({ gatewayToken: "" }), null), { ok: false, error: "Give the gateway token." }));

  it("an empty token is sent empty when the core holds the gateway's (it then uses the stored one)", () => {
    const r = profileFromForm({ ...formFromSaved(savedGateway()), gatewayToken: "" }, savedGateway());
    check(r.ok && r.profile.gateway, { url: "wss://gw.example:8787/ws", token: "" });
  });

  it("an empty token is refused when the held secret is a NATS one", () =>
    check(profileFromForm(gw({ gatewayToken: "" }), saved()), { ok: false, error: "Give the gateway token." }));

  it("topics with spaces are refused as topics", () =>
    check(profileFromForm(gw({ subjects: "events.org_1 .>" }), null), { ok: false, error: 'A topic cannot contain spaces: "events.org_1 .>".' }));

  it("a NATS profile never carries a gateway", () => check("gateway" in (profileFromForm(form(), null) as { profile: object }).profile, false));
});

describe("connect errors", () => {
  it("a field to fix says so", () =>
    check(connectErrorText({ code: "invalid_input", message: "invalid NKey seed: bad" }), "Check the connection: invalid NKey seed: bad"));
  it("a server that failed says so", () =>
    check(connectErrorText({ code: "connect_failed", message: "cannot connect to nats://x:4222: refused" }), "Could not connect: cannot connect to nats://x:4222: refused"));
  it("anything else is the core's message as it is", () => check(connectErrorText({ code: null, message: "ipc closed" }), "ipc closed"));
});

describe("a nats CLI context fills the form, its secret stays in it", () => {
  const prod: NatsContextInfo = {
    name: "prod-east",
    description: "Production",
    selected: true,
    servers: ["nats://a:4222", "nats://b:4222"],
    auth: { kind: "userPassword", user: "ada", password: "" },
    tls: { required: false, caFile: "/ca.pem", certFile: null, keyFile: null },
    hasSecret: true,
    problem: null,
  };
  const filled = () => formFromContext(form({ subjects: "events.org_1.>" }), prod);

  it("servers, auth, TLS files and the context's name; the subjects are kept", () => {
    const f = filled();
    check([f.servers, f.authKind, f.user, f.password, f.caFile, f.natsContext, f.subjects], ["nats://a:4222\nnats://b:4222", "userPassword", "ada", "", "/ca.pem", "prod-east", "events.org_1.>"]);
  });
  it("the secret field says where the secret comes from", () => check(storedSecretPlaceholder(null, filled(), [prod]), "•••• from nats context prod-east"));
  it("the profile names the context and carries no secret", () => {
    const r = profileFromForm(filled(), null, [prod]);
    check(r.ok && [r.profile.natsContext, r.profile.auth], ["prod-east", { kind: "userPassword", user: "ada", password: "" }]);
  });
  it("edited to another server, the context's secret no longer applies", () => {
    const f = { ...filled(), servers: "nats://evil:4222" };
    check([contextSecretApplies(f, [prod]), profileFromForm(f, null, [prod])], [false, { ok: false, error: "Give a password." }]);
  });
  it("and a typed password goes with a profile that no longer names the context", () => {
    const r = profileFromForm({ ...filled(), servers: "nats://other:4222", password: "pw" }, null, [prod]);
    check(r.ok && r.profile.natsContext, undefined);
  });
  it("a context that cannot be used lends no secret", () => check(contextSecretApplies(filled(), [{ ...prod, problem: "nsc" }]), false));
});
