//! `deb_package_files`: the files dpkg installed for each package, from
//! `<admindir>/info/<package>[:<arch>].list`.

use std::path::Path;

use super::deb_packages::{admindirs, read_database};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let wanted = ctx.equal_texts("package");
    for admindir in admindirs(ctx) {
        let info = Path::new(&admindir).join("info");
        let mut seen = std::collections::BTreeSet::new();
        for p in read_database(Path::new(&admindir)) {
            if wanted.as_ref().is_some_and(|w| !w.contains(&p.name)) {
                continue;
            }
            // Multi-Arch: same packages keep their list under "<name>:<arch>.list".
            let qualified = info.join(format!("{}:{}.list", p.name, p.arch));
            let plain = info.join(format!("{}.list", p.name));
            let list = if qualified.is_file() {
                qualified
            } else {
                plain
            };
            if !seen.insert(list.clone()) {
                continue;
            }
            let Ok(text) = std::fs::read(&list) else {
                continue;
            };
            for path in parse_list(&String::from_utf8_lossy(&text)) {
                rows.push()
                    .set("package", p.name.as_str())
                    .set("path", path)
                    .set("admindir", admindir.as_str());
            }
        }
    }
    Ok(())
}

/// The paths of a dpkg `.list` file, one per line, empty lines skipped.
fn parse_list(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines_are_paths() {
        let paths: Vec<_> = parse_list("/.\n/usr\n\n/usr/bin/bash\n").collect();
        assert_eq!(paths, vec!["/.", "/usr", "/usr/bin/bash"]);
    }
}
