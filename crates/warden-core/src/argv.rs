//! A process's argument vector, shared rather than copied between the process table and the
//! events that show it.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::{ByteBuf, Bytes};

/// Arguments, `argv[0]` first, each as bytes (arguments need not be UTF-8).
///
/// Cloning is a reference-count increment: a process's argv is read once (from the exec record or
/// /proc) and then shown by its exec, every fork of it, its exit and every child's `parent.args`,
/// each of which used to copy every argument (one allocation per argument).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Argv(Arc<[Vec<u8>]>);

impl Argv {
    /// An argv of `args`.
    pub fn new(args: Vec<Vec<u8>>) -> Argv {
        Argv(args.into())
    }
}

impl Deref for Argv {
    type Target = [Vec<u8>];

    fn deref(&self) -> &[Vec<u8>] {
        &self.0
    }
}

impl From<Vec<Vec<u8>>> for Argv {
    fn from(args: Vec<Vec<u8>>) -> Argv {
        Argv::new(args)
    }
}

impl FromIterator<Vec<u8>> for Argv {
    fn from_iter<I: IntoIterator<Item = Vec<u8>>>(iter: I) -> Argv {
        Argv(iter.into_iter().collect())
    }
}

/// A sequence of byte strings (not of numbers): each argument is copied whole.
impl Serialize for Argv {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|a| Bytes::new(a)))
    }
}

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Argv, D::Error> {
        let args = Vec::<ByteBuf>::deserialize(deserializer)?;
        Ok(args.into_iter().map(ByteBuf::into_vec).collect())
    }
}

impl fmt::Debug for Argv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|a| String::from_utf8_lossy(a)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_allocation() {
        let argv = Argv::new(vec![b"ls".to_vec(), b"-l".to_vec()]);
        let copy = argv.clone();
        assert!(std::ptr::eq(argv.as_ptr(), copy.as_ptr()));
        assert_eq!(&copy[..], &[b"ls".to_vec(), b"-l".to_vec()][..]);
    }

    #[test]
    fn equality_is_by_content() {
        let a: Argv = vec![b"a".to_vec()].into();
        let b: Argv = [b"a".to_vec()].into_iter().collect();
        assert_eq!(a, b);
        assert_ne!(a, Argv::default());
        assert!(Argv::default().is_empty());
    }
}
