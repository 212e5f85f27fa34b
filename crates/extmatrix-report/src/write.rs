//! Writing a report to the path a user gave, whatever that path is.
//!
//! - A regular file, or a path where nothing is yet: the report is written
//!   to a temporary file beside it and renamed over it, so a reader never
//!   sees half a report. A new file gets the mode the umask leaves of
//!   0666 (0644 under umask 022); a file that is replaced keeps its mode.
//! - A symlink is followed (hop by hop, at most [`MAX_LINKS`]) and the rule
//!   applies to what it points at: the target is written, the link stays
//!   a link. A dangling link creates its target.
//! - A FIFO or a character device (a terminal, `/dev/null`) is opened and
//!   written, never replaced.
//! - One of our own file descriptors — `/dev/stdout`, `/dev/stderr`,
//!   `/dev/fd/N`, `/proc/self/fd/N`, or a link to one of them — is written
//!   through that descriptor, where it stands: after the table when stdout
//!   is a file, down the pipe when it is a pipe. It is never opened anew
//!   (which would start a redirected file over) nor replaced.
//! - A directory, a block device, a socket: refused.
//!
//! [`check_report_path`] says before a run whether the path can take a
//! report, by the same rules.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The most symlinks followed from a report path.
pub const MAX_LINKS: usize = 40;

/// Where a report goes, as [`write_report`](crate::write_report) treats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A regular file (with its mode) or a new path: a temporary file
    /// beside it, renamed over it.
    Replace { path: PathBuf, mode: Option<u32> },
    /// A FIFO or a character device: opened for writing.
    Open(PathBuf),
    /// One of this process's open file descriptors.
    Fd(RawFd),
}

/// The directory a report at `path` is written in (and its temporary file).
pub fn report_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn refused(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

/// The descriptor `path` names when it is one of ours: `/dev/stdout`,
/// `/dev/stderr`, `/dev/stdin`, `/dev/fd/N`, `/proc/self/fd/N`,
/// `/proc/<our pid>/fd/N`.
fn own_fd(path: &Path) -> Option<RawFd> {
    let text = path.to_str()?;
    match text {
        "/dev/stdin" => return Some(0),
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        _ => {}
    }
    let pid = format!("/proc/{}/fd/", std::process::id());
    let n = text
        .strip_prefix("/dev/fd/")
        .or_else(|| text.strip_prefix("/proc/self/fd/"))
        .or_else(|| text.strip_prefix("/proc/thread-self/fd/"))
        .or_else(|| text.strip_prefix(pid.as_str()))?;
    n.parse().ok()
}

/// Where a report at `path` would go.
pub(crate) fn destination(path: &Path) -> io::Result<Destination> {
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return Err(refused("it names a directory".into()));
    }
    let mut at = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        if let Some(fd) = own_fd(&at) {
            return Ok(Destination::Fd(fd));
        }
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Destination::Replace {
                    path: at,
                    mode: None,
                })
            }
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(&at)?;
            at = report_dir(&at).join(target);
            continue;
        }
        return if kind.is_file() {
            Ok(Destination::Replace {
                path: at,
                mode: Some(meta.permissions().mode() & 0o7777),
            })
        } else if kind.is_fifo() || kind.is_char_device() {
            Ok(Destination::Open(at))
        } else if kind.is_dir() {
            Err(refused(format!("{} is a directory", at.display())))
        } else if kind.is_block_device() {
            Err(refused(format!(
                "{} is a block device; a report is never written over one",
                at.display()
            )))
        } else {
            Err(refused(format!(
                "{} is a socket, not a file a report can be written to",
                at.display()
            )))
        };
    }
    Err(refused(format!(
        "more than {MAX_LINKS} symbolic links from {}",
        path.display()
    )))
}

/// Write `text` where `path` says ([`destination`]).
pub fn write_text(text: &str, path: &Path) -> io::Result<()> {
    match destination(path)? {
        Destination::Replace { path, mode } => {
            let name = path
                .file_name()
                .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
            let mut tmp = tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".tmp")
                // The umask decides what a new report's mode is.
                .permissions(std::fs::Permissions::from_mode(0o666))
                .tempfile_in(report_dir(&path))?;
            if let Some(mode) = mode {
                tmp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(mode))?;
            }
            tmp.write_all(text.as_bytes())?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        }
        Destination::Open(path) => {
            let mut file = File::options().write(true).open(path)?;
            file.write_all(text.as_bytes())?;
            file.flush()
        }
        Destination::Fd(fd) => {
            if fd == 1 {
                io::stdout().flush()?;
            }
            // A duplicate: the same open file (and offset) as `fd`, closed
            // here without closing `fd`.
            // SAFETY: dup of a descriptor number; -1 is an error.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if dup < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `dup` is a new descriptor that nothing else owns.
            let mut file = unsafe { File::from_raw_fd(dup) };
            file.write_all(text.as_bytes())?;
            file.flush()
        }
    }
}

/// Append `text` to the file at `path`, creating it: how a CI system's
/// summary file (`$GITHUB_STEP_SUMMARY`) is written, since other steps
/// write it too.
pub fn append_text(text: &str, path: &Path) -> io::Result<()> {
    let mut file = File::options().append(true).create(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

/// Whether a report can be written at `path`, without writing it: what
/// [`write_report`](crate::write_report) will do there must be possible
/// now. `Err` says why not, for a message after the path.
///
/// Checked: the path names no directory, block device or socket; a FIFO
/// or device is writable; a descriptor is open for writing; for a regular
/// file or a new path, its directory exists, a file can be created in it
/// (this is what catches `/proc`, `/sys`, a read-only or unwritable
/// directory), and its filesystem is not full.
pub fn check_report_path(path: &Path) -> Result<(), String> {
    match destination(path).map_err(|e| e.to_string())? {
        Destination::Fd(fd) => {
            // SAFETY: F_GETFL on a descriptor number; -1 is an error.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            if flags < 0 {
                return Err(format!("file descriptor {fd} is not open"));
            }
            if flags & libc::O_ACCMODE == libc::O_RDONLY {
                return Err(format!("file descriptor {fd} is open for reading only"));
            }
            Ok(())
        }
        Destination::Open(path) => {
            writable(&path).map_err(|e| format!("{} cannot be written: {e}", path.display()))
        }
        Destination::Replace { path, .. } => {
            let dir = report_dir(&path);
            if !dir.is_dir() {
                return Err(format!("the directory {} does not exist", dir.display()));
            }
            tempfile::Builder::new()
                .prefix(".extmatrix-write-check.")
                .tempfile_in(dir)
                .map_err(|e| format!("no file can be written in {}: {e}", dir.display()))?;
            if filesystem_full(dir) {
                return Err(format!("the filesystem of {} is full", dir.display()));
            }
            Ok(())
        }
    }
}

/// `access(W_OK)`.
fn writable(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether the filesystem of `dir` has no block left for us.
fn filesystem_full(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs fills `st` for a NUL-terminated path.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return false;
        }
        // Root may use the reserved blocks too.
        let free = if libc::geteuid() == 0 {
            st.f_bfree
        } else {
            st.f_bavail
        };
        // Filesystems without blocks (procfs) say 0 of 0: not full, and
        // not writable either, which the creation check says.
        st.f_blocks > 0 && free == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sample, write_report, Format, Json};

    #[test]
    fn a_summary_is_appended_after_what_earlier_steps_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step-summary.md");
        append_text("# ours\n", &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# ours\n");
        std::fs::write(&path, "# earlier\n").unwrap();
        append_text("# ours\n", &path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# earlier\n# ours\n"
        );
        assert!(append_text("x", dir.path()).is_err(), "a directory");
    }
    use std::os::fd::AsRawFd;

    fn json() -> String {
        Json.render(&sample::report())
    }

    fn write(path: &Path) -> io::Result<()> {
        write_report(&Json, &sample::report(), path)
    }

    fn mkfifo(path: &Path) {
        assert!(std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap()
            .success());
    }

    /// Mutation caught: a rename over the link (the link became a file and
    /// its target was never written).
    #[test]
    fn a_symlink_is_followed_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write(&link).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real.json"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), json());

        // A link to a link to nothing yet: the end of the chain is created.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::os::unix::fs::symlink(sub.join("new.json"), dir.path().join("hop2")).unwrap();
        std::os::unix::fs::symlink("hop2", dir.path().join("hop1")).unwrap();
        write(&dir.path().join("hop1")).unwrap();
        assert_eq!(
            std::fs::read_to_string(sub.join("new.json")).unwrap(),
            json()
        );
        assert!(std::fs::symlink_metadata(dir.path().join("hop1"))
            .unwrap()
            .file_type()
            .is_symlink());

        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("loop-b", dir.path().join("loop-a")).unwrap();
        std::os::unix::fs::symlink("loop-a", dir.path().join("loop-b")).unwrap();
        let e = write(&dir.path().join("loop-a")).unwrap_err();
        assert!(e.to_string().contains("symbolic links"), "{e}");
    }

    /// Mutation caught: a rename over the FIFO (its reader got nothing and
    /// the FIFO became a file).
    #[test]
    fn a_fifo_is_opened_and_written() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("report.fifo");
        mkfifo(&fifo);
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let fifo = fifo.clone();
            std::thread::spawn(move || tx.send(std::fs::read_to_string(fifo).unwrap()));
        }
        check_report_path(&fifo).unwrap();
        write(&fifo).unwrap();
        let read = rx.recv_timeout(std::time::Duration::from_secs(10));
        if read.is_err() {
            // Let the reader go: open the FIFO's other end once.
            let _ = File::options().write(true).open(&fifo);
        }
        assert_eq!(read.expect("the reader got the report"), json());
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
    }

    /// Mutation caught: `/dev/fd/N` opened anew or replaced instead of
    /// written through the descriptor.
    #[test]
    fn an_own_descriptor_is_written_through() {
        let (mut reader, writer) = io::pipe().unwrap();
        let path = PathBuf::from(format!("/dev/fd/{}", writer.as_raw_fd()));
        assert_eq!(
            destination(&path).unwrap(),
            Destination::Fd(writer.as_raw_fd())
        );
        check_report_path(&path).unwrap();
        let read = std::thread::spawn(move || {
            let mut text = String::new();
            io::Read::read_to_string(&mut reader, &mut text).unwrap();
            text
        });
        write(&path).unwrap();
        drop(writer);
        assert_eq!(read.join().unwrap(), json());
        for (path, fd) in [
            ("/dev/stdout", 1),
            ("/dev/stderr", 2),
            ("/proc/self/fd/7", 7),
        ] {
            assert_eq!(
                destination(Path::new(path)).unwrap(),
                Destination::Fd(fd),
                "{path}"
            );
        }
        let closed = Path::new("/dev/fd/987");
        assert!(check_report_path(closed).unwrap_err().contains("not open"));
    }

    /// Mutation caught: the temporary file's 0600 kept (others could not
    /// read a report a user shares).
    #[test]
    fn a_new_report_gets_the_umask_s_mode_and_a_replaced_one_keeps_its_own() {
        // SAFETY: umask is process-wide; nextest runs each test alone.
        let old = unsafe { libc::umask(0o022) };
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.json");
        write(&new).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&new), 0o644);

        let kept = dir.path().join("kept.json");
        std::fs::write(&kept, "old").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&kept).unwrap();
        assert_eq!(mode(&kept), 0o640);
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), json());
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file left");
    }

    #[test]
    fn paths_that_cannot_take_a_report_are_said_before() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        // A directory, with or without the slash.
        assert!(check_report_path(dir.path())
            .unwrap_err()
            .contains("is a directory"));
        let slash = format!("{d}/");
        assert!(check_report_path(Path::new(&slash))
            .unwrap_err()
            .contains("names a directory"));
        assert!(write(dir.path()).is_err());
        // A missing directory.
        let missing = dir.path().join("no/r.json");
        assert_eq!(
            check_report_path(&missing).unwrap_err(),
            format!("the directory {d}/no does not exist")
        );
        // /proc takes no new file, even from root.
        let proc = check_report_path(Path::new("/proc/extmatrix-report.json")).unwrap_err();
        assert!(proc.contains("no file can be written in /proc"), "{proc}");
        // A character device is fine; a block device never.
        check_report_path(Path::new("/dev/null")).unwrap();
        if let Some(block) = std::fs::read_dir("/dev")
            .unwrap()
            .flatten()
            .find(|e| e.file_type().is_ok_and(|t| t.is_block_device()))
        {
            let e = check_report_path(&block.path()).unwrap_err();
            assert!(e.contains("block device"), "{e}");
        }
        // A new path and an existing file in a writable directory: fine,
        // and the check leaves nothing behind.
        check_report_path(&dir.path().join("r.json")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_unwritable_directory_is_said_before() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Root writes anywhere the mode says no; /proc covers the path.
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
        let e = check_report_path(&dir.path().join("r.json")).unwrap_err();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(e.contains("no file can be written"), "{e}");
    }
}
