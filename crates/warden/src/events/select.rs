//! What `--class` and `--addr` mean, as pure values: class words resolved to the (class,
//! action) pairs the store filters on, and address ranges in CIDR notation.
//!
//! `--class` reads like auditreduce's `-c`: Warden's class names, the BSM class codes (`ex`,
//! `pc`, `nt`, `fr`, `fw`, `fc`, `fd`, `fm`), action names (`connect`, `rename`...) and `all`,
//! comma-separated, each optionally prefixed by `^` (or `!`) to take it away. The words apply
//! left to right, starting from nothing, or from `all` when the first word is a negation: so
//! `^fw` is everything but file writes, and `file,^fd` is every file event but deletions.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use warden_core::{FileAction, NetAction};

/// An event kind: its class and, within it, its action (`("file", "rename")`).
pub type Kind = (&'static str, &'static str);

/// Classes whose only action is the class itself.
const SINGLE_ACTION_CLASSES: [&str; 4] = ["exec", "fork", "exit", "loss"];

/// The BSM file classes and what they mean, for help and error texts.
const BSM_FILE_CLASSES: [(&str, &str); 5] = [
    ("fr", "read"),
    ("fw", "write"),
    ("fc", "create"),
    ("fd", "delete"),
    ("fm", "attribute change"),
];

/// Every kind of event Warden records.
fn every_kind() -> BTreeSet<Kind> {
    let single = SINGLE_ACTION_CLASSES.iter().map(|&c| (c, c));
    let network = NetAction::ALL.iter().map(|a| ("network", a.name()));
    let file = FileAction::ALL.iter().map(|a| ("file", a.name()));
    single.chain(network).chain(file).collect()
}

/// The kinds one class word names, or `None` for a word that names none.
fn kinds_named(word: &str) -> Option<BTreeSet<Kind>> {
    let of_class = |class: &str| -> BTreeSet<Kind> {
        every_kind()
            .into_iter()
            .filter(|(c, _)| *c == class)
            .collect()
    };
    let kinds = match word {
        "all" => every_kind(),
        "ex" => of_class("exec"),
        "pc" | "process" => ["exec", "fork", "exit"]
            .into_iter()
            .flat_map(of_class)
            .collect(),
        "nt" => of_class("network"),
        "dns" => BTreeSet::from([
            ("network", NetAction::DnsQuery.name()),
            ("network", NetAction::DnsAnswer.name()),
        ]),
        "tls" => BTreeSet::from([
            ("network", NetAction::TlsHello.name()),
            ("network", NetAction::TlsHelloReceived.name()),
            ("network", NetAction::TlsServerHello.name()),
            ("network", NetAction::TlsServerHelloSent.name()),
        ]),
        "ssh" => BTreeSet::from([
            ("network", NetAction::SshHello.name()),
            ("network", NetAction::SshHelloReceived.name()),
            ("network", NetAction::SshServerHello.name()),
            ("network", NetAction::SshServerHelloSent.name()),
        ]),
        "http" => BTreeSet::from([
            ("network", NetAction::HttpRequest.name()),
            ("network", NetAction::HttpRequestReceived.name()),
            ("network", NetAction::HttpResponse.name()),
            ("network", NetAction::HttpResponseSent.name()),
        ]),
        "exec" | "fork" | "exit" | "loss" | "network" | "file" => of_class(word),
        code if BSM_FILE_CLASSES.iter().any(|(c, _)| *c == code) => FileAction::ALL
            .iter()
            .filter(|a| a.bsm_classes().contains(&code))
            .map(|a| ("file", a.name()))
            .collect(),
        action => {
            if let Some(a) = NetAction::from_name(action) {
                BTreeSet::from([("network", a.name())])
            } else {
                BTreeSet::from([("file", FileAction::from_name(action)?.name())])
            }
        }
    };
    Some(kinds)
}

/// What an unknown class word is told.
fn valid_class_words() -> String {
    let bsm: Vec<String> = BSM_FILE_CLASSES
        .iter()
        .map(|(code, meaning)| format!("{code} ({meaning})"))
        .collect();
    let net: Vec<&str> = NetAction::ALL.iter().map(|a| a.name()).collect();
    let file: Vec<&str> = FileAction::ALL.iter().map(|a| a.name()).collect();
    format!(
        "use all, exec (ex), fork, exit, process (pc), network (nt), dns, tls, http, ssh, file, \
         loss; \
         the BSM file classes {}; a network action ({}) or a file action ({}); \
         prefix one with ^ to exclude it",
        bsm.join(", "),
        net.join(", "),
        file.join(", ")
    )
}

/// One `--class` word: the kinds it names, and whether it takes them away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassTerm {
    pub exclude: bool,
    pub kinds: BTreeSet<Kind>,
}

impl FromStr for ClassTerm {
    type Err = String;

    fn from_str(text: &str) -> Result<ClassTerm, String> {
        let word = text.trim().to_ascii_lowercase();
        let (exclude, name) = match word.strip_prefix(['^', '!']) {
            Some(name) => (true, name),
            None => (false, word.as_str()),
        };
        if name.is_empty() {
            return Err(format!("empty event class: {}", valid_class_words()));
        }
        let kinds = kinds_named(name)
            .ok_or_else(|| format!("unknown event class {name:?}: {}", valid_class_words()))?;
        Ok(ClassTerm { exclude, kinds })
    }
}

/// The kinds a list of `--class` words selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassSelector {
    kinds: BTreeSet<Kind>,
}

impl ClassSelector {
    /// Applies `terms` left to right; no terms at all select everything.
    pub fn new(terms: &[ClassTerm]) -> ClassSelector {
        let mut kinds = match terms.first() {
            Some(first) if !first.exclude => BTreeSet::new(),
            _ => every_kind(),
        };
        for term in terms {
            if term.exclude {
                kinds.retain(|k| !term.kinds.contains(k));
            } else {
                kinds.extend(term.kinds.iter().copied());
            }
        }
        ClassSelector { kinds }
    }

    #[cfg(test)]
    pub fn contains(&self, class: &str, action: &str) -> bool {
        self.kinds.iter().any(|&(c, a)| c == class && a == action)
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The selection as the store filter's `kinds`: a whole class as `(class, None)` (so that
    /// actions this build does not know, written by a newer agent, still count), part of one
    /// as its actions; nothing at all when everything is selected.
    pub fn filter_kinds(&self) -> Vec<(String, Option<String>)> {
        let every = every_kind();
        if self.kinds == every {
            return Vec::new();
        }
        let classes: BTreeSet<&str> = self.kinds.iter().map(|&(c, _)| c).collect();
        let mut out = Vec::new();
        for class in classes {
            let in_class = |set: &BTreeSet<Kind>| -> Vec<&'static str> {
                set.iter()
                    .filter(|(c, _)| *c == class)
                    .map(|&(_, a)| a)
                    .collect()
            };
            let selected = in_class(&self.kinds);
            if selected == in_class(&every) {
                out.push((class.to_string(), None));
            } else {
                out.extend(
                    selected
                        .into_iter()
                        .map(|a| (class.to_string(), Some(a.to_string()))),
                );
            }
        }
        out
    }
}

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or one address (`10.1.2.3` = `/32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl FromStr for IpNetwork {
    type Err = String;

    fn from_str(text: &str) -> Result<IpNetwork, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            format!("{text:?} is not an address or CIDR range (10.0.0.0/8, 2001:db8::/32, ::1)")
        })?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpNetwork {
            address,
            prefix_len,
        })
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(words: &[&str]) -> ClassSelector {
        let terms: Vec<ClassTerm> = words.iter().map(|w| w.parse().unwrap()).collect();
        ClassSelector::new(&terms)
    }

    #[test]
    fn names_and_bsm_codes_select_their_kinds() {
        assert_eq!(
            select(&["ex"]).filter_kinds(),
            vec![("exec".to_string(), None)]
        );
        assert_eq!(select(&["pc"]), select(&["exec", "fork", "exit"]));
        assert_eq!(select(&["nt"]), select(&["network"]));
        assert_eq!(select(&["dns"]), select(&["dns_query", "dns_answer"]));
        assert!(select(&["nt", "^dns"]).contains("network", "connect"));
        assert!(!select(&["nt", "^dns"]).contains("network", "dns_answer"));
        assert_eq!(
            select(&["tls", "http"]),
            select(&[
                "tls_hello",
                "http_request",
                "tls_hello_received",
                "http_request_received",
                "tls_server_hello",
                "http_response",
                "tls_server_hello_sent",
                "http_response_sent",
            ])
        );
        assert!(select(&["ssh"]).contains("network", "ssh_server_hello_sent"));
        assert!(!select(&["tls"]).contains("network", "ssh_server_hello"));
        assert!(!select(&["nt", "^tls"]).contains("network", "tls_hello"));
        assert!(!select(&["nt", "^tls"]).contains("network", "tls_hello_received"));
        assert!(select(&["nt", "^tls"]).contains("network", "http_request"));
        let fc = select(&["fc"]);
        for action in ["create", "link", "symlink", "rename"] {
            assert!(fc.contains("file", action), "{action}");
        }
        assert!(!fc.contains("file", "delete"));
        assert!(select(&["fd"]).contains("file", "rename"));
        assert!(select(&["fm"]).contains("file", "chmod"));
        assert!(select(&["fr"]).contains("file", "read"));
        assert_eq!(
            select(&["connect", "rename"]).filter_kinds(),
            vec![
                ("file".to_string(), Some("rename".to_string())),
                ("network".to_string(), Some("connect".to_string())),
            ]
        );
        assert_eq!(select(&["all"]).filter_kinds(), vec![]);
        assert_eq!(select(&[]).filter_kinds(), vec![]);
        // Case and spaces as users type them.
        assert_eq!(select(&[" NT "]), select(&["nt"]));
    }

    #[test]
    fn words_combine_and_negate_left_to_right() {
        let nt_fw = select(&["nt", "fw"]);
        assert!(nt_fw.contains("network", "accept"));
        assert!(nt_fw.contains("file", "modify"));
        assert!(!nt_fw.contains("file", "rename"));
        assert!(!nt_fw.contains("exec", "exec"));
        // A leading negation starts from everything.
        let not_fw = select(&["^fw"]);
        assert!(not_fw.contains("exec", "exec"));
        assert!(not_fw.contains("file", "rename"));
        assert!(!not_fw.contains("file", "close_write"));
        assert_eq!(select(&["!fw"]), not_fw);
        let file_not_fd = select(&["file", "^fd"]);
        assert!(file_not_fd.contains("file", "create"));
        assert!(!file_not_fd.contains("file", "rename"));
        assert!(!file_not_fd.contains("network", "connect"));
        assert!(select(&["nt", "^nt"]).is_empty());
        assert_eq!(
            select(&["^all", "nt"]).filter_kinds(),
            vec![("network".to_string(), None)]
        );
    }

    #[test]
    fn unknown_words_list_the_valid_ones() {
        let err = "xx".parse::<ClassTerm>().unwrap_err();
        assert!(err.contains("unknown event class \"xx\""), "{err}");
        for valid in ["exec (ex)", "nt", "fw (write)", "connect", "rename", "^"] {
            assert!(err.contains(valid), "{err}");
        }
        assert!("^".parse::<ClassTerm>().is_err());
        assert!("".parse::<ClassTerm>().is_err());
    }

    #[test]
    fn networks_parse_v4_v6_and_bare_addresses() {
        let net = |s: &str| s.parse::<IpNetwork>();
        assert_eq!(net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(net("10.1.2.3").unwrap().prefix_len, 32);
        assert_eq!(net("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert_eq!(net("::1").unwrap().prefix_len, 128);
        assert!(net("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(net("::/129").is_err());
        assert!(net("example.com").unwrap_err().contains("not an address"));
        assert!(net("10.0.0.0/x").is_err());
    }
}
