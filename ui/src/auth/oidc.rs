//! OpenID Connect sign-in (authorization code with PKCE): the provider's settings, the
//! sign-ins under way (state, nonce and PKCE verifier, kept here and never sent to the
//! browser but for the state), and the mapping from the provider's groups to roles.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use super::{valid_username, Role};

/// How long a sign-in may take at the provider.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// The most sign-ins under way at once; the oldest go first beyond it.
const MAX_PENDING: usize = 10_000;
/// How long the provider may take to answer the console.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the OpenID provider cannot be used: {0}")]
    Provider(String),
    #[error("this sign-in expired or was not started in this browser; sign in again")]
    State,
    #[error("the provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the provider's ID token is not valid: {0}")]
    Token(String),
    #[error("the provider named no usable user name (preferred_username, email or sub)")]
    NoName,
    #[error("{user} may not use the console: none of their {claim} ({groups}) maps to a role")]
    NoRole {
        user: String,
        claim: String,
        groups: String,
    },
}

/// Which role a user of the provider gets: the highest of the groups they are in, else
/// the `*` rule's, else none (refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap {
    groups: Vec<(String, Role)>,
    default: Option<Role>,
}

impl RoleMap {
    /// `admins=admin,ops=operator,*=viewer`: group, `=`, role, comma-separated; `*` is
    /// everyone else.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map = Self::default();
        for rule in text.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let (group, role) = rule
                .rsplit_once('=')
                .ok_or_else(|| format!("{rule:?} is not group=role"))?;
            let role = Role::parse(role.trim())
                .ok_or_else(|| format!("{rule:?}: the role is one of viewer, operator or admin"))?;
            match group.trim() {
                "" => return Err(format!("{rule:?} names no group")),
                "*" => map.default = Some(role),
                group => map.groups.push((group.to_owned(), role)),
            }
        }
        if map.groups.is_empty() && map.default.is_none() {
            return Err("it maps nothing".into());
        }
        Ok(map)
    }

    pub fn role(&self, groups: &[String]) -> Option<Role> {
        self.groups
            .iter()
            .filter(|(group, _)| groups.contains(group))
            .map(|(_, role)| *role)
            .max()
            .or(self.default)
    }
}

/// The provider and how its users become console users.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The console's URL as browsers reach it; the callback is under it.
    pub public_url: String,
    /// Scopes asked for beside `openid`.
    pub scopes: Vec<String>,
    /// The ID token's claim that holds the groups; a dotted path reaches into objects
    /// (`realm_access.roles`).
    pub claim: String,
    pub roles: RoleMap,
    /// The provider's name on the sign-in button.
    pub label: String,
}

/// Who the provider vouched for, and the role they map to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub username: String,
    pub role: Role,
}

struct Pending {
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    started: Instant,
}

/// OpenID Connect sign-in with one provider.
pub struct Oidc {
    settings: OidcSettings,
    redirect: RedirectUrl,
    http: openidconnect::reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Self, String> {
        IssuerUrl::new(settings.issuer.clone()).map_err(|e| format!("the issuer URL: {e}"))?;
        let redirect = RedirectUrl::new(format!(
            "{}/api/oidc/callback",
            settings.public_url.trim_end_matches('/')
        ))
        .map_err(|e| format!("the public URL: {e}"))?;
        // reqwest is built without a crypto provider of its own: it takes the process's.
        bosun_serve::tls::install_crypto_provider();
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would let the provider's answers send the console
            // elsewhere.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| format!("an HTTP client: {e}"))?;
        Ok(Self {
            settings,
            redirect,
            http,
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn label(&self) -> &str {
        &self.settings.label
    }

    /// The provider's metadata and a client for it, found by discovery.
    async fn client(
        &self,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| OidcError::Provider(e.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::Provider(format!("discovery: {}", chain(&e))))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    /// Starts a sign-in: the provider's URL to send the browser to, and the state that
    /// must come back with it.
    pub async fn start(&self) -> Result<(String, String), OidcError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| p.started.elapsed() < PENDING_FOR);
        if pending.len() >= MAX_PENDING {
            if let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                nonce,
                verifier,
                started: Instant::now(),
            },
        );
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Ends a sign-in the provider sent back: trades the code for tokens with the PKCE
    /// verifier, has the crate verify the ID token (signature, issuer, audience, expiry,
    /// nonce), and maps the user's groups to a role. A state is good for one try.
    pub async fn finish(&self, state: &str, code: &str) -> Result<Identity, OidcError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
            .filter(|p| p.started.elapsed() < PENDING_FOR)
            .ok_or(OidcError::State)?;
        let client = self.client().await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Provider(e.to_string()))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Refused(chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::Token("the provider sent none".into()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &pending.nonce)
            .map_err(|e| OidcError::Token(e.to_string()))?;
        let subject = claims.subject().as_str().to_owned();
        // The token is verified: its payload is read as JSON for the claims the crate
        // has no type for (the groups) and the names.
        let payload = payload(&id_token.to_string())
            .ok_or_else(|| OidcError::Token("its payload is not JSON".into()))?;
        let username = ["preferred_username", "email"]
            .iter()
            .filter_map(|name| payload[*name].as_str())
            .chain([subject.as_str()])
            .find(|name| valid_username(name))
            .ok_or(OidcError::NoName)?
            .to_owned();
        let groups = groups(&payload, &self.settings.claim);
        let role = self
            .settings
            .roles
            .role(&groups)
            .ok_or_else(|| OidcError::NoRole {
                user: username.clone(),
                claim: self.settings.claim.clone(),
                groups: if groups.is_empty() {
                    "none".into()
                } else {
                    groups.join(", ")
                },
            })?;
        Ok(Identity {
            subject,
            username,
            role,
        })
    }
}

/// An error with its sources, which is where reqwest and the crate put the reason.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A compact JWT's payload as JSON.
fn payload(jwt: &str) -> Option<Value> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The groups at `claim` (a dotted path): a list of strings, or one string.
fn groups(payload: &Value, claim: &str) -> Vec<String> {
    let found = claim
        .split('.')
        .try_fold(payload, |value, key| value.get(key));
    match found {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_map_takes_the_highest_group_then_the_default() {
        let map = RoleMap::parse("admins=admin, ops=operator,*=viewer").expect("valid");
        let g = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(map.role(&g(&["ops", "admins"])), Some(Role::Admin));
        assert_eq!(map.role(&g(&["ops"])), Some(Role::Operator));
        assert_eq!(map.role(&g(&["others"])), Some(Role::Viewer));
        let strict = RoleMap::parse("ops=operator").expect("valid");
        assert_eq!(strict.role(&g(&["others"])), None, "no default: refused");
        assert!(RoleMap::parse("ops=root").is_err());
        assert!(RoleMap::parse("ops").is_err());
        assert!(RoleMap::parse("").is_err());
        assert!(RoleMap::parse("=admin").is_err());
    }

    #[test]
    fn groups_are_read_from_a_list_a_string_or_a_dotted_path() {
        let payload = serde_json::json!({
            "groups": ["a", "b", 3],
            "role": "ops",
            "realm_access": {"roles": ["admins"]},
        });
        assert_eq!(groups(&payload, "groups"), ["a", "b"]);
        assert_eq!(groups(&payload, "role"), ["ops"]);
        assert_eq!(groups(&payload, "realm_access.roles"), ["admins"]);
        assert!(groups(&payload, "missing.path").is_empty());
    }
}
