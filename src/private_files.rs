//! Files and directories only their owner may read: the data directory
//! (mode 0700) and what holds keys, MACs and the database (mode 0600). Every
//! command that writes state creates them through here, so none can be left
//! to the umask.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates `dir` (and its parents) with mode 0700. An existing directory is
/// left as it is.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates the empty file `path` with mode 0600 unless it exists (an existing
/// file is left as it is): for a file another library then opens and fills
/// (SQLite would follow the umask).
pub fn create_file_if_missing(path: &Path) -> io::Result<()> {
    match create_new(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Writes `contents` to the new file `path` (mode 0600) and syncs it to disk.
/// Fails if the file exists: a key file is never overwritten.
pub fn write_new_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = create_new(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn only_the_owner_may_read_what_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        create_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        let file = data.join("db");
        create_file_if_missing(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        let key = data.join("key");
        write_new_file(&key, b"secret\n").unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(std::fs::read(&key).unwrap(), b"secret\n");
        // Never overwritten; an existing file is left alone.
        assert!(write_new_file(&key, b"other").is_err());
        create_file_if_missing(&key).unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), b"secret\n");
    }
}
