//! The journal against real files: group commit, roll, replay from any seq, torn tails,
//! corruption, snapshots and retention.

use journal::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

fn config(dir: &Path, segment_bytes_max: u64) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), segment_bytes_max, durability: Durability::Fsync }
}

fn payload(seq: u64) -> Vec<u8> {
    let len = (seq % 57) as usize + 1;
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

/// Writes `count` records in batches of `batch`, returns the committed seq.
fn write(dir: &Path, count: u64, batch: u64, segment_bytes_max: u64) -> u64 {
    let report = scan_journal(dir, true).expect("scan");
    let mut writer = JournalWriter::open(config(dir, segment_bytes_max), report.last_seq.unwrap_or(0)).expect("open");
    let start = writer.last_seq() + 1;
    for seq in start..start + count {
        writer.append(seq, seq * 10, &payload(seq)).expect("append");
        if seq % batch == 0 {
            writer.commit().expect("commit");
        }
    }
    writer.commit().expect("commit")
}

fn read_all(dir: &Path, from: u64) -> Vec<(u64, u64, Vec<u8>)> {
    let mut reader = JournalReader::open(dir, from).expect("reader");
    let mut out = Vec::new();
    while let Some(r) = reader.next().expect("read") {
        out.push((r.seq, r.ts_ns, r.payload.to_vec()));
    }
    out
}

#[test]
fn records_round_trip_across_segments_and_replay_from_any_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(write(dir.path(), 5_000, 64, 16 * 1024), 5_000);
    let segments = list_segments(dir.path()).expect("list");
    assert!(segments.len() > 5, "rolled into {} segments", segments.len());
    let report = scan_journal(dir.path(), false).expect("scan");
    assert_eq!((report.first_seq, report.last_seq, report.records), (Some(1), Some(5_000), 5_000));
    for from in [1u64, 2, 777, 4_999, 5_000, 5_001] {
        let records = read_all(dir.path(), from);
        assert_eq!(records.len() as u64, 5_001 - from, "from {from}");
        for (i, (seq, ts, body)) in records.iter().enumerate() {
            assert_eq!(*seq, from + i as u64);
            assert_eq!(*ts, seq * 10);
            assert_eq!(*body, payload(*seq));
        }
    }
    // Appending again continues the sequence in the same directory.
    assert_eq!(write(dir.path(), 100, 7, 16 * 1024), 5_100);
    assert_eq!(read_all(dir.path(), 1).len(), 5_100);
}

#[test]
fn a_torn_tail_at_any_of_100_random_offsets_keeps_every_whole_record() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let pristine = tempfile::tempdir().expect("tempdir");
    write(pristine.path(), 2_000, 50, 1 << 30);
    let segment = list_segments(pristine.path()).expect("list").pop().expect("a segment");
    let bytes = std::fs::read(&segment.path).expect("read");
    // Offsets at which each record ends: a cut at `len` keeps exactly the records ending <= len.
    let mut ends = Vec::new();
    let mut reader = JournalReader::open(pristine.path(), 1).expect("reader");
    let mut at = 0u64;
    while let Some(r) = reader.next().expect("read") {
        at += (RECORD_HEADER_LEN + r.payload.len()) as u64;
        ends.push(at);
    }
    assert_eq!(at, bytes.len() as u64);
    for round in 0..100 {
        let cut = rng.gen_range(0..=bytes.len());
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join(segment.path.file_name().expect("name"));
        std::fs::write(&copy, &bytes[..cut]).expect("write");
        let report = scan_journal(dir.path(), true).expect("a torn tail is not an error");
        let whole = ends.iter().filter(|&&end| end <= cut as u64).count() as u64;
        assert_eq!(report.records, whole, "round {round} cut {cut}");
        let boundary = ends.contains(&(cut as u64)) || cut == 0;
        assert_eq!(report.truncated.is_some(), !boundary, "round {round} cut {cut}");
        let records = read_all(dir.path(), 1);
        assert_eq!(records.len() as u64, whole);
        assert!(records.iter().all(|(seq, _, body)| *body == payload(*seq)));
        // The repaired journal accepts new records right after the last whole one.
        assert_eq!(write(dir.path(), 3, 1, 1 << 30), whole + 3);
        assert_eq!(read_all(dir.path(), 1).len() as u64, whole + 3);
    }
}

#[test]
fn a_flipped_byte_in_a_middle_record_stops_start_up_naming_file_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), 1_000, 10, 1 << 30);
    let segment = list_segments(dir.path()).expect("list").pop().expect("a segment");
    let mut bytes = std::fs::read(&segment.path).expect("read");
    // Find the byte offset of record 500.
    let mut reader = JournalReader::open(dir.path(), 1).expect("reader");
    let mut offset = 0usize;
    while let Some(r) = reader.next().expect("read") {
        if r.seq == 500 {
            break;
        }
        offset += RECORD_HEADER_LEN + r.payload.len();
    }
    for field in [0usize, 4, 9, 17, RECORD_HEADER_LEN] {
        let mut bad = bytes.clone();
        bad[offset + field] ^= 0x40;
        std::fs::write(&segment.path, &bad).expect("write");
        let err = scan_journal(dir.path(), true).expect_err("corruption must stop start-up");
        let text = err.to_string();
        assert!(text.contains(&segment.path.display().to_string()), "{text}");
        assert!(text.contains(&format!("offset {offset}")), "field {field}: {text}");
        // Nothing was truncated or skipped.
        assert_eq!(std::fs::read(&segment.path).expect("read").len(), bytes.len());
    }
    bytes[offset] ^= 0; // unchanged copy restores a clean journal
    std::fs::write(&segment.path, &bytes).expect("write");
    assert_eq!(scan_journal(dir.path(), true).expect("clean").records, 1_000);
}

#[test]
fn a_damaged_sealed_segment_is_an_error_even_at_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), 3_000, 100, 8 * 1024);
    let segments = list_segments(dir.path()).expect("list");
    let first = &segments[0];
    let bytes = std::fs::read(&first.path).expect("read");
    std::fs::write(&first.path, &bytes[..bytes.len() - 3]).expect("truncate");
    let err = scan_journal(dir.path(), true).expect_err("a sealed segment cut short");
    assert!(err.to_string().contains(&first.path.display().to_string()), "{err}");
}

#[test]
fn snapshots_are_atomic_pruned_and_damaged_ones_fall_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SnapshotStore::new(dir.path(), 2).expect("store");
    assert_eq!(store.latest().expect("latest"), None);
    store.write(10, b"ten").expect("write");
    store.write(20, b"twenty").expect("write");
    store.write(30, b"thirty").expect("write");
    let seqs: Vec<u64> = store.list().expect("list").iter().map(|s| s.seq).collect();
    assert_eq!(seqs, vec![30, 20], "only the newest two are kept");
    assert_eq!(store.latest().expect("latest"), Some((30, b"thirty".to_vec())));
    // A damaged newest snapshot falls back to the previous one.
    let newest = store.list().expect("list")[0].path.clone();
    let mut bytes = std::fs::read(&newest).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&newest, bytes).expect("write");
    assert_eq!(store.latest().expect("latest"), Some((20, b"twenty".to_vec())));
    // A temp file left by a crash mid-write is never taken for a snapshot.
    std::fs::write(dir.path().join("snapshot-00000000000000000040.tmp"), b"partial").expect("write");
    assert_eq!(store.latest().expect("latest").map(|s| s.0), Some(20));
}

#[test]
fn retention_drops_only_segments_a_snapshot_covers() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), 3_000, 100, 8 * 1024);
    let before = list_segments(dir.path()).expect("list");
    let removed = retain_from(dir.path(), 1_500).expect("retain");
    assert!(removed > 0);
    let after = list_segments(dir.path()).expect("list");
    assert_eq!(before.len() - removed, after.len());
    assert!(after[0].first_seq <= 1_500, "seq 1500 is still in the journal");
    let records = read_all(dir.path(), 1_500);
    assert_eq!(records.first().map(|r| r.0), Some(1_500));
    assert_eq!(records.last().map(|r| r.0), Some(3_000));
    assert!(matches!(JournalReader::open(dir.path(), 1), Err(JournalError::Retained { .. })));
    assert_eq!(scan_journal(dir.path(), false).expect("scan").first_seq, Some(after[0].first_seq));
}

#[test]
fn out_of_order_appends_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = JournalWriter::open(config(dir.path(), 1 << 20), 0).expect("open");
    writer.append(1, 0, b"a").expect("append");
    assert!(matches!(writer.append(3, 0, b"c"), Err(JournalError::OutOfOrder { seq: 3, last: 1 })));
    assert!(matches!(writer.append(2, 0, &vec![0; RECORD_PAYLOAD_MAX + 1]), Err(JournalError::TooLarge { .. })));
}
