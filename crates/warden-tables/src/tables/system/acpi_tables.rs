//! `acpi_tables`: the firmware's ACPI tables from /sys/firmware/acpi/tables (root only), with
//! their sizes and MD5 digests. Tables in subdirectories (dynamic SSDTs, data) are included.

use std::path::Path;

use crate::{QueryContext, Rows, TableError};

const ACPI_TABLES: &str = "/sys/firmware/acpi/tables";

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    walk(Path::new(ACPI_TABLES), rows, 0);
    Ok(())
}

fn walk(dir: &Path, rows: &mut Rows, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if depth < 4 {
                walk(&path, rows, depth + 1);
            }
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut row = rows.push();
        row.set("name", name);
        match std::fs::read(&path) {
            Ok(data) => {
                row.set("size", data.len())
                    .set("md5", super::util::md5_hex(&data));
            }
            Err(_) => {
                row.set("size", -1);
            }
        }
    }
}
