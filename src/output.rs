//! Writing files without destroying anything: the atomic replace every
//! saved model, checkpoint, report and prediction file goes through, and the
//! checks a program makes on its output paths before it starts long work.
//!
//! The rules ([`write_atomically`], [`check_output`]):
//!
//! * the target must be a regular file or not exist yet: a directory, a
//!   device (`/dev/full`, `/dev/null`), a FIFO or a socket is refused, never
//!   replaced;
//! * a symbolic link at the target is followed: the file it names is
//!   replaced and the link stays (a link to a missing file is refused);
//! * the new contents go to a temporary file created next to the target with
//!   `O_EXCL` and an unpredictable name (the `tempfile` crate), fsynced, then
//!   renamed over the target, and the folder is fsynced: a crash leaves the
//!   old file or the new one, whole, and a link planted at a temporary name
//!   cannot redirect the write. The temporary file is removed on every error;
//! * a replaced file keeps its permissions; a new one gets the usual
//!   `0666 & !umask`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        file: path.display().to_string(),
        source,
    }
}

fn refuse(path: &Path, reason: impl Into<String>) -> Error {
    Error::Output {
        file: path.display().to_string(),
        reason: reason.into(),
    }
}

/// What a non-regular file is, for messages.
fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// The file a write to `path` replaces: `path` itself, or the file its
/// symbolic link (chain) names. Refuses targets that are not regular files
/// and links to missing files.
pub fn resolve_output(path: &Path) -> Result<PathBuf, Error> {
    if path.as_os_str().is_empty() {
        return Err(refuse(path, "the path is empty"));
    }
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(e) => Err(io(path)(e)),
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::canonicalize(path).map_err(|_| {
                refuse(
                    path,
                    "it is a symbolic link to a missing file (refusing to create the file it names)",
                )
            })?;
            let meta = fs::metadata(&target).map_err(io(&target))?;
            if !meta.is_file() {
                return Err(refuse(
                    path,
                    format!(
                        "it is a symbolic link to {}, which is {}",
                        target.display(),
                        kind_of(&meta)
                    ),
                ));
            }
            Ok(target)
        }
        Ok(m) if m.is_file() => Ok(path.to_path_buf()),
        Ok(m) => Err(refuse(path, format!("it is {}, not a regular file", kind_of(&m)))),
    }
}

/// The folder `path` is written in.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Checks, before any long work, that `path` can be written: its target is
/// acceptable ([`resolve_output`]) and its folder exists and lets this
/// process create a file (tried with a temporary file, removed at once).
///
/// ```
/// use wildsgd::output::check_output;
/// let dir = std::env::temp_dir();
/// assert!(check_output(&dir.join("wildsgd-doc-output.model")).is_ok());
/// assert!(check_output(&dir).is_err()); // a directory
/// assert!(check_output(&dir.join("no-such-folder/m.model")).is_err());
/// ```
pub fn check_output(path: &Path) -> Result<PathBuf, Error> {
    let target = resolve_output(path)?;
    let dir = folder_of(&target);
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(refuse(path, format!("{} is not a folder", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(path, format!("the folder {} does not exist", dir.display())))
        }
        Err(e) => return Err(io(dir)(e)),
    }
    tempfile::Builder::new()
        .prefix(".wildsgd-probe-")
        .tempfile_in(dir)
        .map_err(|e| refuse(path, format!("cannot create a file in {}: {e}", dir.display())))?;
    Ok(target)
}

/// Whether `a` and `b` name the same file: the same device and inode when
/// both exist (hard links and symbolic links included), else the same
/// canonical folder and file name.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (fs::metadata(a), fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    let canon = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = fs::canonicalize(p) {
            return Some(c);
        }
        let dir = fs::canonicalize(folder_of(p)).ok()?;
        Some(dir.join(p.file_name()?))
    };
    match (canon(a), canon(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Writes `bytes` to `path` so that a crash leaves the old or the new file,
/// never a mixture, following the rules of this module.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let target = resolve_output(path)?;
    let dir = folder_of(&target);
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |f| f.to_string_lossy().into_owned());
    let old_permissions = fs::metadata(&target).ok().map(|m| m.permissions());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Created with 0666, which the kernel masks with the umask, as a
        // plain `File::create` would be (tempfile's default is 0600).
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io(dir))?;
    // From here on an error drops `tmp`, which removes the temporary file.
    tmp.write_all(bytes).map_err(io(tmp.path()))?;
    if let Some(p) = old_permissions {
        tmp.as_file().set_permissions(p).map_err(io(&target))?;
    }
    tmp.as_file().sync_all().map_err(io(tmp.path()))?;
    tmp.persist(&target).map_err(|e| io(&target)(e.error))?;
    sync_dir(dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), Error> {
    // Directories cannot be opened for syncing here; the rename is still atomic.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_regular_files_through_links_and_refuses_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("m");
        write_atomically(&f, b"one").unwrap();
        write_atomically(&f, b"two").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        assert!(write_atomically(d.path(), b"x").is_err());
        #[cfg(unix)]
        {
            let link = d.path().join("link");
            std::os::unix::fs::symlink(&f, &link).unwrap();
            write_atomically(&link, b"three").unwrap();
            assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
            assert_eq!(fs::read(&f).unwrap(), b"three");
            let dangling = d.path().join("dangling");
            std::os::unix::fs::symlink(d.path().join("missing"), &dangling).unwrap();
            assert!(write_atomically(&dangling, b"x").is_err());
            assert!(!d.path().join("missing").exists());
            assert!(same_file(&link, &f));
        }
        // Nothing but the targets is left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")),
            "{names:?}"
        );
        assert!(check_output(&d.path().join("nope/m")).is_err());
        assert!(!same_file(&f, &d.path().join("other")));
        assert!(same_file(&d.path().join("new"), &d.path().join("./new")));
    }
}
