//! `rpm_packages`: the packages of the RPM database (SQLite backend, see [`super::rpm_header`]).

use super::rpm_header::*;
use crate::row::RowWriter;
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let names = ctx.equal_texts("name");
    for h in system_headers() {
        let name = h.string(TAG_NAME).unwrap_or("");
        if names.as_ref().is_some_and(|n| !n.contains(name)) {
            continue;
        }
        fill(&h, &mut rows.push());
    }
    Ok(())
}

/// One row from a header, with osquery's conventions: missing text is empty, a missing epoch
/// is NULL.
fn fill(h: &Header, row: &mut RowWriter<'_>) {
    let text = |tag| h.string(tag).unwrap_or("").to_string();
    row.set("name", text(TAG_NAME))
        .set("version", text(TAG_VERSION))
        .set("release", text(TAG_RELEASE))
        .set("source", text(TAG_SOURCERPM))
        .set("size", h.int(TAG_SIZE).or_else(|| h.int(TAG_LONGSIZE)))
        .set("sha1", text(TAG_SHA1HEADER))
        .set("arch", text(TAG_ARCH))
        .set("epoch", h.int(TAG_EPOCH))
        .set("install_time", h.int(TAG_INSTALLTIME))
        .set("vendor", text(TAG_VENDOR))
        .set("package_group", text(TAG_GROUP))
        .set("pid_with_namespace", 0);
}

#[cfg(test)]
mod tests {
    use super::super::rpm_header::build::{V, header};
    use super::*;
    use crate::row::Value;

    #[test]
    fn header_becomes_row() {
        let blob = header(&[
            (TAG_NAME, V::S("bash")),
            (TAG_VERSION, V::S("5.2.26")),
            (TAG_RELEASE, V::S("3.fc40")),
            (TAG_SOURCERPM, V::S("bash-5.2.26-3.fc40.src.rpm")),
            (TAG_SIZE, V::I32(&[8_354_520])),
            (TAG_SHA1HEADER, V::S("0a1b2c")),
            (TAG_ARCH, V::S("x86_64")),
            (TAG_INSTALLTIME, V::I32(&[1_717_000_000])),
            (TAG_VENDOR, V::S("Fedora Project")),
            (TAG_GROUP, V::I18n("Unspecified")),
        ]);
        let h = parse_header(&blob).unwrap();
        let spec = crate::spec::osquery_spec("rpm_packages").unwrap();
        let mut rows = Rows::new(spec);
        fill(&h, &mut rows.push());
        let get = |c| rows.get(0, c).unwrap().clone();
        assert_eq!(get("name"), Value::from("bash"));
        assert_eq!(get("release"), Value::from("3.fc40"));
        assert_eq!(get("size"), Value::Integer(8_354_520));
        assert_eq!(get("epoch"), Value::Null);
        assert_eq!(get("install_time"), Value::Integer(1_717_000_000));
        assert_eq!(get("package_group"), Value::from("Unspecified"));
        assert_eq!(get("sha1"), Value::from("0a1b2c"));
    }
}
