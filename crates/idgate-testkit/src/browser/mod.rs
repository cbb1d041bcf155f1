//! Headless Chromium for page tests (feature `browser`): launch a browser, open pages with a
//! phone's or a desktop's viewport and language, navigate, run JavaScript, click, take full-page
//! screenshots, run axe-core, and collect every problem the page shows (console errors and
//! warnings, uncaught exceptions, failed requests, Content-Security-Policy violations).
//!
//! The hosted verification page (docs/verify.md) is HTML, one script and a strict CSP, used on a
//! phone: what a person sees is only proven in a real browser. The client is a small one of our
//! own over the DevTools protocol (one websocket, `cdp.rs`) rather than a CDP crate: the tests
//! need a dozen commands, and each is spelled out where it is used.
//!
//! ```ignore
//! let Some(browser) = Browser::launch(BrowserOptions { axe: true, ..Default::default() }).await
//! else { return }; // Chromium or axe-core missing: a counted skip, a failure under CI
//! let page = browser.new_page(PageOptions::phone()).await?;
//! page.goto(&url).await?;
//! let done = "document.querySelector('#status')?.textContent === 'Done'";
//! page.wait_for(done, Duration::from_secs(10)).await?;
//! assert!(page.problems().await?.is_empty());
//! assert!(page.axe().await?.is_empty());
//! page.screenshot(&screenshot_dir().join("done-phone.png")).await?;
//! ```
//!
//! Prerequisites: a Chromium (`IDGATE_CHROMIUM`, else `chromium`, `chromium-browser` or
//! `google-chrome` on the PATH; Debian's `chromium`) and, for [`Page::axe`], axe-core under
//! `scripts/browser/node_modules` (`npm ci --prefix scripts/browser`). `.ci/run` installs both.

mod cdp;
mod page;

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

pub use page::{Page, PageOptions, Problem, ProblemKind, Violation};

use crate::{Prereq, missing, workspace_root};

/// The environment variable naming the Chromium (or Chrome) binary to use.
pub const CHROMIUM_ENV: &str = "IDGATE_CHROMIUM";

/// The binaries looked for on the PATH when [`CHROMIUM_ENV`] is not set, in order.
const CHROMIUM_NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// axe-core's browser build, relative to the workspace root (`scripts/browser/package.json`).
const AXE_PATH: &str = "scripts/browser/node_modules/axe-core/axe.min.js";

/// How long Chromium may take to open its DevTools port: a cold start of a debug-built test on a
/// busy machine takes a few seconds.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What the browser is launched with.
#[derive(Debug, Clone, Default)]
pub struct BrowserOptions {
    /// A YUV4MPEG2 (`.y4m`) file the browser's camera shows, looping from its first frame each
    /// time a page opens the camera; the permission prompt is accepted automatically. `None`:
    /// no camera flags at all.
    pub fake_video: Option<PathBuf>,
    /// Whether the test runs [`Page::axe`]: axe-core then becomes a prerequisite of
    /// [`Browser::launch`], checked up front with the browser itself.
    pub axe: bool,
    /// More command-line switches, appended last.
    pub extra_args: Vec<String>,
}

/// Why a browser operation failed. A test usually unwraps it: the message says what happened.
#[derive(Debug)]
#[non_exhaustive]
pub enum BrowserError {
    /// The browser answered a command with an error, or its answer was malformed.
    Protocol(String),
    /// The connection to the browser ended (it crashed or was closed).
    Closed(String),
    /// A wait ran out: a command, a page load, or [`Page::wait_for`]'s predicate.
    Timeout(String),
    /// The JavaScript threw; the message is the exception's description.
    Js(String),
    /// A navigation failed before the page loaded (`net::ERR_CONNECTION_REFUSED`, …).
    Navigation {
        /// Where to.
        url: String,
        /// The browser's reason.
        error: String,
    },
    /// Writing a screenshot or reading a file failed.
    Io(std::io::Error),
    /// [`Page::axe`] on a browser launched without [`BrowserOptions::axe`].
    AxeNotLoaded,
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(m) => write!(f, "devtools protocol: {m}"),
            Self::Closed(m) => write!(f, "browser gone: {m}"),
            Self::Timeout(m) => write!(f, "timed out: {m}"),
            Self::Js(m) => write!(f, "javascript threw: {m}"),
            Self::Navigation { url, error } => write!(f, "navigating to {url}: {error}"),
            Self::Io(e) => write!(f, "{e}"),
            Self::AxeNotLoaded => write!(
                f,
                "axe-core was not loaded: launch with BrowserOptions {{ axe: true, .. }}"
            ),
        }
    }
}

impl std::error::Error for BrowserError {}

impl From<std::io::Error> for BrowserError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// A headless Chromium of one test: its own profile in a temporary directory, killed (with every
/// process it started) and the directory removed when dropped.
pub struct Browser {
    connection: cdp::Connection,
    user_agent: String,
    axe: Option<Arc<str>>,
    // Dropped after the process is killed (field order), so no process writes into a removed
    // directory.
    child: Child,
    _dir: tempfile::TempDir,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("pid", &self.child.id())
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts headless Chromium and connects to it; `None` after [`missing`] when no Chromium (or,
    /// with `options.axe`, no axe-core) is installed. Panics when Chromium is there but does not
    /// start: that is the test failing, and the message carries the browser's own output.
    ///
    /// Runs as root in CI, hence `--no-sandbox`; `--remote-debugging-port=0` lets Chromium pick a
    /// free port, which it writes to `<profile>/DevToolsActivePort` (port, then the browser's
    /// websocket path).
    pub async fn launch(options: BrowserOptions) -> Option<Self> {
        let binary = find_chromium()?;
        let axe = if options.axe { Some(load_axe()?) } else { None };
        let dir = tempfile::Builder::new()
            .prefix("idgate-chromium-")
            .tempdir()
            .expect("a temporary directory for the browser profile");
        let profile = dir.path().join("profile");
        let log_path = dir.path().join("chromium.log");
        let log = File::create(&log_path).expect("the browser's log file");

        let mut command = Command::new(&binary);
        command.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-port=0",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            "--mute-audio",
            "--hide-scrollbars",
        ]);
        command.arg(format!("--user-data-dir={}", profile.display()));
        if let Some(video) = &options.fake_video {
            command.args([
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ]);
            command.arg(format!(
                "--use-file-for-fake-video-capture={}",
                video.display()
            ));
        }
        command.args(&options.extra_args).arg("about:blank");
        // Its own process group, so dropping the browser can kill the renderers and the zygote
        // with it rather than leave them to the test runner.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the browser's log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.to_string_lossy()));

        let ws_url = match wait_for_port(&profile, &mut child).await {
            Ok(url) => url,
            Err(reason) => {
                kill_group(&mut child);
                let output = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "{} did not start: {reason}\n--- its output ---\n{output}",
                    binary.to_string_lossy()
                );
            }
        };
        let connection = match cdp::Connection::connect(&ws_url).await {
            Ok(c) => c,
            Err(e) => {
                kill_group(&mut child);
                panic!("{e}");
            }
        };
        let version = connection
            .call(None, "Browser.getVersion", json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let user_agent = version
            .get("userAgent")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Some(Self {
            connection,
            user_agent,
            axe,
            child,
            _dir: dir,
        })
    }

    /// Opens a page in a browsing context of its own (its own cookies and storage, like a second
    /// device), with `options`' viewport and language, collecting its problems from the start.
    ///
    /// # Errors
    /// When the browser refuses a setup command.
    pub async fn new_page(&self, options: PageOptions) -> Result<Page, BrowserError> {
        Page::open(
            self.connection.clone(),
            &self.user_agent,
            self.axe.clone(),
            options,
        )
        .await
    }

    /// The browser's user agent (`HeadlessChrome/…`).
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Kills the browser's process group (the browser, its zygote and renderers) and reaps the
/// browser, so the profile directory can be removed after.
fn kill_group(child: &mut Child) {
    let pid = rustix::process::Pid::from_child(child);
    if rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Waits until Chromium writes `DevToolsActivePort` (written whole once the port is open) and
/// returns the browser's websocket URL; the reason when it exits or times out first.
async fn wait_for_port(profile: &Path, child: &mut Child) -> Result<String, String> {
    let file = profile.join("DevToolsActivePort");
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return Ok(format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()));
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("no {} after {STARTUP_TIMEOUT:?}", file.display()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Chromium binary: [`CHROMIUM_ENV`] if set, else the first of [`CHROMIUM_NAMES`] on the
/// PATH; `None` after [`missing`].
fn find_chromium() -> Option<OsString> {
    if let Some(binary) = std::env::var_os(CHROMIUM_ENV).filter(|b| !b.is_empty()) {
        if Path::new(&binary).is_file() || on_path(&binary).is_some() {
            return Some(binary);
        }
        missing(
            Prereq::Chromium,
            format!(
                "{CHROMIUM_ENV}={} is not a file or a program on the PATH",
                binary.to_string_lossy()
            ),
        );
        return None;
    }
    if let Some(found) = CHROMIUM_NAMES
        .iter()
        .find_map(|name| on_path(name.as_ref()))
    {
        return Some(found.into_os_string());
    }
    missing(
        Prereq::Chromium,
        format!(
            "none of {} on the PATH and {CHROMIUM_ENV} not set",
            CHROMIUM_NAMES.join(", ")
        ),
    );
    None
}

/// `name` resolved against the PATH, if it names an executable file there.
fn on_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// axe-core's source, or `None` after [`missing`].
fn load_axe() -> Option<Arc<str>> {
    let path = workspace_root().join(AXE_PATH);
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source.into()),
        Err(e) => {
            missing(Prereq::AxeCore, format!("{}: {e}", path.display()));
            None
        }
    }
}

/// `<target dir>/screenshots/`, created: where page tests write their screenshots for a person
/// to look at. The target directory is `CARGO_TARGET_DIR` when set (relative to the workspace
/// root, as cargo reads it), else found from the test binary's own path
/// (`<target>/<profile>/deps/<test>`), else `<workspace>/target`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| workspace_root().join(d))
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then_some(())?;
            Some(deps.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}
