// A seat's terminal beside the tutorial (issue #21).
//
// The seat server adds this script, xterm.js and its fit addon to every page it
// serves to a logged-in seat. It docks a "Terminal" panel at the bottom of the
// page, attached over a WebSocket to the seat's shell, and gives every bash
// block a "Run in my terminal" button. Plain ES2019, no build step; it works
// under the server's CSP (script-src 'self'; connect-src 'self'; style-src
// 'self'): no inline handlers, no eval, no HTML strings, styles by class.
//
// Protocol on /seat/ws (same host, ws: or wss: as the page):
//   server -> client  text   {"type":"hello","seat":"seat-3"}   (first; the
//                             terminal is reset, the server replays scrollback)
//                     binary raw terminal output
//   client -> server  text   {"type":"input","data":"..."}  (<= 16384 chars,
//                             <= 60000 bytes as sent)
//                     text   {"type":"resize","cols":80,"rows":24}  (on open
//                             and after each fit that changes the size;
//                             at most 500 x 200, the seat server's bounds)
//   close codes       4401   signed out: no retry
//                     4409   another tab took the seat: retry on request only
//                     other  retry after 0.5 s, 1 s, 2 s, 4 s, then every 5 s
(function () {
  "use strict";

  var WS_PATH = "/seat/ws";
  var MAX_INPUT_CHARS = 16384;
  var MAX_FRAME_BYTES = 60000; // the seat server takes 64 KiB per message
  var BACKOFF_MS = [500, 1000, 2000, 4000];
  var BACKOFF_LAST_MS = 5000;
  var CLOSE_SIGNED_OUT = 4401;
  var CLOSE_TAKEN = 4409;
  var MIN_HEIGHT = 120;
  var MAX_HEIGHT_SHARE = 0.8;
  var DEFAULT_HEIGHT = 320;
  var KEY_STEP = 24;
  var MAX_COLS = 500; // the seat server refuses bigger sizes
  var MAX_ROWS = 200;
  var HEIGHT_KEY = "seat.terminal.height"; // localStorage
  var OPEN_KEY = "seat.terminal.open"; // sessionStorage
  var PENDING_MAX_AGE_MS = 15000;
  var PENDING_MAX_CHARS = 65536;
  var STATE_TEXT = {
    idle: "not connected",
    connecting: "connecting…",
    connected: "connected",
    reconnecting: "reconnecting…",
    taken: "opened in another tab",
    signedout: "signed out: open your card's link again"
  };

  // The theme: a dark terminal in both palettes, every colour but black at
  // least 4.5:1 against the background (WCAG AA, as axe checks it).
  var THEME = {
    background: "#0d1117", foreground: "#e6edf3", cursor: "#e6edf3", cursorAccent: "#0d1117",
    selectionBackground: "#264f78", selectionForeground: "#ffffff",
    black: "#484f58", red: "#ff7b72", green: "#3fb950", yellow: "#d29922",
    blue: "#58a6ff", magenta: "#bc8cff", cyan: "#39c5cf", white: "#b1bac4",
    brightBlack: "#8b949e", brightRed: "#ffa198", brightGreen: "#56d364", brightYellow: "#e3b341",
    brightBlue: "#79c0ff", brightMagenta: "#d2a8ff", brightCyan: "#56d4dd", brightWhite: "#f0f6fc"
  };

  function storageGet(kind, key) {
    try { return window[kind].getItem(key); } catch (e) { return null; }
  }

  function storageSet(kind, key, value) {
    try { window[kind].setItem(key, value); } catch (e) { /* private mode or full: not remembered */ }
  }

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // xterm.js writes its own CSS into <style> elements, which the server's
  // style-src 'self' refuses, again at every change of their text (one
  // console error each). Their text goes into constructed style sheets
  // instead (CSSOM, which CSP allows). While xterm.js opens and fits, the
  // elements it asks for are plain <seat-style> elements, which no browser
  // parses as CSS; any real <style> made at another time is taken out of the
  // document after its first refusal. Either way xterm.js keeps writing to
  // its element, and the mirror follows.
  var mirrored = typeof CSSStyleSheet === "function" && "adoptedStyleSheets" in document &&
    "replaceSync" in CSSStyleSheet.prototype;

  function StyleMirror(root) {
    this.root = root;
    this.sheets = new Map();
    this.observer = new MutationObserver(this.sync.bind(this));
  }

  StyleMirror.prototype.adopt = function () {
    if (!mirrored) return;
    var self = this;
    Array.prototype.forEach.call(this.root.querySelectorAll("style, seat-style"), function (style) {
      if (self.sheets.has(style)) return;
      if (style.tagName === "STYLE" && style.sheet) return; // a relaxed CSP let it through
      var sheet = new CSSStyleSheet();
      self.sheets.set(style, sheet);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
      self.observer.observe(style, { childList: true, characterData: true, subtree: true });
      style.remove();
    });
    this.sync();
  };

  StyleMirror.prototype.sync = function () {
    this.sheets.forEach(function (sheet, style) {
      var text = style.textContent || "";
      if (sheet.seatText === text) return;
      try { sheet.replaceSync(text); } catch (e) { /* keep the last good rules */ }
      sheet.seatText = text;
    });
  };

  // Runs fn with document.createElement("style") handing out <seat-style>.
  function withQuietStyles(fn) {
    if (!mirrored) return fn();
    var own = Object.prototype.hasOwnProperty.call(document, "createElement");
    var original = document.createElement;
    document.createElement = function (name) {
      if (String(name).toLowerCase() === "style") return original.call(document, "seat-style");
      return original.apply(document, arguments);
    };
    try {
      return fn();
    } finally {
      if (own) document.createElement = original;
      else delete document.createElement;
    }
  }

  // The DOM renderer gives true-colour and contrast-adjusted cells a style
  // attribute, which style-src 'self' refuses (one console error per cell).
  // Set through the CSSOM instead. Reaches into xterm.js's internals, which
  // package-lock.json pins; if they moved, nothing is patched.
  function patchCellStyles(term) {
    try {
      var renderer = term._core._renderService._renderer;
      renderer = renderer && renderer.value !== undefined ? renderer.value : renderer;
      var rows = renderer && renderer._rowFactory;
      if (!rows || typeof rows._addStyle !== "function") return false;
      rows._addStyle = function (element, css) {
        element.style.cssText = element.style.cssText + css + ";";
      };
      return true;
    } catch (e) {
      return false;
    }
  }

  function cleanCodeText(code) {
    var copy = code.cloneNode(true);
    Array.prototype.forEach.call(
      copy.querySelectorAll(".md-annotation, .md-code__nav, .md-clipboard, .linenos, [data-linenos]"),
      function (node) { node.remove(); });
    return copy.textContent;
  }

  function commandOf(code) {
    return cleanCodeText(code).replace(/[\r\n]+$/, "");
  }

  function ancestorTitles(block) {
    var titles = [];
    for (var node = block.parentElement; node; node = node.parentElement) {
      if (node.classList.contains("tabbed-block")) {
        var index = Array.prototype.indexOf.call(node.parentElement.children, node);
        var set = node.closest(".tabbed-set");
        var labels = set && set.querySelector(":scope > .tabbed-labels");
        if (labels && labels.children[index]) titles.push(labels.children[index].textContent);
      } else if (node.classList.contains("admonition")) {
        var title = node.querySelector(":scope > .admonition-title");
        if (title) titles.push(title.textContent);
      } else if (node.tagName === "DETAILS") {
        var summary = node.querySelector(":scope > summary");
        if (summary) titles.push(summary.textContent);
      }
    }
    return titles;
  }

  function Seat() {
    this.term = null;
    this.fit = null;
    this.ws = null;
    this.state = "idle";
    this.attempt = 0;
    this.retryTimer = 0;
    this.everConnected = false;
    this.greeted = false;
    this.sentSize = "";
    this.pending = [];
    this.fitQueued = false;
    this.open = false;
    this.height = this.clampHeight(parseInt(storageGet("localStorage", HEIGHT_KEY), 10) || DEFAULT_HEIGHT);
    this.build();
  }

  Seat.prototype.build = function () {
    var self = this;
    var aside = make("aside", "seat");
    aside.setAttribute("aria-label", "Your seat");

    var toggle = make("button", "seat-toggle", "Terminal");
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", "seat-panel");

    var panel = make("section", "seat-panel");
    panel.id = "seat-panel";
    panel.setAttribute("role", "region");
    panel.setAttribute("aria-label", "Terminal");
    panel.hidden = true;

    var handle = make("div", "seat-panel__handle");
    handle.setAttribute("role", "separator");
    handle.setAttribute("aria-orientation", "horizontal");
    handle.setAttribute("aria-label", "Terminal height");
    handle.setAttribute("aria-controls", "seat-panel");
    handle.tabIndex = 0;

    var header = make("div", "seat-panel__header");
    var title = make("span", "seat-panel__title", "Terminal");
    var seatName = make("span", "seat-panel__seat");
    var state = make("span", "seat-panel__state");
    state.setAttribute("role", "status");
    var reclaim = make("button", "seat-panel__reclaim", "Use it here");
    reclaim.type = "button";
    reclaim.hidden = true;
    var hint = make("span", "seat-panel__hint", "F6 leaves the terminal");
    hint.id = "seat-panel-hint";
    header.append(title, seatName, state, reclaim, hint);

    var screen = make("div", "seat-panel__screen");
    panel.append(handle, header, screen);
    aside.append(toggle, panel);
    document.body.appendChild(aside);

    this.aside = aside;
    this.toggle = toggle;
    this.panel = panel;
    this.handle = handle;
    this.seatName = seatName;
    this.stateNode = state;
    this.reclaim = reclaim;
    this.screen = screen;
    this.styles = new StyleMirror(screen);

    toggle.addEventListener("click", function () {
      self.setOpen(!self.open);
      if (self.open && self.term) self.term.focus();
    });
    reclaim.addEventListener("click", function () {
      reclaim.hidden = true;
      self.attempt = 0;
      self.connect();
    });
    this.wireHandle();

    window.addEventListener("resize", function () { self.applyHeight(self.clampHeight(self.height)); });
    window.addEventListener("online", function () { self.reconnectNow(); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") self.reconnectNow();
    });

    this.applyHeight(this.height);
    this.setState("idle");
    document.documentElement.classList.add("seat-on");
    if (storageGet("sessionStorage", OPEN_KEY) === "1") this.setOpen(true);
  };

  Seat.prototype.clampHeight = function (h) {
    var max = Math.max(MIN_HEIGHT, Math.floor(window.innerHeight * MAX_HEIGHT_SHARE));
    return Math.min(max, Math.max(MIN_HEIGHT, Math.round(h)));
  };

  Seat.prototype.applyHeight = function (h) {
    this.height = h;
    document.documentElement.style.setProperty("--seat-panel-height", h + "px");
    this.handle.setAttribute("aria-valuemin", String(MIN_HEIGHT));
    this.handle.setAttribute("aria-valuemax", String(this.clampHeight(Infinity)));
    this.handle.setAttribute("aria-valuenow", String(h));
    this.handle.setAttribute("aria-valuetext", h + " pixels");
  };

  Seat.prototype.saveHeight = function () {
    storageSet("localStorage", HEIGHT_KEY, String(this.height));
  };

  Seat.prototype.wireHandle = function () {
    var self = this;
    var handle = this.handle;
    var dragging = null;
    handle.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      e.preventDefault();
      dragging = e.pointerId;
      handle.setPointerCapture(e.pointerId);
      document.documentElement.classList.add("seat-resizing");
    });
    handle.addEventListener("pointermove", function (e) {
      if (dragging !== e.pointerId) return;
      self.applyHeight(self.clampHeight(window.innerHeight - e.clientY));
    });
    function stop(e) {
      if (dragging !== e.pointerId) return;
      dragging = null;
      document.documentElement.classList.remove("seat-resizing");
      self.saveHeight();
    }
    handle.addEventListener("pointerup", stop);
    handle.addEventListener("pointercancel", stop);
    handle.addEventListener("keydown", function (e) {
      var h = self.height;
      var step = e.shiftKey ? KEY_STEP * 4 : KEY_STEP;
      if (e.key === "ArrowUp") h += step;
      else if (e.key === "ArrowDown") h -= step;
      else if (e.key === "Home") h = MIN_HEIGHT;
      else if (e.key === "End") h = Infinity;
      else return;
      e.preventDefault();
      self.applyHeight(self.clampHeight(h));
      self.saveHeight();
    });
  };

  Seat.prototype.setOpen = function (open) {
    this.open = open;
    this.panel.hidden = !open;
    this.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    document.documentElement.classList.toggle("seat-open", open);
    storageSet("sessionStorage", OPEN_KEY, open ? "1" : "0");
    if (!open) return;
    this.ensureTerminal();
    this.queueFit();
    if (this.state === "idle") this.connect();
  };

  Seat.prototype.ensureTerminal = function () {
    if (this.term) return;
    var self = this;
    var term = new window.Terminal({
      scrollback: 5000,
      cursorBlink: true,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace',
      fontSize: 14,
      theme: THEME
    });
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    withQuietStyles(function () { term.open(self.screen); });
    this.styles.adopt();
    if (patchCellStyles(term)) term.options.minimumContrastRatio = 4.5;
    var textarea = this.screen.querySelector("textarea");
    if (textarea) textarea.setAttribute("aria-describedby", "seat-panel-hint");

    term.attachCustomKeyEventHandler(function (e) {
      if (e.key === "F6") {
        if (e.type === "keydown") {
          e.preventDefault();
          self.toggle.focus();
        }
        return false;
      }
      return true;
    });
    term.onData(function (data) {
      if (self.isReady()) self.sendInput(data);
    });
    this.term = term;
    this.fit = fit;
    new ResizeObserver(function () { self.queueFit(); }).observe(this.screen);
  };

  Seat.prototype.queueFit = function () {
    if (this.fitQueued) return;
    this.fitQueued = true;
    var self = this;
    window.requestAnimationFrame(function () {
      self.fitQueued = false;
      self.fitNow();
    });
  };

  Seat.prototype.fitNow = function () {
    if (!this.term || !this.open || !this.screen.clientHeight || !this.screen.clientWidth) return;
    var fit = this.fit;
    var term = this.term;
    withQuietStyles(function () {
      try { fit.fit(); } catch (e) { /* not measurable yet: the next resize fits */ }
      // A zoomed-out page on a big screen: no wider or taller than a seat takes.
      if (term.cols > MAX_COLS || term.rows > MAX_ROWS) {
        term.resize(Math.min(term.cols, MAX_COLS), Math.min(term.rows, MAX_ROWS));
      }
    });
    this.styles.adopt();
    this.sendResize();
  };

  Seat.prototype.setState = function (state) {
    this.state = state;
    this.stateNode.textContent = STATE_TEXT[state];
    this.panel.setAttribute("data-seat-state", state);
    this.toggle.setAttribute("data-seat-state", state);
    this.reclaim.hidden = state !== "taken";
  };

  Seat.prototype.isReady = function () {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.greeted;
  };

  Seat.prototype.url = function () {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + WS_PATH;
  };

  Seat.prototype.connect = function () {
    window.clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    if (this.ws) return;
    var self = this;
    var ws;
    if (this.state !== "reconnecting") this.setState(this.everConnected ? "reconnecting" : "connecting");
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.greeted = false;
    this.sentSize = "";
    ws.addEventListener("open", function () {
      if (self.ws === ws) self.sendResize();
    });
    ws.addEventListener("message", function (e) {
      if (self.ws !== ws) return;
      if (typeof e.data === "string") self.onText(e.data);
      else if (self.greeted && self.term) self.term.write(new Uint8Array(e.data));
    });
    ws.addEventListener("close", function (e) {
      if (self.ws !== ws) return;
      self.ws = null;
      self.greeted = false;
      self.onClosed(e.code);
    });
  };

  Seat.prototype.onText = function (text) {
    var message;
    try { message = JSON.parse(text); } catch (e) { return; }
    if (!message || message.type !== "hello") return;
    this.greeted = true;
    this.everConnected = true;
    this.attempt = 0;
    if (this.term) this.term.reset();
    this.seatName.textContent = typeof message.seat === "string" ? message.seat : "";
    this.setState("connected");
    this.flushPending();
  };

  Seat.prototype.onClosed = function (code) {
    if (code === CLOSE_SIGNED_OUT) {
      this.pending = [];
      this.setState("signedout");
    } else if (code === CLOSE_TAKEN) {
      this.pending = [];
      this.setState("taken");
    } else {
      this.setState("reconnecting");
      this.scheduleRetry();
    }
  };

  Seat.prototype.scheduleRetry = function () {
    var delay = this.attempt < BACKOFF_MS.length ? BACKOFF_MS[this.attempt] : BACKOFF_LAST_MS;
    this.attempt += 1;
    var self = this;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(function () { self.connect(); }, delay);
  };

  Seat.prototype.reconnectNow = function () {
    if (this.state === "reconnecting" && this.ws === null) this.connect();
  };

  Seat.prototype.send = function (message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  };

  Seat.prototype.sendResize = function () {
    if (!this.term || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    var size = this.term.cols + "x" + this.term.rows;
    if (size === this.sentSize) return;
    this.sentSize = size;
    this.send({ type: "resize", cols: this.term.cols, rows: this.term.rows });
  };

  // Where to cut data near `at` without splitting a surrogate pair.
  function cutAt(data, at) {
    var unit = data.charCodeAt(at - 1);
    return at > 1 && unit >= 0xd800 && unit <= 0xdbff ? at - 1 : at;
  }

  // At most MAX_INPUT_CHARS per frame, and at most MAX_FRAME_BYTES once
  // encoded (control characters take six bytes each in JSON), never
  // splitting a surrogate pair.
  Seat.prototype.sendInput = function (data) {
    for (var start = 0; start < data.length;) {
      var end = data.length - start > MAX_INPUT_CHARS ? start + cutAt(data.slice(start), MAX_INPUT_CHARS) : data.length;
      this.sendChunk(data.slice(start, end));
      start = end;
    }
  };

  Seat.prototype.sendChunk = function (chunk) {
    var text = JSON.stringify({ type: "input", data: chunk });
    if (chunk.length > 1 && text.length * 3 > MAX_FRAME_BYTES &&
        new TextEncoder().encode(text).length > MAX_FRAME_BYTES) {
      var mid = cutAt(chunk, Math.ceil(chunk.length / 2));
      this.sendChunk(chunk.slice(0, mid));
      this.sendChunk(chunk.slice(mid));
      return;
    }
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  };

  // A Run before the shell is there waits for the next hello (briefly: a
  // command typed minutes later, after a long outage, would surprise).
  Seat.prototype.run = function (data) {
    if (!this.open) this.setOpen(true);
    if (this.isReady()) {
      this.term.scrollToBottom();
      this.sendInput(data);
      return;
    }
    if (this.state === "signedout") return;
    var queued = this.pending.reduce(function (n, p) { return n + p.data.length; }, 0);
    if (queued + data.length <= PENDING_MAX_CHARS) this.pending.push({ data: data, at: Date.now() });
    if (this.state === "taken") {
      this.reclaim.focus();
    } else if (this.state === "idle" || this.state === "reconnecting") {
      this.connect();
    }
  };

  Seat.prototype.flushPending = function () {
    var now = Date.now();
    var pending = this.pending;
    this.pending = [];
    for (var i = 0; i < pending.length; i++) {
      if (now - pending[i].at <= PENDING_MAX_AGE_MS) this.sendInput(pending[i].data);
    }
  };

  Seat.prototype.addRunButtons = function (root) {
    var self = this;
    var blocks = root.querySelectorAll("div.language-bash.highlight");
    Array.prototype.forEach.call(blocks, function (block) {
      if (block.hasAttribute("data-seat-run") || self.aside.contains(block)) return;
      block.setAttribute("data-seat-run", "");
      var code = block.querySelector("pre > code");
      if (!code) return;
      if (ancestorTitles(block).some(function (t) { return /windows/i.test(t); })) return;
      var first = commandOf(code).split("\n").map(function (l) { return l.trim(); })
        .filter(function (l) { return l; })[0];
      if (!first) return;
      if (first.length > 60) first = first.slice(0, 59) + "…";
      var bar = make("div", "seat-run");
      var button = make("button", "seat-run__button", "Run in my terminal");
      button.type = "button";
      button.setAttribute("aria-label", "Run in my terminal: " + first);
      button.addEventListener("click", function () {
        var text = commandOf(code);
        if (!text) return;
        self.run(text.split("\n").join("\r") + "\r");
      });
      bar.appendChild(button);
      block.insertAdjacentElement("afterend", bar);
    });
  };

  var started = false;

  function start() {
    if (started) return;
    started = true;
    if (typeof window.Terminal !== "function" || !window.FitAddon || typeof window.FitAddon.FitAddon !== "function") {
      console.warn("seat: xterm.js or its fit addon did not load, so this page has no terminal");
      return;
    }
    var seat = new Seat();
    window.seatTerminal = seat; // for the tests and the curious
    seat.addRunButtons(document);
    // Instant navigation swaps the page's content without a reload: the
    // theme's document$ says when, and the panel (outside the swapped part)
    // stays connected.
    if (window.document$ && typeof window.document$.subscribe === "function") {
      window.document$.subscribe(function () { seat.addRunButtons(document); });
    } else {
      var queued = false;
      new MutationObserver(function (records) {
        if (queued) return;
        for (var i = 0; i < records.length; i++) {
          if (!seat.aside.contains(records[i].target)) {
            queued = true;
            window.setTimeout(function () { queued = false; seat.addRunButtons(document); }, 50);
            return;
          }
        }
      }).observe(document.body, { childList: true, subtree: true });
    }
  }

  if (document.readyState === "complete") {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start, { once: true });
    window.addEventListener("load", start, { once: true });
  }
})();
