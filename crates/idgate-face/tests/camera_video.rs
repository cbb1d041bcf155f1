//! The test faces as a camera video (`TestFaces::write_camera_video`): the file is the
//! YUV4MPEG2 Chromium's fake capture device plays, and the five frames a page captures at the
//! agreed times, read back from the file, are a live burst of the person that matches the
//! portrait; also after the JPEG encoding a page applies (Chromium's own canvas encoder, so
//! that part needs Chromium: a counted skip without it, a failure under CI).
//! Needs the photos of `scripts/fetch-face-models.sh`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;
use common::{engine, models_dir};

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine as _;
use idgate_face::challenge::{Action, Burst, Challenge, Frame, Nonce};
use idgate_face::config::DEFAULT_MATCH_THRESHOLD;
use idgate_face::liveness::LivenessPolicy;
use idgate_face::testkit::{
    CAMERA_CAPTURES_MS, CAMERA_FPS, CAMERA_SEGMENT_ENDS_MS, CAMERA_SIDE, CameraVideo, TestFaces,
    TestFacesError,
};
use idgate_face::{FaceEngine, Image, image, match_portrait};
use idgate_testkit::browser::{Browser, BrowserOptions, Page, PageOptions};

const ORDERS: [[Action; 2]; 2] = [
    [Action::TurnLeft, Action::TurnRight],
    [Action::TurnRight, Action::TurnLeft],
];

fn faces() -> Option<&'static TestFaces> {
    static FACES: OnceLock<Option<TestFaces>> = OnceLock::new();
    FACES
        .get_or_init(|| match TestFaces::load(&models_dir()) {
            Ok(faces) => Some(faces),
            Err(TestFacesError::Missing { path }) => {
                idgate_testkit::missing(
                    idgate_testkit::Prereq::FaceModels,
                    format!("photo {} not found", path.display()),
                );
                None
            }
            Err(e) => panic!("test photos present but unusable: {e}"),
        })
        .as_ref()
}

/// A parsed YUV4MPEG2 file: its header fields and where its frames start.
struct Y4m {
    bytes: Vec<u8>,
    width: usize,
    height: usize,
    fps: (u32, u32),
    colour: String,
    frames: Vec<usize>,
}

impl Y4m {
    /// Parses the stream header and walks the frames (each `FRAME` plus optional parameters and a
    /// newline, then 1.5 bytes per pixel).
    fn read(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let header_end = bytes.iter().position(|&b| b == b'\n').unwrap();
        let header = std::str::from_utf8(&bytes[..header_end]).unwrap();
        let mut tokens = header.split(' ');
        assert_eq!(tokens.next(), Some("YUV4MPEG2"));
        let (mut width, mut height, mut fps, mut colour) = (0, 0, (0, 0), String::new());
        for token in tokens {
            let (tag, value) = token.split_at(1);
            match tag {
                "W" => width = value.parse().unwrap(),
                "H" => height = value.parse().unwrap(),
                "F" => {
                    let (n, d) = value.split_once(':').unwrap();
                    fps = (n.parse().unwrap(), d.parse().unwrap());
                }
                "C" => colour = value.to_owned(),
                _ => {}
            }
        }
        let frame_size = width * height * 3 / 2;
        let mut frames = Vec::new();
        let mut at = header_end + 1;
        while at < bytes.len() {
            assert!(
                bytes[at..].starts_with(b"FRAME"),
                "no FRAME marker at byte {at}"
            );
            let line_end = at + bytes[at..].iter().position(|&b| b == b'\n').unwrap();
            frames.push(line_end + 1);
            at = line_end + 1 + frame_size;
        }
        assert_eq!(at, bytes.len(), "the last frame is cut short");
        Self {
            bytes,
            width,
            height,
            fps,
            colour,
            frames,
        }
    }

    /// The frame shown at `ms` after the start, as RGB (ITU-R BT.601, limited range; each chroma
    /// sample covers 2×2 pixels).
    fn frame_at(&self, ms: u64) -> Image {
        let index = (ms * u64::from(self.fps.0) / (1000 * u64::from(self.fps.1))) as usize;
        let start = self.frames[index];
        let (w, h) = (self.width, self.height);
        let luma = &self.bytes[start..start + w * h];
        let cb = &self.bytes[start + w * h..start + w * h * 5 / 4];
        let cr = &self.bytes[start + w * h * 5 / 4..start + w * h * 3 / 2];
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let c = (y / 2) * (w / 2) + x / 2;
                let yy = 1.164_383 * (f32::from(luma[y * w + x]) - 16.0);
                let (u, v) = (f32::from(cb[c]) - 128.0, f32::from(cr[c]) - 128.0);
                for value in [
                    yy + 1.596_027 * v,
                    yy - 0.391_762 * u - 0.812_968 * v,
                    yy + 2.017_232 * u,
                ] {
                    rgb.push(value.round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        Image::new(w as u32, h as u32, rgb).unwrap()
    }
}

const ISSUED: u64 = 1_700_000_000_000;
/// The camera starts this long after the challenge is issued.
const CAMERA_START: u64 = ISSUED + 2_000;

/// The five captures as the page would send them, timed at the agreed capture times.
fn burst(challenge: &Challenge, images: Vec<Image>) -> Burst {
    let frames = images
        .into_iter()
        .zip(CAMERA_CAPTURES_MS)
        .zip(0u64..)
        .map(|((image, at), sequence)| Frame {
            image,
            captured_at_ms: CAMERA_START + at,
            sequence: Some(sequence),
        })
        .collect();
    let last = CAMERA_CAPTURES_MS[CAMERA_CAPTURES_MS.len() - 1];
    Burst::new(challenge.nonce, CAMERA_START + last + 300, frames).unwrap()
}

/// Asserts that `images` (the five captures) are live for `actions` and match the portrait.
fn assert_live_and_matching(
    faces: &TestFaces,
    actions: [Action; 2],
    images: Vec<Image>,
    what: &str,
) {
    let challenge = Challenge {
        actions: actions.to_vec(),
        nonce: Nonce([5; 16]),
        issued_at_ms: ISSUED,
        expires_at_ms: ISSUED + 120_000,
    };
    let engine = engine().unwrap();
    let verdict = engine
        .liveness(
            &challenge,
            &burst(&challenge, images),
            &LivenessPolicy::default(),
        )
        .unwrap();
    assert!(verdict.live, "{what} {actions:?}: {:?}", verdict.reasons);
    let done: Vec<Action> = verdict.completed_actions.iter().map(|c| c.action).collect();
    assert_eq!(done, actions, "{what}");
    let portrait = image::decode(&faces.portrait_jpeg().jpeg).unwrap();
    let matched = match_portrait(
        engine,
        &portrait,
        verdict.reference_embedding.as_ref().unwrap(),
        DEFAULT_MATCH_THRESHOLD,
    )
    .unwrap();
    eprintln!(
        "{what} {actions:?}: live, portrait distance {:.3}",
        matched.similarity.distance
    );
    assert!(matched.matched, "{what} {actions:?}: {matched:?}");
}

#[test]
fn the_video_is_480_square_4_2_0_at_10_fps_with_a_picture_per_segment() {
    let Some(faces) = faces() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camera.y4m");
    let video = faces.write_camera_video(&ORDERS[0], &path).unwrap();
    assert_eq!(
        video,
        CameraVideo {
            width: 480,
            height: 480,
            fps: 10,
            frames: 70
        }
    );

    let y4m = Y4m::read(&path);
    assert_eq!((y4m.width, y4m.height), (480, 480));
    assert_eq!(y4m.fps, (CAMERA_FPS, 1));
    assert_eq!(y4m.colour, "420jpeg");
    assert_eq!(y4m.frames.len(), 70);
    assert!(
        y4m.bytes
            .starts_with(b"YUV4MPEG2 W480 H480 F10:1 Ip A1:1 C420jpeg\nFRAME\n")
    );
    assert_eq!(y4m.bytes.len(), 43 + 70 * (6 + 480 * 480 * 3 / 2));

    // One picture per segment: every frame of a segment is the same, neighbours differ.
    let frame = |i: usize| &y4m.bytes[y4m.frames[i]..y4m.frames[i] + 480 * 480];
    let mut start = 0;
    for end in CAMERA_SEGMENT_ENDS_MS {
        let (first, last) = ((start / 100) as usize, (end / 100) as usize - 1);
        assert!(
            (first..=last).all(|i| frame(i) == frame(first)),
            "segment {start}..{end}"
        );
        if last + 1 < y4m.frames.len() {
            assert_ne!(frame(last), frame(last + 1), "boundary at {end}");
        }
        start = end;
    }
    // The grey letterbox: a corner reads back as RGB 128.
    let first = y4m.frame_at(CAMERA_CAPTURES_MS[0]);
    assert_eq!(first.pixel(0, 0).unwrap(), [128, 128, 128]);
    assert_eq!((first.width, first.height), (CAMERA_SIDE, CAMERA_SIDE));
}

#[test]
fn the_frames_captured_at_the_agreed_times_are_live_and_match_the_portrait() {
    let Some(faces) = faces() else { return };
    let dir = tempfile::tempdir().unwrap();
    for actions in ORDERS {
        let path = dir.path().join("camera.y4m");
        faces.write_camera_video(&actions, &path).unwrap();
        let y4m = Y4m::read(&path);
        let images: Vec<Image> = CAMERA_CAPTURES_MS
            .iter()
            .map(|&at| y4m.frame_at(at))
            .collect();
        // A capture up to 0.5 s early or late sees the same picture.
        for (&at, image) in CAMERA_CAPTURES_MS.iter().zip(&images) {
            assert_eq!(&y4m.frame_at(at - 500), image, "{at} ms − 0.5 s");
            assert_eq!(&y4m.frame_at(at + 500), image, "{at} ms + 0.5 s");
        }
        assert_live_and_matching(faces, actions, images, "decoded");
    }
}

/// Draws an RGB image into a canvas and returns `canvas.toDataURL('image/jpeg', quality)`'s
/// bytes: Chromium's JPEG encoder, the one the page's captures go through.
async fn canvas_jpeg(page: &Page, image: &Image, quality: f32) -> Vec<u8> {
    let rgba: Vec<u8> = image
        .rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&rgba);
    let url = page
        .eval(&format!(
            "(() => {{ const bytes = Uint8ClampedArray.from(atob('{encoded}'), (c) => c.charCodeAt(0)); \
             const canvas = document.createElement('canvas'); canvas.width = {w}; canvas.height = {h}; \
             canvas.getContext('2d').putImageData(new ImageData(bytes, {w}, {h}), 0, 0); \
             return canvas.toDataURL('image/jpeg', {quality}); }})()",
            w = image.width,
            h = image.height,
        ))
        .await
        .unwrap();
    let url = url.as_str().unwrap();
    let data = url
        .strip_prefix("data:image/jpeg;base64,")
        .expect("a JPEG data URL");
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

#[tokio::test]
async fn the_captures_still_pass_after_the_browsers_jpeg_encoding() {
    let Some(faces) = faces() else { return };
    let Some(browser) = Browser::launch(BrowserOptions::default()).await else {
        return;
    };
    let page = browser.new_page(PageOptions::phone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for actions in ORDERS {
        let path = dir.path().join("camera.y4m");
        faces.write_camera_video(&actions, &path).unwrap();
        let y4m = Y4m::read(&path);
        // 0.7 is below any quality a page would choose for a face; 0.92 is the browser's default.
        for quality in [0.7, 0.92] {
            let mut images = Vec::new();
            for at in CAMERA_CAPTURES_MS {
                let jpeg = canvas_jpeg(&page, &y4m.frame_at(at), quality).await;
                assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
                images.push(image::decode(&jpeg).unwrap());
            }
            assert_live_and_matching(faces, actions, images, &format!("JPEG at {quality}"));
        }
    }
}

/// Serves an empty HTML page on a free loopback port, from a thread, until the test ends; its
/// URL.
fn serve_blank_page() -> String {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            // The request's head ends with an empty line; a GET has no body.
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = "<!doctype html><title>camera</title>";
            let _ = write!(
                &stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// Side of the grid of blocks a frame is compared by: block means do not depend on how a
/// browser resamples, only on how it converts the colours.
const GRID: usize = 8;

/// Mean RGB of each of the `GRID`×`GRID` blocks of `image`, row by row.
fn block_means(image: &Image) -> Vec<f32> {
    let (w, h) = (image.width as usize, image.height as usize);
    let (bw, bh) = (w / GRID, h / GRID);
    let mut means = Vec::with_capacity(GRID * GRID * 3);
    for by in 0..GRID {
        for bx in 0..GRID {
            let mut sum = [0f32; 3];
            for y in by * bh..(by + 1) * bh {
                for x in bx * bw..(bx + 1) * bw {
                    let at = (y * w + x) * 3;
                    for (s, &v) in sum.iter_mut().zip(&image.rgb[at..at + 3]) {
                        *s += f32::from(v);
                    }
                }
            }
            means.extend(sum.map(|s| s / (bw * bh) as f32));
        }
    }
    means
}

/// Opens the camera and, every 100 ms for 9 s (more than one loop of the 7 s video, so every
/// picture shows whatever the machine's load), draws the frame into a canvas and records the
/// block means of `block_means`.
const GRAB_BLOCKS: &str = r"(async () => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true });
  const opened = performance.now();
  const [track] = stream.getVideoTracks();
  const { width, height } = track.getSettings();
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = stream;
  await video.play();
  const playing = performance.now() - opened;
  const times = [];
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  const grid = 8, bw = canvas.width / grid, bh = canvas.height / grid;
  const grabs = [];
  const started = performance.now();
  while (performance.now() - started < 9000) {
    context.drawImage(video, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const means = [];
    for (let by = 0; by < grid; by++) for (let bx = 0; bx < grid; bx++) {
      const sum = [0, 0, 0];
      for (let y = by * bh; y < (by + 1) * bh; y++) for (let x = bx * bw; x < (bx + 1) * bw; x++) {
        const at = (y * canvas.width + x) * 4;
        sum[0] += data[at]; sum[1] += data[at + 1]; sum[2] += data[at + 2];
      }
      means.push(...sum.map((s) => s / (bw * bh)));
    }
    grabs.push(means);
    times.push(Math.round(performance.now() - opened));
    await new Promise((r) => setTimeout(r, 100));
  }
  track.stop();
  return { width, height, grabs, times, playing };
})()";

#[tokio::test]
async fn the_browsers_camera_shows_each_picture_in_the_colours_written() {
    let Some(faces) = faces() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camera.y4m");
    faces.write_camera_video(&ORDERS[0], &path).unwrap();
    let Some(browser) = Browser::launch(BrowserOptions {
        fake_video: Some(path.clone()),
        ..BrowserOptions::default()
    })
    .await
    else {
        return;
    };
    let page = browser.new_page(PageOptions::phone()).await.unwrap();
    // getUserMedia exists only in a secure context, such as a loopback origin.
    page.goto(&serve_blank_page()).await.unwrap();
    let seen = page.eval(GRAB_BLOCKS).await.unwrap();
    assert_eq!(
        (seen["width"].as_u64(), seen["height"].as_u64()),
        (Some(480), Some(480))
    );
    let grabs: Vec<Vec<f32>> = seen["grabs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let y4m = Y4m::read(&path);
    let pictures: Vec<Vec<f32>> = CAMERA_CAPTURES_MS
        .iter()
        .map(|&at| block_means(&y4m.frame_at(at)))
        .collect();
    let difference = |grab: &[f32], picture: &[f32]| {
        grab.iter()
            .zip(picture)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / picture.len() as f32
    };
    for (picture, at) in pictures.iter().zip(CAMERA_CAPTURES_MS) {
        let closest = grabs
            .iter()
            .map(|grab| difference(grab, picture))
            .fold(f32::INFINITY, f32::min);
        eprintln!("picture at {at} ms: closest grab differs by {closest:.2} levels on average");
        // Measured 0.04–0.06: BT.601 limited range is how Chromium reads the frames.
        assert!(closest < 1.0, "picture at {at} ms: {closest}");
    }
    // For the record: which picture each grab (100 ms apart) showed.
    let shown: String = grabs
        .iter()
        .map(|grab| {
            let (best, _) = pictures
                .iter()
                .map(|p| difference(grab, p))
                .enumerate()
                .fold(
                    (0, f32::INFINITY),
                    |a, (i, d)| if d < a.1 { (i, d) } else { a },
                );
            char::from(b'0' + best as u8)
        })
        .collect();
    eprintln!("pictures shown, one digit per grab: {shown}");
    // And when each change of picture was first seen, in ms after getUserMedia resolved.
    let times = seen["times"].as_array().unwrap();
    let changes: Vec<String> = shown
        .as_bytes()
        .windows(2)
        .zip(&times[1..])
        .filter(|(pair, _)| pair[0] != pair[1])
        .map(|(pair, t)| format!("{}→{} by {t} ms", pair[0] as char, pair[1] as char))
        .collect();
    eprintln!(
        "video playing {} ms after the camera opened; {changes:?}",
        seen["playing"]
    );
}
