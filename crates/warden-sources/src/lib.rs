//! Warden's kernel event sources. Today: the pure core of the Linux audit source (record parser,
//! event assembler, exec view); netlink IO comes next and only feeds bytes into these functions.

pub mod audit;
