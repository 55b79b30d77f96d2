//! Parser for utmp/wtmp login records (glibc's `struct utmpx` on 64-bit Linux), shared by
//! `logged_in_users` (/var/run/utmp) and `last` (/var/log/wtmp).

/// Size of one record: `struct utmpx` on x86_64/aarch64 glibc.
pub(crate) const RECORD_SIZE: usize = 384;

// Field offsets inside a record.
const TYPE: usize = 0; // i16 (then 2 bytes padding)
const PID: usize = 4; // i32
const LINE: usize = 8; // [u8; 32]
const USER: usize = 44; // [u8; 32] (after id[4] at 40)
const HOST: usize = 76; // [u8; 256]
const TV_SEC: usize = 340; // i32 (after exit at 332 and session at 336)

pub(crate) const EMPTY: i16 = 0;
pub(crate) const RUN_LVL: i16 = 1;
pub(crate) const BOOT_TIME: i16 = 2;
pub(crate) const NEW_TIME: i16 = 3;
pub(crate) const OLD_TIME: i16 = 4;
pub(crate) const INIT_PROCESS: i16 = 5;
pub(crate) const LOGIN_PROCESS: i16 = 6;
pub(crate) const USER_PROCESS: i16 = 7;
pub(crate) const DEAD_PROCESS: i16 = 8;
pub(crate) const ACCOUNTING: i16 = 9;

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Utmp {
    pub kind: i16,
    pub pid: i32,
    pub line: String,
    pub user: String,
    pub host: String,
    pub time: i32,
}

/// Decodes every whole record of a utmp/wtmp file; a truncated tail is ignored.
pub(crate) fn parse(bytes: &[u8]) -> Vec<Utmp> {
    bytes.chunks_exact(RECORD_SIZE).map(parse_record).collect()
}

fn parse_record(r: &[u8]) -> Utmp {
    Utmp {
        kind: i16::from_ne_bytes([r[TYPE], r[TYPE + 1]]),
        pid: read_i32(r, PID),
        line: read_str(&r[LINE..LINE + 32]),
        user: read_str(&r[USER..USER + 32]),
        host: read_str(&r[HOST..HOST + 256]),
        time: read_i32(r, TV_SEC),
    }
}

fn read_i32(r: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]])
}

/// A fixed-size C string field: up to the first NUL, or the whole field when it is full.
fn read_str(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Reads and decodes a utmp-format file; a missing or unreadable file has no records.
pub(crate) fn read(path: &str) -> Vec<Utmp> {
    std::fs::read(path).map(|b| parse(&b)).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    /// Builds one record the way glibc lays it out, for tests.
    pub(crate) fn record(
        kind: i16,
        pid: i32,
        line: &str,
        user: &str,
        host: &str,
        sec: i32,
    ) -> Vec<u8> {
        let mut r = vec![0u8; RECORD_SIZE];
        r[TYPE..TYPE + 2].copy_from_slice(&kind.to_ne_bytes());
        r[PID..PID + 4].copy_from_slice(&pid.to_ne_bytes());
        r[LINE..LINE + line.len()].copy_from_slice(line.as_bytes());
        r[40..44].copy_from_slice(b"ts/0");
        r[USER..USER + user.len()].copy_from_slice(user.as_bytes());
        r[HOST..HOST + host.len()].copy_from_slice(host.as_bytes());
        r[TV_SEC..TV_SEC + 4].copy_from_slice(&sec.to_ne_bytes());
        r[344..348].copy_from_slice(&123_456_i32.to_ne_bytes()); // tv_usec
        r[348..352].copy_from_slice(&[127, 0, 0, 1]); // addr_v6[0]
        r
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::record;
    use super::*;

    #[test]
    fn records_decode_field_by_field() {
        let mut bytes = record(
            USER_PROCESS,
            4242,
            "pts/0",
            "alice",
            "10.0.0.5",
            1_700_000_000,
        );
        bytes.extend(record(BOOT_TIME, 0, "~", "reboot", "6.18.0", 1_600_000_000));
        bytes.extend([1, 2, 3]); // truncated tail
        let got = parse(&bytes);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            Utmp {
                kind: USER_PROCESS,
                pid: 4242,
                line: "pts/0".into(),
                user: "alice".into(),
                host: "10.0.0.5".into(),
                time: 1_700_000_000,
            }
        );
        assert_eq!(got[1].kind, BOOT_TIME);
        assert_eq!(got[1].user, "reboot");
    }

    #[test]
    fn a_full_field_without_nul_is_kept_whole() {
        let name = "u".repeat(32);
        let got = parse(&record(USER_PROCESS, 1, "tty1", &name, "", 5));
        assert_eq!(got[0].user, name);
        assert_eq!(got[0].line, "tty1");
    }

    #[test]
    fn the_layout_matches_what_utmpdump_reads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wtmp");
        std::fs::write(
            &file,
            record(
                USER_PROCESS,
                4242,
                "pts/0",
                "alice",
                "10.0.0.5",
                1_700_000_000,
            ),
        )
        .unwrap();
        // util-linux's own reader of the format; skip the cross-check where it is not installed.
        let Ok(out) = std::process::Command::new("utmpdump")
            .arg(&file)
            .env("TZ", "UTC")
            .output()
        else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("[7] [04242] [ts/0] [alice"), "{text}");
        assert!(text.contains("[pts/0"), "{text}");
        assert!(text.contains("[10.0.0.5"), "{text}");
        assert!(text.contains("[127.0.0.1"), "{text}");
        assert!(text.contains("2023-11-14T22:13:20,123456"), "{text}");
    }
}
