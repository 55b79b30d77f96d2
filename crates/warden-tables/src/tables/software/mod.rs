//! Tables about installed software: packages, their sources, services and browser/editor add-ons.

use crate::registry::TableDef;

mod apt_sources;
mod chrome_extension_content_scripts;
mod chrome_extensions;
mod deb822;
mod deb_package_files;
mod deb_packages;
mod firefox_addons;
mod npm_packages;
mod portage;
mod python_packages;
mod rpm_header;
mod rpm_package_files;
mod rpm_packages;
mod startup_items;
mod systemd_units;
mod unit_files;
mod vscode_extensions;
mod yum_sources;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        TableDef::osquery("apt_sources", apt_sources::generate),
        TableDef::osquery(
            "chrome_extension_content_scripts",
            chrome_extension_content_scripts::generate,
        ),
        TableDef::osquery("chrome_extensions", chrome_extensions::generate),
        TableDef::osquery("deb_package_files", deb_package_files::generate),
        TableDef::osquery("deb_packages", deb_packages::generate),
        TableDef::osquery("firefox_addons", firefox_addons::generate),
        TableDef::osquery("npm_packages", npm_packages::generate),
        TableDef::osquery("portage_keywords", portage::generate_keywords),
        TableDef::osquery("portage_packages", portage::generate_packages),
        TableDef::osquery("portage_use", portage::generate_use),
        TableDef::osquery("python_packages", python_packages::generate),
        TableDef::osquery("rpm_package_files", rpm_package_files::generate),
        TableDef::osquery("rpm_packages", rpm_packages::generate),
        TableDef::osquery("startup_items", startup_items::generate),
        TableDef::osquery("systemd_units", systemd_units::generate),
        TableDef::osquery("vscode_extensions", vscode_extensions::generate),
        TableDef::osquery("yum_sources", yum_sources::generate),
    ]
}
