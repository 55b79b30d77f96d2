//! `secureboot`: UEFI Secure Boot and Setup Mode state from the EFI variables in
//! /sys/firmware/efi/efivars (no rows on BIOS machines).

use std::path::Path;

use crate::{QueryContext, Rows, TableError};

const EFIVARS: &str = "/sys/firmware/efi/efivars";
const GLOBAL_GUID: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    if !Path::new("/sys/firmware/efi").is_dir() {
        return Ok(());
    }
    let read = |name: &str| {
        std::fs::read(format!("{EFIVARS}/{name}-{GLOBAL_GUID}"))
            .ok()
            .and_then(|d| efi_bool(&d))
    };
    rows.push()
        .set("secure_boot", read("SecureBoot"))
        .set("setup_mode", read("SetupMode"));
    Ok(())
}

/// An efivarfs boolean: 4 attribute bytes, then the value byte (0, 1, anything else = -1).
fn efi_bool(data: &[u8]) -> Option<i64> {
    match data.get(4)? {
        0 => Some(0),
        1 => Some(1),
        _ => Some(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efivar_booleans() {
        assert_eq!(efi_bool(&[6, 0, 0, 0, 1]), Some(1));
        assert_eq!(efi_bool(&[6, 0, 0, 0, 0]), Some(0));
        assert_eq!(efi_bool(&[6, 0, 0, 0, 7]), Some(-1));
        assert_eq!(efi_bool(&[6, 0]), None);
    }
}
