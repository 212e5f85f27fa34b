//! One exclusive `flock` per cache entry (`<root>/<kind>/<name>.lock`).
//!
//! Prune may delete a lock file, but only while it holds that lock. Whoever
//! waited on the deleted file finds, once it gets the lock, that the path no
//! longer names the file it locked, and locks the path again; so two holders
//! of "the" lock of an entry can never coexist.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A held lock; released when dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
    path: PathBuf,
}

fn open(path: &Path) -> io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// `flock(LOCK_EX)`, without blocking when `wait` is false. `Ok(false)`: held
/// elsewhere.
fn flock(file: &File, wait: bool) -> io::Result<bool> {
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if !wait => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// Whether `file` is still the file at `path` (prune did not delete it).
fn still_there(file: &File, path: &Path) -> io::Result<bool> {
    let ours = file.metadata()?;
    Ok(match std::fs::metadata(path) {
        Ok(now) => now.dev() == ours.dev() && now.ino() == ours.ino(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    })
}

impl Lock {
    /// Take the lock, waiting for its holder if there is one; `on_wait` is
    /// called once, before waiting. The wait polls, so an interrupt of
    /// extmatrix (`extmatrix_process::interrupt`) ends it with an error
    /// instead of leaving it blocked until another run's build is done.
    pub(crate) fn acquire(path: &Path, on_wait: &dyn Fn()) -> io::Result<Lock> {
        let mut told = false;
        loop {
            let file = open(path)?;
            while !flock(&file, false)? {
                if !told {
                    on_wait();
                    told = true;
                }
                if extmatrix_process::interrupted().is_some() {
                    return Err(io::Error::new(
                        io::ErrorKind::Interrupted,
                        "extmatrix was interrupted while waiting for another run's build",
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if still_there(&file, path)? {
                return Ok(Lock {
                    file,
                    path: path.to_owned(),
                });
            }
        }
    }

    /// Take the lock if nobody holds it.
    pub(crate) fn try_acquire(path: &Path) -> io::Result<Option<Lock>> {
        loop {
            let file = open(path)?;
            if !flock(&file, false)? {
                return Ok(None);
            }
            if still_there(&file, path)? {
                return Ok(Some(Lock {
                    file,
                    path: path.to_owned(),
                }));
            }
        }
    }

    /// Whether someone holds the lock at `path` now (creates nothing).
    pub(crate) fn is_held(path: &Path) -> bool {
        match File::open(path) {
            // Taken and released at once when `file` is dropped.
            Ok(file) => !flock(&file, false).unwrap_or(true),
            Err(_) => false,
        }
    }

    /// Delete the lock file, then release the lock.
    pub(crate) fn remove(self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: flock on an fd we own. Closing the file releases it too.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}
