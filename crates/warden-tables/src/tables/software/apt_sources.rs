//! `apt_sources`: the `deb` repositories of /etc/apt/sources.list, sources.list.d/*.list
//! (one-line format) and sources.list.d/*.sources (deb822 format), with the release details of
//! the matching `/var/lib/apt/lists/*_Release` (or `_InRelease`) file apt downloaded.
//!
//! Like osquery, `release`, `version`, `maintainer` (the Release file's `Origin`), `components`
//! and `architectures` come from that Release file. Unlike osquery, a source whose lists have not
//! been downloaded is still reported, with `release`, `components` and `architectures` taken from
//! the source entry itself and `version`/`maintainer` NULL. A deb822 stanza is skipped when its
//! `Enabled` field is a false boolean (`no`, `false`, `off`, `0`) as apt reads it.

use std::path::{Path, PathBuf};

use super::deb822::{self, Syntax};
use crate::{QueryContext, Rows, TableError};

const ETC_APT: &str = "/etc/apt";
const LISTS: &str = "/var/lib/apt/lists";

/// One `deb` entry: a URI and a suite (a deb822 stanza gives one per URI × suite).
#[derive(Clone, Debug, PartialEq, Eq)]
struct AptSource {
    /// The URI without trailing slashes.
    base_uri: String,
    suite: String,
    components: Vec<String>,
    architectures: Vec<String>,
}

impl AptSource {
    /// osquery's name: the URI without its scheme, a space, the suite.
    fn name(&self) -> String {
        format!("{} {}", strip_scheme(&self.base_uri), self.suite)
    }

    /// The prefix apt gives this source's files in /var/lib/apt/lists.
    fn list_prefix(&self) -> String {
        let suite = if self.suite.contains('/') {
            // A flat repository ("/", "./" or "path/"): files sit under the URI + path.
            self.suite.trim_start_matches("./").to_string()
        } else {
            format!("dists/{}/", self.suite)
        };
        let mut uri = format!("{}/{}", self.base_uri, suite);
        while uri.ends_with('/') {
            uri.pop();
        }
        uri_to_filename(&uri)
    }
}

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for (file, sources) in read_sources(Path::new(ETC_APT)) {
        for s in sources {
            let release = find_release(Path::new(LISTS), &s.list_prefix())
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| parse_release(&t));
            let mut row = rows.push();
            row.set("name", s.name())
                .set("source", file.to_string_lossy().into_owned())
                .set("base_uri", s.base_uri.as_str())
                .set("pid_with_namespace", 0);
            match release {
                Some(r) => {
                    row.set("release", r.codename)
                        .set("version", r.version)
                        .set("maintainer", r.origin)
                        .set("components", r.components)
                        .set("architectures", r.architectures);
                }
                None => {
                    row.set("release", s.suite.as_str())
                        .set("components", s.components.join(" "))
                        .set("architectures", s.architectures.join(" "));
                }
            }
        }
    }
    Ok(())
}

/// Every source file under an apt configuration directory and the `deb` entries it declares.
fn read_sources(etc_apt: &Path) -> Vec<(PathBuf, Vec<AptSource>)> {
    let mut out = Vec::new();
    let main = etc_apt.join("sources.list");
    if let Ok(text) = std::fs::read_to_string(&main) {
        out.push((main, parse_one_line_file(&text)));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for ext in ["list", "sources"] {
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == ext))
        {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            let sources = if ext == "list" {
                parse_one_line_file(&text)
            } else {
                parse_deb822_file(&text)
            };
            out.push((file.clone(), sources));
        }
    }
    out
}

fn parse_one_line_file(text: &str) -> Vec<AptSource> {
    text.lines().filter_map(parse_one_line).collect()
}

/// One line of the one-line format:
/// `deb [ option=value ... ] uri suite [component ...]`; `deb-src` lines and comments give `None`.
fn parse_one_line(line: &str) -> Option<AptSource> {
    let line = line.split('#').next().unwrap_or("").trim();
    let rest = line.strip_prefix("deb")?;
    if !rest.starts_with([' ', '\t', '[']) {
        return None;
    }
    let mut rest = rest.trim_start();
    let mut architectures = Vec::new();
    if let Some(opts) = rest.strip_prefix('[') {
        let (opts, after) = opts.split_once(']')?;
        for opt in opts.split_whitespace() {
            if let Some(v) = opt.strip_prefix("arch=") {
                architectures.extend(v.split(',').map(str::to_string));
            }
        }
        rest = after;
    }
    let mut words = rest.split_whitespace();
    let uri = words.next()?;
    let suite = words.next()?;
    if !uri.contains("://") {
        return None;
    }
    Some(AptSource {
        base_uri: uri.trim_end_matches('/').to_string(),
        suite: suite.to_string(),
        components: words.map(str::to_string).collect(),
        architectures,
    })
}

/// The `deb` entries of a deb822 `.sources` file: one per URI and suite of each stanza.
fn parse_deb822_file(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for p in deb822::parse(text, Syntax { comments: true }) {
        let types: Vec<&str> = p.text("Types").split_whitespace().collect();
        if !types.contains(&"deb") {
            continue;
        }
        let enabled = p.text("Enabled").to_ascii_lowercase();
        if matches!(enabled.as_str(), "no" | "false" | "off" | "0" | "disable") {
            continue;
        }
        let words =
            |f: &str| -> Vec<String> { p.text(f).split_whitespace().map(str::to_string).collect() };
        let components = words("Components");
        let architectures = words("Architectures");
        for uri in p.text("URIs").split_whitespace() {
            if !uri.contains("://") {
                continue;
            }
            for suite in p.text("Suites").split_whitespace() {
                out.push(AptSource {
                    base_uri: uri.trim_end_matches('/').to_string(),
                    suite: suite.to_string(),
                    components: components.clone(),
                    architectures: architectures.clone(),
                });
            }
        }
    }
    out
}

fn strip_scheme(uri: &str) -> &str {
    uri.split_once("://").map_or(uri, |(_, rest)| rest)
}

/// apt's `URItoFileName`: the URI without scheme and credentials, special characters quoted as
/// `%xx`, slashes turned into underscores.
fn uri_to_filename(uri: &str) -> String {
    let rest = strip_scheme(uri);
    let rest = match rest.split_once('/') {
        Some((host, path)) => {
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            format!("{host}/{path}")
        }
        None => rest.rsplit_once('@').map_or(rest, |(_, h)| h).to_string(),
    };
    let mut out = String::with_capacity(rest.len());
    for b in rest.bytes() {
        if b <= 0x20 || b >= 0x7f || b"\\|{}[]<>\"^~_=!@#$%^&*".contains(&b) {
            out.push_str(&format!("%{b:02x}"));
        } else if b == b'/' {
            out.push('_');
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// The downloaded Release file for a list prefix: `<prefix>_InRelease` before `<prefix>_Release`.
fn find_release(lists: &Path, prefix: &str) -> Option<PathBuf> {
    ["InRelease", "Release"]
        .iter()
        .map(|suffix| lists.join(format!("{prefix}_{suffix}")))
        .find(|p| p.is_file())
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Release {
    codename: Option<String>,
    version: Option<String>,
    origin: Option<String>,
    components: Option<String>,
    architectures: Option<String>,
}

/// The fields of a Release or InRelease file.
fn parse_release(text: &str) -> Release {
    let paragraphs = deb822::parse(deb822::strip_clearsign(text), Syntax::default());
    let Some(p) = paragraphs.first() else {
        return Release::default();
    };
    let get = |f: &str| p.get(f).map(str::to_string);
    Release {
        codename: get("Codename"),
        version: get("Version"),
        origin: get("Origin"),
        components: get("Components"),
        architectures: get("Architectures"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_entries() {
        let s = parse_one_line("deb [arch=amd64,arm64 signed-by=/k.gpg] http://deb.debian.org/debian/ bookworm main contrib # c").unwrap();
        assert_eq!(s.base_uri, "http://deb.debian.org/debian");
        assert_eq!(s.suite, "bookworm");
        assert_eq!(s.components, vec!["main", "contrib"]);
        assert_eq!(s.architectures, vec!["amd64", "arm64"]);
        assert_eq!(s.name(), "deb.debian.org/debian bookworm");
        assert!(parse_one_line("deb-src http://x/ bookworm main").is_none());
        assert!(parse_one_line("# deb http://x/ bookworm main").is_none());
        assert!(parse_one_line("deb cdrom-without-scheme bookworm").is_none());
        assert!(parse_one_line("deb http://x/").is_none());
    }

    #[test]
    fn deb822_stanzas_multiply_uris_and_suites() {
        let text = "Types: deb deb-src\n# comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb-src\nURIs: http://x/\nSuites: a\n\nTypes: deb\nEnabled: no\nURIs: http://y/\nSuites: b\n";
        let s = parse_deb822_file(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].suite, "bookworm-updates");
        assert_eq!(s[1].components, vec!["main"]);
    }

    #[test]
    fn list_file_names_follow_apt() {
        let s = parse_one_line("deb https://deb.nodesource.com/node_20.x nodistro main").unwrap();
        assert_eq!(
            s.list_prefix(),
            "deb.nodesource.com_node%5f20.x_dists_nodistro"
        );
        let flat = parse_one_line("deb http://user:pw@repo.example/Debian_12/ /").unwrap();
        assert_eq!(flat.list_prefix(), "repo.example_Debian%5f12");
    }

    #[test]
    fn release_fields() {
        let r = parse_release(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\nVersion: 12.14\nCodename: bookworm\nDate: Sat, 16 May 2026 10:54:28 UTC\nComponents: main contrib\nArchitectures: all amd64\nMD5Sum:\n abc 1 main/x\n-----BEGIN PGP SIGNATURE-----\n",
        );
        assert_eq!(r.origin.as_deref(), Some("Debian"));
        assert_eq!(r.version.as_deref(), Some("12.14"));
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
        assert_eq!(r.components.as_deref(), Some("main contrib"));
        assert_eq!(r.architectures.as_deref(), Some("all amd64"));
    }
}
