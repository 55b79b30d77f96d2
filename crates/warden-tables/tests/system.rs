//! The system tables through SQL, checked against the running machine's own view: files in
//! /proc, /sys and /etc, and commands such as `uname` and `blkid`.

use rusqlite::types::Value;

fn query(sql: &str) -> Vec<Vec<Value>> {
    let conn = warden_tables::open().expect("engine opens");
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.collect::<rusqlite::Result<_>>()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Null => String::new(),
        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn one(sql: &str) -> Value {
    let rows = query(sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone()
}

fn command(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// KEY=value of /etc/os-release with quotes removed.
fn os_release(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k == key).then(|| v.trim_matches('"').to_string())
    })
}

#[test]
fn os_version_matches_os_release() {
    let rows = query("SELECT name, version, major, platform, codename, arch FROM os_version");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    if let Some(name) = os_release("NAME") {
        assert_eq!(text(&r[0]), name);
    }
    if let Some(version) = os_release("VERSION") {
        assert_eq!(text(&r[1]), version);
    }
    if let Some(id) = os_release("VERSION_ID") {
        let major: i64 = id.split('.').next().unwrap().parse().unwrap();
        assert_eq!(int(&r[2]), major);
    }
    if let Some(id) = os_release("ID") {
        assert_eq!(text(&r[3]), id);
    }
    if let Some(codename) = os_release("VERSION_CODENAME") {
        assert_eq!(text(&r[4]), codename);
    }
    assert_eq!(text(&r[5]), command("uname", &["-m"]).unwrap());
}

#[test]
fn kernel_info_matches_uname_and_cmdline() {
    let rows = query("SELECT version, arguments, path, device FROM kernel_info");
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0][0]), command("uname", &["-r"]).unwrap());
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap();
    for arg in cmdline.split_whitespace() {
        if let Some(image) = arg.strip_prefix("BOOT_IMAGE=") {
            assert_eq!(text(&rows[0][2]), image);
        } else if let Some(root) = arg.strip_prefix("root=") {
            assert_eq!(text(&rows[0][3]), root);
        } else {
            assert!(text(&rows[0][1]).split(' ').any(|a| a == arg), "{arg}");
        }
    }
}

#[test]
fn system_info_describes_this_host() {
    let rows = query(
        "SELECT computer_name, cpu_logical_cores, physical_memory, cpu_type, hostname, \
         cpu_physical_cores FROM system_info",
    );
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(text(&r[0]), command("hostname", &[]).unwrap());
    assert_eq!(
        int(&r[1]),
        command("nproc", &["--all"])
            .unwrap()
            .parse::<i64>()
            .unwrap()
    );
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: i64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    // MemTotal excludes the kernel's reserved memory; physical pages include it.
    assert!(int(&r[2]) >= total_kb * 1024, "{:?}", r[2]);
    assert_eq!(text(&r[3]), command("uname", &["-m"]).unwrap());
    assert!(text(&r[4]).starts_with(&text(&r[0])), "{:?}", r[4]);
    assert!(int(&r[5]) >= 1 && int(&r[5]) <= int(&r[1]));
}

#[test]
fn time_is_now() {
    let rows =
        query("SELECT unix_time, year, timezone, datetime, iso_8601, timestamp, weekday FROM time");
    assert_eq!(rows.len(), 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let r = &rows[0];
    assert!((int(&r[0]) - now).abs() <= 5, "{:?} vs {now}", r[0]);
    assert_eq!(text(&r[2]), "UTC");
    assert_eq!(text(&r[3]), text(&r[4]));
    let date = command(
        "date",
        &[
            "-u",
            "-d",
            &format!("@{}", int(&r[0])),
            "+%Y-%m-%dT%H:%M:%SZ",
        ],
    );
    if let Some(date) = date {
        assert_eq!(text(&r[3]), date);
    }
    let stamp = command(
        "date",
        &[
            "-u",
            "-d",
            &format!("@{}", int(&r[0])),
            "+%a %b %e %H:%M:%S %Y UTC",
        ],
    );
    if let Some(stamp) = stamp {
        assert_eq!(text(&r[5]), stamp);
    }
    let weekday = command("date", &["-u", "-d", &format!("@{}", int(&r[0])), "+%A"]);
    if let Some(weekday) = weekday {
        assert_eq!(text(&r[6]), weekday);
    }
    assert!(int(&r[1]) >= 2024);
}

#[test]
fn load_average_has_three_periods() {
    let rows = query("SELECT period, average FROM load_average ORDER BY period");
    let periods: Vec<String> = rows.iter().map(|r| text(&r[0])).collect();
    assert_eq!(periods, vec!["15m", "1m", "5m"]);
    for r in &rows {
        assert!(text(&r[1]).parse::<f64>().unwrap() >= 0.0);
    }
}

#[test]
fn cpu_time_has_one_row_per_core() {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cores: Vec<i64> = stat
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .next()?
                .strip_prefix("cpu")?
                .parse()
                .ok()
        })
        .collect();
    let rows = query("SELECT core, user, idle FROM cpu_time ORDER BY core");
    assert_eq!(rows.len(), cores.len());
    for (r, core) in rows.iter().zip(&cores) {
        assert_eq!(int(&r[0]), *core);
        assert!(int(&r[1]) >= 0 && int(&r[2]) >= 0);
    }
}

#[test]
fn memory_info_matches_meminfo() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb = |key: &str| -> i64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap()
    };
    let rows = query("SELECT memory_total, swap_total FROM memory_info");
    assert_eq!(rows.len(), 1);
    assert_eq!(int(&rows[0][0]), kb("MemTotal:") * 1024);
    assert_eq!(int(&rows[0][1]), kb("SwapTotal:") * 1024);
}

#[test]
fn mounts_include_root_with_its_type() {
    let proc_mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let root_type = proc_mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"/")).then(|| f[2].to_string())
        })
        .next_back()
        .unwrap();
    let rows =
        query("SELECT type, blocks_size, blocks, blocks_available FROM mounts WHERE path = '/'");
    assert!(!rows.is_empty());
    let last = rows.last().unwrap();
    assert_eq!(text(&last[0]), root_type);
    assert!(int(&last[1]) > 0);
    assert!(int(&last[2]) >= int(&last[3]));
    let total = one("SELECT count(*) FROM mounts");
    assert_eq!(int(&total), proc_mounts.lines().count() as i64);
}

#[test]
fn system_controls_by_name_read_one_file() {
    let ostype = std::fs::read_to_string("/proc/sys/kernel/ostype").unwrap();
    let rows = query(
        "SELECT name, current_value, subsystem, type FROM system_controls WHERE name = 'kernel.ostype'",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0][1]), ostype.trim());
    assert_eq!(text(&rows[0][2]), "kernel");
    assert_eq!(text(&rows[0][3]), "string");
    assert!(query("SELECT * FROM system_controls WHERE name = 'no.such.control'").is_empty());
    // Names cannot walk out of /proc/sys.
    assert!(query("SELECT * FROM system_controls WHERE name = '..'").is_empty());
}

#[test]
fn system_controls_scan_a_subsystem() {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let v = one(
        "SELECT current_value FROM system_controls WHERE subsystem = 'kernel' AND name LIKE 'kernel.hostname'",
    );
    assert_eq!(text(&v), hostname.trim());
    let n = one("SELECT count(*) FROM system_controls WHERE subsystem = 'kernel'");
    assert!(int(&n) > 10);
}

#[test]
fn kernel_modules_match_proc_modules() {
    let expected: Vec<String> = std::fs::read_to_string("/proc/modules")
        .map(|t| {
            t.lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let rows = query("SELECT name FROM kernel_modules");
    let mut got: Vec<String> = rows.iter().map(|r| text(&r[0])).collect();
    let mut expected = expected;
    got.sort();
    expected.sort();
    // Modules can load between the two reads; compare the stable part.
    assert!(
        got.len().abs_diff(expected.len()) <= 2,
        "{got:?} vs {expected:?}"
    );
    for name in expected.iter().take(20) {
        assert!(got.contains(name) || got.is_empty(), "{name}");
    }
}

#[test]
fn block_devices_match_sys_class_block() {
    let mut expected: Vec<String> = std::fs::read_dir("/sys/class/block")
        .unwrap()
        .flatten()
        .map(|e| format!("/dev/{}", e.file_name().to_string_lossy()))
        .collect();
    expected.sort();
    let rows = query("SELECT name, size, block_size FROM block_devices ORDER BY name");
    let got: Vec<String> = rows.iter().map(|r| text(&r[0])).collect();
    assert_eq!(got, expected);
    for r in &rows {
        let base = text(&r[0]).trim_start_matches("/dev/").to_string();
        let size: i64 = std::fs::read_to_string(format!("/sys/class/block/{base}/size"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(int(&r[1]), size, "{base}");
    }
}

#[test]
fn block_device_filesystem_matches_blkid() {
    // The root filesystem's device, as blkid sees it.
    let Some(dev) = command("findmnt", &["-n", "-o", "SOURCE", "/"]) else {
        return;
    };
    if !dev.starts_with("/dev/") {
        return;
    }
    let Some(export) = command("blkid", &["-o", "export", &dev]) else {
        return;
    };
    let field = |k: &str| {
        export
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
    };
    let rows = query(&format!(
        "SELECT type, uuid, label FROM block_devices WHERE name = '{dev}'"
    ));
    assert_eq!(rows.len(), 1);
    if field("TYPE").is_none() {
        // The device cannot be read here (blkid finds nothing either): empty, not an error.
        assert_eq!(text(&rows[0][0]), "");
        return;
    }
    assert_eq!(Some(text(&rows[0][0])), field("TYPE"));
    assert_eq!(Some(text(&rows[0][1])), field("UUID"));
    assert_eq!(text(&rows[0][2]), field("LABEL").unwrap_or_default());
}

#[test]
fn pci_devices_match_sysfs() {
    let mut expected: Vec<String> = std::fs::read_dir("/sys/bus/pci/devices")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    expected.sort();
    let rows = query("SELECT pci_slot, vendor_id, model_id FROM pci_devices ORDER BY pci_slot");
    let got: Vec<String> = rows.iter().map(|r| text(&r[0])).collect();
    assert_eq!(got, expected);
    for r in &rows {
        let slot = text(&r[0]);
        let vendor =
            std::fs::read_to_string(format!("/sys/bus/pci/devices/{slot}/vendor")).unwrap();
        assert_eq!(text(&r[1]), vendor.trim().to_ascii_lowercase(), "{slot}");
    }
}

#[test]
fn cpuid_reports_the_vendor_of_proc_cpuinfo() {
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let vendor = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("vendor_id"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap();
    assert_eq!(
        text(&one("SELECT value FROM cpuid WHERE feature = 'vendor'")),
        vendor
    );
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags"))
        .unwrap()
        .split_whitespace()
        .collect();
    for (feature, flag) in [
        ("sse2", "sse2"),
        ("lm", "lm"),
        ("aes", "aes"),
        ("avx2", "avx2"),
    ] {
        let v = text(&one(&format!(
            "SELECT value FROM cpuid WHERE feature = '{feature}'"
        )));
        assert_eq!(v == "1", flags.contains(&flag), "{feature}");
    }
}

#[test]
fn memory_map_matches_iomem_top_level() {
    let iomem = std::fs::read_to_string("/proc/iomem").unwrap();
    let lines = iomem.lines().filter(|l| l.contains(" : ")).count();
    let n = one("SELECT count(*) FROM memory_map");
    assert_eq!(int(&n), lines as i64);
    if iomem.contains("System RAM") {
        let n = one("SELECT count(*) FROM memory_map WHERE name = 'System RAM'");
        assert!(int(&n) >= 1);
    }
}

#[test]
fn acpi_tables_match_sysfs() {
    let Ok(dir) = std::fs::read_dir("/sys/firmware/acpi/tables") else {
        assert!(query("SELECT * FROM acpi_tables").is_empty());
        return;
    };
    let files: Vec<_> = dir
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .collect();
    for e in files {
        let name = e.file_name().to_string_lossy().into_owned();
        let data = std::fs::read(e.path()).unwrap();
        let md5 = command("md5sum", &[&e.path().to_string_lossy()]).unwrap();
        let rows = query(&format!(
            "SELECT size, md5 FROM acpi_tables WHERE name = '{name}'"
        ));
        assert!(!rows.is_empty(), "{name}");
        assert_eq!(int(&rows[0][0]), data.len() as i64);
        assert_eq!(text(&rows[0][1]), md5.split_whitespace().next().unwrap());
    }
}

#[test]
fn ulimit_info_matches_the_shell() {
    let rows = query("SELECT soft_limit, hard_limit FROM ulimit_info WHERE type = 'nofile'");
    assert_eq!(rows.len(), 1);
    // A child shell inherits our limits.
    let soft = command("sh", &["-c", "ulimit -Sn"]).unwrap();
    let hard = command("sh", &["-c", "ulimit -Hn"]).unwrap();
    assert_eq!(text(&rows[0][0]), soft);
    assert_eq!(text(&rows[0][1]), hard);
    assert!(int(&one("SELECT count(*) FROM ulimit_info")) >= 10);
}

#[test]
fn kernel_keys_match_proc_keys() {
    let expected = std::fs::read_to_string("/proc/keys")
        .map(|t| {
            t.lines()
                .filter(|l| l.split_whitespace().count() >= 9)
                .count()
        })
        .unwrap_or(0);
    let n = int(&one("SELECT count(*) FROM kernel_keys"));
    // Reading /proc/keys can itself create the session keyring.
    assert!((n - expected as i64).abs() <= 2, "{n} vs {expected}");
}

#[test]
fn tables_without_their_hardware_or_subsystem_are_empty_not_errors() {
    for table in [
        "smbios_tables",
        "platform_info",
        "cpu_info",
        "oem_strings",
        "memory_devices",
        "memory_arrays",
        "memory_array_mapped_addresses",
        "memory_error_info",
        "md_devices",
        "md_drives",
        "md_personalities",
        "secureboot",
        "selinux_settings",
        "apparmor_profiles",
        "usb_devices",
        "disk_encryption",
    ] {
        // Whatever the host has, the query must succeed.
        let _ = query(&format!("SELECT * FROM {table}"));
    }
    if !std::path::Path::new("/sys/firmware/dmi/tables/DMI").exists() {
        assert!(query("SELECT * FROM smbios_tables").is_empty());
    }
    if !std::path::Path::new("/proc/mdstat").exists() {
        assert!(query("SELECT * FROM md_devices").is_empty());
    }
    if !std::path::Path::new("/sys/firmware/efi").exists() {
        assert!(query("SELECT * FROM secureboot").is_empty());
    }
}

#[test]
fn disk_encryption_lists_block_devices() {
    let devices = int(&one("SELECT count(*) FROM block_devices"));
    let rows = query("SELECT name, encrypted, encryption_status FROM disk_encryption");
    assert_eq!(rows.len() as i64, devices);
    for r in &rows {
        let encrypted = int(&r[1]) == 1;
        assert_eq!(
            text(&r[2]),
            if encrypted {
                "encrypted"
            } else {
                "not encrypted"
            }
        );
    }
}
