// Live dashboards: one websocket to /ws/hosting/live/ carrying snapshots, deltas, alerts and operations.
// window.LiveConnection keeps its subscriptions across reconnects (exponential backoff with jitter), asks
// for a resync when a delta's seq shows one was missed, and keeps every [data-live-state] badge current.
(function () {
  "use strict";

  var PATH = "/ws/hosting/live/";
  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  // A ping keeps idle proxies from cutting the socket; silence for longer than SILENT_MS means it is dead.
  var PING_MS = 25000;
  var SILENT_MS = 60000;
  var BADGE_TEXT = { connecting: "Connecting…", open: "Live", closed: "Offline" };

  function noop() {}

  function requestKey(sub) {
    return sub.scope + ":" + (sub.id === null || sub.id === undefined ? "own" : sub.id);
  }

  // "site:3" -> {scope: "site", id: 3}: what a resync of a key the server named asks for.
  function parseKey(key) {
    var at = key.indexOf(":");
    return { scope: key.slice(0, at), id: Number(key.slice(at + 1)) };
  }

  function backoffMs(attempt) {
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, attempt));
    // Half fixed, half random: a restarted server is not met by every page at the same instant.
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  function LiveConnection(options) {
    options = options || {};
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    this.url = options.url || scheme + window.location.host + PATH;
    this.handlers = {
      snapshot: options.onSnapshot || noop,
      delta: options.onDelta || noop,
      alerts: options.onAlerts || noop,
      operation: options.onOperation || noop,
      error: options.onError || noop,
      state: options.onState || noop,
    };
    this.badges = options.badges || document.querySelectorAll("[data-live-state]");
    this.subscriptions = {}; // request key -> {scope, id}: sent again after every reconnect
    this.seqs = {}; // key the server names -> last seq applied
    this.resyncing = {}; // key -> true while its resync is outstanding
    this.attempt = 0;
    this.socket = null;
    this.retryTimer = null;
    this.countdownTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.stopped = false;
    var self = this;
    (options.subscriptions || []).forEach(function (sub) {
      self.subscriptions[requestKey(sub)] = { scope: sub.scope, id: sub.id === undefined ? null : sub.id };
    });
    this._onOnline = function () {
      if (self.retryTimer !== null) { self._retryNow(); }
    };
    window.addEventListener("online", this._onOnline);
    this._connect();
  }

  LiveConnection.prototype.subscribe = function (sub) {
    var clean = { scope: sub.scope, id: sub.id === undefined ? null : sub.id };
    this.subscriptions[requestKey(clean)] = clean;
    this._send({ type: "subscribe", scope: clean.scope, id: clean.id });
  };

  LiveConnection.prototype.unsubscribe = function (sub) {
    var clean = { scope: sub.scope, id: sub.id === undefined ? null : sub.id };
    delete this.subscriptions[requestKey(clean)];
    var self = this;
    Object.keys(this.seqs).forEach(function (key) {
      var named = parseKey(key);
      if (named.scope === clean.scope && (clean.id === null || named.id === clean.id)) {
        delete self.seqs[key];
        delete self.resyncing[key];
      }
    });
    this._send({ type: "unsubscribe", scope: clean.scope, id: clean.id });
  };

  LiveConnection.prototype.resync = function (key) {
    if (this.resyncing[key]) { return; }
    this.resyncing[key] = true;
    var named = parseKey(key);
    this._send({ type: "resync", scope: named.scope, id: named.id });
  };

  LiveConnection.prototype.close = function () {
    this.stopped = true;
    this._clearTimers();
    window.removeEventListener("online", this._onOnline);
    if (this.socket) { this.socket.close(1000); }
    this.socket = null;
    this._state("closed");
  };

  LiveConnection.prototype._send = function (message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  };

  LiveConnection.prototype._connect = function () {
    var self = this;
    this._state(this.attempt === 0 ? "connecting" : "reconnecting", { inSeconds: 0 });
    var socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = function () {
      self.attempt = 0;
      self.lastHeard = Date.now();
      self.seqs = {};
      self.resyncing = {};
      self._state("open");
      Object.keys(self.subscriptions).forEach(function (key) {
        var sub = self.subscriptions[key];
        self._send({ type: "subscribe", scope: sub.scope, id: sub.id });
      });
      self.pingTimer = window.setInterval(function () { self._heartbeat(); }, PING_MS);
    };
    socket.onmessage = function (event) {
      self.lastHeard = Date.now();
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      self._dispatch(frame);
    };
    socket.onclose = function () {
      if (self.socket !== socket) { return; }
      self.socket = null;
      window.clearInterval(self.pingTimer);
      self.pingTimer = null;
      if (!self.stopped) { self._scheduleRetry(); }
    };
  };

  LiveConnection.prototype._heartbeat = function () {
    if (Date.now() - this.lastHeard > SILENT_MS && this.socket) {
      this.socket.close(4000); // silent too long: treat as dropped and reconnect
      return;
    }
    this._send({ type: "ping" });
  };

  LiveConnection.prototype._dispatch = function (frame) {
    var key = frame.key;
    switch (frame.type) {
      case "live.snapshot":
        this.seqs[key] = frame.seq;
        delete this.resyncing[key];
        this.handlers.snapshot(key, frame.payload, frame.seq);
        break;
      case "live.delta":
        this._delta(frame);
        break;
      case "live.alerts":
        this.handlers.alerts(key, frame.payload);
        break;
      case "live.operation":
        this.handlers.operation(key, frame.payload);
        break;
      case "live.error":
        this.handlers.error(frame.payload);
        break;
      default:
        break; // live.pong, and anything newer than this script
    }
  };

  LiveConnection.prototype._delta = function (frame) {
    var key = frame.key;
    var last = this.seqs[key];
    if (last === undefined || this.resyncing[key] || frame.seq <= last) {
      return; // before its snapshot, while a fresh one is on its way, or already in the one applied
    }
    if (frame.seq !== last + 1) {
      this.resync(key); // a delta went missing: only a fresh snapshot is complete again
      return;
    }
    this.seqs[key] = frame.seq;
    this.handlers.delta(key, frame.payload, frame.seq);
  };

  LiveConnection.prototype._scheduleRetry = function () {
    var self = this;
    var delay = backoffMs(this.attempt);
    this.attempt += 1;
    var due = Date.now() + delay;
    var tick = function () {
      self._state("reconnecting", { inSeconds: Math.max(0, Math.ceil((due - Date.now()) / 1000)) });
    };
    tick();
    this.countdownTimer = window.setInterval(tick, 1000);
    this.retryTimer = window.setTimeout(function () { self._retryNow(); }, delay);
  };

  LiveConnection.prototype._retryNow = function () {
    this._clearTimers();
    if (!this.stopped) { this._connect(); }
  };

  LiveConnection.prototype._clearTimers = function () {
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.countdownTimer);
    window.clearInterval(this.pingTimer);
    this.retryTimer = this.countdownTimer = this.pingTimer = null;
  };

  LiveConnection.prototype._state = function (state, detail) {
    var text = BADGE_TEXT[state];
    if (state === "reconnecting") {
      text = detail && detail.inSeconds > 0 ? "Reconnecting in " + detail.inSeconds + " s" : "Reconnecting…";
    }
    Array.prototype.forEach.call(this.badges, function (badge) {
      badge.textContent = text;
      badge.setAttribute("data-live-state", state);
    });
    this.handlers.state(state, detail || {});
  };

  window.LiveConnection = LiveConnection;
})();
