//! `firefox_addons`: add-ons of each user's Firefox profiles, from the profile's
//! `extensions.json` (profiles under ~/.mozilla/firefox, the snap's copy, and the XDG
//! ~/.config/mozilla/firefox).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::{QueryContext, Rows, TableError};

const FIREFOX_DIRS: &[&str] = &[
    ".mozilla/firefox",
    "snap/firefox/common/.mozilla/firefox",
    ".config/mozilla/firefox",
];

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for user in crate::sys::users_for(ctx) {
        for dir in FIREFOX_DIRS {
            for profile in profile_dirs(&user.home.join(dir)) {
                let Ok(bytes) = std::fs::read(profile.join("extensions.json")) else {
                    continue;
                };
                for addon in parse_extensions(&bytes) {
                    rows.push()
                        .set("uid", user.uid)
                        .set("name", addon.name)
                        .set("identifier", addon.identifier)
                        .set("creator", addon.creator)
                        .set("type", addon.kind)
                        .set("version", addon.version)
                        .set("description", addon.description)
                        .set("source_url", addon.source_url)
                        .set("visible", addon.visible)
                        .set("active", addon.active)
                        .set("disabled", addon.disabled)
                        .set("autoupdate", addon.autoupdate)
                        .set("location", addon.location)
                        .set("path", addon.path);
                }
            }
        }
    }
    Ok(())
}

/// Profile directories: every subdirectory but the crash-report and ping stores.
fn profile_dirs(base: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(base)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .filter(|p| !p.ends_with("Crash Reports") && !p.ends_with("Pending Pings"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Addon {
    name: Option<String>,
    identifier: Option<String>,
    creator: Option<String>,
    kind: Option<String>,
    version: Option<String>,
    description: Option<String>,
    source_url: Option<String>,
    visible: Option<i64>,
    active: Option<i64>,
    disabled: i64,
    autoupdate: Option<i64>,
    location: Option<String>,
    path: Option<String>,
}

/// The `addons` array of an `extensions.json`; empty when it is not in that shape.
fn parse_extensions(bytes: &[u8]) -> Vec<Addon> {
    let Ok(doc) = serde_json::from_slice::<Json>(bytes) else {
        return Vec::new();
    };
    let Some(addons) = doc.get("addons").and_then(Json::as_array) else {
        return Vec::new();
    };
    addons
        .iter()
        .filter(|a| a.is_object())
        .map(|a| {
            let text = |p: &str| {
                a.pointer(p).and_then(|v| match v {
                    Json::String(s) => Some(s.clone()),
                    Json::Number(n) => Some(n.to_string()),
                    Json::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
            };
            let flag = |k: &str| a.get(k).and_then(Json::as_bool).map(i64::from);
            let is_true = |k: &str| a.get(k).and_then(Json::as_bool) == Some(true);
            Addon {
                name: text("/defaultLocale/name"),
                identifier: text("/id"),
                creator: text("/defaultLocale/creator"),
                kind: text("/type"),
                version: text("/version"),
                description: text("/defaultLocale/description"),
                source_url: text("/sourceURI"),
                visible: flag("visible"),
                active: flag("active"),
                disabled: i64::from(
                    is_true("softDisable") || is_true("appDisabled") || is_true("userDisabled"),
                ),
                autoupdate: a
                    .get("applyBackgroundUpdates")
                    .and_then(|v| v.as_i64().or_else(|| v.as_bool().map(i64::from)))
                    .map(|v| i64::from(v != 0)),
                location: text("/location"),
                path: text("/path"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_json_addons() {
        let text = br#"{"schemaVersion":35,"addons":[
            {"id":"uBlock0@raymondhill.net","type":"extension","version":"1.57.2","visible":true,"active":true,
             "userDisabled":false,"appDisabled":false,"softDisable":false,"applyBackgroundUpdates":1,
             "location":"app-profile","path":"/home/a/.mozilla/firefox/x.default/extensions/uBlock0@raymondhill.net.xpi",
             "sourceURI":"https://addons.mozilla.org/firefox/downloads/file/1/ublock.xpi",
             "defaultLocale":{"name":"uBlock Origin","creator":"Raymond Hill","description":"Finally, an efficient blocker."}},
            {"id":"off@x","type":"theme","active":false,"userDisabled":true},
            7]}"#;
        let addons = parse_extensions(text);
        assert_eq!(addons.len(), 2);
        assert_eq!(addons[0].name.as_deref(), Some("uBlock Origin"));
        assert_eq!(addons[0].creator.as_deref(), Some("Raymond Hill"));
        assert_eq!(addons[0].autoupdate, Some(1));
        assert_eq!(addons[0].disabled, 0);
        assert_eq!(addons[0].active, Some(1));
        assert_eq!(addons[1].disabled, 1);
        assert_eq!(addons[1].name, None);
        assert!(parse_extensions(b"{}").is_empty());
        assert!(parse_extensions(b"not json").is_empty());
    }

    #[test]
    fn profiles_skip_crash_reports() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["abc.default-release", "Crash Reports", "Pending Pings"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("profiles.ini"), "").unwrap();
        assert_eq!(
            profile_dirs(dir.path()),
            vec![dir.path().join("abc.default-release")]
        );
    }
}
