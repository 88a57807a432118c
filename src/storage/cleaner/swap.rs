//! Crash-safe replacement of segments by a cleaned one, and the completion
//! or rollback of an interrupted replacement when a log is loaded (Kafka's
//! `LocalLog.replaceSegments` and the first passes of `LogLoader.load`).
//!
//! The commit, under the log lock, once `<new>.*.cleaned` are complete and
//! fsynced:
//!
//! 1. rename the new files `.cleaned` -> `.swap`, the `.log` last, and
//!    fsync the directory: from here on the replacement is decided;
//! 2. rename the replaced segments' files to `.deleted`;
//! 3. rename the new files `.swap` -> final names; fsync the directory;
//! 4. (after the in-memory swap) delete the `.deleted` files.
//!
//! A crash before the `.log.swap` exists leaves only `.cleaned` (and maybe
//! index `.swap`) files: loading deletes them and the old segments stay. A
//! crash after it leaves a `.log.swap`: loading deletes every segment file
//! whose base offset lies in `[swap base, swap next offset)` (the segments it
//! replaced) and renames the `.swap` files into place.

use std::fs;
use std::path::{Path, PathBuf};

use crate::record::batch::{BatchHeader, HEADER_SIZE};
use crate::storage::segment::{
    read_at, CLEANED_SUFFIX, DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, SWAP_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::storage::{segment_file_name, Result, StorageError};

const SEGMENT_SUFFIXES: [&str; 3] = [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX];
/// The aborted-transaction index: rewritten for the cleaned segment by
/// `PartitionLog::replace_with_cleaned`, cleared here with the segments a
/// completed swap replaced.
const TXN_INDEX_SUFFIX: &str = ".txnindex";

fn io(path: &Path, e: std::io::Error) -> StorageError {
    StorageError::io(path.display().to_string(), e)
}

fn with_suffix(dir: &Path, base: i64, suffix: &str, extra: &str) -> PathBuf {
    dir.join(format!("{}{extra}", segment_file_name(base, suffix)))
}

fn rename_if_exists(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(from, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
}

/// Steps 1-3 of the commit: puts `<new_base>.*.cleaned` in place of the
/// segments at `old_bases`. The caller holds the log lock and swaps the
/// in-memory segments right after.
pub fn commit(dir: &Path, new_base: i64, old_bases: &[i64]) -> Result<()> {
    // 1. The log file last: a .log.swap means the index .swaps exist too.
    for suffix in [TIME_INDEX_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX] {
        let from = with_suffix(dir, new_base, suffix, CLEANED_SUFFIX);
        let to = with_suffix(dir, new_base, suffix, SWAP_SUFFIX);
        fs::rename(&from, &to).map_err(|e| io(&from, e))?;
    }
    sync_dir(dir)?;
    // 2.
    for &base in old_bases {
        for suffix in SEGMENT_SUFFIXES {
            let p = with_suffix(dir, base, suffix, "");
            rename_if_exists(&p, &with_suffix(dir, base, suffix, DELETED_SUFFIX))?;
        }
    }
    // 3.
    for suffix in SEGMENT_SUFFIXES {
        let from = with_suffix(dir, new_base, suffix, SWAP_SUFFIX);
        fs::rename(&from, with_suffix(dir, new_base, suffix, "")).map_err(|e| io(&from, e))?;
    }
    sync_dir(dir)
}

/// Step 4: removes the replaced segments' `.deleted` files.
pub fn delete_replaced(dir: &Path, old_bases: &[i64]) {
    for &base in old_bases {
        for suffix in SEGMENT_SUFFIXES {
            let _ = fs::remove_file(with_suffix(dir, base, suffix, DELETED_SUFFIX));
        }
    }
}

/// The base offset a segment-related file name starts with.
fn offset_of(name: &str) -> Option<i64> {
    let digits = name.split('.').next()?;
    if digits.len() != 20 {
        return None;
    }
    digits.parse().ok()
}

/// One past the last offset of the batches in a log file (its base offset
/// when it holds none), walking headers until the first that does not fit.
fn next_offset_of(path: &Path, base: i64) -> Result<i64> {
    let file = fs::File::open(path).map_err(|e| io(path, e))?;
    let len = file.metadata().map_err(|e| io(path, e))?.len();
    let mut pos = 0u64;
    let mut next = base;
    while pos + HEADER_SIZE as u64 <= len {
        let hdr = read_at(&file, pos, HEADER_SIZE).map_err(|e| io(path, e))?;
        let Some(h) = BatchHeader::parse(&hdr) else { break };
        if h.batch_length < (HEADER_SIZE - crate::record::batch::LOG_OVERHEAD) as i32 || pos + h.size() as u64 > len {
            break;
        }
        next = h.last_offset() + 1;
        pos += h.size() as u64;
    }
    Ok(next)
}

/// What loading did with leftovers (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Swapped-in segments completed by renaming (their base offsets).
    pub completed_swaps: Vec<i64>,
    /// Segment files deleted as replaced by a completed swap.
    pub replaced_files: usize,
    /// `.cleaned`, invalid `.swap` and `.deleted` files removed.
    pub discarded_files: usize,
}

/// Kafka's `LogLoader` passes over a log directory before segments load:
/// removes `.deleted` and `.cleaned` files and `.swap` files at or above
/// the lowest `.cleaned` offset (an unfinished replacement), then completes
/// the remaining swaps: segment files their range covers are deleted and
/// the `.swap` files renamed into place.
pub fn recover_leftovers(dir: &Path) -> Result<Recovered> {
    let mut out = Recovered::default();
    let mut swaps: Vec<(String, i64)> = Vec::new();
    let mut cleaned: Vec<(String, i64)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(DELETED_SUFFIX) {
            let _ = fs::remove_file(entry.path());
            out.discarded_files += 1;
        } else if let Some(off) = name.strip_suffix(CLEANED_SUFFIX).and_then(offset_of) {
            cleaned.push((name, off));
        } else if let Some(off) = name.strip_suffix(SWAP_SUFFIX).and_then(offset_of) {
            swaps.push((name, off));
        }
    }
    let min_cleaned = cleaned.iter().map(|(_, o)| *o).min().unwrap_or(i64::MAX);
    swaps.retain(|(name, off)| {
        if *off >= min_cleaned {
            let _ = fs::remove_file(dir.join(name));
            out.discarded_files += 1;
            false
        } else {
            true
        }
    });
    for (name, _) in &cleaned {
        let _ = fs::remove_file(dir.join(name));
        out.discarded_files += 1;
    }
    // Ranges the remaining log swaps replace.
    let mut min_swap = i64::MAX;
    let mut max_swap = i64::MIN;
    for (name, base) in &swaps {
        if name.strip_suffix(SWAP_SUFFIX).is_some_and(|n| n.ends_with(LOG_SUFFIX)) {
            let next = next_offset_of(&dir.join(name), *base)?;
            min_swap = min_swap.min(*base);
            max_swap = max_swap.max(next);
            out.completed_swaps.push(*base);
        }
    }
    if min_swap < max_swap {
        for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let entry = entry.map_err(|e| io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_segment_file =
                [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX].iter().any(|s| name.ends_with(s));
            if !is_segment_file {
                continue;
            }
            if let Some(off) = offset_of(&name) {
                if off >= min_swap && off < max_swap {
                    tracing::info!(dir = %dir.display(), file = %name, "deleting segment file replaced by a cleaned segment before a crash");
                    fs::remove_file(entry.path()).map_err(|e| io(&entry.path(), e))?;
                    out.replaced_files += 1;
                }
            }
        }
    }
    for (name, _) in &swaps {
        let from = dir.join(name);
        let to = dir.join(name.strip_suffix(SWAP_SUFFIX).expect("swap suffix"));
        tracing::info!(file = %from.display(), "completing an interrupted segment swap");
        fs::rename(&from, &to).map_err(|e| io(&from, e))?;
    }
    if !swaps.is_empty() || out.replaced_files > 0 {
        sync_dir(dir)?;
    }
    out.completed_swaps.sort_unstable();
    Ok(out)
}
