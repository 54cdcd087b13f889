//! The files a Python component reads by path at run time: the
//! application's own (templates, static files, data, and its sources, for
//! tracebacks) and its packages' data files (Django's translations,
//! `*.dist-info` metadata, Jinja templates of extensions).
//!
//! componentize-py bundles no filesystem, so `python build` packs these
//! files into a custom section of the component, [`FILES_SECTION`]: a tar
//! stream, zstd-compressed, whose top-level directories are the guest
//! mounts the build imported from (`1/templates/a.html` is
//! `/1/templates/a.html` in the guest, where the build found it). At load
//! the host unpacks the section once per content (keyed by its SHA-256),
//! into the compile cache's directory, and grants each mount read-only, so
//! a template rendered for the first time at run time is found where the
//! build saw it, with no `--dir` from the operator.
//!
//! The unpacked copies are bounded like the compiled code beside them: after
//! a load unpacks a new copy, the least recently used copies go until all
//! of them fit the cache's size bound ([`trim`]). A copy in use is never
//! removed, by this server or another one sharing the directory: each
//! process holds a shared lock (`flock`) on the copy's lock file for as long
//! as a loaded component uses it, and a copy is removed only under an
//! exclusive lock, taken without waiting.
//!
//! A component comes from a tenant: the section is hostile input. Only
//! regular files and directories are unpacked, under mounts named by digits,
//! with no `..`, absolute path or link, within [`MAX_FILES`] and
//! [`MAX_BYTES`]; anything else refuses the component at load.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// The custom section holding a Python component's run-time files.
pub const FILES_SECTION: &str = "wasm-gateway:python-files";

/// The most files one component may unpack.
pub const MAX_FILES: u64 = 100_000;

/// The most bytes (uncompressed) one component may unpack.
pub const MAX_BYTES: u64 = 512 << 20;

/// Builds the section's content from directory trees.
pub struct Packer {
    builder: tar::Builder<zstd::Encoder<'static, Vec<u8>>>,
}

/// What one [`Packer::add_tree`] packed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packed {
    /// Files.
    pub files: u64,
    /// Their bytes, uncompressed.
    pub bytes: u64,
}

impl Packer {
    /// An empty archive.
    pub fn new() -> std::io::Result<Self> {
        let encoder = zstd::Encoder::new(Vec::new(), 19)?;
        let mut builder = tar::Builder::new(encoder);
        // Same files, same bytes: a rebuild maps to the same unpacked copy.
        builder.mode(tar::HeaderMode::Deterministic);
        builder.follow_symlinks(true);
        Ok(Packer { builder })
    }

    /// Adds the regular files under `root` that `keep` accepts (given their
    /// path relative to `root`), as `mount/relative`, in name order.
    /// Directories named `__pycache__` or starting with a dot are skipped.
    pub fn add_tree(
        &mut self,
        mount: &str,
        root: &Path,
        keep: &dyn Fn(&Path) -> bool,
    ) -> std::io::Result<Packed> {
        let mut packed = Packed::default();
        let mut pending = vec![PathBuf::new()];
        while let Some(relative) = pending.pop() {
            let mut entries: Vec<_> =
                std::fs::read_dir(root.join(&relative))?.collect::<Result<Vec<_>, _>>()?;
            entries.sort_by_key(|e| e.file_name());
            // Reversed onto the stack, so directories come out in order.
            for entry in entries.into_iter().rev() {
                let name = entry.file_name();
                let path = relative.join(&name);
                let hidden = name.to_string_lossy().starts_with('.');
                // Follows links, as a Python import would.
                let Ok(meta) = std::fs::metadata(entry.path()) else {
                    continue;
                };
                if meta.is_dir() {
                    if !hidden && name != "__pycache__" && pending.len() < 4096 {
                        pending.push(path);
                    }
                } else if meta.is_file() && !hidden && keep(&path) {
                    self.builder
                        .append_path_with_name(entry.path(), Path::new(mount).join(&path))?;
                    packed.files += 1;
                    packed.bytes += meta.len();
                }
            }
        }
        Ok(packed)
    }

    /// The section's content.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        self.builder.into_inner()?.finish()
    }
}

/// The content of `wasm`'s top-level custom section `name`, if any.
pub fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Option<&'a [u8]> {
    use wasmtime::wasmparser::{Parser, Payload};
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(section) if depth == 0 && section.name() == name => {
                return Some(section.data());
            }
            _ => {}
        }
    }
    None
}

/// Why a component's files cannot be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The section is not what `python build` writes.
    #[error(
        "its {FILES_SECTION} section is malformed ({0}); rebuild it with `wasm-gateway python build`"
    )]
    Malformed(String),
    /// Beyond [`MAX_FILES`] or [`MAX_BYTES`].
    #[error("its {FILES_SECTION} section unpacks to more than {MAX_FILES} files or {} MiB; leave large data out of the application directory", MAX_BYTES >> 20)]
    TooLarge,
    /// Writing the files failed.
    #[error("unpacking its files into {dir}: {source}")]
    Io {
        /// Where.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Appends the custom section `name` holding `content` to `wasm`, at its
/// top level, where [`custom_section`] finds it.
pub fn append_section(wasm: &mut Vec<u8>, name: &str, content: &[u8]) {
    fn leb(out: &mut Vec<u8>, mut value: usize) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut head = Vec::new();
    leb(&mut head, name.len());
    head.extend_from_slice(name.as_bytes());
    wasm.push(0); // custom section id
    leb(wasm, head.len() + content.len());
    wasm.extend_from_slice(&head);
    wasm.extend_from_slice(content);
}

/// Files unpacked for one component content.
#[derive(Debug)]
pub struct Unpacked {
    /// Guest path (`/1`) and host directory of each mount, in order.
    pub mounts: Vec<(String, PathBuf)>,
    /// Keeps the copy from being trimmed while it is held.
    pub in_use: InUse,
    /// Whether this call unpacked it (a new copy: time to trim).
    pub new: bool,
}

/// A shared lock on a copy's lock file: while any process holds one, no
/// server removes the copy.
#[derive(Debug)]
pub struct InUse {
    _lock: std::fs::File,
}

/// The lock file of the copy named `name`: beside it, so that removing the
/// copy and creating it again never races with its lock.
fn lock_path(parent: &Path, name: &str) -> PathBuf {
    parent.join(format!("{name}.lock"))
}

/// Whether `file` is still the file at `path` (a trimmer may have removed
/// it, and another server created a new one, between an open and a lock).
fn still_at(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(held), Ok(there)) => held.dev() == there.dev() && held.ino() == there.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// Takes a shared lock on the copy `name` and marks it used now (the lock
/// file's modification time is its last use, which [`trim`] goes by).
fn hold(parent: &Path, name: &str) -> std::io::Result<InUse> {
    let path = lock_path(parent, name);
    // Each retry follows a removal by another server: a few at most.
    for _ in 0..100 {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        lock.lock_shared()?;
        if still_at(&lock, &path) {
            lock.set_modified(std::time::SystemTime::now())?;
            return Ok(InUse { _lock: lock });
        }
    }
    Err(std::io::Error::other(format!(
        "its lock file {} keeps being replaced",
        path.display()
    )))
}

/// Unpacks `section` under `root/python-files/<sha256>/` unless it is there
/// already (a rename makes each copy appear whole, so concurrent servers
/// never see half of one); returns its mounts, held in use.
pub fn unpack(section: &[u8], root: &Path) -> Result<Unpacked, FilesError> {
    let hash = Sha256::digest(section);
    let name: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let parent = root.join("python-files");
    let dir = parent.join(&name);
    let io = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |source| FilesError::Io { dir, source }
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    // Held before the copy is looked at: it cannot be trimmed from now on.
    let in_use = hold(&parent, &name).map_err(io(&parent))?;
    let new = !dir.is_dir();
    let unpacked = if new {
        unpack_new(section, &parent, &dir)
    } else {
        Ok(())
    };
    if let Err(err) = unpacked {
        // A refused section leaves nothing behind, not even its lock file
        // (unless another server holds it too).
        let lock = in_use._lock;
        if lock.try_lock().is_ok() {
            let _ = std::fs::remove_file(lock_path(&parent, &name));
        }
        return Err(err);
    }
    let mut mounts = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let entry = entry.map_err(io(&dir))?;
        let mount = entry.file_name().to_string_lossy().into_owned();
        if is_mount(&mount) {
            mounts.push((format!("/{mount}"), entry.path()));
        }
    }
    mounts.sort();
    Ok(Unpacked {
        mounts,
        in_use,
        new,
    })
}

/// Unpacks `section` into a staging directory under `parent`, then renames
/// it to `dir` (unless another server's copy got there first).
fn unpack_new(section: &[u8], parent: &Path, dir: &Path) -> Result<(), FilesError> {
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)
        .map_err(|source| FilesError::Io {
            dir: parent.to_path_buf(),
            source,
        })?;
    unpack_into(section, staging.path())?;
    let staged = staging.keep();
    if let Err(source) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another server unpacked the same content first.
        if !dir.is_dir() {
            return Err(FilesError::Io {
                dir: dir.to_path_buf(),
                source,
            });
        }
    }
    Ok(())
}

/// Removes the least recently used copies under `root/python-files` until
/// the copies take at most `max_size` bytes, skipping any copy a process
/// holds (see [`InUse`]); also what a crash left behind (a half-unpacked
/// staging directory over an hour old, a removal cut short). Returns the
/// bytes removed. Failures are skipped: trimming is housekeeping.
pub fn trim(root: &Path, max_size: u64) -> u64 {
    let parent = root.join("python-files");
    let Ok(entries) = std::fs::read_dir(&parent) else {
        return 0;
    };
    let mut copies = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with(".trash-") {
            let _ = std::fs::remove_dir_all(&path);
        } else if name.starts_with(".unpacking-") {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
            if stale {
                let _ = std::fs::remove_dir_all(&path);
            }
        } else if let Some(copy) = name.strip_suffix(".lock") {
            // The lock file of a copy gone (or not unpacked yet: then its
            // server holds it, and it stays).
            if !parent.join(copy).exists()
                && let Ok(lock) = std::fs::File::open(&path)
                && lock.try_lock().is_ok()
                && still_at(&lock, &path)
            {
                let _ = std::fs::remove_file(&path);
            }
        } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let used = std::fs::metadata(lock_path(&parent, &name))
                .or_else(|_| entry.metadata())
                .and_then(|m| m.modified())
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
            copies.push((used, tree_size(&path), name));
        }
    }
    let mut total: u64 = copies.iter().map(|(_, size, _)| size).sum();
    copies.sort();
    let mut removed = 0;
    for (_, size, name) in copies {
        if total <= max_size {
            break;
        }
        if remove_unless_held(&parent, &name) {
            total -= size;
            removed += size;
        }
    }
    removed
}

/// Removes the copy `name` if no process holds it: under an exclusive lock
/// on its lock file, taken without waiting, the copy is renamed away (gone
/// at once for any later look), then deleted, and the lock file with it.
fn remove_unless_held(parent: &Path, name: &str) -> bool {
    let path = lock_path(parent, name);
    let Ok(lock) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
    else {
        return false;
    };
    if lock.try_lock().is_err() || !still_at(&lock, &path) {
        return false;
    }
    let trash = parent.join(format!(".trash-{name}-{}", std::process::id()));
    if std::fs::rename(parent.join(name), &trash).is_err() {
        return false;
    }
    // A server that opened the lock file before this and locks it after
    // finds it gone (`still_at`) and takes the new one. The copy is out of
    // sight already: no server waits for its deletion.
    let _ = std::fs::remove_file(&path);
    drop(lock);
    let _ = std::fs::remove_dir_all(&trash);
    true
}

/// The bytes of the files under `dir`.
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => tree_size(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// A top-level directory of the archive: a componentize-py mount, `/1`...
fn is_mount(name: &str) -> bool {
    !name.is_empty() && name.len() <= 4 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Unpacks `section` into the empty directory `dir`, checking every entry.
fn unpack_into(section: &[u8], dir: &Path) -> Result<(), FilesError> {
    let malformed = |e: std::io::Error| FilesError::Malformed(e.to_string());
    let decoder = zstd::Decoder::new(section).map_err(malformed)?;
    // One byte past the cap, to tell "at the cap" from "over it".
    let mut archive = tar::Archive::new(decoder.take(MAX_BYTES + (64 << 20)));
    let (mut files, mut bytes) = (0u64, 0u64);
    for entry in archive.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        let kind = entry.header().entry_type();
        let path = entry.path().map_err(malformed)?.into_owned();
        let mut parts = path.components();
        let top_ok = matches!(parts.next(), Some(Component::Normal(top)) if is_mount(&top.to_string_lossy()));
        if !top_ok || !parts.all(|c| matches!(c, Component::Normal(_))) {
            return Err(FilesError::Malformed(format!(
                "entry {} is outside its mounts",
                path.display()
            )));
        }
        match kind {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular => {}
            other => {
                return Err(FilesError::Malformed(format!(
                    "entry {} is a {other:?}, not a file",
                    path.display()
                )));
            }
        }
        files += 1;
        bytes += entry.size();
        if files > MAX_FILES || bytes > MAX_BYTES {
            return Err(FilesError::TooLarge);
        }
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| FilesError::Io {
                dir: parent.to_path_buf(),
                source,
            })?;
        }
        let mut out = std::fs::File::create(&target).map_err(|source| FilesError::Io {
            dir: target.clone(),
            source,
        })?;
        let copied = std::io::copy(&mut entry, &mut out).map_err(malformed)?;
        if copied != entry.size() {
            return Err(FilesError::Malformed(format!(
                "entry {} is cut short",
                path.display()
            )));
        }
        out.flush().map_err(|source| FilesError::Io {
            dir: target.clone(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn packed_trees_unpack_once_under_their_mounts() {
        let app = tree(&[
            ("templates/a.html", "<p>a</p>"),
            ("app.py", "x = 1"),
            ("__pycache__/app.cpython-314.pyc", "junk"),
            (".git/config", "secret"),
        ]);
        let site = tree(&[("pkg/data.txt", "data"), ("pkg/mod.py", "y = 2")]);
        let mut packer = Packer::new().unwrap();
        let a = packer.add_tree("1", app.path(), &|_| true).unwrap();
        let s = packer
            .add_tree("2", site.path(), &|p| {
                p.extension().is_none_or(|e| e != "py")
            })
            .unwrap();
        assert_eq!((a.files, s.files), (2, 1));
        let section = packer.finish().unwrap();
        // Deterministic: the same trees give the same bytes.
        let mut again = Packer::new().unwrap();
        again.add_tree("1", app.path(), &|_| true).unwrap();
        again
            .add_tree("2", site.path(), &|p| {
                p.extension().is_none_or(|e| e != "py")
            })
            .unwrap();
        assert_eq!(again.finish().unwrap(), section);

        let cache = tempfile::tempdir().unwrap();
        let unpacked = unpack(&section, cache.path()).unwrap();
        let names: Vec<&str> = unpacked.mounts.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(names, ["/1", "/2"]);
        let one = &unpacked.mounts[0].1;
        assert_eq!(
            std::fs::read_to_string(one.join("templates/a.html")).unwrap(),
            "<p>a</p>"
        );
        assert!(!one.join("__pycache__").exists() && !one.join(".git").exists());
        assert!(unpacked.mounts[1].1.join("pkg/data.txt").is_file());
        assert!(!unpacked.mounts[1].1.join("pkg/mod.py").exists());
        // A second load finds the copy and writes nothing.
        std::fs::write(one.join("marker"), "kept").unwrap();
        let again = unpack(&section, cache.path()).unwrap();
        assert_eq!(again.mounts, unpacked.mounts);
        assert!(unpacked.new && !again.new);
        assert!(one.join("marker").is_file());
    }

    /// A section of one file, `1/NAME`, of `size` bytes.
    fn section_of(name: &str, size: usize) -> Vec<u8> {
        let dir = tree(&[(name, &"x".repeat(size))]);
        let mut packer = Packer::new().unwrap();
        packer.add_tree("1", dir.path(), &|_| true).unwrap();
        packer.finish().unwrap()
    }

    #[test]
    fn copies_no_one_holds_are_trimmed_least_recently_used_first() {
        let cache = tempfile::tempdir().unwrap();
        let parent = cache.path().join("python-files");
        let copies: Vec<Unpacked> = ["a", "b", "c"]
            .iter()
            .map(|name| unpack(&section_of(name, 10_000), cache.path()).unwrap())
            .collect();
        let dirs: Vec<PathBuf> = copies
            .iter()
            .map(|c| c.mounts[0].1.parent().unwrap().to_path_buf())
            .collect();
        // Last used: a ten minutes ago, b five, c now.
        for (dir, minutes) in dirs.iter().zip([10, 5, 0]) {
            let name = dir.file_name().unwrap().to_str().unwrap();
            std::fs::File::options()
                .write(true)
                .open(lock_path(&parent, name))
                .unwrap()
                .set_modified(
                    std::time::SystemTime::now() - std::time::Duration::from_secs(60 * minutes),
                )
                .unwrap();
        }
        // Leftovers of a crash go; copies in use stay, whatever the bound.
        std::fs::create_dir_all(parent.join(".trash-x-1/1")).unwrap();
        assert_eq!(trim(cache.path(), 0), 0);
        assert!(!parent.join(".trash-x-1").exists());
        assert!(dirs.iter().all(|d| d.is_dir()));

        // Let go of all but c: a goes first, then b.
        let c = copies.into_iter().nth(2).unwrap();
        assert_eq!(trim(cache.path(), 25_000), 10_000);
        assert!(!dirs[0].exists() && dirs[1].is_dir() && dirs[2].is_dir());
        assert_eq!(trim(cache.path(), 0), 10_000);
        assert!(!dirs[1].exists() && dirs[2].is_dir());
        assert!(c.mounts[0].1.join("c").is_file());
        // Only c's lock file is left.
        let left: Vec<_> = std::fs::read_dir(&parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".lock"))
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");

        // A trimmed copy is unpacked again when a component needs it.
        let a = unpack(&section_of("a", 10_000), cache.path()).unwrap();
        assert!(a.new);
        assert!(a.mounts[0].1.join("a").is_file());
    }

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        zstd::encode_all(&builder.into_inner().unwrap()[..], 3).unwrap()
    }

    fn file_header(size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header
    }

    #[test]
    fn hostile_sections_are_refused() {
        let cache = tempfile::tempdir().unwrap();
        // Escapes: `..`, a top level that is not a mount.
        for name in ["1/../../etc/x", "python/x", "x"] {
            let section = archive(|b| {
                let mut header = file_header(1);
                // `set_path` refuses `..`; write the name raw, as an attacker would.
                header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
                header.set_cksum();
                b.append(&header, &b"x"[..]).unwrap();
            });
            let error = unpack(&section, cache.path()).unwrap_err();
            assert!(matches!(error, FilesError::Malformed(_)), "{name}: {error}");
        }
        // A link.
        let section = archive(|b| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            b.append_link(&mut header, "1/passwd", "/etc/passwd")
                .unwrap();
        });
        assert!(matches!(
            unpack(&section, cache.path()),
            Err(FilesError::Malformed(_))
        ));
        // Too many bytes (declared sizes count, before anything is written).
        let section = archive(|b| {
            let mut header = file_header(MAX_BYTES + 1);
            header.set_path("1/big").unwrap();
            header.set_cksum();
            // The data itself is short: the size check comes first.
            b.append(&header, std::io::repeat(0).take(1024))
                .unwrap_or(());
        });
        assert!(matches!(
            unpack(&section, cache.path()),
            Err(FilesError::TooLarge)
        ));
        // Garbage.
        assert!(matches!(
            unpack(b"not zstd", cache.path()),
            Err(FilesError::Malformed(_))
        ));
        // Nothing refused was left behind.
        let left: Vec<_> = std::fs::read_dir(cache.path().join("python-files"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn the_section_is_found_at_the_top_level_only() {
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        assert_eq!(custom_section(&wasm, FILES_SECTION), None);
        wasm.push(0);
        let name = FILES_SECTION.as_bytes();
        wasm.push((1 + name.len() + 3) as u8);
        wasm.push(name.len() as u8);
        wasm.extend_from_slice(name);
        wasm.extend_from_slice(b"abc");
        assert_eq!(custom_section(&wasm, FILES_SECTION), Some(&b"abc"[..]));
    }
}
