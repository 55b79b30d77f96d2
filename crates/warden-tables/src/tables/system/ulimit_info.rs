//! `ulimit_info`: the resource limits (getrlimit) of the process running the query.

use crate::{QueryContext, Rows, TableError};

/// osquery's names for the Linux resources, in its (alphabetical) order.
const RESOURCES: [(&str, libc::__rlimit_resource_t); 15] = [
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for (name, resource) in RESOURCES {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(resource, &mut lim) } != 0 {
            continue;
        }
        rows.push()
            .set("type", name)
            .set("soft_limit", limit_text(lim.rlim_cur))
            .set("hard_limit", limit_text(lim.rlim_max));
    }
    Ok(())
}

fn limit_text(v: libc::rlim_t) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinity_is_unlimited() {
        assert_eq!(limit_text(libc::RLIM_INFINITY), "unlimited");
        assert_eq!(limit_text(1024), "1024");
    }
}
