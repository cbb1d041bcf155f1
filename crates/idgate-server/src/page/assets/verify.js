// The hosted verification page's live parts (src/page/mod.rs, docs/verify.md "Hosted page").
//
// The server renders everything a person needs without this script. With it, the page:
// - follows the session's status over Server-Sent Events and announces each change;
// - takes the person back to the integrator (redirect_url?session_id=…) once the session ends;
// - runs the selfie step with this device's camera, and the consent step, when this page holds
//   the attempt's token (the person finishes here: a desktop with a USB reader, a phone whose app
//   only reads the chip).
// No framework, no inline code (the page's CSP allows only this file), no third-party request.
'use strict';

(function () {
  const configElement = document.getElementById('idgate-page');
  if (!configElement) return;
  const config = JSON.parse(configElement.textContent);
  const $ = (id) => document.getElementById(id);
  // The time a person reads a final status before being taken back.
  const REDIRECT_DELAY_MS = 1200;

  // The page of an ended session: only the way back to the integrator.
  if (config.ended) {
    setTimeout(() => window.location.assign(config.redirect_url), REDIRECT_DELAY_MS);
    return;
  }

  // One window per instruction; the frame is taken near its end, once the pose is held. The
  // fake-camera video of the browser tests (idgate-face testkit) is cut to this schedule.
  const WINDOW_MS = 1200;
  const CAPTURE_AT_MS = 1000;
  // Longest side of an uploaded frame: the face engine works on a few hundred pixels.
  const FRAME_SIDE = 480;
  const JPEG_QUALITY = 0.92;
  const TERMINAL = ['succeeded', 'failed', 'expired', 'cancelled'];

  function message(key, args) {
    let text = config.messages[key] || key;
    for (const [name, value] of Object.entries(args || {})) {
      text = text.split('{' + name + '}').join(String(value));
    }
    return text;
  }

  // API paths relative to the page (/verify/{id}), so the page works behind a path prefix.
  const api = (path) => new URL('../v1/verify/' + path, document.baseURI).href;

  // The attempt's bearer token, when this page view issued the handoff; kept for this tab so a
  // reload after the phone has started still lets the person finish here.
  const storageKey = 'idgate:' + config.session_id;
  let held = null;
  if (config.token) {
    held = { attempt_id: config.attempt_id, token: config.token };
    try {
      sessionStorage.setItem(storageKey, JSON.stringify(held));
    } catch (_) {
      // Storage disabled: the token lives as long as this page.
    }
  } else {
    try {
      const saved = JSON.parse(sessionStorage.getItem(storageKey));
      if (saved && saved.attempt_id === config.attempt_id) held = saved;
    } catch (_) {
      held = null;
    }
  }

  // ---- status --------------------------------------------------------------------------------

  const PROGRESS_PHASE = {
    mrz_scanning: 'document',
    nfc_reading: 'document',
    selfie_capturing: 'liveness',
    reviewing_consent: 'consent',
  };
  const PHASE_TEXT = {
    handoff: 'status.created',
    document: 'status.document',
    liveness: 'status.liveness',
    consent: 'status.consent',
    done: 'status.done',
  };

  // The same rule as the server's first rendering (page/view.rs `status_text`).
  function statusText(status) {
    if (TERMINAL.includes(status.status)) return message('status.' + status.status);
    if (status.progress && PROGRESS_PHASE[status.progress] === status.phase) {
      return message('progress.' + status.progress);
    }
    return message(PHASE_TEXT[status.phase] || 'status.created');
  }

  let current = config.status;
  let source = null;
  let ended = false;

  function render(status) {
    current = status;
    const text = statusText(status);
    // Writing the same text again would make screen readers repeat it.
    if ($('status').textContent !== text) $('status').textContent = text;
    const triesUsed = status.nfc_tries_left < 3 || status.liveness_tries_left < 3;
    const tries = triesUsed
      ? message('status.tries', { nfc: status.nfc_tries_left, liveness: status.liveness_tries_left })
      : '';
    if ($('tries').textContent !== tries) $('tries').textContent = tries;
    $('tries').hidden = !triesUsed;
    const open = !TERMINAL.includes(status.status);
    $('camera').hidden = !(open && held && status.phase === 'liveness');
    $('consent').hidden = !(open && held && status.phase === 'consent');
    if (open && status.phase && status.phase !== 'handoff') {
      const qr = $('phone').querySelector('.qr-box');
      if (qr) {
        $('phone').querySelectorAll('p, .qr-box').forEach((node) => node.remove());
        const note = document.createElement('p');
        note.textContent = message('phone.connected');
        $('phone').append(note);
      }
    }
    if (!open) finish(status);
  }

  function finish(status) {
    if (ended) return;
    ended = true;
    if (source) source.close();
    for (const id of ['camera', 'consent', 'phone', 'test', 'cancel']) {
      const section = $(id);
      if (section) section.hidden = true;
    }
    if (status.redirect_url) {
      $('status').textContent = statusText(status) + ' ' + message('status.redirecting');
      setTimeout(() => window.location.assign(status.redirect_url), REDIRECT_DELAY_MS);
    } else {
      // The server's page of an ended session says how it ended.
      setTimeout(() => window.location.replace(window.location.pathname), REDIRECT_DELAY_MS);
    }
  }

  function follow() {
    source = new EventSource(api('session/' + encodeURIComponent(config.session_id) + '/events'));
    source.addEventListener('status', (event) => {
      try {
        render(JSON.parse(event.data));
      } catch (_) {
        // A malformed event is skipped; the next one carries the whole status again.
      }
    });
    // EventSource reconnects by itself (with Last-Event-ID). The state is exposed for tools
    // and tests: `data-live` on the root element is `open` while the stream is connected.
    source.addEventListener('open', () => {
      document.documentElement.dataset.live = 'open';
    });
    source.addEventListener('error', () => {
      document.documentElement.dataset.live = 'reconnecting';
    });
  }

  // An unused QR code stops working after its first-use window: show a fresh one.
  if (config.token_expires_at_ms) {
    const wait = Math.max(0, config.token_expires_at_ms - Date.now()) + 1000;
    setTimeout(() => {
      if (!ended && (!current.phase || current.phase === 'handoff')) window.location.reload();
    }, wait);
  }

  // ---- calls with the attempt's token ------------------------------------------------------

  // This page's attempt was replaced by a newer handoff (another device took over): its token
  // is dead, so the steps it would take are no longer offered here.
  function release(reply) {
    if (!reply.ok && reply.error && reply.error.code === 'ATTEMPT_CLOSED') {
      held = null;
      try {
        sessionStorage.removeItem(storageKey);
      } catch (_) {
        // Storage disabled: nothing was kept.
      }
      render(current);
      $('status').textContent = message('camera.replaced');
      return true;
    }
    return false;
  }

  async function call(path, body) {
    const response = await fetch(api('attempts/' + encodeURIComponent(held.attempt_id) + '/' + path), {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + held.token, 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
      cache: 'no-store',
      credentials: 'omit',
    });
    let json = null;
    try {
      json = await response.json();
    } catch (_) {
      json = null;
    }
    return { ok: response.ok, data: json && json.data, error: json && json.error };
  }

  // ---- selfie with this device's camera ------------------------------------------------------

  let challenge = null;
  const say = (id, text, good) => {
    $(id).textContent = text;
    $(id).classList.toggle('accepted', Boolean(good));
  };

  // The instruction windows: neutral, then each action followed by neutral again.
  function steps() {
    const list = [null];
    for (const action of challenge.actions) list.push(action, null);
    return list;
  }

  function instruction(step) {
    return message('camera.' + (step || 'neutral'));
  }

  async function openCamera() {
    say('camera-message', '');
    $('camera-open').disabled = true;
    try {
      const reply = await call('liveness/challenge');
      if (release(reply)) return;
      if (!reply.ok) {
        say('camera-message', (reply.error && reply.error.message) || message('camera.error'));
        return;
      }
      challenge = reply.data;
      const list = $('camera-steps');
      list.dataset.actions = challenge.actions.join(',');
      list.replaceChildren(
        ...steps().map((step) => {
          const item = document.createElement('li');
          item.textContent = instruction(step);
          return item;
        }),
      );
      $('camera-run').hidden = false;
      $('camera-start').disabled = false;
      $('camera-start').focus();
    } catch (_) {
      say('camera-message', message('camera.error'));
    } finally {
      $('camera-open').disabled = false;
    }
  }

  const sleepUntil = (deadline) =>
    new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())));

  function toBase64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(',')[1]);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  async function grab(video, sequence) {
    if (!video.videoWidth || !video.videoHeight) throw new Error('no camera picture');
    const scale = Math.min(1, FRAME_SIDE / Math.max(video.videoWidth, video.videoHeight));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    const capturedAt = Date.now();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', JPEG_QUALITY));
    if (!blob) throw new Error('the frame could not be encoded');
    return { image_base64: await toBase64(blob), captured_at_ms: capturedAt, sequence };
  }

  async function record() {
    $('camera-start').disabled = true;
    say('camera-message', '');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
    } catch (_) {
      say('camera-message', message('camera.unavailable'));
      $('camera-start').disabled = false;
      return;
    }
    // The camera's first frame comes with the stream: the instruction windows count from here.
    const started = performance.now();
    const video = $('camera-video');
    const frames = [];
    try {
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      const plan = steps();
      const items = $('camera-steps').children;
      for (let i = 0; i < plan.length; i++) {
        for (const item of items) item.classList.remove('current');
        if (items[i]) items[i].classList.add('current');
        $('camera-instruction').textContent = message('camera.step', {
          n: i + 1,
          count: plan.length,
          action: instruction(plan[i]),
        });
        await sleepUntil(started + i * WINDOW_MS + CAPTURE_AT_MS);
        frames.push(await grab(video, i));
      }
    } catch (_) {
      // No frame could be drawn (the camera stopped, no picture yet): nothing is sent.
      $('camera-instruction').textContent = '';
      say('camera-message', message('camera.unavailable'));
      $('camera-start').disabled = false;
      return;
    } finally {
      stream.getTracks().forEach((track) => track.stop());
      video.srcObject = null;
      video.hidden = true;
    }
    $('camera-instruction').textContent = message('camera.checking');
    try {
      const reply = await call('liveness', { nonce: challenge.nonce, frames });
      $('camera-instruction').textContent = '';
      if (release(reply)) return;
      $('camera-run').hidden = true;
      if (reply.ok && reply.data.verdict === 'accepted') {
        say('camera-message', message('camera.accepted'), true);
      } else if (reply.ok) {
        const reason = message('failure.' + reply.data.failure_code);
        say('camera-message', message('camera.rejected', { reason, n: reply.data.liveness_tries_left }));
        $('camera-open').textContent = message('camera.retry');
      } else {
        say('camera-message', (reply.error && reply.error.message) || message('camera.error'));
      }
    } catch (_) {
      $('camera-instruction').textContent = '';
      say('camera-message', message('camera.error'));
    }
  }

  // ---- consent -------------------------------------------------------------------------------

  async function consent(event) {
    event.preventDefault();
    say('consent-message', '');
    $('consent-submit').disabled = true;
    const keys = Array.from(document.querySelectorAll('#consent-form input[name="field"]'))
      .filter((input) => input.checked)
      .map((input) => input.value);
    try {
      const reply = await call('consent', { selected_field_keys: keys });
      if (release(reply)) return;
      if (!reply.ok) {
        say('consent-message', (reply.error && reply.error.message) || message('consent.error'));
        $('consent-submit').disabled = false;
      }
      // On success the event stream brings the ended session and the redirect.
    } catch (_) {
      say('consent-message', message('consent.error'));
      $('consent-submit').disabled = false;
    }
  }

  $('camera-open').addEventListener('click', openCamera);
  $('camera-start').addEventListener('click', record);
  $('consent-form').addEventListener('submit', consent);

  render(current);
  if ('EventSource' in window) follow();
})();
