//! The `[jwt]` settings turned into a [`KeySet`]: secrets and PEM files read,
//! each key checked (length, curve, RSA size, halves that match) and refused
//! with the key path that names it.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{DEFAULT_KID, Key, KeySet, SUPPORTED_ALGORITHMS};
use crate::config::{
    ConfigError, DEVELOPMENT_SECRET, Environment, JwtSettings, KeySettings, MIN_HMAC_SECRET_BYTES,
};

/// RFC 7518 3.3: RSA keys of 2048 bits or larger.
const MIN_RSA_BITS: usize = 2048;

/// The keys from settings: `jwt.keys` when any are listed, otherwise the
/// single-secret form (`jwt.secret`/`jwt.secret_file` and `jwt.algorithm`).
pub fn key_set(jwt: &JwtSettings, environment: Environment) -> Result<KeySet, ConfigError> {
    if jwt.keys.is_empty() {
        if jwt.signing_key.is_some() {
            return Err(ConfigError::new(
                "jwt.signing_key",
                "is set but jwt.keys lists no keys",
            ));
        }
        let algorithm = single_secret_algorithm(jwt)?;
        let (secret, key_name) = single_secret(jwt)?;
        check_secret(&secret, key_name, environment)?;
        return Ok(KeySet::single(Key::hmac(DEFAULT_KID, algorithm, &secret)));
    }

    let mut keys: Vec<Key> = Vec::with_capacity(jwt.keys.len());
    for (index, settings) in jwt.keys.iter().enumerate() {
        let path = format!("jwt.keys[{index}]");
        let key = load_key(settings, &path, environment)?;
        if keys.iter().any(|other| other.kid() == key.kid()) {
            return Err(ConfigError::new(
                format!("{path}.kid"),
                format!("`{}` is used by another key", key.kid()),
            ));
        }
        keys.push(key);
    }
    let Some(kid) = &jwt.signing_key else {
        return Err(ConfigError::new(
            "jwt.signing_key",
            "must name the kid of the key in jwt.keys that signs",
        ));
    };
    let Some(signing) = keys.iter().position(|key| key.kid() == kid) else {
        return Err(ConfigError::new(
            "jwt.signing_key",
            format!("`{kid}` is not the kid of any key in jwt.keys"),
        ));
    };
    if !keys[signing].can_sign() {
        return Err(ConfigError::new(
            "jwt.signing_key",
            format!("key `{kid}` has no private_key_file, so it cannot sign"),
        ));
    }
    Ok(KeySet::new(keys, signing))
}

/// The single-secret form's algorithm: HMAC only, since the other
/// algorithms need key files and so a `[[jwt.keys]]` entry.
fn single_secret_algorithm(jwt: &JwtSettings) -> Result<Algorithm, ConfigError> {
    match jwt.algorithm.as_str() {
        "HS256" => Ok(Algorithm::HS256),
        "HS384" => Ok(Algorithm::HS384),
        "HS512" => Ok(Algorithm::HS512),
        other => Err(ConfigError::new(
            "jwt.algorithm",
            format!(
                "unsupported algorithm `{other}` (expected HS256, HS384 or HS512; \
                 RS256, ES256 and EdDSA keys are listed in [[jwt.keys]])"
            ),
        )),
    }
}

/// The single-secret form's secret and the key it came from: `jwt.secret_file`
/// when set, else `jwt.secret`.
pub(super) fn single_secret(
    jwt: &JwtSettings,
) -> Result<(SecretString, &'static str), ConfigError> {
    if let Some(path) = &jwt.secret_file {
        return Ok((
            read_secret_file(path, "jwt.secret_file")?,
            "jwt.secret_file",
        ));
    }
    let secret = jwt
        .secret
        .clone()
        .ok_or_else(|| ConfigError::new("jwt.secret", "must be set (or jwt.secret_file)"))?;
    Ok((secret, "jwt.secret"))
}

fn load_key(
    settings: &KeySettings,
    path: &str,
    environment: Environment,
) -> Result<Key, ConfigError> {
    let kid = settings.kid.trim();
    if kid.is_empty() {
        return Err(ConfigError::new(format!("{path}.kid"), "must not be empty"));
    }
    let algorithm = parse_algorithm(&settings.algorithm, &format!("{path}.algorithm"))?;
    let field = |name: &str| format!("{path}.{name}");

    if algorithm.family() == AlgorithmFamily::Hmac {
        for (name, set) in [
            ("private_key_file", settings.private_key_file.is_some()),
            ("public_key_file", settings.public_key_file.is_some()),
        ] {
            if set {
                return Err(ConfigError::new(
                    field(name),
                    "HMAC keys take `secret` or `secret_file`, not key files",
                ));
            }
        }
        let (secret, key_name) = match (&settings.secret, &settings.secret_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    field("secret"),
                    "set either secret or secret_file, not both",
                ));
            }
            (Some(secret), None) => (secret.clone(), field("secret")),
            (None, Some(file)) => (
                read_secret_file(file, &field("secret_file"))?,
                field("secret_file"),
            ),
            (None, None) => {
                return Err(ConfigError::new(
                    field("secret"),
                    "an HMAC key needs `secret` or `secret_file`",
                ));
            }
        };
        check_secret(&secret, &key_name, environment)?;
        return Ok(Key::hmac(kid, algorithm, &secret));
    }

    for (name, set) in [
        ("secret", settings.secret.is_some()),
        ("secret_file", settings.secret_file.is_some()),
    ] {
        if set {
            return Err(ConfigError::new(
                field(name),
                format!(
                    "{} keys take private_key_file/public_key_file, never a shared secret",
                    settings.algorithm
                ),
            ));
        }
    }
    let encoding = match &settings.private_key_file {
        Some(file) => {
            let name = field("private_key_file");
            let pem = read_pem(file, &name)?;
            let key = match algorithm {
                Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
                Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
                _ => EncodingKey::from_ed_pem(&pem),
            }
            .map_err(|error| not_a_key(&name, file, "private", algorithm, &error))?;
            Some((key, name))
        }
        None => None,
    };
    let from_public = match &settings.public_key_file {
        Some(file) => {
            let name = field("public_key_file");
            let pem = read_pem(file, &name)?;
            let key = match algorithm {
                Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
                Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                _ => DecodingKey::from_ed_pem(&pem),
            }
            .map_err(|error| not_a_key(&name, file, "public", algorithm, &error))?;
            Some((key, name))
        }
        None => None,
    };
    // The public half derived from the private key, through its JWK components.
    let from_private = match &encoding {
        Some((key, name)) => Some(
            Jwk::from_encoding_key(key, algorithm)
                .and_then(|jwk| DecodingKey::from_jwk(&jwk))
                .map_err(|error| {
                    ConfigError::new(
                        name.clone(),
                        format!("not a usable {} private key: {error}", settings.algorithm),
                    )
                })?,
        ),
        None => None,
    };
    let private_name = encoding.as_ref().map(|(_, name)| name.clone());
    let (decoding, name) = match (from_public, from_private) {
        (Some((public, name)), Some(derived)) => {
            if !same_public_key(&public, &derived, algorithm) {
                return Err(ConfigError::new(
                    name,
                    "does not match the key in private_key_file",
                ));
            }
            (public, name)
        }
        (Some(public), None) => public,
        (None, Some(derived)) => (derived, private_name.unwrap_or_default()),
        (None, None) => {
            return Err(ConfigError::new(
                field("public_key_file"),
                "an asymmetric key needs public_key_file, private_key_file or both",
            ));
        }
    };
    check_public_key(&decoding, algorithm, &name)?;
    Ok(Key::asymmetric(
        kid,
        algorithm,
        encoding.map(|(key, _)| key),
        decoding,
    ))
}

/// Parses an algorithm name, accepting only [`SUPPORTED_ALGORITHMS`].
fn parse_algorithm(name: &str, key: &str) -> Result<Algorithm, ConfigError> {
    name.parse::<Algorithm>()
        .ok()
        .filter(|algorithm| SUPPORTED_ALGORITHMS.contains(algorithm))
        .ok_or_else(|| {
            ConfigError::new(
                key,
                format!(
                    "unsupported algorithm `{name}` (expected HS256, HS384, HS512, RS256, ES256 or EdDSA)"
                ),
            )
        })
}

/// The PEM parsers accept any curve and any RSA size; the JWK components tell.
fn check_public_key(
    key: &DecodingKey,
    algorithm: Algorithm,
    name: &str,
) -> Result<(), ConfigError> {
    let refuse = |message: &str| Err(ConfigError::new(name, message));
    match Jwk::from_decoding_key(key, Some(algorithm)).map(|jwk| jwk.algorithm) {
        Ok(AlgorithmParameters::RSA(rsa)) => {
            let bits = URL_SAFE_NO_PAD
                .decode(&rsa.n)
                .map_or(0, |n| n.iter().skip_while(|byte| **byte == 0).count() * 8);
            if bits < MIN_RSA_BITS {
                return refuse("RSA keys must have at least 2048 bits");
            }
            Ok(())
        }
        Ok(AlgorithmParameters::EllipticCurve(ec)) if ec.curve == EllipticCurve::P256 => Ok(()),
        Ok(AlgorithmParameters::EllipticCurve(_)) => refuse("ES256 needs a P-256 (prime256v1) key"),
        Ok(AlgorithmParameters::OctetKeyPair(_)) => Ok(()),
        _ => refuse("not a usable public key for this algorithm"),
    }
}

fn same_public_key(a: &DecodingKey, b: &DecodingKey, algorithm: Algorithm) -> bool {
    let components = |key: &DecodingKey| {
        Jwk::from_decoding_key(key, Some(algorithm))
            .ok()
            .map(|jwk| jwk.algorithm)
    };
    matches!((components(a), components(b)), (Some(a), Some(b)) if a == b)
}

fn check_secret(
    secret: &SecretString,
    key: &str,
    environment: Environment,
) -> Result<(), ConfigError> {
    let secret = secret.expose_secret();
    if secret.len() < MIN_HMAC_SECRET_BYTES {
        return Err(ConfigError::new(
            key,
            format!("must be at least {MIN_HMAC_SECRET_BYTES} bytes"),
        ));
    }
    // Padded or wrapped, it is still the published secret.
    if environment == Environment::Production && secret.contains(DEVELOPMENT_SECRET) {
        return Err(ConfigError::new(
            key,
            "the development secret is refused in production",
        ));
    }
    Ok(())
}

/// Reads a secret file; files written by `echo` end in a newline that is not part of the secret.
fn read_secret_file(path: &Path, key: &str) -> Result<SecretString, ConfigError> {
    let contents = std::fs::read_to_string(path).map_err(|error| {
        ConfigError::new(key, format!("cannot read `{}`: {error}", path.display()))
    })?;
    Ok(SecretString::from(contents.trim_end_matches(['\r', '\n'])))
}

fn read_pem(path: &Path, key: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|error| {
        ConfigError::new(key, format!("cannot read `{}`: {error}", path.display()))
    })
}

fn not_a_key(
    key: &str,
    path: &Path,
    half: &str,
    algorithm: Algorithm,
    error: &jsonwebtoken::errors::Error,
) -> ConfigError {
    let expected = match algorithm {
        Algorithm::RS256 => "an RSA",
        Algorithm::ES256 => "a P-256 EC",
        _ => "an Ed25519",
    };
    ConfigError::new(
        key,
        format!(
            "`{}` is not {expected} {half} key in PEM form ({error})",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_supported_algorithms_parse() {
        for name in ["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"] {
            assert!(parse_algorithm(name, "k").is_ok(), "{name}");
        }
        for name in ["none", "PS256", "ES384", "RS512", "hs256", ""] {
            assert_eq!(parse_algorithm(name, "k").unwrap_err().key, "k", "{name}");
        }
    }
}
