//! Every auth method of a connection profile against a real nats-server: the right credentials
//! connect and receive, wrong ones fail with an error that says what went wrong.

use std::path::Path;
use std::time::Duration;

use eventscope_core::live::Live;
use eventscope_core::simulate::{SimConfig, Simulator};
use eventscope_core::source::{nats::connect_client, FirstConnect};
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::{ConnectionProfile, ConnectionState, NatsAuth, TlsSettings};
use eventscope_testkit::{publish, wait_until, NatsServer};
use nats_jwt::{KeyPair, Token};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer};
use tempfile::TempDir;

/// Connects with `profile` twice, as the CLI does (`connect_client`) and as the app does
/// (`Live::connect`). `Ok` expects both to connect and the live stream to receive an event the
/// first client publishes; `Err(words)` expects both to fail with `words` in the message.
async fn check(server: &NatsServer, profile: ConnectionProfile, expected: Result<(), &str>) {
    let client = connect_client(&profile).await;
    let live = Live::new(StoreLimits::default());
    let words = match expected {
        Ok(()) => {
            let publisher = client.unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", server.log()));
            let before = server.subscription_count();
            live.connect(&profile, FirstConnect::FailFast)
                .await
                .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", server.log()));
            assert_eq!(live.status().state, ConnectionState::Connected);
            // Publishing before the server holds the subscription would lose the event.
            tokio::task::block_in_place(|| {
                server.wait_for_subscriptions(before + 1, Duration::from_secs(5))
            });
            let event = Simulator::new(SimConfig::default()).next();
            let body = serde_json::to_vec(&event).unwrap();
            publish(&publisher, &[(event.subject().unwrap(), body)]).await;
            wait_until("the event", Duration::from_secs(5), || {
                live.store().next_seq() > 0
            })
            .await;
            let rows = live.tail(10);
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].id, event.id);
            return;
        }
        Err(words) => words,
    };
    let Err(err) = client else {
        panic!("connected with {:?}", profile.auth);
    };
    let err = err.to_string();
    assert!(err.contains(words), "{words:?} not in {err:?}");
    let err = live
        .connect(&profile, FirstConnect::FailFast)
        .await
        .expect_err("the live stream connected")
        .to_string();
    assert!(err.contains(words), "{words:?} not in {err:?}");
}

/// A profile for `url` with `auth` and no TLS settings.
fn on(url: &str, auth: NatsAuth) -> ConnectionProfile {
    ConnectionProfile {
        servers: vec![url.to_string()],
        auth,
        ..ConnectionProfile::default()
    }
}

fn user(user: &str, password: &str) -> NatsAuth {
    NatsAuth::UserPassword {
        user: user.into(),
        password: password.into(),
    }
}

fn token(token: &str) -> NatsAuth {
    NatsAuth::Token {
        token: token.into(),
    }
}

fn nkey(key: &KeyPair) -> NatsAuth {
    NatsAuth::NKey {
        seed: key.seed().unwrap(),
    }
}

fn creds(path: &Path) -> NatsAuth {
    NatsAuth::CredsFile {
        path: path.to_str().unwrap().into(),
    }
}

/// The server answers every refused CONNECT with `-ERR 'Authorization Violation'`, whatever
/// was wrong; the message reads "cannot connect to URL: authorization violation: nats:
/// authorization violation".
fn refused(url: &str) -> String {
    format!("cannot connect to {url}: authorization violation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_connect_and_wrong_ones_are_refused() {
    let server =
        NatsServer::start_with_config(r#"authorization { user: "scope", password: "s3cret" }"#);
    let url = server.url();
    let refused = &refused(&url);
    check(&server, on(&url, user("scope", "s3cret")), Ok(())).await;
    check(&server, on(&url, user("scope", "wrong")), Err(refused)).await;
    check(&server, on(&url, user("nobody", "s3cret")), Err(refused)).await;
    check(&server, on(&url, NatsAuth::None), Err(refused)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_connects_and_a_wrong_one_is_refused() {
    let server = NatsServer::start_with_config(r#"authorization { token: "s3cret" }"#);
    let url = server.url();
    let refused = &refused(&url);
    check(&server, on(&url, token("s3cret")), Ok(())).await;
    check(&server, on(&url, token("wrong")), Err(refused)).await;
    check(&server, on(&url, NatsAuth::None), Err(refused)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nkey_connects_and_another_key_is_refused() {
    let key = KeyPair::new_user();
    let server = NatsServer::start_with_config(&format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}",
        key.public_key()
    ));
    let url = server.url();
    let refused = &refused(&url);
    check(&server, on(&url, nkey(&key)), Ok(())).await;
    // A valid seed of another user signs the nonce, and the server refuses the signature.
    check(&server, on(&url, nkey(&KeyPair::new_user())), Err(refused)).await;
    // A seed that does not decode never reaches the server, and the error says it is the seed.
    let garbled = NatsAuth::NKey {
        seed: "SUNOTASEED".into(),
    };
    check(&server, on(&url, garbled), Err("invalid NKey seed")).await;
}

/// A `.creds` file as `nsc` writes it: the user's JWT, then the user's seed.
fn write_creds(dir: &Path, name: &str, jwt: &str, user: &KeyPair) -> std::path::PathBuf {
    let path = dir.join(name);
    let text = format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creds_file_connects_and_bad_ones_are_refused() {
    // Decentralized auth in miniature: the server trusts an operator key, knows one account JWT
    // the operator signed, and admits users whose JWT that account signed. `trusted_keys` stands
    // in for an operator JWT, which nats-jwt does not write.
    let operator = KeyPair::new_operator();
    let account = KeyPair::new_account();
    let account_jwt = Token::new_account(account.public_key())
        .name("events")
        .sign(&operator);
    let server = NatsServer::start_with_config(&format!(
        "trusted_keys: [ {} ]\nresolver: MEMORY\nresolver_preload: {{ {}: {account_jwt} }}\n",
        operator.public_key(),
        account.public_key(),
    ));
    let url = server.url();
    let refused = &refused(&url);
    let dir = TempDir::new().unwrap();

    let scope = KeyPair::new_user();
    let scope_jwt = Token::new_user(account.public_key(), scope.public_key())
        .name("scope")
        .sign(&account);
    let good = write_creds(dir.path(), "scope.creds", &scope_jwt, &scope);
    check(&server, on(&url, creds(&good)), Ok(())).await;

    // The right JWT with another user's seed: the nonce signature does not match the JWT.
    let other = KeyPair::new_user();
    let stolen = write_creds(dir.path(), "stolen.creds", &scope_jwt, &other);
    check(&server, on(&url, creds(&stolen)), Err(refused)).await;

    // A user of an account the server does not know.
    let stranger = KeyPair::new_account();
    let stranger_jwt = Token::new_user(stranger.public_key(), other.public_key()).sign(&stranger);
    let foreign = write_creds(dir.path(), "foreign.creds", &stranger_jwt, &other);
    check(&server, on(&url, creds(&foreign)), Err(refused)).await;

    let missing = dir.path().join("missing.creds");
    let words = format!("cannot read credentials file {}", missing.display());
    check(&server, on(&url, creds(&missing)), Err(&words)).await;

    let garbage = dir.path().join("garbage.creds");
    std::fs::write(&garbage, "not a creds file\n").unwrap();
    let words = format!(
        "cannot read credentials file {}: cannot parse user JWT from the credentials file",
        garbage.display()
    );
    check(&server, on(&url, creds(&garbage)), Err(&words)).await;
}

/// PEM files of a throwaway CA, a server certificate for 127.0.0.1 and localhost, and a client
/// certificate, all under `dir`.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn make_pki(dir: &Path) -> Pki {
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_str().unwrap().to_string()
    };
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Eventscope test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = write("ca.pem", ca_params.self_signed(&ca_key).unwrap().pem());
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (cert, key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        "nats-server",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (server_cert, server_key) = (write("server.pem", cert), write("server-key.pem", key));
    let (cert, key) = leaf(
        Vec::new(),
        "eventscope",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (client_cert, client_key) = (write("client.pem", cert), write("client-key.pem", key));
    Pki {
        ca,
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_connects_and_each_missing_piece_fails() {
    let dir = TempDir::new().unwrap();
    let pki = make_pki(dir.path());
    // The handshake timeout is raised well above the server's default, so that a debug build on
    // two busy cores is not cut off mid-handshake, which would pass for a refused certificate.
    let server = NatsServer::start_with_config(&format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n  timeout: 5\n}}\n",
        pki.server_cert, pki.server_key, pki.ca
    ));
    let with = |url: &str, tls: TlsSettings| ConnectionProfile {
        tls,
        ..on(url, NatsAuth::None)
    };
    let full = TlsSettings {
        required: true,
        ca_file: Some(pki.ca.clone()),
        cert_file: Some(pki.client_cert.clone()),
        key_file: Some(pki.client_key.clone()),
    };
    // async-nats speaks rustls. With `nats://` the server's plain INFO comes first and the
    // client upgrades, because the profile requires TLS (and this server's INFO asks for it);
    // `tls://` makes the client insist on TLS without `required`. Both work; the server
    // certificate names 127.0.0.1 as an IP address SAN, which rustls checks against the host.
    check(&server, with(&server.url(), full.clone()), Ok(())).await;
    let tls_url = format!("tls://127.0.0.1:{}", server.port());
    let by_scheme = TlsSettings {
        required: false,
        ..full.clone()
    };
    check(&server, with(&tls_url, by_scheme), Ok(())).await;

    let no_client_cert = TlsSettings {
        cert_file: None,
        key_file: None,
        ..full.clone()
    };
    // The server's `verify` rejects the empty certificate after the client considers the TLS 1.3
    // handshake done; the client learns it from the alert when it reads the server's reply.
    let words = "IO error: received fatal alert: BadCertificate";
    check(&server, with(&server.url(), no_client_cert), Err(words)).await;

    // Without the CA only the system's roots are trusted, and none of them issued the server's.
    let no_ca = TlsSettings {
        ca_file: None,
        ..full.clone()
    };
    let words = "IO error: invalid peer certificate: UnknownIssuer";
    check(&server, with(&server.url(), no_ca), Err(words)).await;

    // `required` holds against a server that offers no TLS: the client starts a handshake
    // anyway, and reads the plain server's `-ERR` as a malformed TLS record; the message does
    // not say that the server offers no TLS.
    let plain = NatsServer::start();
    let words = "IO error: received corrupt message of type InvalidContentType";
    check(&plain, with(&plain.url(), full), Err(words)).await;
}
