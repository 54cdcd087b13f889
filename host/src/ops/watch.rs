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

/// Watches `paths`' directories and reloads through `reloader` when
/// something in them changes, until the process ends. The watcher lives
/// as long as the returned task.
pub fn start(
    paths: Vec<PathBuf>,
    reloader: Arc<Reloader>,
) -> notify::Result<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            let _ = tx.send(());
        }
    })?;
    let mut dirs: Vec<PathBuf> = paths
        .iter()
        .filter_map(|path| {
            let absolute = std::path::absolute(path).ok()?;
            absolute.parent().map(|dir| dir.to_path_buf())
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching for changes (--watch)");
    }
    Ok(tokio::spawn(async move {
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            // Wait for the burst to end.
            loop {
                match tokio::time::timeout(SETTLE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let _ = reloader.reload("a watched file changed").await;
        }
    }))
}
