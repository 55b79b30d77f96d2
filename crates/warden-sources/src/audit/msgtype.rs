//! Audit message type numbers (the netlink `nlmsg_type` of a record) and their auditd names.
//!
//! Numbers are from the kernel's uapi `linux/audit.h`; names are the ones auditd writes after
//! `type=` in audit.log, so that recorded log lines can be mapped back to numbers.

/// Kernel login uid change (`/proc/self/loginuid` write).
pub const LOGIN: u16 = 1006;
/// Syscall record: arch, syscall, success/exit, a0–a3, ids, comm, exe, key.
pub const SYSCALL: u16 = 1300;
/// One file name touched by the syscall.
pub const PATH: u16 = 1302;
/// Audit configuration changed (rules added/removed, enabled flag, ...).
pub const CONFIG_CHANGE: u16 = 1305;
/// Raw `struct sockaddr` in hex.
pub const SOCKADDR: u16 = 1306;
/// Current working directory of the task at syscall exit.
pub const CWD: u16 = 1307;
/// execve arguments (`argc`, `a0`…, long ones split as `aN_len` + `aN[i]`).
pub const EXECVE: u16 = 1309;
/// Target of kill/ptrace.
pub const OBJ_PID: u16 = 1318;
/// End of a multi-record event; empty body.
pub const EOE: u16 = 1320;
/// Capabilities gained through file capabilities at exec.
pub const BPRM_FCAPS: u16 = 1321;
/// The process title (NUL-separated argv as the process sees it, cut to 128 bytes).
pub const PROCTITLE: u16 = 1327;
/// The kernel probing a registered daemon (someone else tried to take the audit pid).
pub const REPLACE: u16 = 1329;
/// SELinux access vector decision.
pub const AVC: u16 = 1400;
/// The kernel's boot-time "initialized" message.
pub const KERNEL: u16 = 2000;

/// (number, auditd name) for the types auditd names in its logs.
const NAMES: &[(u16, &str)] = &[
    (1000, "GET"),
    (1001, "SET"),
    (1005, "USER"),
    (1006, "LOGIN"),
    (1100, "USER_AUTH"),
    (1101, "USER_ACCT"),
    (1102, "USER_MGMT"),
    (1103, "CRED_ACQ"),
    (1104, "CRED_DISP"),
    (1105, "USER_START"),
    (1106, "USER_END"),
    (1107, "USER_AVC"),
    (1108, "USER_CHAUTHTOK"),
    (1109, "USER_ERR"),
    (1110, "CRED_REFR"),
    (1111, "USYS_CONFIG"),
    (1112, "USER_LOGIN"),
    (1113, "USER_LOGOUT"),
    (1114, "ADD_USER"),
    (1115, "DEL_USER"),
    (1116, "ADD_GROUP"),
    (1117, "DEL_GROUP"),
    (1118, "DAC_CHECK"),
    (1119, "CHGRP_ID"),
    (1120, "TEST"),
    (1121, "TRUSTED_APP"),
    (1122, "USER_SELINUX_ERR"),
    (1123, "USER_CMD"),
    (1124, "USER_TTY"),
    (1125, "CHUSER_ID"),
    (1126, "GRP_AUTH"),
    (1127, "SYSTEM_BOOT"),
    (1128, "SYSTEM_SHUTDOWN"),
    (1129, "SYSTEM_RUNLEVEL"),
    (1130, "SERVICE_START"),
    (1131, "SERVICE_STOP"),
    (1132, "GRP_MGMT"),
    (1133, "GRP_CHAUTHTOK"),
    (1134, "MAC_CHECK"),
    (1135, "ACCT_LOCK"),
    (1136, "ACCT_UNLOCK"),
    (1137, "USER_DEVICE"),
    (1138, "SOFTWARE_UPDATE"),
    (1200, "DAEMON_START"),
    (1201, "DAEMON_END"),
    (1202, "DAEMON_ABORT"),
    (1203, "DAEMON_CONFIG"),
    (1204, "DAEMON_RECONFIG"),
    (1205, "DAEMON_ROTATE"),
    (1206, "DAEMON_RESUME"),
    (1207, "DAEMON_ACCEPT"),
    (1208, "DAEMON_CLOSE"),
    (1209, "DAEMON_ERR"),
    (1300, "SYSCALL"),
    (1302, "PATH"),
    (1303, "IPC"),
    (1304, "SOCKETCALL"),
    (1305, "CONFIG_CHANGE"),
    (1306, "SOCKADDR"),
    (1307, "CWD"),
    (1309, "EXECVE"),
    (1311, "IPC_SET_PERM"),
    (1312, "MQ_OPEN"),
    (1313, "MQ_SENDRECV"),
    (1314, "MQ_NOTIFY"),
    (1315, "MQ_GETSETATTR"),
    (1316, "KERNEL_OTHER"),
    (1317, "FD_PAIR"),
    (1318, "OBJ_PID"),
    (1319, "TTY"),
    (1320, "EOE"),
    (1321, "BPRM_FCAPS"),
    (1322, "CAPSET"),
    (1323, "MMAP"),
    (1324, "NETFILTER_PKT"),
    (1325, "NETFILTER_CFG"),
    (1326, "SECCOMP"),
    (1327, "PROCTITLE"),
    (1328, "FEATURE_CHANGE"),
    (1329, "REPLACE"),
    (1330, "KERN_MODULE"),
    (1331, "FANOTIFY"),
    (1332, "TIME_INJOFFSET"),
    (1333, "TIME_ADJNTPVAL"),
    (1334, "BPF"),
    (1335, "EVENT_LISTENER"),
    (1336, "URINGOP"),
    (1337, "OPENAT2"),
    (1338, "DM_CTRL"),
    (1339, "DM_EVENT"),
    (1400, "AVC"),
    (1401, "SELINUX_ERR"),
    (1402, "AVC_PATH"),
    (1403, "MAC_POLICY_LOAD"),
    (1404, "MAC_STATUS"),
    (1405, "MAC_CONFIG_CHANGE"),
    (1406, "MAC_UNLBL_ALLOW"),
    (1407, "MAC_CIPSOV4_ADD"),
    (1408, "MAC_CIPSOV4_DEL"),
    (1409, "MAC_MAP_ADD"),
    (1410, "MAC_MAP_DEL"),
    (1411, "MAC_IPSEC_ADDSA"),
    (1412, "MAC_IPSEC_DELSA"),
    (1413, "MAC_IPSEC_ADDSPD"),
    (1414, "MAC_IPSEC_DELSPD"),
    (1415, "MAC_IPSEC_EVENT"),
    (1416, "MAC_UNLBL_STCADD"),
    (1417, "MAC_UNLBL_STCDEL"),
    (1418, "MAC_CALIPSO_ADD"),
    (1419, "MAC_CALIPSO_DEL"),
    (1420, "MAC_TASK_CONTEXTS"),
    (1421, "MAC_OBJ_CONTEXTS"),
    (1500, "AA"),
    (1501, "APPARMOR_AUDIT"),
    (1502, "APPARMOR_ALLOWED"),
    (1503, "APPARMOR_DENIED"),
    (1504, "APPARMOR_HINT"),
    (1505, "APPARMOR_STATUS"),
    (1506, "APPARMOR_ERROR"),
    (1700, "ANOM_PROMISCUOUS"),
    (1701, "ANOM_ABEND"),
    (1702, "ANOM_LINK"),
    (1703, "ANOM_CREAT"),
    (1800, "INTEGRITY_DATA"),
    (1801, "INTEGRITY_METADATA"),
    (1802, "INTEGRITY_STATUS"),
    (1803, "INTEGRITY_HASH"),
    (1804, "INTEGRITY_PCR"),
    (1805, "INTEGRITY_RULE"),
    (1806, "INTEGRITY_EVM_XATTR"),
    (1807, "INTEGRITY_POLICY_RULE"),
    (2000, "KERNEL"),
    (2100, "ANOM_LOGIN_FAILURES"),
    (2101, "ANOM_LOGIN_TIME"),
    (2102, "ANOM_LOGIN_SESSIONS"),
    (2103, "ANOM_LOGIN_ACCT"),
    (2104, "ANOM_LOGIN_LOCATION"),
    (2105, "ANOM_MAX_DAC"),
    (2106, "ANOM_MAX_MAC"),
    (2107, "ANOM_AMTU_FAIL"),
    (2108, "ANOM_RBAC_FAIL"),
    (2109, "ANOM_RBAC_INTEGRITY_FAIL"),
    (2110, "ANOM_CRYPTO_FAIL"),
    (2111, "ANOM_ACCESS_FS"),
    (2112, "ANOM_EXEC"),
    (2113, "ANOM_MK_EXEC"),
    (2114, "ANOM_ADD_ACCT"),
    (2115, "ANOM_DEL_ACCT"),
    (2116, "ANOM_MOD_ACCT"),
    (2117, "ANOM_ROOT_TRANS"),
    (2118, "ANOM_LOGIN_SERVICE"),
    (2119, "ANOM_LOGIN_ROOT"),
    (2120, "ANOM_ORIGIN_FAILURES"),
    (2121, "ANOM_SESSION"),
];

/// auditd's name for a message type, e.g. `SYSCALL` for 1300.
pub fn name(rtype: u16) -> Option<&'static str> {
    NAMES.iter().find(|(n, _)| *n == rtype).map(|(_, s)| *s)
}

/// The message type for an auditd `type=` value: a known name (`SYSCALL`), auditd's form for
/// types it does not know (`UNKNOWN[1334]`), or a bare number.
pub fn from_name(name: &str) -> Option<u16> {
    if let Some(rest) = name.strip_prefix("UNKNOWN[") {
        return rest.strip_suffix(']')?.parse().ok();
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse().ok();
    }
    NAMES.iter().find(|(_, s)| *s == name).map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &(n, s) in NAMES {
            assert_eq!(name(n), Some(s));
            assert_eq!(from_name(s), Some(n), "{s}");
        }
        assert_eq!(from_name("UNKNOWN[1334]"), Some(1334));
        assert_eq!(from_name("1300"), Some(SYSCALL));
        assert_eq!(from_name("UNKNOWN[x]"), None);
        assert_eq!(from_name("NOPE"), None);
        assert_eq!(from_name(""), None);
    }
}
