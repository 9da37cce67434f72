//! Credentials and secrets. A `Secret` never prints: `Debug` and `Display` show `***`.

use std::fmt;
use std::path::Path;

/// A string that must never reach logs, errors or argv.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The only way to read the value; call it only where the value is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// OAuth client-credentials grant.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: Secret,
}

pub const ENV_CLIENT_ID: &str = "GENESYS_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "GENESYS_CLIENT_SECRET";

impl Credentials {
    /// From `GENESYS_CLIENT_ID` / `GENESYS_CLIENT_SECRET`, or from a file of `KEY=value`
    /// lines using the same names (environment wins over the file).
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let mut id = std::env::var(ENV_CLIENT_ID).ok().filter(|s| !s.is_empty());
        let mut secret = std::env::var(ENV_CLIENT_SECRET)
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
            for line in text.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"').to_string();
                match k.trim() {
                    ENV_CLIENT_ID if id.is_none() => id = Some(v),
                    ENV_CLIENT_SECRET if secret.is_none() => secret = Some(v),
                    _ => {}
                }
            }
        }
        match (id, secret) {
            (Some(client_id), Some(s)) => Ok(Self {
                client_id,
                client_secret: Secret::new(s),
            }),
            _ => Err(format!(
                "no Genesys credentials: set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}, or pass \
                 --credentials-file with those two KEY=value lines (or use --simulate)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials {
            client_id: "id".into(),
            client_secret: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(format!("{}", c.client_secret), "***");
    }
}
