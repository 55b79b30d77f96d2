//! `chrome_extension_content_scripts`: one row per (script, match pattern) pair of the
//! `content_scripts` of each Chromium-based browser extension (profiles read as in
//! `chrome_extensions`).

use serde_json::Value as Json;

use super::chrome_extensions::{identifier_from_key, profiles};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for profile in profiles(ctx) {
        for ext in &profile.extensions {
            let version = ext
                .manifest
                .get("version")
                .and_then(Json::as_str)
                .unwrap_or("");
            let identifier = ext.referenced_id.clone().unwrap_or_else(|| {
                ext.manifest
                    .get("key")
                    .and_then(Json::as_str)
                    .and_then(identifier_from_key)
                    .unwrap_or_default()
            });
            for (script, pattern) in script_matches(&ext.manifest) {
                rows.push()
                    .set("browser_type", profile.browser)
                    .set("uid", profile.uid)
                    .set("identifier", identifier.as_str())
                    .set("version", version)
                    .set("script", script)
                    .set("match", pattern)
                    .set("profile_path", profile.path.to_string_lossy().into_owned())
                    .set("path", ext.path.to_string_lossy().into_owned())
                    .set("referenced", i64::from(ext.referenced_id.is_some()));
            }
        }
    }
    Ok(())
}

/// Every (script, match) pair of a manifest's `content_scripts` entries.
fn script_matches(manifest: &Json) -> Vec<(String, String)> {
    let strings = |v: Option<&Json>| -> Vec<String> {
        v.and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for entry in manifest
        .get("content_scripts")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let matches = strings(entry.get("matches"));
        for script in strings(entry.get("js")) {
            for m in &matches {
                out.push((script.clone(), m.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_times_matches() {
        let m: Json = serde_json::from_str(
            r#"{"content_scripts":[{"matches":["https://*/*","http://x/*"],"js":["a.js","b.js"]},{"matches":["<all_urls>"],"css":["c.css"]}]}"#,
        )
        .unwrap();
        let pairs = script_matches(&m);
        assert_eq!(pairs.len(), 4);
        assert_eq!(pairs[0], ("a.js".to_string(), "https://*/*".to_string()));
        assert!(script_matches(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn fixture_profile_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = super::super::chrome_extensions::tests::fixture_profile(dir.path());
        let p = super::super::chrome_extensions::read_profile("chrome", 0, &path).unwrap();
        let ext = p
            .extensions
            .iter()
            .find(|e| e.referenced_id.is_some())
            .unwrap();
        assert_eq!(script_matches(&ext.manifest).len(), 4);
    }
}
