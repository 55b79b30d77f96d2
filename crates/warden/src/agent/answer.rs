//! A server's answer, read from the first bytes it sent over a connection: a TLS ServerHello
//! (the version, cipher and protocol it chose, and its JA3S), an HTTP response's head (its
//! status, what it sent and where it sent the client on), an SSH server's identification, or
//! the greeting of a server that speaks first (SMTP, FTP, POP3, IMAP).
//! The eBPF side records them received on connections a connect made here (what a server
//! answered curl) and sent on connections accepted here (what a server here answered).
//!
//! As in `opening.rs`, the bytes are a prefix that may stop anywhere and that a hostile server
//! may have filled with anything: every read is bounds-checked, no length field is trusted
//! past the bytes, and nothing here does IO. JA3S is Salesforce's (BSD-licensed): the MD5 of
//! "SSLVersion,Cipher,Extensions", the hello's legacy version, its cipher suite and its
//! extensions' types in the order sent, in decimal.

use md5::{Digest, Md5};
use warden_core::{HttpResponse, ServerBanner, SshHello, TlsServerHello};

use super::opening::{
    CONTENT_TYPE_HANDSHAKE, EXT_ALPN, EXT_SUPPORTED_VERSIONS, MAX_ALPN_NAME_BYTES,
    MAX_HTTP_TEXT_BYTES, MAX_RECORD_FRAGMENT, MAX_SESSION_ID_LEN, RANDOM_LEN, RECORD_VERSION_MAJOR,
    Reader, decimal_list, header_fields, lowercase_hex, split_line, text_capped, version_text,
};
use super::ssh::{Side, read_identification};

/// What a server's first bytes were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Tls(TlsServerHello),
    Http(HttpResponse),
    Ssh(SshHello),
    Banner(ServerBanner),
}

/// The server's first bytes `bytes` (cut from longer ones when `cut`): None when they are none
/// of a ServerHello, an HTTP/1 response head, an SSH identification or a greeting.
pub fn read(bytes: &[u8], cut: bool) -> Option<Answer> {
    if let Some(hello) = read_server_hello(bytes) {
        return Some(Answer::Tls(hello));
    }
    if let Some(hello) = read_identification(bytes, cut, Side::Server) {
        return Some(Answer::Ssh(hello));
    }
    if let Some(response) = read_http_response(bytes) {
        return Some(Answer::Http(response));
    }
    read_banner(bytes).map(Answer::Banner)
}

/// The greetings of servers that speak first, as their first bytes begin: SMTP's and FTP's
/// (`220-` when it runs over several lines), POP3's, IMAP's.
const GREETINGS: [&[u8]; 4] = [b"220 ", b"220-", b"+OK ", b"* OK "];
/// The most of a greeting's first line kept (SMTP allows 512 bytes a line, RFC 5321 §4.5.3.1).
const MAX_BANNER: usize = 512;

/// The first line of the greeting `bytes` begin with, without its line end (the bytes up to
/// MAX_BANNER when no line end comes by then), and the protocol it tells; None when they begin
/// no greeting or the line holds control bytes (not text).
fn read_banner(bytes: &[u8]) -> Option<ServerBanner> {
    if !GREETINGS.iter().any(|greeting| bytes.starts_with(greeting)) {
        return None;
    }
    let line = split_line(bytes).map_or(bytes, |(line, _)| line);
    let line = line.get(..MAX_BANNER).unwrap_or(line);
    if line.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return None;
    }
    let says = |word: &[u8]| {
        line.windows(word.len())
            .any(|at| at.eq_ignore_ascii_case(word))
    };
    let protocol = match line.first() {
        Some(b'+') => Some("pop3"),
        Some(b'*') => Some("imap"),
        _ if says(b"SMTP") => Some("smtp"),
        _ if says(b"FTP") => Some("ftp"),
        _ => None,
    };
    Some(ServerBanner {
        line: text_capped(line, MAX_BANNER),
        protocol: protocol.map(str::to_owned),
    })
}

/// Handshake message type of a ServerHello.
const HANDSHAKE_SERVER_HELLO: u8 = 2;

/// The ServerHello that `bytes` begin with: a handshake record (type 22, version 3.x, at most
/// TLS's 16 KiB) whose first message is a ServerHello held whole in the bytes (it is short:
/// ~90 to 130 bytes, so one that is not whole is not read at all). Its extensions are
/// optional (a TLS 1.2 server may send none).
fn read_server_hello(bytes: &[u8]) -> Option<TlsServerHello> {
    let mut record = Reader::new(bytes);
    if record.u8()? != CONTENT_TYPE_HANDSHAKE || record.u8()? != RECORD_VERSION_MAJOR {
        return None;
    }
    record.u8()?;
    let fragment_len = usize::from(record.u16()?);
    if fragment_len > MAX_RECORD_FRAGMENT {
        return None;
    }
    if record.u8()? != HANDSHAKE_SERVER_HELLO {
        return None;
    }
    let body_len = record.u24()?;
    let mut hello = Reader::new(record.take(body_len)?);
    let legacy_version = hello.u16()?;
    hello.take(RANDOM_LEN)?;
    if hello.u8_prefixed()?.len() > MAX_SESSION_ID_LEN {
        return None;
    }
    let cipher = hello.u16()?;
    hello.u8()?;
    let mut extensions = Vec::new();
    let mut version = legacy_version;
    let mut alpn = None;
    if !hello.is_empty() {
        let mut block = Reader::new(hello.u16_prefixed()?);
        while !block.is_empty() {
            let kind = block.u16()?;
            let data = block.u16_prefixed()?;
            extensions.push(kind);
            match kind {
                EXT_SUPPORTED_VERSIONS => version = Reader::new(data).u16()?,
                EXT_ALPN => {
                    let mut list = Reader::new(Reader::new(data).u16_prefixed()?);
                    let name = list.u8_prefixed()?;
                    alpn = Some(text_capped(name, MAX_ALPN_NAME_BYTES));
                }
                _ => {}
            }
        }
    }
    let ja3s_text = format!("{legacy_version},{cipher},{}", decimal_list(&extensions));
    Some(TlsServerHello {
        version: version_text(version),
        cipher,
        alpn,
        ja3s: lowercase_hex(&Md5::digest(ja3s_text.as_bytes())),
        ja3s_text,
    })
}

/// The HTTP/1 response head at the start of `bytes`: None unless they begin with a whole
/// status line `HTTP/1.x SP 3DIGIT [SP reason]`. The head's `Content-Type`, `Content-Length`,
/// `Location` and `Server` are the first of each among its whole lines before the blank one;
/// it is marked cut unless that blank line is in the bytes (whether or not they were `cut`
/// after it, in the body).
fn read_http_response(bytes: &[u8]) -> Option<HttpResponse> {
    if !bytes.starts_with(b"HTTP/1.") {
        return None;
    }
    let (line, rest) = split_line(bytes)?;
    let (version, after) = line.split_at_checked(8)?;
    let minor = *version.last()?;
    if !minor.is_ascii_digit() {
        return None;
    }
    let after = after.strip_prefix(b" ")?;
    let (code, reason) = after.split_at_checked(3)?;
    if !code.iter().all(u8::is_ascii_digit) || !(reason.is_empty() || reason[0] == b' ') {
        return None;
    }
    let status = std::str::from_utf8(code).ok()?.parse().ok()?;
    let mut response = HttpResponse {
        version: format!("1.{}", char::from(minor)),
        status,
        reason: text_capped(reason.trim_ascii(), MAX_HTTP_TEXT_BYTES),
        content_type: None,
        content_length: None,
        location: None,
        server: None,
        cut: false,
    };
    let whole = header_fields(rest, |name, value| {
        let text = || Some(text_capped(value, MAX_HTTP_TEXT_BYTES));
        if name.eq_ignore_ascii_case(b"content-type") && response.content_type.is_none() {
            response.content_type = text();
        } else if name.eq_ignore_ascii_case(b"content-length") && response.content_length.is_none()
        {
            response.content_length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"location") && response.location.is_none() {
            response.location = text();
        } else if name.eq_ignore_ascii_case(b"server") && response.server.is_none() {
            response.server = text();
        }
    });
    // The head is whole when its blank line is in the bytes: what was cut after it is the
    // body's.
    response.cut = !whole;
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first record of OpenSSL 3's answer to a TLS 1.3 client offering h2 and http/1.1,
    /// made with Python's `ssl` over memory BIOs: a ServerHello with supported_versions and
    /// key_share only (TLS 1.3 sends its ALPN choice encrypted, after it).
    const TLS13_HELLO: &str = "\
        160303007a020000760303f11c334bbe09d94169fa27b1040725d0dc3facac1e071b97c217a8a3da4ba6d4\
        2073789640374ed3e9fbb94f413d1e26c00dfef2f4de53a77477343d168d655b91130200002e002b000203\
        0400330024001d002010ebea8ce6c61bd221daeaea2b8ea1255ac70ec019b1921acf9e9035ac3a6a00";

    /// The same server's ServerHello to a TLS 1.2 client (which then said it had chosen
    /// ECDHE-ECDSA-AES256-GCM-SHA384 and http/1.1): renegotiation_info, ec_point_formats,
    /// session_ticket, ALPN and extended_master_secret.
    const TLS12_HELLO: &str = "\
        16030300500200004c030387ce8d5d9388b24b3aacbdae61633a8a8bedd3b75ca06d0f444f574e47524401\
        00c02c000024ff01000100000b000403000102002300000010000b000908687474702f312e3100170000";

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn tls(hex: &str) -> TlsServerHello {
        match read(&bytes(hex), false) {
            Some(Answer::Tls(hello)) => hello,
            other => panic!("not a ServerHello: {other:?}"),
        }
    }

    /// The version from supported_versions, the cipher, and JA3S over the legacy version, the
    /// cipher and the extensions in the order sent (md5 of the text, as `md5sum` gives it).
    #[test]
    fn a_tls13_server_hello_names_its_choice_and_ja3s() {
        let hello = tls(TLS13_HELLO);
        assert_eq!(hello.version, "1.3");
        assert_eq!(hello.cipher, 0x1302);
        assert_eq!(hello.alpn, None);
        assert_eq!(hello.ja3s_text, "771,4866,43-51");
        // printf '771,4866,43-51' | md5sum
        assert_eq!(hello.ja3s, "15af977ce25de452b96affa2addb1036");
    }

    #[test]
    fn a_tls12_server_hello_names_its_protocol() {
        let hello = tls(TLS12_HELLO);
        assert_eq!(hello.version, "1.2");
        assert_eq!(hello.cipher, 0xc02c);
        assert_eq!(hello.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(hello.ja3s_text, "771,49196,65281-11-35-16-23");
    }

    /// A hello cut anywhere, or one whose lengths lie, is no answer (and no panic); a
    /// ClientHello is not a ServerHello.
    #[test]
    fn a_cut_or_lying_server_hello_is_not_read() {
        let whole = bytes(TLS12_HELLO);
        for end in 0..whole.len() {
            assert_eq!(read(&whole[..end], true), None, "cut at {end}");
        }
        let mut lying = whole.clone();
        lying[43] = 0xff; // the session id's length
        assert_eq!(read(&lying, false), None);
        let mut client = whole.clone();
        client[5] = 1;
        assert_eq!(read(&client, false), None);
    }

    #[test]
    fn an_http_response_head_is_read() {
        let head = b"HTTP/1.1 302 Found\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\
                     Content-Length: 145\r\nLocation: http://stage2.example/x.sh\r\n\
                     location: http://ignored.example/\r\n\r\n<html>";
        let Some(Answer::Http(response)) = read(head, true) else {
            panic!("not a response");
        };
        assert_eq!(
            response,
            HttpResponse {
                version: "1.1".into(),
                status: 302,
                reason: "Found".into(),
                content_type: Some("text/html".into()),
                content_length: Some(145),
                location: Some("http://stage2.example/x.sh".into()),
                server: Some("nginx/1.22.1".into()),
                cut: false,
            }
        );
        // No reason, and the head not whole: what is whole is kept, and it is said to be cut.
        let Some(Answer::Http(bare)) = read(b"HTTP/1.0 200\r\nContent-Length: 9\r\nServ", true)
        else {
            panic!("not a response");
        };
        assert_eq!(
            (bare.version.as_str(), bare.status, bare.reason.as_str()),
            ("1.0", 200, "")
        );
        assert_eq!(
            (bare.content_length, bare.server, bare.cut),
            (Some(9), None, true)
        );
        for not in [
            &b"HTTP/2 200\r\n"[..],
            b"HTTP/1.1 20 OK\r\n",
            b"HTTP/1.1 2000 OK\r\n",
            b"HTTP/1.1 200 OK",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert_eq!(read(not, false), None, "{not:?}");
        }
    }

    /// A greeting's first line, of each kind; a greeting of several lines gives its first; not
    /// a line of binary bytes, nor one that only looks like a greeting's start.
    #[test]
    fn a_servers_greeting_is_read() {
        let banner = |bytes: &[u8]| match read(bytes, false) {
            Some(Answer::Banner(banner)) => Some(banner.line),
            _ => None,
        };
        let protocol = |bytes: &[u8]| match read(bytes, false) {
            Some(Answer::Banner(banner)) => banner.protocol,
            _ => None,
        };
        assert_eq!(protocol(b"220 mx ESMTP\r\n").as_deref(), Some("smtp"));
        assert_eq!(protocol(b"220 (vsFTPd 3.0.3)\r\n").as_deref(), Some("ftp"));
        assert_eq!(protocol(b"+OK ready\r\n").as_deref(), Some("pop3"));
        assert_eq!(protocol(b"* OK ready\r\n").as_deref(), Some("imap"));
        assert_eq!(protocol(b"220 welcome\r\n"), None);
        assert_eq!(
            banner(b"220 mx.example ESMTP Postfix (Debian/GNU)\r\n").as_deref(),
            Some("220 mx.example ESMTP Postfix (Debian/GNU)")
        );
        assert_eq!(
            banner(b"220-ftp.example FTP server (vsftpd 3.0.3)\r\n220-welcome\r\n220 \r\n")
                .as_deref(),
            Some("220-ftp.example FTP server (vsftpd 3.0.3)")
        );
        assert_eq!(
            banner(b"+OK Dovecot ready.\r\n").as_deref(),
            Some("+OK Dovecot ready.")
        );
        assert_eq!(
            banner(b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n").as_deref(),
            Some("* OK [CAPABILITY IMAP4rev1] Dovecot ready.")
        );
        // No line end within the bytes: what there is, up to 512 bytes.
        let long = [&b"220 "[..], &[b'x'; 600]].concat();
        assert_eq!(banner(&long).map(|line| line.len()), Some(MAX_BANNER));
        for not in [
            &b"220 \x00\x01binary\r\n"[..],
            b"2200 not a greeting\r\n",
            b"+OKAY\r\n",
            b"* OKAY\r\n",
        ] {
            assert_eq!(banner(not), None, "{not:?}");
        }
    }

    /// An SSH server's line; its KEXINIT in the same segment is hashed over the
    /// server-to-client lists (HASSHServer), not the client's.
    #[test]
    fn an_ssh_server_line_is_read_with_its_own_lists() {
        let lists = [
            "kex",
            "host",
            "c2s-cipher",
            "s2c-cipher",
            "c2s-mac",
            "s2c-mac",
            "c2s-z",
            "s2c-z",
        ];
        let mut payload = vec![20u8];
        payload.extend([0u8; 16]);
        for list in lists.iter().chain(&["", ""]) {
            payload.extend((list.len() as u32).to_be_bytes());
            payload.extend(list.as_bytes());
        }
        payload.extend([0u8; 5]);
        let padding = 4u8;
        let mut packet = ((payload.len() + 1 + usize::from(padding)) as u32)
            .to_be_bytes()
            .to_vec();
        packet.push(padding);
        packet.extend(&payload);
        packet.extend([0u8; 4]);
        let mut bytes = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec();
        bytes.extend(&packet);
        let Some(Answer::Ssh(hello)) = read(&bytes, false) else {
            panic!("not an SSH line");
        };
        assert_eq!(hello.software, "OpenSSH_9.2p1");
        assert_eq!(
            hello.hassh_algorithms.as_deref(),
            Some("kex;s2c-cipher;s2c-mac;s2c-z")
        );
    }
}
