//! `vscode_extensions`: extensions of VS Code and its forks (Insiders, VSCodium, Cursor,
//! Windsurf, Trae, and their remote servers), per user, from `<dir>/extensions/extensions.json`.

use serde_json::Value as Json;

use crate::{QueryContext, Rows, TableError};

/// Per-user configuration directories and the edition they belong to.
const EDITIONS: &[(&str, &str)] = &[
    (".vscode-server", "vscode"),
    (".vscode", "vscode"),
    (".vscode-server-insiders", "vscode_insiders"),
    (".vscode-insiders", "vscode_insiders"),
    (".vscode-oss", "vscodium"),
    (".vscodium-server", "vscodium"),
    (".vscodium-insiders", "vscodium_insiders"),
    (".vscodium-server-insiders", "vscodium_insiders"),
    (".cursor", "cursor"),
    (".cursor-server", "cursor"),
    (".windsurf", "windsurf"),
    (".windsurf-server", "windsurf"),
    (".devin", "windsurf"),
    (".trae", "trae"),
    (".trae-server", "trae"),
];

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for user in crate::sys::users_for(ctx) {
        for (dir, edition) in EDITIONS {
            let file = user.home.join(dir).join("extensions/extensions.json");
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for e in parse_extensions(&bytes) {
                rows.push()
                    .set("name", e.name)
                    .set("uuid", e.uuid)
                    .set("version", e.version)
                    .set("path", e.path)
                    .set("publisher", e.publisher)
                    .set("publisher_id", e.publisher_id)
                    .set("installed_at", e.installed_at)
                    .set("prerelease", e.prerelease)
                    .set("uid", user.uid)
                    .set("vscode_edition", *edition);
            }
        }
    }
    Ok(())
}

#[derive(Debug, Default, PartialEq, Eq)]
struct VsExtension {
    name: Option<String>,
    uuid: Option<String>,
    version: Option<String>,
    path: Option<String>,
    publisher: Option<String>,
    publisher_id: Option<String>,
    installed_at: Option<i64>,
    prerelease: Option<i64>,
}

/// The entries of an `extensions.json` array that have `identifier`, `metadata` and `location`
/// objects (as osquery requires).
fn parse_extensions(bytes: &[u8]) -> Vec<VsExtension> {
    let Ok(Json::Array(entries)) = serde_json::from_slice::<Json>(bytes) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let identifier = e.get("identifier").filter(|v| v.is_object())?;
            let metadata = e.get("metadata").filter(|v| v.is_object())?;
            let location = e.get("location").filter(|v| v.is_object())?;
            let s = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).map(str::to_string);
            Some(VsExtension {
                name: s(identifier, "id"),
                uuid: s(metadata, "id"),
                version: s(e, "version"),
                path: s(location, "path"),
                publisher: s(metadata, "publisherDisplayName"),
                publisher_id: s(metadata, "publisherId"),
                installed_at: metadata.get("installedTimestamp").and_then(Json::as_i64),
                prerelease: metadata
                    .get("isPreReleaseVersion")
                    .and_then(Json::as_bool)
                    .map(i64::from),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_json_entries() {
        let text = br#"[{"identifier":{"id":"rust-lang.rust-analyzer","uuid":"06574cb4"},"version":"0.3.1850",
            "location":{"$mid":1,"path":"/home/a/.vscode/extensions/rust-lang.rust-analyzer-0.3.1850-linux-x64","scheme":"file"},
            "relativeLocation":"rust-lang.rust-analyzer-0.3.1850-linux-x64",
            "metadata":{"id":"06574cb4-e5dc-4631-8174-a543a4533621","publisherId":"cb14a7a7","publisherDisplayName":"The Rust Programming Language",
            "installedTimestamp":1709000000000,"isPreReleaseVersion":false}},
            {"identifier":{"id":"broken"}}]"#;
        let e = parse_extensions(text);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].name.as_deref(), Some("rust-lang.rust-analyzer"));
        assert_eq!(
            e[0].uuid.as_deref(),
            Some("06574cb4-e5dc-4631-8174-a543a4533621")
        );
        assert_eq!(e[0].installed_at, Some(1_709_000_000_000));
        assert_eq!(e[0].prerelease, Some(0));
        assert!(e[0].path.as_deref().unwrap().ends_with("linux-x64"));
        assert!(parse_extensions(b"{}").is_empty());
    }
}
