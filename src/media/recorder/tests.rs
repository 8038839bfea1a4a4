use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::*;

/// One 20 ms tick of a recognisable ramp: sample `i` of tick `t` is `base + t*160 + i`.
fn tick(base: i16, t: usize) -> [i16; 160] {
    std::array::from_fn(|i| base + (t * 160 + i) as i16)
}

fn read_back(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(path).expect("hound opens the recording");
    let spec = r.spec();
    let samples = r.samples::<i16>().map(|s| s.unwrap()).collect();
    (spec, samples)
}

fn sha_of(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).unwrap()))
}

fn write_ticks(rec: &mut Recorder, ticks: usize) {
    for t in 0..ticks {
        rec.write_frame(&tick(1, t), &tick(-20000, t)).unwrap();
    }
}

#[test]
fn stereo_recording_keeps_legs_apart_and_hashes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("2026/11/call.wav");
    let mut rec = Recorder::create(&path).unwrap();
    write_ticks(&mut rec, 100); // 2 s
    assert_eq!(rec.elapsed(), Duration::from_secs(2));
    assert_eq!(rec.offset(), Duration::from_secs(2));
    let info = rec.finalize().unwrap();

    assert_eq!(info.path, path);
    assert_eq!(info.seconds, 2.0);
    assert_eq!(info.bytes, 44 + 16_000 * 4);
    assert_eq!(info.bytes, fs::metadata(&path).unwrap().len());
    assert_eq!(info.sha256, sha_of(&path));
    let (spec, samples) = read_back(&path);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    assert_eq!(samples.len(), 32_000);
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(left[..160], tick(1, 0));
    assert_eq!(right[..160], tick(-20000, 0));
    assert_eq!(left[15_840..], tick(1, 99));
    assert_eq!(right[15_840..], tick(-20000, 99));
}

#[test]
fn shorter_leg_is_padded_with_silence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pad.wav");
    let mut rec = Recorder::create(&path).unwrap();
    rec.write_frame(&[5; 160], &[]).unwrap();
    assert_eq!(rec.elapsed(), Duration::from_millis(20));
    rec.finalize().unwrap();
    let (_, samples) = read_back(&path);
    assert_eq!(samples.len(), 320);
    assert!(samples.chunks(2).all(|f| f == [5, 0]));
}

#[test]
fn header_is_refreshed_every_second_while_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.wav");
    let mut rec = Recorder::create(&path).unwrap();
    write_ticks(&mut rec, 75); // 1.5 s: one refresh at 1.0 s
    // Another process (a supervisor listening live) sees a valid 1 s file.
    let (_, samples) = read_back(&path);
    assert_eq!(samples.len(), 16_000);
    std::mem::forget(rec);
}

#[test]
fn dropped_recorder_still_leaves_a_playable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped.wav");
    let mut rec = Recorder::create(&path).unwrap();
    write_ticks(&mut rec, 30);
    drop(rec);
    assert_eq!(read_back(&path).1.len(), 30 * 320);
    assert!(repair(&path).unwrap().is_none(), "nothing left to repair");
}

#[test]
fn crash_without_finalize_is_repaired_to_everything_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.wav");
    let mut rec = Recorder::create(&path).unwrap();
    write_ticks(&mut rec, 140); // 2.8 s; the header says 2 s
    // A crash runs no destructors; what reached the OS is what the BufWriter
    // flushed. Flush by hand to stand for "the OS got it".
    rec.stream.out.flush().unwrap();
    std::mem::forget(rec);
    assert_eq!(
        read_back(&path).1.len(),
        2 * 16_000,
        "stale header before repair"
    );

    let info = repair(&path).unwrap().expect("needed repair");
    assert_eq!(info.seconds, 2.8);
    assert_eq!(info.sha256, sha_of(&path));
    let (_, samples) = read_back(&path);
    assert_eq!(samples.len(), 140 * 320);
    assert_eq!(
        samples[samples.len() - 2..],
        [1 + 139 * 160 + 159, -20000 + 139 * 160 + 159]
    );
    assert!(repair(&path).unwrap().is_none(), "repair is idempotent");
}

#[test]
fn partial_last_frame_is_cut_and_zeroed_header_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.wav");
    let mut rec = Recorder::create(&path).unwrap();
    write_ticks(&mut rec, 10);
    rec.finalize().unwrap();
    // Zero both sizes and cut the file mid-frame (3 bytes into the last frame).
    let mut f = OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(4)).unwrap();
    f.write_all(&[0; 4]).unwrap();
    f.seek(SeekFrom::Start(40)).unwrap();
    f.write_all(&[0; 4]).unwrap();
    f.set_len(44 + 9 * 640 + 3).unwrap();
    drop(f);

    let info = repair(&path).unwrap().expect("needed repair");
    assert_eq!(info.bytes, 44 + 9 * 640);
    assert_eq!(info.seconds, 9.0 * 0.02);
    let (spec, samples) = read_back(&path);
    assert_eq!(spec.channels, 2);
    assert_eq!(samples.len(), 9 * 320);
}

#[test]
fn header_claiming_more_than_the_file_holds_is_shrunk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.wav");
    let mut clip = ClipWriter::create(&path).unwrap();
    clip.write(&[7; 800]).unwrap();
    clip.finalize().unwrap();
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(44 + 1001).unwrap(); // disk filled mid-sample
    drop(f);
    let info = repair(&path).unwrap().unwrap();
    assert_eq!(info.seconds, 500.0 / 8000.0);
    assert_eq!(read_back(&path).1, vec![7; 500]);
}

#[test]
fn repair_dir_walks_subdirectories_and_skips_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a/good.wav");
    let bad = dir.path().join("a/b/bad.WAV");
    Recorder::create(&good).unwrap().finalize().unwrap();
    let mut rec = Recorder::create(&bad).unwrap();
    write_ticks(&mut rec, 5);
    rec.stream.out.flush().unwrap();
    std::mem::forget(rec);
    fs::write(dir.path().join("a/empty.wav"), b"").unwrap();
    fs::write(dir.path().join("notes.txt"), b"RIFF").unwrap();

    let repaired = repair_dir(dir.path()).unwrap();
    assert_eq!(repaired.len(), 1);
    assert_eq!(repaired[0].path, bad);
    assert_eq!(repaired[0].seconds, 0.1);
    assert_eq!(
        fs::metadata(dir.path().join("a/empty.wav")).unwrap().len(),
        0
    );
    assert!(repair_dir(dir.path()).unwrap().is_empty());
}

#[test]
fn mono_clip_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answers/q3.wav");
    let mut clip = ClipWriter::create(&path).unwrap();
    let samples: Vec<i16> = (0..12_000).map(|i| (i % 3000) as i16 - 1500).collect();
    for chunk in samples.chunks(160) {
        clip.write(chunk).unwrap();
    }
    assert_eq!(clip.elapsed(), Duration::from_millis(1500));
    let info = clip.finalize().unwrap();
    assert_eq!(info.seconds, 1.5);
    assert_eq!(info.sha256, sha_of(&path));
    let (spec, back) = read_back(&path);
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000));
    assert_eq!(back, samples);
}

#[test]
fn unwritable_path_is_a_typed_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    fs::write(&blocker, b"x").unwrap();
    let path = blocker.join("call.wav"); // parent is a file
    let Err(RecordingError::Io { path: named, .. }) = Recorder::create(&path) else {
        panic!("expected an Io error");
    };
    assert_eq!(named, blocker);
}

#[test]
fn full_disk_is_a_typed_error() {
    let dev_full = Path::new("/dev/full");
    if !dev_full.exists() {
        return;
    }
    // /dev/full accepts the open and fails every write with ENOSPC.
    let err = match Recorder::create(dev_full) {
        Err(e) => e,
        Ok(mut rec) => loop {
            if let Err(e) = rec.write_frame(&[0; 160], &[0; 160]) {
                break e;
            }
        },
    };
    let RecordingError::Io { path, source } = err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!(path, dev_full);
    assert_eq!(source.raw_os_error(), Some(28)); // ENOSPC
}

#[test]
fn not_a_wav_is_not_repairable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.wav");
    fs::write(&path, b"ID3 not a wav at all, an mp3 maybe").unwrap();
    assert!(matches!(
        repair(&path),
        Err(RecordingError::NotRepairable { .. })
    ));
}
