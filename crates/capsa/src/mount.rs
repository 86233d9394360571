//! Opening a directory grant: once per sandbox, by handle, never through a symbolic link.
//!
//! A guest with a read-write grant can change what lies under it: delete a directory, put a symlink in
//! its place. If the host then opened another grant (or the same one, next call) by path, following
//! symlinks, the mount would be wherever the guest pointed it: `/proc/self`, the artifact cache, the
//! host's home. So a grant's path is walked one component at a time with `O_NOFOLLOW`, from the root
//! (or the working directory) down; a symlink anywhere in it refuses the grant. Checks are made on the
//! handle that walk ends in, by device and inode, and the sandbox mounts that very handle (through its
//! `/proc/self/fd` entry, which names the open directory and is not resolved again).

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, ErrorCode, Result};

/// A directory opened for a mount, and where it was found.
pub(crate) struct OpenDir {
    fd: OwnedFd,
    host_path: PathBuf,
}

/// A directory's identity: (device, inode).
type Identity = (u64, u64);

/// More levels than any real path has; a loop of `..` that never reaches a root ends here.
const MAX_DEPTH: usize = 4096;

impl OpenDir {
    /// Opens `host_path` as a directory without following a symlink in any of its components.
    pub(crate) fn open(host_path: &Path) -> Result<OpenDir> {
        let refuse = |code: ErrorCode, why: String| {
            Error::new(
                code,
                format!("cannot mount `{}`: {why}", host_path.display()),
            )
        };
        let start = if host_path.is_absolute() { "/" } else { "." };
        let mut fd = open_dir_at(libc::AT_FDCWD, OsStr::new(start))
            .map_err(|e| refuse(ErrorCode::Internal, format!("cannot open `{start}`: {e}")))?;
        let mut walked = PathBuf::from(start);
        for component in host_path.components() {
            let name = match component {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
                Component::ParentDir => OsStr::new(".."),
                Component::Normal(name) => name,
            };
            walked.push(name);
            fd = open_dir_at(fd.as_raw_fd(), name).map_err(|e| match e.raw_os_error() {
                // With O_DIRECTORY, a symlink may fail as "not a directory" rather than as a loop.
                Some(libc::ELOOP | libc::ENOTDIR) if is_symlink_at(fd.as_raw_fd(), name) => refuse(
                    ErrorCode::InvalidInput,
                    format!(
                        "`{}` is a symbolic link; grant the directory it points to",
                        walked.display()
                    ),
                ),
                Some(libc::ENOENT) => refuse(
                    ErrorCode::InvalidInput,
                    format!("`{}` does not exist", walked.display()),
                ),
                Some(libc::ENOTDIR) => refuse(
                    ErrorCode::InvalidInput,
                    format!("`{}` is not a directory", walked.display()),
                ),
                _ => refuse(
                    ErrorCode::InvalidInput,
                    format!("cannot open `{}`: {e}", walked.display()),
                ),
            })?;
        }
        Ok(OpenDir {
            fd,
            host_path: host_path.to_owned(),
        })
    }

    /// The path the sandbox opens to mount this directory: the handle's own `/proc/self/fd` entry.
    pub(crate) fn handle_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Refuses the mount when it contains `protected` or lies inside it, compared by identity along
    /// the handles' own `..` chains, so no path of the mount is resolved again.
    pub(crate) fn check_apart_from(&self, protected: &Protected) -> Result<()> {
        let internal = |e: io::Error| {
            Error::internal(format!(
                "cannot check `{}` against {}: {e}",
                self.host_path.display(),
                protected.what
            ))
        };
        let mount_id = identity(self.fd.as_raw_fd()).map_err(internal)?;
        // The directory itself is looked at again (it may have been deleted and made anew), the
        // directories above it were taken when the engine was built.
        let inside = match open_dir_at(libc::AT_FDCWD, protected.path.as_os_str()) {
            Ok(fd) => {
                let protected_id = identity(fd.as_raw_fd()).map_err(internal)?;
                ancestors(&self.fd)
                    .map_err(internal)?
                    .contains(&protected_id)
            }
            // Nothing there now: nothing inside it to reach.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => false,
            Err(e) => return Err(internal(e)),
        };
        if inside || protected.above.contains(&mount_id) {
            return Err(Error::invalid_input(format!(
                "cannot mount `{}`: it overlaps {} `{}`",
                self.host_path.display(),
                protected.what,
                protected.path.display()
            )));
        }
        Ok(())
    }
}

/// A directory no mount may overlap (capsa's artifact cache), prepared once when the engine is built:
/// its canonical path and the identities of the directories above it.
pub(crate) struct Protected {
    path: PathBuf,
    what: &'static str,
    above: Vec<Identity>,
}

impl Protected {
    /// `path` (canonical, trusted: the operator chose it) as `what` in error messages.
    pub(crate) fn new(path: &Path, what: &'static str) -> io::Result<Protected> {
        let fd = open_dir_at(libc::AT_FDCWD, path.as_os_str())?;
        let mut above = ancestors(&fd)?;
        above.remove(0);
        Ok(Protected {
            path: path.to_owned(),
            what,
            above,
        })
    }
}

/// Opens the directory `name` beneath `dir`, refusing a symlink (`ELOOP`).
pub(crate) fn open_dir_at(dir: RawFd, name: &OsStr) -> io::Result<OwnedFd> {
    let name = CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path holds a NUL byte"))?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; `dir` is an open descriptor
    // or AT_FDCWD.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `openat` returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether `name` beneath `dir` is a symlink (not followed).
pub(crate) fn is_symlink_at(dir: RawFd, name: &OsStr) -> bool {
    let Ok(name) = CString::new(name.as_bytes()) else {
        return false;
    };
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated; `stat` is large enough and read only after success.
    unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            stat.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        ) == 0
            && stat.assume_init().st_mode & libc::S_IFMT == libc::S_IFLNK
    }
}

fn identity(fd: RawFd) -> io::Result<Identity> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is large enough for `fstat` to fill; it is read only after success.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fstat` succeeded, so `stat` is initialised.
    let stat = unsafe { stat.assume_init() };
    Ok((stat.st_dev, stat.st_ino))
}

/// The identities of `dir` and every directory above it, up to the root.
fn ancestors(dir: &OwnedFd) -> io::Result<Vec<Identity>> {
    let mut chain = vec![identity(dir.as_raw_fd())?];
    let mut current = dir.try_clone()?;
    for _ in 0..MAX_DEPTH {
        let parent = open_dir_at(current.as_raw_fd(), OsStr::new(".."))?;
        let id = identity(parent.as_raw_fd())?;
        if chain.last() == Some(&id) {
            return Ok(chain);
        }
        chain.push(id);
        current = parent;
    }
    Err(io::Error::other("the directory is nested too deep"))
}

/// Whether a guest may create a symlink with this target: it must be relative and never step up
/// (`..`), so it resolves beneath the link's own directory for whoever follows it, inside the mount.
/// Host-made symlinks are the host's own business; a guest cannot make one that leaves its mount.
pub(crate) fn symlink_target_stays_inside(target: &[u8]) -> bool {
    !target.is_empty()
        && !target.starts_with(b"/")
        && !target.contains(&0)
        && target.split(|&b| b == b'/').all(|part| part != b"..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets_that_leave_are_refused() {
        for ok in ["a", "a/b", "./a", "a/./b", "..a", "a..", "a/...b"] {
            assert!(symlink_target_stays_inside(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "/etc", "..", "../x", "a/../../x", "a/..", "a\0b", "//x"] {
            assert!(!symlink_target_stays_inside(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn a_symlink_anywhere_in_the_path_refuses_the_grant() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real/inner");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).unwrap();
        assert!(OpenDir::open(&real).is_ok());
        for through in [
            dir.path().join("link"),
            dir.path().join("link/inner"),
            dir.path().join("dangling"),
        ] {
            let e = OpenDir::open(&through).err().unwrap();
            assert_eq!(e.code(), ErrorCode::InvalidInput);
            assert!(e.message().contains("is a symbolic link"), "{e}");
        }
        std::fs::write(dir.path().join("file"), "").unwrap();
        let file = OpenDir::open(&dir.path().join("file")).err().unwrap();
        assert!(file.message().contains("is not a directory"), "{file}");
        let missing = OpenDir::open(&dir.path().join("missing")).err().unwrap();
        assert_eq!(missing.code(), ErrorCode::InvalidInput);
        assert!(missing.message().contains("does not exist"), "{missing}");
    }

    #[test]
    fn overlap_is_found_by_identity_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(cache.join("inside")).unwrap();
        std::fs::create_dir_all(dir.path().join("apart")).unwrap();
        let protected = Protected::new(&cache, "the cache").unwrap();
        let check = |p: &Path| OpenDir::open(p).unwrap().check_apart_from(&protected);
        assert!(check(dir.path()).is_err(), "a mount containing the cache");
        assert!(check(&cache).is_err(), "the cache itself");
        assert!(
            check(&cache.join("inside")).is_err(),
            "a mount inside the cache"
        );
        assert!(check(&dir.path().join("apart")).is_ok());
        // Deleted and made anew under the same path: still recognised.
        std::fs::remove_dir_all(&cache).unwrap();
        std::fs::create_dir_all(cache.join("inside")).unwrap();
        assert!(
            check(&cache.join("inside")).is_err(),
            "inside the new cache"
        );
        assert!(check(dir.path()).is_err(), "containing the new cache");
    }
}
