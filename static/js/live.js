// The live stream of one account, shared by every dashboard page.
// Every event carries the account's stream sequence number. Events in order are handed to the
// page; after a gap, or on reconnecting, the page re-reads its state from the database (the
// state endpoint answers with the sequence number it read first) instead of trusting the stream.
(function () {
  "use strict";
  const root = document.getElementById("live-root");
  if (!root) return;
  const accountId = root.dataset.liveAccount;
  const kinds = new Set((root.dataset.liveKinds || "").split(",").filter(Boolean));
  let lastSeq = Number(root.dataset.seq || 0);
  let socket = null;
  let retryMs = 500;
  let suspendedUntil = 0;
  let page = { onEvent: null, resync: fragmentResync };
  let running = false;
  let again = false;

  function localTimes(scope) {
    for (const t of (scope || document).querySelectorAll("time[data-utc]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.title = "UTC " + d.toISOString().replace("T", " ").slice(0, 19) + " · local " + d.toLocaleString();
    }
  }

  function setOpenAlerts(n) {
    const el = document.getElementById("nav-open-alerts");
    if (!el || n === null || n === undefined) return;
    el.textContent = n;
    el.classList.toggle("hot", Number(n) > 0);
  }

  function setLive(ok, text) {
    const el = document.getElementById("live");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("ok", ok);
  }

  // Fragment pages: the server renders the live region again, read from the database.
  async function fragmentResync() {
    const response = await fetch(root.dataset.fragmentUrl, { credentials: "same-origin" });
    if (!response.ok) throw new Error("fragment answered " + response.status);
    const html = await response.text();
    const region = document.getElementById("live-region");
    const focusedId = document.activeElement && document.activeElement.id;
    region.innerHTML = html;
    if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus();
    localTimes(region);
    setOpenAlerts(response.headers.get("X-Open-Alerts"));
    return Number(response.headers.get("X-Stream-Seq"));
  }

  // One re-sync at a time; a request during one runs another right after it.
  async function resync() {
    if (running) { again = true; return; }
    running = true;
    try {
      do {
        again = false;
        try {
          const seq = await page.resync();
          if (Number.isFinite(seq)) lastSeq = seq;
          root.dataset.seq = lastSeq;
        } catch (err) {
          setLive(false, "re-sync failed, retrying");
          await new Promise((r) => setTimeout(r, 2000));
          again = true;
        }
      } while (again);
    } finally {
      running = false;
      if (socket && socket.readyState === WebSocket.OPEN) setLive(true, "live");
    }
  }

  function onMessage(msg) {
    let ev;
    try { ev = JSON.parse(msg.data); } catch (err) { return; }
    if (typeof ev.seq !== "number") return;
    if (running) { again = true; return; } // the running re-sync may predate this event
    if (ev.seq <= lastSeq) return; // already covered by a re-sync
    if (ev.seq !== lastSeq + 1) { resync(); return; } // a gap: trust the database
    lastSeq = ev.seq;
    root.dataset.seq = lastSeq;
    if (page.onEvent) page.onEvent(ev);
    else if (kinds.has(ev.type)) resync();
  }

  function connect(isReconnect) {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${proto}://${location.host}/ws/accounts/${accountId}/`);
    socket.onopen = () => {
      retryMs = 500;
      setLive(true, "live");
      if (isReconnect) resync();
    };
    socket.onmessage = onMessage;
    socket.onclose = () => {
      setLive(false, "reconnecting…");
      const wait = Math.max(retryMs, suspendedUntil - Date.now());
      setTimeout(() => connect(true), wait);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  }

  window.Genesis = {
    localTimes,
    setOpenAlerts,
    live: {
      // A page with its own handling (the overview) registers before the stream starts.
      configure(handlers) { page = Object.assign({}, page, handlers); },
      resync,
      // Drop the socket and stay away for `ms` (used by tests and for maintenance).
      drop(ms) { suspendedUntil = Date.now() + ms; if (socket) socket.close(); },
      get seq() { return lastSeq; },
      get connected() { return !!socket && socket.readyState === WebSocket.OPEN; },
      wants(type) { return kinds.has(type); },
    },
  };

  localTimes(document);
  document.addEventListener("DOMContentLoaded", () => {
    connect(false);
    const poll = Number(root.dataset.poll || 0);
    if (poll) setInterval(resync, poll);
  });
})();
