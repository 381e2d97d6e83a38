//! Commands of files of events: open one as a read-only source, export the view or a timeline.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use eventscope_core::export::{ExportFormat, Exporter, Masking};
use eventscope_core::ndjson::DEFAULT_MAX_LINE_BYTES;
use eventscope_core::wire::{ExportStatus, ExportTarget, ImportOutcome};
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

/// Opens an NDJSON file of events in place of the connection (read on a blocking thread: a
/// file of a million events takes seconds).
#[tauri::command]
pub async fn import_file(state: State<'_, AppState>, path: String) -> CommandResult<ImportOutcome> {
    let live = state.live.clone();
    let file = PathBuf::from(&path);
    tokio::task::spawn_blocking(move || live.open_file(&file, DEFAULT_MAX_LINE_BYTES))
        .await
        .map_err(|e| CommandError::plain(format!("reading {path} stopped: {e}")))?
        .map_err(|e| CommandError::invalid_input(format!("cannot read {path}: {e}")))
}

/// Writes the view's or a timeline's events to `path`, as NDJSON or CSV, masked on request;
/// progress about every 100 ms and once at the end. The file is written beside `path` and
/// renamed into place, so a failed export leaves no half file.
#[tauri::command]
pub async fn export_events(
    state: State<'_, AppState>,
    target: ExportTarget,
    path: String,
    format: ExportFormat,
    mask: bool,
    on_progress: Channel<ExportStatus>,
) -> CommandResult<ExportStatus> {
    let messages = match &target {
        ExportTarget::View => Vec::new(),
        ExportTarget::Timeline {
            org,
            from_ms,
            to_ms,
            recording,
            history,
        } => {
            let org = super::timeline::check_org(org)?;
            let (others, _) =
                super::timeline::others(&state, &org, *from_ms, *to_ms, *recording, *history)
                    .await?;
            others
        }
    };
    let live = state.live.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let status = |events: u64, total: Option<u64>, bytes: u64, done: bool| ExportStatus {
            events,
            total,
            bytes,
            elapsed_ms: started.elapsed().as_millis() as u64,
            done,
        };
        let out = PathBuf::from(&path);
        let partial = out.with_extension("partial");
        let file = std::fs::File::create(&partial)
            .map_err(|e| CommandError::invalid_input(format!("cannot write {path}: {e}")))?;
        let masking = mask.then(Masking::default);
        let mut exporter = Exporter::new(BufWriter::with_capacity(1 << 20, file), format, masking)
            .map_err(|e| CommandError::plain(format!("cannot write {path}: {e}")))?;
        let mut last = Instant::now();
        let written = match &target {
            ExportTarget::View => live.export_view(&mut exporter, |n, total| {
                if last.elapsed() >= PROGRESS_EVERY {
                    last = Instant::now();
                    let _ = on_progress.send(status(n, Some(total), 0, false));
                }
            }),
            ExportTarget::Timeline {
                org,
                from_ms,
                to_ms,
                ..
            } => live.export_timeline(
                &mut exporter,
                org,
                (*from_ms, *to_ms),
                &messages,
                |n, total| {
                    if last.elapsed() >= PROGRESS_EVERY {
                        last = Instant::now();
                        let _ = on_progress.send(status(n, Some(total), 0, false));
                    }
                },
            ),
        };
        let bytes = exporter.progress().bytes;
        let finished = written.and_then(|n| {
            exporter.finish()?.flush()?;
            std::fs::rename(&partial, &out)?;
            Ok(n)
        });
        match finished {
            Ok(n) => {
                let done = status(n, Some(n), bytes, true);
                let _ = on_progress.send(done);
                Ok(done)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(CommandError::plain(format!("cannot write {path}: {e}")))
            }
        }
    })
    .await
    .map_err(|e| CommandError::plain(format!("the export stopped: {e}")))?
}

/// How often an export reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
