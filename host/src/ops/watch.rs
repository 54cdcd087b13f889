//! `serve --watch`: reload when the gateway file or a component changes.
//!
//! Directories are watched, not files: editors replace a file by renaming
//! a new one over it, and Kubernetes swaps a ConfigMap's files by moving a
//! symlink, both of which a watch on the old file would miss. Events come
//! in bursts (a write is several), so a reload starts once the directory
//! has been quiet for a moment.

use super::reload::Reloader;
use notify::{RecursiveMode, Watcher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long the watched directories must be quiet before a reload.
const SETTLE: Duration = Duration::from_millis(300);

/// `paths`, absolute, as a set.
fn absolute(paths: Vec<PathBuf>) -> std::collections::HashSet<PathBuf> {
    paths
        .into_iter()
        .filter_map(|path| std::path::absolute(path).ok())
        .collect()
}

/// The directories holding `paths`, each once.
fn directories(paths: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = paths
        .into_iter()
        .filter_map(|path| {
            let absolute = std::path::absolute(path).ok()?;
            absolute.parent().map(|dir| dir.to_path_buf())
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Watches the directories of `reloader`'s files and reloads through it
/// when something in them changes, until the process ends; after each
/// reload, also the directories of components the new configuration
/// added. The watcher lives as long as the returned task.
pub fn start(reloader: Arc<Reloader>) -> notify::Result<tokio::task::JoinHandle<()>> {
    // One pending change is all that matters (a reload reads everything
    // again): a full channel drops the event, so a directory written to
    // without pause cannot grow a queue.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    // Only changes to the files a reload reads count: a log file or an
    // app's data written in the same directory must not reload (a reload
    // logs, which would reload again), nor keep the burst from settling.
    let files = Arc::new(std::sync::Mutex::new(absolute(reloader.sources())));
    let watched = files.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        let files = watched.lock().unwrap_or_else(|e| e.into_inner());
        let ours = event.paths.iter().any(|path| {
            files.contains(path)
                // Kubernetes swaps a ConfigMap's files by renaming `..data`.
                || path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("..data"))
        });
        if ours {
            let _ = tx.try_send(());
        }
    })?;
    let mut dirs = directories(reloader.sources());
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching for changes (--watch)");
    }
    Ok(tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait for the burst to end.
            loop {
                match tokio::time::timeout(SETTLE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if reloader.reload("a watched file changed").await.is_err() {
                continue;
            }
            *files.lock().unwrap_or_else(|e| e.into_inner()) = absolute(reloader.sources());
            for dir in directories(reloader.sources()) {
                if dirs.contains(&dir) {
                    continue;
                }
                match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        tracing::info!(dir = %dir.display(), "watching for changes (--watch)")
                    }
                    Err(err) => {
                        tracing::warn!(dir = %dir.display(), %err, "cannot watch a new component's directory")
                    }
                }
                dirs.push(dir);
            }
        }
    }))
}
