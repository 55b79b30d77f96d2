//! `chrome_extensions`: extensions of Chromium-based browsers, per user and profile — the
//! `manifest.json` of every `<profile>/Extensions/<id>/<version>` folder plus the extensions the
//! profile's `Preferences`/`Secure Preferences` reference, with their install settings.
//! Also the shared profile/extension reader used by `chrome_extension_content_scripts`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::{QueryContext, Rows, TableError};

/// Browser data directories under a Linux home, with osquery's browser_type names.
const BROWSERS: &[(&str, &str)] = &[
    ("chrome", ".config/google-chrome"),
    ("chrome_beta", ".config/google-chrome-beta"),
    ("chrome_dev", ".config/google-chrome-unstable"),
    ("brave", ".config/BraveSoftware/Brave-Browser"),
    (
        "brave",
        ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser",
    ),
    ("brave_beta", ".config/BraveSoftware/Brave-Browser-Beta"),
    (
        "brave_beta",
        ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser-Beta",
    ),
    (
        "brave_nightly",
        ".config/BraveSoftware/Brave-Browser-Nightly",
    ),
    (
        "brave_nightly",
        ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser-Nightly",
    ),
    ("chromium", ".config/chromium"),
    ("chromium", "snap/chromium/common/chromium"),
    ("chromium", ".var/app/org.chromium.Chromium/config/chromium"),
    ("yandex", ".config/yandex-browser-beta"),
    ("edge", ".config/microsoft-edge"),
    ("edge_beta", ".config/microsoft-edge-beta"),
    ("edge_dev", ".config/microsoft-edge-dev"),
    ("opera", ".config/opera"),
    ("vivaldi", ".config/vivaldi"),
    ("vivaldi", ".var/app/com.vivaldi.Vivaldi/config/vivaldi"),
];

const PREFERENCES: [&str; 2] = ["Preferences", "Secure Preferences"];

/// One browser profile of one user.
#[derive(Debug)]
pub(super) struct Profile {
    pub browser: &'static str,
    pub uid: u32,
    pub path: PathBuf,
    pub name: String,
    pub extensions: Vec<Extension>,
}

/// One extension as a profile sees it.
#[derive(Debug, Default)]
pub(super) struct Extension {
    pub path: PathBuf,
    pub manifest_text: String,
    pub manifest: Json,
    /// The key of `extensions.settings` naming this extension, when the profile references it.
    pub referenced_id: Option<String>,
    /// That settings object.
    pub settings: Json,
}

/// Every profile of the users the query is about.
pub(super) fn profiles(ctx: &QueryContext) -> Vec<Profile> {
    let mut out = Vec::new();
    for user in crate::sys::users_for(ctx) {
        for (browser, suffix) in BROWSERS {
            let base = user.home.join(suffix);
            let base = std::fs::canonicalize(&base).unwrap_or(base);
            for path in profile_dirs(&base) {
                if let Some(p) = read_profile(browser, user.uid, &path) {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn is_profile(dir: &Path) -> bool {
    PREFERENCES.iter().any(|f| dir.join(f).is_file())
}

/// The browser directory itself when it is a profile (Opera), otherwise its profile children.
fn profile_dirs(base: &Path) -> Vec<PathBuf> {
    if is_profile(base) {
        return vec![base.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(base)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| is_profile(p))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn read_json(path: &Path) -> Option<Json> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// `extensions.settings` (Opera: `extensions.opsettings`) of a preferences document.
fn settings_of(prefs: &Json) -> Option<&serde_json::Map<String, Json>> {
    let ext = prefs.get("extensions")?;
    ext.get("settings")
        .or_else(|| ext.get("opsettings"))?
        .as_object()
}

/// Reads a profile: its name, the extension folders, the referenced extensions.
pub(super) fn read_profile(browser: &'static str, uid: u32, path: &Path) -> Option<Profile> {
    let prefs: Vec<Json> = PREFERENCES
        .iter()
        .filter_map(|f| read_json(&path.join(f)))
        .collect();
    if prefs.is_empty() {
        return None;
    }
    let name = prefs
        .iter()
        .find_map(|p| p.pointer("/profile/name").and_then(Json::as_str))
        .unwrap_or("")
        .to_string();
    let ext_dir = path.join("Extensions");
    let mut by_path: BTreeMap<PathBuf, Extension> = BTreeMap::new();
    for id_dir in sorted_dirs(&ext_dir) {
        for version_dir in sorted_dirs(&id_dir) {
            let canonical = std::fs::canonicalize(&version_dir).unwrap_or(version_dir);
            if let Some(e) = read_extension(&canonical) {
                by_path.insert(canonical, e);
            }
        }
    }
    for settings in prefs.iter().filter_map(settings_of) {
        for (id, obj) in settings {
            let Some(rel) = obj.get("path").and_then(Json::as_str) else {
                continue;
            };
            let abs = if Path::new(rel).is_absolute() {
                PathBuf::from(rel)
            } else {
                ext_dir.join(rel)
            };
            let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
            if !by_path.contains_key(&abs) {
                match read_extension(&abs) {
                    Some(e) => by_path.insert(abs.clone(), e),
                    None => continue,
                };
            }
            if let Some(e) = by_path.get_mut(&abs)
                && e.referenced_id.is_none()
            {
                e.referenced_id = Some(id.clone());
                e.settings = obj.clone();
            }
        }
    }
    Some(Profile {
        browser,
        uid,
        path: path.to_path_buf(),
        name,
        extensions: by_path.into_values().collect(),
    })
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn read_extension(path: &Path) -> Option<Extension> {
    let bytes = std::fs::read(path.join("manifest.json")).ok()?;
    let manifest_text = String::from_utf8_lossy(&bytes).into_owned();
    let manifest = serde_json::from_str(manifest_text.trim_start_matches('\u{feff}')).ok()?;
    Some(Extension {
        path: path.to_path_buf(),
        manifest_text,
        manifest,
        referenced_id: None,
        settings: Json::Null,
    })
}

/// The extension id Chrome derives from the manifest `key`: SHA-256 of the decoded key, first
/// 16 bytes, each hex digit mapped to `a`..`p`.
pub(super) fn identifier_from_key(key: &str) -> Option<String> {
    let cleaned: String = key.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .ok()?;
    let hash = Sha256::digest(&der);
    Some(
        hash[..16]
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .map(|n| char::from(b'a' + n))
            .collect(),
    )
}

/// A manifest string, with `__MSG_name__` placeholders resolved from the extension's
/// `_locales/<locale>/messages.json` (the default locale, else `en`).
fn localized(ext: &Extension, value: &str) -> String {
    let Some(name) = value
        .strip_prefix("__MSG_")
        .and_then(|v| v.strip_suffix("__"))
    else {
        return value.to_string();
    };
    let locale = ext
        .manifest
        .get("default_locale")
        .or_else(|| ext.manifest.get("current_locale"))
        .and_then(Json::as_str)
        .unwrap_or("en");
    let messages = read_json(&ext.path.join("_locales").join(locale).join("messages.json"));
    messages
        .as_ref()
        .and_then(Json::as_object)
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.get("message"))
                .and_then(Json::as_str)
        })
        .map_or_else(|| value.to_string(), str::to_string)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A scalar JSON value as text (strings unquoted; numbers and booleans printed).
fn scalar(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string array as osquery prints it: the strings joined with ", ".
fn joined(v: Option<&Json>) -> String {
    v.and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| scalar(Some(x)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Chrome's install time (microseconds since 1601-01-01) as unix seconds; 0 when unknown.
fn webkit_to_unix(text: &str) -> i64 {
    text.trim()
        .parse::<i64>()
        .ok()
        .map(|t| t / 1_000_000 - 11_644_473_600)
        .filter(|t| *t >= 0)
        .unwrap_or(0)
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for profile in profiles(ctx) {
        for ext in &profile.extensions {
            fill(&profile, ext, rows);
        }
    }
    Ok(())
}

fn fill(profile: &Profile, ext: &Extension, rows: &mut Rows) {
    let m = &ext.manifest;
    let text = |k: &str| {
        scalar(m.get(k))
            .map(|v| localized(ext, &v))
            .unwrap_or_default()
    };
    let setting = |k: &str| scalar(ext.settings.get(k)).unwrap_or_default();
    let persistent = m
        .pointer("/background/persistent")
        .and_then(|v| scalar(Some(v)))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let json_of = |k: &str| m.get(k).map_or_else(|| "{}".to_string(), Json::to_string);
    let install_time = setting("install_time");
    let key = scalar(m.get("key")).unwrap_or_default();
    rows.push()
        .set("browser_type", profile.browser)
        .set("uid", profile.uid)
        .set("name", text("name"))
        .set("profile", profile.name.as_str())
        .set("profile_path", profile.path.to_string_lossy().into_owned())
        .set(
            "referenced_identifier",
            ext.referenced_id.clone().unwrap_or_default(),
        )
        .set("identifier", identifier_from_key(&key).unwrap_or_default())
        .set("version", text("version"))
        .set("description", text("description"))
        .set("default_locale", text("default_locale"))
        .set("current_locale", text("current_locale"))
        .set("update_url", text("update_url"))
        .set("author", text("author"))
        .set("persistent", i64::from(persistent))
        .set("path", ext.path.to_string_lossy().into_owned())
        .set("permissions", joined(m.get("permissions")))
        .set("permissions_json", json_of("permissions"))
        .set(
            "optional_permissions",
            joined(m.get("optional_permissions")),
        )
        .set("optional_permissions_json", json_of("optional_permissions"))
        .set(
            "manifest_hash",
            hex(&Sha256::digest(ext.manifest_text.as_bytes())),
        )
        .set("referenced", i64::from(ext.referenced_id.is_some()))
        .set("from_webstore", setting("from_webstore"))
        .set("state", setting("state"))
        .set("install_timestamp", webkit_to_unix(&install_time))
        .set("install_time", install_time)
        .set("manifest_json", ext.manifest_text.as_str())
        .set("key", key);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Builds a Chrome profile with one referenced and one unreferenced extension.
    pub fn fixture_profile(dir: &Path) -> PathBuf {
        let profile = dir.join("Default");
        let a = profile.join("Extensions/aaaa/1.0_0");
        let b = profile.join("Extensions/bbbb/2.0");
        std::fs::create_dir_all(a.join("_locales/en")).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(
            a.join("manifest.json"),
            r#"{"name":"__MSG_appName__","version":"1.0","default_locale":"en","permissions":["tabs","storage"],"background":{"persistent":true},"key":"MIIBIjANBg==","content_scripts":[{"matches":["https://*/*","http://x/*"],"js":["a.js","b.js"]}]}"#,
        )
        .unwrap();
        std::fs::write(
            a.join("_locales/en/messages.json"),
            r#"{"appname":{"message":"My Extension"}}"#,
        )
        .unwrap();
        std::fs::write(
            b.join("manifest.json"),
            r#"{"name":"Other","version":"2.0"}"#,
        )
        .unwrap();
        std::fs::write(
            profile.join("Preferences"),
            r#"{"profile":{"name":"Person 1"},"extensions":{"settings":{"aaaa":{"path":"aaaa/1.0_0","state":1,"from_webstore":true,"install_time":"13300000000000000"}}}}"#,
        )
        .unwrap();
        profile
    }

    #[test]
    fn profile_extensions_and_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = fixture_profile(dir.path());
        assert_eq!(profile_dirs(dir.path()), vec![path.clone()]);
        let p = read_profile("chrome", 1000, &path).unwrap();
        assert_eq!(p.name, "Person 1");
        assert_eq!(p.extensions.len(), 2);
        let mut rows = Rows::new(crate::spec::osquery_spec("chrome_extensions").unwrap());
        for e in &p.extensions {
            fill(&p, e, &mut rows);
        }
        let get = |r, c| rows.get(r, c).unwrap().as_text().unwrap_or_default();
        assert_eq!(get(0, "name"), "My Extension");
        assert_eq!(get(0, "referenced_identifier"), "aaaa");
        assert_eq!(get(0, "permissions"), "tabs, storage");
        assert_eq!(get(0, "permissions_json"), r#"["tabs","storage"]"#);
        assert_eq!(get(0, "persistent"), "1");
        assert_eq!(get(0, "state"), "1");
        assert_eq!(get(0, "from_webstore"), "true");
        assert_eq!(get(0, "install_timestamp"), "1655526400");
        assert_eq!(get(0, "identifier").len(), 32);
        assert_eq!(get(1, "name"), "Other");
        assert_eq!(get(1, "referenced"), "0");
        assert_eq!(get(1, "install_timestamp"), "0");
    }

    #[test]
    fn identifiers_from_keys() {
        // Chrome's documented example: the id is derived from the SHA-256 of the key bytes.
        let id = identifier_from_key("AAAA").unwrap();
        let hash = Sha256::digest([0u8, 0, 0]);
        let expected: String = hash[..16]
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .map(|n| char::from(b'a' + n))
            .collect();
        assert_eq!(id, expected);
        assert!(id.chars().all(|c| ('a'..='p').contains(&c)));
        assert!(identifier_from_key("!!").is_none());
    }
}
