//! A session's files: its own writable directory on the host, which the guest sees at `/work`, and the
//! host's side of it (write, read, list, and the bytes of a snapshot), under the session's
//! [`Limits::max_files`](crate::Limits::max_files).
//!
//! The guest can change what lies under the directory while the host is not looking: replace a
//! directory with a symlink, make a symlink named like a file the host will write. So the host never
//! resolves a path through the directory by name: every operation walks from the directory's own
//! handle, one component at a time, with `O_NOFOLLOW` (`crate::mount`), and a symlink anywhere refuses
//! it. Paths come from callers as guest paths (`data/in.csv` or `/work/data/in.csv`) and are parsed
//! once into components ([`WorkPath`]): no `..`, no NUL, nothing outside `/work`.

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::limits::ByteSize;
use crate::mount::{is_symlink_at, open_dir_at};

/// Where the guest sees a session's files.
pub(crate) const WORK_DIR: &str = "/work";

/// Entries (files and directories) a session's directory may hold: a guest that makes millions of
/// empty files would make every listing and every snapshot walk them.
pub(crate) const MAX_ENTRIES: usize = 100_000;

/// Directory levels under `/work`: each level of a walk holds a descriptor open.
pub(crate) const MAX_DEPTH: usize = 64;

/// The longest path a caller may name, in bytes (Linux's `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;

/// A regular file in a session's `/work` directory, as [`Session::list_files`](crate::Session::list_files)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// The path under `/work`, with `/` between directories: `data/in.csv`. A name that is not
    /// UTF-8 (only the guest can make one) is shown with `U+FFFD` in its place.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A path under `/work`, checked: its components, none empty, `.` or `..`, none holding `/` or NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkPath {
    parts: Vec<OsString>,
}

impl WorkPath {
    /// Parses a guest-style path: relative to `/work` (`data/in.csv`) or absolute under it
    /// (`/work/data/in.csv`).
    ///
    /// # Errors
    ///
    /// `invalid_input` for an empty path, one with NUL or `..`, an absolute path outside `/work`, or
    /// `/work` itself.
    pub(crate) fn parse(path: &str) -> Result<WorkPath> {
        let bad = |why: &str| Error::invalid_input(format!("file path `{path}` {why}"));
        if path.len() > MAX_PATH_BYTES {
            return Err(Error::invalid_input(format!(
                "a file path is longer than {MAX_PATH_BYTES} bytes"
            )));
        }
        if path.contains('\0') {
            return Err(bad("holds a NUL byte"));
        }
        let relative = match path.strip_prefix('/') {
            Some(absolute) => match absolute.strip_prefix(&WORK_DIR[1..]) {
                Some("") => return Err(bad("names the /work directory, not a file in it")),
                Some(rest) if rest.starts_with('/') => rest,
                _ => return Err(bad("is outside /work")),
            },
            None => path,
        };
        let mut parts = Vec::new();
        for part in relative.split('/') {
            match part {
                "" | "." => continue,
                ".." => return Err(bad("steps out with `..`")),
                name => parts.push(OsString::from(name)),
            }
        }
        if parts.is_empty() {
            return Err(bad("names no file"));
        }
        Ok(WorkPath { parts })
    }

    /// A path from raw components (a snapshot's, which only capsa writes), checked the same way.
    pub(crate) fn from_bytes(path: &[u8]) -> Option<WorkPath> {
        let parts: Vec<OsString> = path
            .split(|&b| b == b'/')
            .map(|part| OsString::from_vec(part.to_vec()))
            .collect();
        let valid = path.len() <= MAX_PATH_BYTES
            && !parts.is_empty()
            && parts.iter().all(|p| {
                let b = p.as_bytes();
                !b.is_empty() && b != b"." && b != b".." && !b.contains(&0)
            });
        valid.then_some(WorkPath { parts })
    }

    /// The path as bytes, components joined with `/` (how a snapshot stores it).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(part.as_bytes());
        }
        out
    }

    fn display(&self) -> String {
        String::from_utf8_lossy(&self.to_bytes()).into_owned()
    }

    /// The directories leading to the file, and the file's own name.
    fn split(&self) -> (&[OsString], &OsStr) {
        match self.parts.split_last() {
            Some((name, dirs)) => (dirs, name),
            // `parse` and `from_bytes` never make an empty path.
            None => (&[], OsStr::new("")),
        }
    }
}

/// A session's directory: a private temporary directory (mode 0700) removed, with everything in it,
/// when the session goes, and the handle every host operation starts from.
pub(crate) struct WorkDir {
    dir: tempfile::TempDir,
    root: OwnedFd,
}

/// What a walk of the directory found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    /// Bytes of regular files.
    pub(crate) bytes: u64,
    /// Files, directories and links.
    pub(crate) entries: usize,
}

impl WorkDir {
    /// A new, empty directory under `base` (by default the system's temporary directory).
    ///
    /// # Errors
    ///
    /// `internal` when it cannot be made.
    pub(crate) fn create(base: Option<&Path>) -> Result<WorkDir> {
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let failed = |e: io::Error| {
            Error::internal(format!(
                "cannot make a session directory under `{}`: {e}",
                base.display()
            ))
        };
        let dir = tempfile::Builder::new()
            .prefix("capsa-session-")
            .tempdir_in(&base)
            .map_err(failed)?;
        let root = open_dir_at(libc::AT_FDCWD, dir.path().as_os_str()).map_err(failed)?;
        Ok(WorkDir { dir, root })
    }

    /// The directory on the host, for the sandbox to mount (`crate::mount` opens it again without
    /// following links).
    pub(crate) fn host_path(&self) -> &Path {
        self.dir.path()
    }

    /// The bytes and entries under the directory now.
    ///
    /// # Errors
    ///
    /// `files_limit_exceeded` past [`MAX_ENTRIES`] or [`MAX_DEPTH`]; `internal` when the directory
    /// cannot be read.
    pub(crate) fn usage(&self) -> Result<Usage> {
        let mut usage = Usage::default();
        self.walk(&mut usage, &mut |_, _, _| Ok(()))?;
        Ok(usage)
    }

    /// Writes `contents` to `path`, making the directories on the way, unless the directory's files
    /// would then pass `cap`.
    ///
    /// # Errors
    ///
    /// `files_limit_exceeded` past the cap (nothing is written); `invalid_input` when a component is
    /// a symlink or not a directory, or the file is a directory; `internal` for other I/O failures.
    pub(crate) fn write(&self, path: &WorkPath, contents: &[u8], cap: ByteSize) -> Result<()> {
        let usage = self.usage()?;
        let (dirs, name) = path.split();
        let parent = self.open_parent(path, dirs, false).ok();
        let existing = match &parent {
            Some(parent) => regular_size_at(parent.as_raw_fd(), name).unwrap_or(0),
            None => 0,
        };
        let total = usage
            .bytes
            .saturating_sub(existing)
            .saturating_add(contents.len() as u64);
        if total > cap.bytes() {
            return Err(Error::new(
                ErrorCode::FilesLimitExceeded,
                format!(
                    "writing {} to `{}` would put the session's files at {}, over its `max_files` limit of {}",
                    ByteSize(contents.len() as u64).approx(),
                    path.display(),
                    ByteSize(total).approx(),
                    cap
                ),
            ));
        }
        if usage.entries + dirs.len() + 1 > MAX_ENTRIES {
            return Err(too_many_entries());
        }
        let parent = match parent {
            Some(parent) => parent,
            None => self.open_parent(path, dirs, true)?,
        };
        write_at(path, &parent, name, contents)
    }

    /// Writes a snapshot's files into this (new, empty) directory; the caller checked their total
    /// against the cap.
    ///
    /// # Errors
    ///
    /// As [`WorkDir::write`].
    pub(crate) fn restore(&self, files: &[(WorkPath, Vec<u8>)]) -> Result<()> {
        for (path, contents) in files {
            let (dirs, name) = path.split();
            let parent = self.open_parent(path, dirs, true)?;
            write_at(path, &parent, name, contents)?;
        }
        Ok(())
    }

    /// The contents of the regular file `path`, if it is no larger than `cap`.
    ///
    /// # Errors
    ///
    /// `not_found` when there is no such file; `invalid_input` when it is not a regular file or is
    /// reached through a symlink; `files_limit_exceeded` when it is larger than `cap`.
    pub(crate) fn read(&self, path: &WorkPath, cap: ByteSize) -> Result<Vec<u8>> {
        let (dirs, name) = path.split();
        let parent = self.open_parent(path, dirs, false)?;
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        let file = open_file_at(parent.as_raw_fd(), name, flags)
            .map_err(|e| file_error(path, &parent, name, e))?;
        let internal =
            |e: io::Error| Error::internal(format!("cannot read `{}`: {e}", path.display()));
        let meta = file.metadata().map_err(internal)?;
        if !meta.is_file() {
            return Err(Error::invalid_input(format!(
                "`{}` is not a regular file",
                path.display()
            )));
        }
        if meta.len() > cap.bytes() {
            return Err(Error::new(
                ErrorCode::FilesLimitExceeded,
                format!(
                    "`{}` is {}, larger than the session's `max_files` limit of {}",
                    path.display(),
                    ByteSize(meta.len()).approx(),
                    cap
                ),
            ));
        }
        let mut contents = Vec::with_capacity(meta.len() as usize);
        file.take(cap.bytes())
            .read_to_end(&mut contents)
            .map_err(internal)?;
        Ok(contents)
    }

    /// The regular files under the directory, sorted by path (symlinks are not followed nor listed).
    ///
    /// # Errors
    ///
    /// As [`WorkDir::usage`].
    pub(crate) fn list(&self) -> Result<Vec<FileEntry>> {
        let mut files = Vec::new();
        self.walk(&mut Usage::default(), &mut |path, _, size| {
            files.push(FileEntry {
                path: String::from_utf8_lossy(path).into_owned(),
                size,
            });
            Ok(())
        })?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Every regular file's path and contents, for a snapshot, if they total no more than `cap`.
    ///
    /// # Errors
    ///
    /// `files_limit_exceeded` over the cap; otherwise as [`WorkDir::usage`].
    pub(crate) fn read_all(&self, cap: ByteSize) -> Result<Vec<(WorkPath, Vec<u8>)>> {
        let usage = self.usage()?;
        if usage.bytes > cap.bytes() {
            return Err(over_cap(usage.bytes, cap));
        }
        let mut files = Vec::new();
        let mut total = 0u64;
        self.walk(&mut Usage::default(), &mut |path, dir, _| {
            let name = OsStr::from_bytes(path.rsplit(|&b| b == b'/').next().unwrap_or(path));
            let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
            let file = open_file_at(dir, name, flags).map_err(|e| {
                Error::internal(format!(
                    "cannot read `{}`: {e}",
                    String::from_utf8_lossy(path)
                ))
            })?;
            let mut contents = Vec::new();
            // The guest is not running, but the cap holds even if a file grew since it was counted.
            file.take(cap.bytes().saturating_sub(total).saturating_add(1))
                .read_to_end(&mut contents)
                .map_err(|e| Error::internal(format!("cannot read a session file: {e}")))?;
            total = total.saturating_add(contents.len() as u64);
            if total > cap.bytes() {
                return Err(over_cap(total, cap));
            }
            let path = WorkPath::from_bytes(path)
                .ok_or_else(|| Error::internal("a session file has an unusable name"))?;
            files.push((path, contents));
            Ok(())
        })?;
        Ok(files)
    }

    /// Opens the directory holding `path`'s file: `dirs` walked from the root without following
    /// links, made on the way when `create`.
    fn open_parent(&self, path: &WorkPath, dirs: &[OsString], create: bool) -> Result<OwnedFd> {
        let mut fd = self
            .root
            .try_clone()
            .map_err(|e| Error::internal(format!("cannot open the session directory: {e}")))?;
        for (depth, name) in dirs.iter().enumerate() {
            if create {
                mkdir_at(fd.as_raw_fd(), name).map_err(|e| {
                    Error::internal(format!(
                        "cannot make a directory for `{}`: {e}",
                        path.display()
                    ))
                })?;
            }
            let walked = || {
                let mut shown = dirs[..=depth].join(OsStr::new("/"));
                shown.push("");
                String::from_utf8_lossy(shown.as_bytes()).into_owned()
            };
            fd = open_dir_at(fd.as_raw_fd(), name).map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP | libc::ENOTDIR) if is_symlink_at(fd.as_raw_fd(), name) => {
                    Error::invalid_input(format!("`{}` is a symbolic link", walked()))
                }
                Some(libc::ENOTDIR) => {
                    Error::invalid_input(format!("`{}` is not a directory", walked()))
                }
                Some(libc::ENOENT) => Error::new(
                    ErrorCode::NotFound,
                    format!("no file `{}` in /work", path.display()),
                ),
                _ => Error::internal(format!("cannot open `{}`: {e}", walked())),
            })?;
        }
        Ok(fd)
    }

    /// Visits every regular file (its path under the root, its directory's handle, its size),
    /// counting into `usage`; symlinks and other kinds are counted as entries, never followed.
    fn walk(&self, usage: &mut Usage, visit: &mut Visit<'_>) -> Result<()> {
        walk_dir(&self.root, &mut Vec::new(), 0, usage, visit)
    }
}

/// What a walk calls for each regular file: its path under the root, its directory's handle, its size.
type Visit<'a> = dyn FnMut(&[u8], RawFd, u64) -> Result<()> + 'a;

fn walk_dir(
    dir: &OwnedFd,
    prefix: &mut Vec<u8>,
    depth: usize,
    usage: &mut Usage,
    visit: &mut Visit<'_>,
) -> Result<()> {
    let internal = |e: io::Error| Error::internal(format!("cannot list the session's files: {e}"));
    // The handle's own /proc entry names this very directory; entries are looked at without
    // following links (`DirEntry::file_type` and `metadata` do not follow).
    let entries =
        std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())).map_err(internal)?;
    for entry in entries {
        let entry = entry.map_err(internal)?;
        usage.entries += 1;
        if usage.entries > MAX_ENTRIES {
            return Err(too_many_entries());
        }
        let kind = entry.file_type().map_err(internal)?;
        let name = entry.file_name();
        let len = prefix.len();
        if len > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(name.as_bytes());
        if kind.is_dir() {
            if depth + 1 >= MAX_DEPTH {
                return Err(Error::new(
                    ErrorCode::FilesLimitExceeded,
                    format!("the session's files are nested deeper than {MAX_DEPTH} directories"),
                ));
            }
            // Gone or replaced since it was listed: the guest is not running, so only a host
            // process could have; skip it rather than follow anything.
            if let Ok(sub) = open_dir_at(dir.as_raw_fd(), &name) {
                walk_dir(&sub, prefix, depth + 1, usage, visit)?;
            }
        } else if kind.is_file() {
            let size = entry.metadata().map_err(internal)?.len();
            usage.bytes = usage.bytes.saturating_add(size);
            visit(prefix, dir.as_raw_fd(), size)?;
        }
        prefix.truncate(len);
    }
    Ok(())
}

fn too_many_entries() -> Error {
    Error::new(
        ErrorCode::FilesLimitExceeded,
        format!("the session's files have more than {MAX_ENTRIES} entries"),
    )
}

/// The session's files total `bytes`, over `cap`.
pub(crate) fn over_cap(bytes: u64, cap: ByteSize) -> Error {
    Error::new(
        ErrorCode::FilesLimitExceeded,
        format!(
            "the session's files take {}, over its `max_files` limit of {cap}",
            ByteSize(bytes).approx()
        ),
    )
}

/// The error of opening the file `name` (of `path`) beneath `parent`.
fn file_error(path: &WorkPath, parent: &OwnedFd, name: &OsStr, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) if is_symlink_at(parent.as_raw_fd(), name) => {
            Error::invalid_input(format!("`{}` is a symbolic link", path.display()))
        }
        Some(libc::ENOENT) => Error::new(
            ErrorCode::NotFound,
            format!("no file `{}` in /work", path.display()),
        ),
        Some(libc::EISDIR) => Error::invalid_input(format!("`{}` is a directory", path.display())),
        Some(libc::ENAMETOOLONG) => {
            Error::invalid_input(format!("a name in `{}` is too long", path.display()))
        }
        Some(libc::ENXIO | libc::EWOULDBLOCK) => {
            Error::invalid_input(format!("`{}` is not a regular file", path.display()))
        }
        _ => Error::internal(format!("cannot open `{}`: {e}", path.display())),
    }
}

/// Writes `contents` to the file `name` (of `path`) beneath `parent`, made or truncated, never
/// through a symlink.
fn write_at(path: &WorkPath, parent: &OwnedFd, name: &OsStr, contents: &[u8]) -> Result<()> {
    let flags = libc::O_WRONLY
        | libc::O_CREAT
        | libc::O_TRUNC
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | libc::O_CLOEXEC;
    let mut file = open_file_at(parent.as_raw_fd(), name, flags)
        .map_err(|e| file_error(path, parent, name, e))?;
    file.write_all(contents)
        .map_err(|e| Error::internal(format!("cannot write `{}`: {e}", path.display())))
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path holds a NUL byte"))
}

/// Opens the file `name` beneath `dir` with `flags` (which include `O_NOFOLLOW`), mode 0644 when made.
fn open_file_at(dir: RawFd, name: &OsStr, flags: i32) -> io::Result<std::fs::File> {
    let name = c_name(name)?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; `dir` is an open descriptor.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `openat` returned a new descriptor that nothing else owns.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Makes the directory `name` beneath `dir` unless something is there already.
fn mkdir_at(dir: RawFd, name: &OsStr) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: as in `open_file_at`.
    if unsafe { libc::mkdirat(dir, name.as_ptr(), 0o755) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    Ok(())
}

/// The size of `name` beneath `dir` if it is a regular file (not followed).
fn regular_size_at(dir: RawFd, name: &OsStr) -> Option<u64> {
    let name = c_name(name).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated; `stat` is large enough and read only after success.
    let ok = unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            stat.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        ) == 0
    };
    // SAFETY: `fstatat` succeeded, so `stat` is initialised.
    let stat = ok.then(|| unsafe { stat.assume_init() })?;
    (stat.st_mode & libc::S_IFMT == libc::S_IFREG).then_some(stat.st_size as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths_parse_and_escapes_are_refused() {
        let parts = |p: &str| WorkPath::parse(p).unwrap().to_bytes();
        assert_eq!(parts("data/in.csv"), b"data/in.csv");
        assert_eq!(parts("/work/data/in.csv"), b"data/in.csv");
        assert_eq!(parts("./a//b/"), b"a/b");
        for bad in [
            "",
            "/",
            "/work",
            "/work/",
            "..",
            "a/../b",
            "/etc/passwd",
            "/workx/a",
            "a\0b",
            ".",
        ] {
            let e = WorkPath::parse(bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidInput, "{bad:?}");
        }
        assert!(WorkPath::parse(&"a".repeat(5000)).is_err());
        assert!(WorkPath::from_bytes(b"a/b").is_some());
        for bad in [&b""[..], b"a//b", b"../x", b"a/./b", b"a\0"] {
            assert!(WorkPath::from_bytes(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn host_operations_never_follow_links() {
        let base = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let work = WorkDir::create(Some(base.path())).unwrap();
        let cap = ByteSize::mib(1);
        let root = work.host_path();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("link")).unwrap();
        let path = |p: &str| WorkPath::parse(p).unwrap();
        for p in ["out/secret", "link"] {
            let e = work.read(&path(p), cap).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidInput, "{p}: {e}");
            assert!(e.message().contains("symbolic link"), "{e}");
            let e = work.write(&path(p), b"x", cap).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidInput, "{p}: {e}");
        }
        assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"s");
        work.write(&path("a/b/c.txt"), b"hello", cap).unwrap();
        assert_eq!(work.read(&path("/work/a/b/c.txt"), cap).unwrap(), b"hello");
        let listed = work.list().unwrap();
        assert_eq!(
            listed,
            vec![FileEntry {
                path: "a/b/c.txt".into(),
                size: 5
            }]
        );
        assert_eq!(
            work.read(&path("nope"), cap).unwrap_err().code(),
            ErrorCode::NotFound
        );
        assert_eq!(
            work.read(&path("a/b"), cap).unwrap_err().code(),
            ErrorCode::InvalidInput
        );
        let host = work.host_path().to_path_buf();
        drop(work);
        assert!(!host.exists(), "the directory goes with the session");
        assert!(
            outside.path().join("secret").exists(),
            "never through a link"
        );
    }

    #[test]
    fn the_cap_refuses_a_write_before_it_is_made() {
        let work = WorkDir::create(None).unwrap();
        let cap = ByteSize(10);
        let path = |p: &str| WorkPath::parse(p).unwrap();
        work.write(&path("a"), b"123456", cap).unwrap();
        let e = work.write(&path("b"), b"12345", cap).unwrap_err();
        assert_eq!(e.code(), ErrorCode::FilesLimitExceeded, "{e}");
        assert!(work.read(&path("b"), cap).is_err(), "nothing was written");
        // Rewriting a file counts its new size, not both.
        work.write(&path("a"), b"1234567890", cap).unwrap();
        work.write(&path("a"), b"", cap).unwrap();
        work.write(&path("b"), b"1234567890", cap).unwrap();
        assert_eq!(work.usage().unwrap().bytes, 10);
    }
}
