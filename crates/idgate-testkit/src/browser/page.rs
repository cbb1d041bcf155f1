//! One page (a tab in a browsing context of its own) and what it records.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::BrowserError;
use super::cdp::{Connection, lock};

/// How long [`Page::goto`] waits for the load event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`Page::wait_for`] evaluates its predicate.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The binding through which the page reports CSP violations to the test. A binding, not a
/// window array, so reports survive navigations and arrive as events in order.
const CSP_BINDING: &str = "__idgateCspViolation";

/// Installed before any script of every document: reports each `securitypolicyviolation` event
/// (CSP Level 3, §5.3 "Report a violation") through [`CSP_BINDING`], keeping a reference in case
/// the page replaces the global.
const CSP_LISTENER: &str = r"(() => {
  const report = globalThis.__idgateCspViolation;
  if (typeof report !== 'function') return;
  document.addEventListener('securitypolicyviolation', (e) => {
    report(JSON.stringify({
      directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
      line: e.lineNumber, sample: e.sample, disposition: e.disposition,
    }));
  });
})();";

/// Runs axe-core on the whole document and keeps what a test reads of each violation.
const RUN_AXE: &str = r"(async () => {
  const results = await axe.run(document, { resultTypes: ['violations'] });
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    targets: v.nodes.map((n) => n.target.flat(Infinity).join(' >>> ')),
  }));
})()";

/// A page's viewport and language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOptions {
    /// Viewport width in CSS pixels; up to [`PageOptions::MOBILE_MAX_WIDTH`] the page is emulated
    /// as a phone (mobile viewport rules, touch).
    pub width: u32,
    /// Viewport height in CSS pixels.
    pub height: u32,
    /// The languages of `Accept-Language` and `navigator.languages`, most preferred first, e.g.
    /// `"de-DE,de"` (the browser adds the `q` weights: `de-DE,de;q=0.9`); `None` keeps the
    /// browser's (`en-US`).
    pub accept_language: Option<String>,
}

impl PageOptions {
    /// Widths up to this are emulated as a phone.
    pub const MOBILE_MAX_WIDTH: u32 = 480;

    /// A small phone, 360 × 740: the narrowest layout the page must fit.
    pub fn phone() -> Self {
        Self {
            width: 360,
            height: 740,
            accept_language: None,
        }
    }

    /// A laptop screen, 1280 × 800.
    pub fn desktop() -> Self {
        Self {
            width: 1280,
            height: 800,
            accept_language: None,
        }
    }

    /// These options with `accept_language`.
    #[must_use]
    pub fn language(mut self, accept_language: &str) -> Self {
        self.accept_language = Some(accept_language.to_owned());
        self
    }

    fn mobile(&self) -> bool {
        self.width <= Self::MOBILE_MAX_WIDTH
    }
}

impl Default for PageOptions {
    fn default() -> Self {
        Self::desktop()
    }
}

/// Where a [`Problem`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// `console.error`, `console.warn` or a failed `console.assert` of the page's scripts.
    Console,
    /// An exception no script caught (including unhandled promise rejections).
    Exception,
    /// A request that failed at the network level (`Network.loadingFailed`).
    Network,
    /// A Content-Security-Policy violation, as the page's `securitypolicyviolation` event saw it.
    Csp,
    /// A warning or error the browser itself logged (`Log.entryAdded`): a CSP refusal as the
    /// console shows it, an HTTP error status of a subresource, … The message starts with the
    /// entry's source in brackets (`[security]`, `[network]`).
    Log,
    /// The page's renderer crashed.
    Crash,
}

/// Something that went wrong on the page, for a test to assert there is none of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it came from.
    pub kind: ProblemKind,
    /// What the browser said.
    pub message: String,
    /// The script, request or document it concerns, when known.
    pub url: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)?;
        if let Some(url) = &self.url {
            write!(f, " ({url})")?;
        }
        Ok(())
    }
}

/// One axe-core rule the page breaks (<https://github.com/dequelabs/axe-core/blob/develop/doc/rule-descriptions.md>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule, e.g. `image-alt`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for, in a sentence.
    pub help: String,
    /// The rule's documentation.
    pub help_url: String,
    /// A CSS selector of each offending element (shadow-DOM and frame steps joined by ` >>> `).
    pub targets: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {} at {}",
            self.id,
            self.impact.as_deref().unwrap_or("?"),
            self.help,
            self.targets.join(", ")
        )
    }
}

/// What the event sink records for a page.
struct PageState {
    problems: Mutex<Vec<Problem>>,
    /// Each request's URL and resource type, for naming a failed one.
    requests: Mutex<HashMap<String, (String, String)>>,
    /// The number of load events of the main frame so far.
    loads: watch::Sender<u64>,
}

/// A page of a [`super::Browser`]. Dropping it closes its browsing context.
pub struct Page {
    connection: Connection,
    session: String,
    context: String,
    state: Arc<PageState>,
    axe: Option<Arc<str>>,
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Page {
    pub(super) async fn open(
        connection: Connection,
        user_agent: &str,
        axe: Option<Arc<str>>,
        options: PageOptions,
    ) -> Result<Self, BrowserError> {
        let context = connection
            .call(None, "Target.createBrowserContext", json!({}))
            .await?;
        let context = string_field(&context, "browserContextId")?;
        let target = connection
            .call(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": context }),
            )
            .await?;
        let target = string_field(&target, "targetId")?;
        let attached = connection
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await?;
        let session = string_field(&attached, "sessionId")?;
        let state = Arc::new(PageState {
            problems: Mutex::default(),
            requests: Mutex::default(),
            loads: watch::Sender::new(0),
        });
        let sink_state = Arc::clone(&state);
        connection.subscribe(
            &session,
            Box::new(move |method, params| sink_state.record(method, params)),
        );
        let page = Self {
            connection,
            session,
            context,
            state,
            axe,
        };

        let mobile = options.mobile();
        page.call("Page.enable", json!({})).await?;
        page.call("Runtime.enable", json!({})).await?;
        page.call("Network.enable", json!({})).await?;
        page.call("Log.enable", json!({})).await?;
        page.call("Runtime.addBinding", json!({ "name": CSP_BINDING }))
            .await?;
        page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": CSP_LISTENER }),
        )
        .await?;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": options.width,
                "height": options.height,
                "deviceScaleFactor": 1,
                "mobile": mobile,
            }),
        )
        .await?;
        page.call(
            "Emulation.setTouchEmulationEnabled",
            json!({ "enabled": mobile, "maxTouchPoints": if mobile { 5 } else { 1 } }),
        )
        .await?;
        if let Some(language) = &options.accept_language {
            // Sets both the request header and navigator.language(s).
            page.call(
                "Emulation.setUserAgentOverride",
                json!({ "userAgent": user_agent, "acceptLanguage": language }),
            )
            .await?;
        }
        Ok(page)
    }

    /// Sends a DevTools command to this page and returns its result: for what the helpers
    /// below do not cover.
    ///
    /// # Errors
    /// When the browser answers with an error or is gone.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.connection
            .call(Some(&self.session), method, params)
            .await
    }

    /// Navigates to `url` and waits for its load event (all subresources loaded).
    ///
    /// # Errors
    /// [`BrowserError::Navigation`] when the browser cannot load the document (a refused
    /// connection; an HTTP error status still loads), [`BrowserError::Timeout`] without a load
    /// event within 30 s.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        let mut loads = self.state.loads.subscribe();
        let before = *loads.borrow_and_update();
        let navigated = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = navigated.get("errorText").and_then(Value::as_str) {
            return Err(BrowserError::Navigation {
                url: url.to_owned(),
                error: error.to_owned(),
            });
        }
        if navigated.get("loaderId").is_none() {
            // A same-document navigation (only the fragment changed) fires no load event.
            return Ok(());
        }
        tokio::time::timeout(LOAD_TIMEOUT, loads.wait_for(|n| *n > before))
            .await
            .map_err(|_| BrowserError::Timeout(format!("{url} did not load in {LOAD_TIMEOUT:?}")))?
            .map_err(|_| BrowserError::Closed("the page is gone".to_owned()))?;
        Ok(())
    }

    /// Evaluates `js` (an expression; a promise is awaited) in the page's main world and returns
    /// its value as JSON (`undefined` and values JSON cannot hold are `null`). Runs as a user
    /// gesture, so it may start media playback or open the camera.
    ///
    /// # Errors
    /// [`BrowserError::Js`] with the exception's description when it throws or the promise
    /// rejects.
    pub async fn eval(&self, js: &str) -> Result<Value, BrowserError> {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": js,
                    "awaitPromise": true,
                    "returnByValue": true,
                    "userGesture": true,
                }),
            )
            .await?;
        if let Some(exception) = answer.get("exceptionDetails") {
            return Err(BrowserError::Js(exception_message(exception)));
        }
        Ok(answer
            .get("result")
            .and_then(|r| r.get("value"))
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Waits until the JavaScript expression `predicate` is truthy (a promise is awaited first),
    /// evaluating it every 50 ms.
    /// A predicate that throws counts as false (the element may not exist yet), and so does an
    /// evaluation the browser refuses because the document is being replaced (a click that
    /// navigates), so this also waits for the next page.
    ///
    /// # Errors
    /// [`BrowserError::Timeout`] after `timeout`, naming the predicate and its last exception.
    pub async fn wait_for(&self, predicate: &str, timeout: Duration) -> Result<(), BrowserError> {
        let expression = format!("(async () => Boolean(await ({predicate})))()");
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_error = None;
        loop {
            match self.eval(&expression).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => {}
                Err(BrowserError::Js(message) | BrowserError::Protocol(message)) => {
                    last_error = Some(message);
                }
                Err(other) => return Err(other),
            }
            if tokio::time::Instant::now() >= deadline {
                let thrown = last_error.map_or_else(String::new, |m| format!("; it threw {m}"));
                return Err(BrowserError::Timeout(format!(
                    "`{predicate}` still false after {timeout:?}{thrown}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Clicks the first element matching `selector` through the DOM (`element.click()`): quick,
    /// and works on elements outside the viewport. See [`Page::click_mouse`] for a click a
    /// person could make.
    ///
    /// # Errors
    /// [`BrowserError::Js`] when nothing matches.
    pub async fn click(&self, selector: &str) -> Result<(), BrowserError> {
        let selector = json!(selector);
        self.eval(&format!(
            "(() => {{ const el = document.querySelector({selector}); \
             if (!el) throw new Error('no element matches ' + {selector}); el.click(); }})()"
        ))
        .await
        .map(drop)
    }

    /// Clicks the middle of the first element matching `selector` with the mouse, after
    /// scrolling it into view: the browser hit-tests the point, so an element covered by
    /// another, or without a box, is not clicked.
    ///
    /// # Errors
    /// [`BrowserError::Js`] when nothing matches or the element has no size.
    pub async fn click_mouse(&self, selector: &str) -> Result<(), BrowserError> {
        let quoted = json!(selector);
        let point = self
            .eval(&format!(
                "(() => {{ const el = document.querySelector({quoted}); \
                 if (!el) throw new Error('no element matches ' + {quoted}); \
                 el.scrollIntoView({{ block: 'center', inline: 'center' }}); \
                 const r = el.getBoundingClientRect(); \
                 if (r.width === 0 || r.height === 0) throw new Error({quoted} + ' has no box'); \
                 return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
            ))
            .await?;
        let (x, y) = match point.as_array().map(Vec::as_slice) {
            Some([x, y]) => (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0)),
            _ => return Err(BrowserError::Protocol(format!("no point for {selector}"))),
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await?;
        }
        Ok(())
    }

    /// The document's current URL (`location.href`).
    ///
    /// # Errors
    /// When the page is gone.
    pub async fn url(&self) -> Result<String, BrowserError> {
        let href = self.eval("location.href").await?;
        Ok(href.as_str().unwrap_or_default().to_owned())
    }

    /// Writes a PNG of the whole page (beyond the viewport, at one image pixel per CSS pixel) to
    /// `path`, creating its directory. A page wider than the viewport shows up as a wider image.
    ///
    /// # Errors
    /// When the capture or the write fails.
    pub async fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await?;
        let size = metrics.get("cssContentSize").unwrap_or(&Value::Null);
        let dimension = |name: &str| size.get(name).and_then(Value::as_f64).unwrap_or(0.0);
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {
                        "x": 0, "y": 0,
                        "width": dimension("width").ceil(),
                        "height": dimension("height").ceil(),
                        "scale": 1,
                    },
                }),
            )
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(string_field(&shot, "data")?)
            .map_err(|e| BrowserError::Protocol(format!("screenshot data: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Every problem the page has shown since it was opened, across navigations: console
    /// errors and warnings, uncaught exceptions, failed requests (except an `EventSource`
    /// aborted by leaving the page, and the browser's own `/favicon.ico` request), CSP
    /// violations, and the browser's own warnings and errors.
    /// A CSP violation therefore appears twice: as [`ProblemKind::Csp`] and as the console's
    /// `[security]` [`ProblemKind::Log`] line.
    ///
    /// Lets the page's pending tasks run first, so an event fired just before is included.
    ///
    /// # Errors
    /// When the page is gone.
    pub async fn problems(&self) -> Result<Vec<Problem>, BrowserError> {
        // Every event sent before this answer has been recorded when it arrives (cdp.rs).
        self.eval("new Promise((resolve) => setTimeout(resolve, 0))")
            .await?;
        Ok(lock(&self.state.problems).clone())
    }

    /// Runs axe-core on the current document and returns its violations (an empty list for a
    /// page it finds nothing wrong with). axe-core is injected on the first call per document,
    /// through DevTools, so the page's CSP does not stop it.
    ///
    /// # Errors
    /// [`BrowserError::AxeNotLoaded`] on a browser launched without [`super::BrowserOptions::axe`].
    pub async fn axe(&self) -> Result<Vec<Violation>, BrowserError> {
        let source = self.axe.as_ref().ok_or(BrowserError::AxeNotLoaded)?;
        if self.eval("typeof axe").await? != json!("object") {
            // `;undefined`: the script's completion value is not worth copying back.
            self.eval(&format!("{source}\n;undefined")).await?;
        }
        let violations = self.eval(RUN_AXE).await?;
        let list = violations
            .as_array()
            .ok_or_else(|| BrowserError::Protocol(format!("axe returned {violations}")))?;
        Ok(list.iter().map(violation).collect())
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.connection.unsubscribe(&self.session);
        // Closes the page with its context; no answer is awaited (Drop cannot).
        self.connection.send(
            None,
            "Target.disposeBrowserContext",
            json!({ "browserContextId": self.context }),
        );
    }
}

impl PageState {
    /// Records one event of the page (on the connection's reader task).
    fn record(&self, method: &str, params: &Value) {
        let text =
            |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let problem = match method {
            "Page.loadEventFired" => {
                self.loads.send_modify(|n| *n += 1);
                None
            }
            "Runtime.consoleAPICalled" => {
                let level = params.get("type").and_then(Value::as_str).unwrap_or("");
                matches!(level, "error" | "warning" | "assert").then(|| Problem {
                    kind: ProblemKind::Console,
                    message: console_text(params),
                    url: params
                        .pointer("/stackTrace/callFrames/0/url")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
            }
            "Runtime.exceptionThrown" => {
                let details = params.get("exceptionDetails").unwrap_or(&Value::Null);
                Some(Problem {
                    kind: ProblemKind::Exception,
                    message: exception_message(details),
                    url: text(details, "url"),
                })
            }
            "Runtime.bindingCalled" if text(params, "name").as_deref() == Some(CSP_BINDING) => {
                let report: Value = text(params, "payload")
                    .and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or(Value::Null);
                let field = |key: &str| {
                    report.get(key).map_or_else(String::new, |v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                };
                Some(Problem {
                    kind: ProblemKind::Csp,
                    message: format!(
                        "{} blocked {} (line {}, sample {:?})",
                        field("directive"),
                        field("blocked"),
                        field("line"),
                        field("sample"),
                    ),
                    url: text(&report, "source"),
                })
            }
            "Network.requestWillBeSent" => {
                if let Some(id) = text(params, "requestId") {
                    let url = params
                        .pointer("/request/url")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let kind = text(params, "type").unwrap_or_default();
                    lock(&self.requests).insert(id, (url.to_owned(), kind));
                }
                None
            }
            "Network.loadingFailed" => {
                let (url, kind) = text(params, "requestId")
                    .and_then(|id| lock(&self.requests).get(&id).cloned())
                    .unwrap_or_default();
                let error = text(params, "errorText").unwrap_or_default();
                let kind = text(params, "type").unwrap_or(kind);
                // Leaving a page aborts its open event stream: not a problem of the page.
                let left_page = kind == "EventSource" && error == "net::ERR_ABORTED";
                (!left_page).then(|| Problem {
                    kind: ProblemKind::Network,
                    message: match text(params, "blockedReason") {
                        Some(reason) => format!("{kind} {error} (blocked: {reason})"),
                        None => format!("{kind} {error}"),
                    },
                    url: Some(url),
                })
            }
            "Log.entryAdded" => {
                let entry = params.get("entry").unwrap_or(&Value::Null);
                let level = entry.get("level").and_then(Value::as_str).unwrap_or("");
                matches!(level, "warning" | "error").then(|| Problem {
                    kind: ProblemKind::Log,
                    message: format!(
                        "[{}] {}",
                        text(entry, "source").unwrap_or_default(),
                        text(entry, "text").unwrap_or_default()
                    ),
                    url: text(entry, "url"),
                })
            }
            "Inspector.targetCrashed" => Some(Problem {
                kind: ProblemKind::Crash,
                message: "the renderer crashed".to_owned(),
                url: None,
            }),
            _ => None,
        };
        if let Some(problem) = problem.filter(|p| !browser_favicon(p)) {
            lock(&self.problems).push(problem);
        }
    }
}

/// Whether `problem` is the browser's own request for `/favicon.ico` failing: Chromium asks for
/// it after the load event, whether or not the page declares an icon, so a server without one
/// would make every page test racy. (A page that declares `/favicon.ico` itself and breaks it
/// goes unreported; declare another path to have it checked.)
fn browser_favicon(problem: &Problem) -> bool {
    matches!(problem.kind, ProblemKind::Log | ProblemKind::Network)
        && problem.url.as_deref().is_some_and(|url| {
            url.split(['?', '#'])
                .next()
                .is_some_and(|path| path.ends_with("/favicon.ico"))
        })
}

/// A console call's arguments as the console shows them, space-separated.
fn console_text(params: &Value) -> String {
    let arguments = params.get("args").and_then(Value::as_array);
    arguments
        .into_iter()
        .flatten()
        .map(|arg| match arg.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => arg
                .get("description")
                .or_else(|| arg.get("unserializableValue"))
                .and_then(Value::as_str)
                .unwrap_or("undefined")
                .to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An exception's description (`Error: message` and its stack), else the protocol's text.
fn exception_message(details: &Value) -> String {
    details
        .pointer("/exception/description")
        .and_then(Value::as_str)
        .or_else(|| details.get("text").and_then(Value::as_str))
        .unwrap_or("unknown exception")
        .to_owned()
}

fn string_field(value: &Value, key: &str) -> Result<String, BrowserError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| BrowserError::Protocol(format!("no {key} in {value}")))
}

fn violation(value: &Value) -> Violation {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    Violation {
        id: text("id").unwrap_or_default(),
        impact: text("impact"),
        help: text("help").unwrap_or_default(),
        help_url: text("helpUrl").unwrap_or_default(),
        targets: value
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> PageState {
        PageState {
            problems: Mutex::default(),
            requests: Mutex::default(),
            loads: watch::Sender::new(0),
        }
    }

    fn request(state: &PageState, id: &str, url: &str, kind: &str) {
        state.record(
            "Network.requestWillBeSent",
            &json!({ "requestId": id, "type": kind, "request": { "url": url } }),
        );
    }

    #[test]
    fn a_failed_request_is_named_by_its_url_and_an_aborted_event_stream_is_not_a_problem() {
        let state = state();
        request(&state, "1", "http://127.0.0.1:1/events", "EventSource");
        request(&state, "2", "http://127.0.0.1:1/app.js", "Script");
        for id in ["1", "2"] {
            state.record(
                "Network.loadingFailed",
                &json!({ "requestId": id, "errorText": "net::ERR_ABORTED" }),
            );
        }
        assert_eq!(
            *lock(&state.problems),
            [Problem {
                kind: ProblemKind::Network,
                message: "Script net::ERR_ABORTED".to_owned(),
                url: Some("http://127.0.0.1:1/app.js".to_owned()),
            }]
        );
    }

    #[test]
    fn the_browsers_favicon_request_is_not_a_problem_of_the_page() {
        let state = state();
        for url in [
            "http://127.0.0.1:1/favicon.ico",
            "http://127.0.0.1:1/logo.png",
        ] {
            state.record(
                "Log.entryAdded",
                &json!({ "entry": { "source": "network", "level": "error", "text": "404", "url": url } }),
            );
        }
        let urls: Vec<_> = lock(&state.problems)
            .iter()
            .map(|p| p.url.clone())
            .collect();
        assert_eq!(urls, [Some("http://127.0.0.1:1/logo.png".to_owned())]);
    }

    #[test]
    fn console_errors_and_warnings_are_problems_and_logs_are_not() {
        let state = state();
        for level in ["log", "info", "debug", "warning", "error"] {
            state.record(
                "Runtime.consoleAPICalled",
                &json!({ "type": level, "args": [
                    { "type": "string", "value": level },
                    { "type": "number", "value": 2 },
                    { "type": "object", "description": "Object" },
                ] }),
            );
        }
        let messages: Vec<_> = lock(&state.problems)
            .iter()
            .map(|p| p.message.clone())
            .collect();
        assert_eq!(messages, ["warning 2 Object", "error 2 Object"]);
    }

    #[test]
    fn load_events_are_counted() {
        let state = state();
        state.record("Page.loadEventFired", &json!({ "timestamp": 1.0 }));
        state.record("Page.loadEventFired", &json!({ "timestamp": 2.0 }));
        assert_eq!(*state.loads.borrow(), 2);
        assert!(lock(&state.problems).is_empty());
    }
}
