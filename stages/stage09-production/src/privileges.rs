//! Giving up root: a worker started as root chroots into the served folder, then becomes an
//! ordinary user, before it reads a single request.
//!
//! The master needs root for little (a port below 1024, certificates only root can read); a
//! worker needs it for nothing, and a worker is what a hostile client talks to. So each worker,
//! once it holds its listeners and its plan:
//!
//! 1. `chroot(root)` and `chdir("/")`: from now on `/` is the served folder, and no path, `..`
//!    or symlink can name a file outside it (the kernel says so, not our path checks);
//! 2. `setgroups([gid])`: drop root's supplementary groups (forgetting this keeps group 0);
//! 3. `setgid(gid)`: while we are still root, which may change the group;
//! 4. `setuid(uid)`: last, because after it we may change nothing else.
//!
//! Then it checks that `setuid(0)` fails: a drop that could be undone did not happen.
//! glibc's `setuid` changes every thread of the process (the raw system call changes only the
//! calling one), and we drop before starting any thread anyway.

use crate::config::{Config, Mistake};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::path::Path;

/// Who a worker becomes: the user and group names of the config, looked up once by the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

pub fn uid() -> u32 {
    // SAFETY: as above.
    unsafe { libc::getuid() }
}

/// The buffer size getpwnam_r and getgrnam_r get: /etc/group lines can be long.
const BUFFER: usize = 16 * 1024;

impl Identity {
    /// `user` and `group` of the config, as numbers (`None` when no user is set). A name the
    /// user database does not know points at its place in the file.
    pub fn look_up(config: &Config) -> Result<Option<Identity>, Mistake> {
        let Some(user) = &config.user else {
            return Ok(None);
        };
        let (uid, user_gid) = user_ids(user.get_ref()).ok_or_else(|| {
            Mistake::at(user, format!("no user {:?} on this system", user.get_ref()))
        })?;
        let gid = match &config.group {
            None => user_gid,
            Some(group) => group_id(group.get_ref()).ok_or_else(|| {
                Mistake::at(
                    group,
                    format!("no group {:?} on this system", group.get_ref()),
                )
            })?,
        };
        Ok(Some(Identity { uid, gid }))
    }
}

/// The uid and primary gid of `name` (NSS included: the names `id` knows).
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; BUFFER];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live buffer of the size passed; the result points into
    // `entry`/`buffer`, which outlive its use.
    let status = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (status == 0 && !found.is_null()).then_some((entry.pw_uid, entry.pw_gid))
}

fn group_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut entry: libc::group = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; BUFFER];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `user_ids`.
    let status = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (status == 0 && !found.is_null()).then_some(entry.gr_gid)
}

/// The last OS error, as one line naming the call that failed.
fn failed(call: &str) -> String {
    format!("{call} failed: {}", std::io::Error::last_os_error())
}

// ANCHOR: drop
/// Locks this process into `jail` (if given) and becomes `identity` (if given), in the order
/// the module's comment explains. Call it before any thread is started.
pub fn drop_to(jail: Option<&Path>, identity: Option<Identity>) -> Result<(), String> {
    if let Some(jail) = jail {
        let path = CString::new(jail.as_os_str().as_encoded_bytes())
            .map_err(|_| "the root's path holds a NUL byte".to_string())?;
        // SAFETY: `path` is a valid C string for the duration of the call.
        if unsafe { libc::chroot(path.as_ptr()) } != 0 {
            return Err(failed(&format!("chroot({})", jail.display())));
        }
        std::env::set_current_dir("/").map_err(|e| format!("chdir(/) in the jail: {e}"))?;
    }
    let Some(Identity { uid, gid }) = identity else {
        return Ok(());
    };
    // SAFETY: plain system calls on integers (and one array of one gid, alive for the call).
    unsafe {
        let master = libc::getppid();
        if libc::setgroups(1, &gid) != 0 {
            return Err(failed("setgroups"));
        }
        if libc::setgid(gid) != 0 {
            return Err(failed(&format!("setgid({gid})")));
        }
        if libc::setuid(uid) != 0 {
            return Err(failed(&format!("setuid({uid})")));
        }
        // Proof, not hope: if root could be taken back, the drop did not happen.
        if uid != 0 && libc::setuid(0) == 0 {
            return Err("setuid(0) succeeded after dropping privileges".into());
        }
        // Changing credentials clears PR_SET_PDEATHSIG (the kernel resets it in commit_creds),
        // which the master set before exec so that no worker outlives it: set it again, and
        // if the master died in between, stop here.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
            return Err(failed("prctl(PR_SET_PDEATHSIG)"));
        }
        if libc::getppid() != master {
            return Err("the master is gone".into());
        }
    }
    Ok(())
}
// ANCHOR_END: drop

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_nobody_are_in_every_user_database() {
        assert_eq!(user_ids("root"), Some((0, 0)));
        assert_eq!(group_id("root"), Some(0));
        assert!(user_ids("no-such-user-here").is_none());
        assert!(user_ids("bad\0name").is_none());
    }
}
