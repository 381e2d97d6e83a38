// Specification of the connection dialog's form: prefill, secrets kept by the core, validation.
import { describe, expect, it } from "vitest";
import type { SavedConnection } from "./bindings/SavedConnection";
import { emptyForm, formFromSaved, profileFromForm, splitList, storedSecretPlaceholder, type ConnectionForm } from "./connectionForm";

function check(actual: unknown, expected: unknown) {
  expect(actual).toEqual(expected);
}

const saved = (over: Partial<SavedConnection> = {}): SavedConnection => ({
  profile: {
    servers: ["nats://a:4222", "nats://b:4222"],
    subjects: ["events.org_1.>", "events.*.tasks.>"],
    auth: { kind: "userPassword", user: "alice", password: "" },
    tls: { required: true, caFile: "/ca.pem", certFile: null, keyFile: null },
  },
  hasSecret: true,
  secretStorage: "keyring",
  overridden: false,
  ...over,
});
const form = (over: Partial<ConnectionForm> = {}): ConnectionForm => ({ ...emptyForm(), ...over });

describe("prefill", () => {
  it("without a remembered connection: the local server and every event", () =>
    check([form().servers, form().subjects, form().authKind], ["nats://127.0.0.1:4222", "events.>", "none"]));

  it("from the remembered connection: one server and one subject per line, user, TLS", () => {
    const f = formFromSaved(saved());
    check([f.servers, f.subjects, f.authKind, f.user, f.password, f.tlsRequired, f.caFile, f.certFile],
      ["nats://a:4222\nnats://b:4222", "events.org_1.>\nevents.*.tasks.>", "userPassword", "alice", "", true, "/ca.pem", ""]);
  });
});

describe("secret placeholders", () => {
  it("say the secret is in the keyring", () => check(storedSecretPlaceholder(saved(), "userPassword"), "•••• stored in keyring"));
  it("say the secret is kept for this session without a keyring", () =>
    check(storedSecretPlaceholder(saved({ secretStorage: "session" }), "userPassword"), "•••• kept for this session"));
  it("are empty when no secret is held", () => check(storedSecretPlaceholder(saved({ hasSecret: false }), "userPassword"), ""));
  it("are empty for another auth method than the stored one", () => check(storedSecretPlaceholder(saved(), "token"), ""));
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
      },
    }));

  it("an empty subject list means every event", () =>
    check(profileFromForm(form({ subjects: "  \n" }), null), {
      ok: true,
      profile: { servers: ["nats://127.0.0.1:4222"], subjects: ["events.>"], auth: { kind: "none" }, tls: { required: false, caFile: null, certFile: null, keyFile: null } },
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
