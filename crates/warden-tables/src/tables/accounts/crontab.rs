//! `crontab`: jobs from /etc/crontab, /etc/cron.d/* and the per-user spools
//! (/var/spool/cron/*, /var/spool/cron/crontabs/*), one row per schedule line.

use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

const SYSTEM_CRONTAB: &str = "/etc/crontab";

/// Directories whose files are crontabs, as osquery lists them.
const CRON_DIRS: &[&str] = &[
    "/etc/cron.d/",
    "/var/at/tabs/",
    "/var/spool/cron/",
    "/var/spool/cron/crontabs/",
];

/// One job line. The system files' user field is not split off: osquery keeps it as the first
/// word of `command`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Job {
    event: String,
    minute: String,
    hour: String,
    day_of_month: String,
    month: String,
    day_of_week: String,
    command: String,
}

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for file in crontab_files() {
        emit_file(&file, rows);
    }
    Ok(())
}

fn crontab_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from(SYSTEM_CRONTAB)];
    for dir in CRON_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

fn emit_file(path: &Path, rows: &mut Rows) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let name = path.to_string_lossy();
    for job in parse_crontab(&String::from_utf8_lossy(&bytes)) {
        rows.push()
            .set("event", job.event)
            .set("minute", job.minute)
            .set("hour", job.hour)
            .set("day_of_month", job.day_of_month)
            .set("month", job.month)
            .set("day_of_week", job.day_of_week)
            .set("command", job.command)
            .set("path", name.as_ref())
            .set("pid_with_namespace", 0);
    }
}

/// Parses crontab text: five time fields then the command, or an `@event` (`@reboot`,
/// `@daily`, …) then the command. Blank lines, comments and lines without a command (such as
/// `SHELL=/bin/sh` variable settings) are skipped. Words are split on spaces and tabs and the
/// command's words re-joined with single spaces, as osquery does.
fn parse_crontab(text: &str) -> Vec<Job> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        let mut job = Job::default();
        let first = words.next().unwrap_or("");
        if first.starts_with('@') {
            job.event = first.to_string();
        } else {
            job.minute = first.to_string();
            let fields = [
                &mut job.hour,
                &mut job.day_of_month,
                &mut job.month,
                &mut job.day_of_week,
            ];
            for field in fields {
                if let Some(w) = words.next() {
                    *field = w.to_string();
                }
            }
        }
        job.command = words.collect::<Vec<_>>().join(" ");
        if !job.command.is_empty() {
            out.push(job);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_lines_events_and_variables() {
        let text = "SHELL=/bin/sh\nPATH=/usr/bin:/bin\n# m h dom mon dow user command\n\
            17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n\
            @reboot root /usr/local/bin/start.sh  --now\n\
            MAILTO = root\n\
            */5 * * *\n";
        let got = parse_crontab(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].minute, "17");
        assert_eq!(got[0].hour, "*");
        assert_eq!(got[0].day_of_week, "*");
        assert_eq!(
            got[0].command,
            "root cd / && run-parts --report /etc/cron.hourly"
        );
        assert_eq!(got[1].event, "@reboot");
        assert_eq!(got[1].minute, "");
        assert_eq!(got[1].command, "root /usr/local/bin/start.sh --now");
    }
}
