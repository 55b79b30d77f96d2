//! RFC 822-style control paragraphs as Debian writes them (dpkg status, apt `.sources`,
//! `Release` files): `Field: value` lines, continuation lines starting with a space or tab,
//! paragraphs separated by blank lines.

/// One paragraph: its fields in file order. Continuation lines are joined to the value with
/// `\n`; field names keep their case (look them up with [`Paragraph::get`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of a field (names are case-insensitive, as in dpkg), trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a field, or `""` when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }
}

/// Options for [`parse`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Syntax {
    /// Lines starting with `#` are comments (apt `.sources` files), not fields.
    pub comments: bool,
}

/// Splits control text into paragraphs. Lines that are neither fields nor continuations are
/// ignored; empty paragraphs are dropped.
pub(crate) fn parse(text: &str, syntax: Syntax) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut current = Paragraph::default();
    for raw in text.lines() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if syntax.comments && line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.fields.last_mut() {
                let cont = line.trim();
                // A lone "." stands for an empty line inside a multi-line value.
                let cont = if cont == "." { "" } else { cont };
                if !value.is_empty() || !cont.is_empty() {
                    value.push('\n');
                }
                value.push_str(cont);
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            current
                .fields
                .push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.fields.is_empty() {
        out.push(current);
    }
    out
}

/// The signed text inside an OpenPGP clear-signed message (`InRelease`), or the text itself
/// when it is not clear-signed.
pub(crate) fn strip_clearsign(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("-----BEGIN PGP SIGNED MESSAGE-----") else {
        return text;
    };
    // Armor headers ("Hash: SHA512") end at the first empty line.
    let body = match rest.find("\n\n") {
        Some(i) => &rest[i + 2..],
        None => rest,
    };
    match body.find("-----BEGIN PGP SIGNATURE-----") {
        Some(i) => &body[..i],
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_fields_and_continuations() {
        let text = "Package: a\nStatus: install ok installed\nDescription: short\n long line\n .\n more\n\n\nPackage: b\nversion: 1.0\n";
        let p = parse(text, Syntax::default());
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].get("package"), Some("a"));
        assert_eq!(p[0].text("Description"), "short\nlong line\n\nmore");
        assert_eq!(p[1].get("Version"), Some("1.0"));
        assert_eq!(p[1].get("Status"), None);
        assert_eq!(p[1].text("Status"), "");
    }

    #[test]
    fn comments_are_skipped_only_when_asked() {
        let text = "Types: deb\n# URIs: http://old\nURIs: http://new\n";
        let p = parse(text, Syntax { comments: true });
        assert_eq!(p[0].get("URIs"), Some("http://new"));
        let p = parse(text, Syntax::default());
        assert_eq!(p[0].get("# URIs"), Some("http://old"));
    }

    #[test]
    fn clearsigned_release_is_unwrapped() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\nCodename: bookworm\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n";
        let body = strip_clearsign(text);
        let p = parse(body, Syntax::default());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].get("Origin"), Some("Debian"));
        assert_eq!(p[0].get("Hash"), None);
        assert_eq!(strip_clearsign("Origin: x\n"), "Origin: x\n");
    }
}
