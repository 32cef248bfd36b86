//! Sign-in sessions: an encrypted, authenticated cookie holding the signed-in user.
//!
//! The cookie is sealed with AES-256-GCM by the `cookie` crate's private jar (the one
//! axum-extra's `PrivateCookieJar` wraps) under a key only the server has: a client can neither
//! read nor forge nor alter it. A cookie that does not open under the key — forged, tampered,
//! sealed under an old key, or the old `demo_user=…` cookie — is treated as signed out.
//!
//! Everything that needs to know who is asking (the hub's scope resolver, every server
//! function) goes through [`Session::from_headers`] or [`current`]; nothing reads a raw cookie
//! value.
//!
//! The key comes from `DEMO_SESSION_KEY` (128 hex digits) or from the file named by
//! `[session] key_file` in Leptos.toml, which is generated on first start when absent (outside
//! the repository: it lives under `target/` by default).

use cookie::{Cookie, CookieJar, Key, SameSite};
use http::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "qt_session";

/// How long a sign-in lasts.
const MAX_AGE: cookie::time::Duration = cookie::time::Duration::days(30);

/// The key sessions are sealed with, and how session cookies are set.
#[derive(Clone)]
pub struct SessionKey {
    key: Arc<Key>,
    secure: bool,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// Why no session key could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `DEMO_SESSION_KEY` or the key file does not hold 64 bytes as 128 hex digits.
    #[error("{origin}: a session key is 128 hex digits (64 bytes): {reason}")]
    Invalid {
        /// Where the key came from.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file cannot be read or written.
    #[error("session key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl SessionKey {
    /// `DEMO_SESSION_KEY` if set, else the key in `key_file`, generated (and written with mode
    /// 0600) on first start.
    pub fn load(key_file: &Path, secure: bool) -> Result<SessionKey, KeyError> {
        if let Ok(hex) = std::env::var("DEMO_SESSION_KEY") {
            return Self::from_hex(&hex, "DEMO_SESSION_KEY", secure);
        }
        match std::fs::read_to_string(key_file) {
            Ok(text) => Self::from_hex(text.trim(), &key_file.display().to_string(), secure),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Key::generate();
                write_new_key(key_file, &to_hex(key.master())).map_err(|source| KeyError::Io {
                    path: key_file.display().to_string(),
                    source,
                })?;
                // Another instance may have written the file first: the file is the truth.
                let text = std::fs::read_to_string(key_file).map_err(|source| KeyError::Io {
                    path: key_file.display().to_string(),
                    source,
                })?;
                tracing::info!(file = %key_file.display(), "generated a new session key");
                Self::from_hex(text.trim(), &key_file.display().to_string(), secure)
            }
            Err(source) => Err(KeyError::Io {
                path: key_file.display().to_string(),
                source,
            }),
        }
    }

    /// A key from 128 hex digits.
    pub fn from_hex(hex: &str, origin: &str, secure: bool) -> Result<SessionKey, KeyError> {
        let invalid = |reason: &str| KeyError::Invalid {
            origin: origin.to_owned(),
            reason: reason.to_owned(),
        };
        if hex.len() != 128 {
            return Err(invalid(&format!("found {} characters", hex.len())));
        }
        let bytes = (0..64)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid("not hex"))?;
        let key = Key::try_from(bytes.as_slice()).map_err(|e| invalid(&e.to_string()))?;
        Ok(SessionKey {
            key: Arc::new(key),
            secure,
        })
    }

    /// A fresh random key (tests).
    pub fn generate() -> SessionKey {
        SessionKey {
            key: Arc::new(Key::generate()),
            secure: false,
        }
    }

    /// The `Set-Cookie` value that signs `session` in.
    pub fn sign_in_cookie(&self, session: &Session) -> HeaderValue {
        let value = serde_json::to_string(session).expect("a session serializes");
        let cookie = Cookie::build((COOKIE_NAME, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(MAX_AGE)
            .build();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        let sealed = jar.delta().next().expect("just added").to_string();
        HeaderValue::from_str(&sealed).expect("a sealed cookie is ASCII")
    }

    /// The `Set-Cookie` value that signs out (removes the cookie).
    pub fn sign_out_cookie(&self) -> HeaderValue {
        let cookie = Cookie::build((COOKIE_NAME, ""))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::ZERO)
            .build();
        HeaderValue::from_str(&cookie.to_string()).expect("ASCII")
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the key file unless it exists, atomically: the key is written to a private temporary
/// file, then linked into place, so an instance starting at the same moment reads either no
/// file or the whole key.
fn write_new_key(path: &Path, hex: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(hex.as_bytes())
            .and_then(|()| file.sync_all())
    });
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&tmp);
    linked
}

/// Who is signed in, as the session cookie says (only the server can write it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user's database id: their invalidation scope is `user:<id>`.
    pub user_id: i64,
    /// The name they signed in with.
    pub name: String,
}

impl Session {
    /// The session of a request, if its cookie opens under `key`. Anything else (no cookie, a
    /// forged or altered one, one sealed under another key) is no session.
    pub fn from_headers(headers: &HeaderMap, key: &SessionKey) -> Option<Session> {
        let mut jar = CookieJar::new();
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|c| c.name() == COOKIE_NAME)
            .for_each(|c| jar.add_original(c.into_owned()));
        let cookie = jar.private(&key.key).get(COOKIE_NAME)?;
        serde_json::from_str(cookie.value()).ok()
    }
}

/// The session of the request being handled (server function or SSR), read from the Leptos
/// context: the request's headers and the [`SessionKey`].
pub fn current() -> Option<Session> {
    let parts = use_context::<http::request::Parts>()?;
    let key = use_context::<SessionKey>()?;
    Session::from_headers(&parts.headers, &key)
}

/// The session, or a "sign in first" error with status 401.
pub fn require() -> Result<Session, ServerFnError> {
    current().ok_or_else(|| {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::UNAUTHORIZED);
        }
        ServerFnError::new("Sign in first: this is private to a signed-in user.")
    })
}

/// Adds a `Set-Cookie` header to the response of the request being handled.
pub fn set_cookie(value: HeaderValue) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    fn cookie_pair(set_cookie: &HeaderValue) -> String {
        set_cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_sealed_session_opens_only_under_its_key_and_unaltered() {
        let key = SessionKey::generate();
        let ada = Session {
            user_id: 7,
            name: "ada".into(),
        };
        let pair = cookie_pair(&key.sign_in_cookie(&ada));
        assert!(!pair.contains("ada"), "the value is encrypted: {pair}");
        assert_eq!(
            Session::from_headers(&headers(&format!("theme=dark; {pair}")), &key),
            Some(ada)
        );

        // Another key (a restarted server with a new key, another deployment): signed out.
        assert_eq!(
            Session::from_headers(&headers(&pair), &SessionKey::generate()),
            None
        );
        // Any single altered character: signed out.
        let (name, value) = pair.split_once('=').unwrap();
        for i in 0..value.len() {
            let mut bytes = value.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = format!("{name}={}", String::from_utf8(bytes).unwrap());
            assert_eq!(Session::from_headers(&headers(&altered), &key), None);
        }
        // Forgeries a client can make without the key.
        for forged in [
            "demo_user=ada",
            "qt_session={\"user_id\":7,\"name\":\"ada\"}",
            "qt_session=",
            "qt_session=%%%",
        ] {
            assert_eq!(
                Session::from_headers(&headers(forged), &key),
                None,
                "{forged}"
            );
        }
    }

    #[test]
    fn keys_are_128_hex_digits_and_a_key_file_is_generated_once() {
        assert!(SessionKey::from_hex("00", "test", false).is_err());
        assert!(SessionKey::from_hex(&"zz".repeat(64), "test", false).is_err());
        assert!(SessionKey::from_hex(&"ab".repeat(64), "test", false).is_ok());

        let dir = std::env::temp_dir().join(format!("qt-key-{}", std::process::id()));
        let file = dir.join("session.key");
        let _ = std::fs::remove_dir_all(&dir);
        let first = SessionKey::load(&file, false).unwrap();
        let second = SessionKey::load(&file, false).unwrap();
        let session = Session {
            user_id: 1,
            name: "bob".into(),
        };
        let pair = cookie_pair(&first.sign_in_cookie(&session));
        assert_eq!(
            Session::from_headers(&headers(&pair), &second),
            Some(session),
            "the second start reads the key the first one wrote"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
