// Overview page: render the server's state, then apply live ticks from the account's stream
// (live.js); after a gap or a reconnect, or on any other change, re-read state.json.
(function () {
  "use strict";
  const root = document.getElementById("overview");
  if (!root) return;
  const stateUrl = document.getElementById("live-root").dataset.stateUrl;
  let state = JSON.parse(document.getElementById("initial-state").textContent);
  let chart = null;

  const $ = (id) => document.getElementById(id);
  const num = (s, digits = 2) =>
    s === null || s === undefined ? "—" : Number(s).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const signed = (s, digits = 2) => (s === null || s === undefined ? "—" : (Number(s) >= 0 ? "+" : "") + num(s, digits));
  const pct = (s) => (s === null || s === undefined ? "—" : signed(s, 2) + " %");

  function timeCell(iso) {
    const t = document.createElement("time");
    const d = new Date(iso);
    t.dateTime = iso;
    t.textContent = d.toISOString().replace("T", " ").slice(0, 19);
    t.title = "UTC " + t.textContent + " · local " + d.toLocaleString();
    return t;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c);
      else td.textContent = c;
      if (typeof c === "string" && /^[+\-]?[\d,.]+( %)?$/.test(c)) td.className = "num";
      tr.appendChild(td);
    }
    return tr;
  }

  function fill(tbodyId, rows, emptyText, width) {
    const body = $(tbodyId);
    body.replaceChildren(...rows);
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = width;
      td.className = "muted";
      td.textContent = emptyText;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function setTone(el, value) {
    el.classList.toggle("up", Number(value) > 0);
    el.classList.toggle("down", Number(value) < 0);
  }

  function render() {
    $("mode").textContent = state.mode;
    const stop = $("stop-level");
    stop.textContent = state.stop_level === "none" ? "trading" : state.stop_level.replace("_", " ");
    stop.classList.toggle("danger", state.stop_level !== "none");
    $("stop-reason").textContent = state.stop_reason ? `“${state.stop_reason}”` : "";
    const config = $("config");
    config.textContent = state.config ? `v${state.config.version} ${state.config.sha256.slice(0, 12)}` : "none";
    config.title = state.config ? `SHA-256 ${state.config.sha256}` : "";
    config.dataset.sha256 = state.config ? state.config.sha256 : "";
    $("open-alerts").textContent = `${state.open_alerts || 0} open`;
    window.Genesis.setOpenAlerts(state.open_alerts);
    const lastTick = $("last-tick");
    if (state.last_tick_at) lastTick.replaceWith(Object.assign(timeCell(state.last_tick_at), { id: "last-tick" }));
    $("equity").textContent = num(state.equity);
    for (const [key, id] of [["today", "pnl-today"], ["week", "pnl-week"], ["total", "pnl-total"]]) {
      const el = $(id);
      el.textContent = `${signed(state.pnl[key])} (${pct(state.pnl[key + "_pct"])})`;
      setTone(el, state.pnl[key]);
    }
    $("exposure").textContent = num(state.exposure_pct) + " %";
    fill("prices", Object.entries(state.prices || {}).sort().map(([s, p]) => row([s, num(p)])), "No prices yet", 2);
    fill("positions", state.positions.map((p) => row([p.symbol, num(p.quantity, 5), num(p.average_cost), num(p.mark_price), signed(p.unrealized_pnl)])), "No open positions", 5);
    fill("orders", state.orders.map((o) => row([timeCell(o.created_at), o.symbol, o.side, num(o.amount, 5), num(o.average_price), num(o.fee, 4), o.status])), "No orders yet", 7);
    drawChart();
  }

  function drawChart() {
    const xs = state.curve.map((p) => Date.parse(p.ts) / 1000);
    const ys = state.curve.map((p) => Number(p.equity));
    const el = $("equity-chart");
    if (!chart) {
      chart = new uPlot(
        {
          width: el.clientWidth || 800,
          height: 240,
          tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
          series: [{}, { label: "Equity", stroke: "#2b6cb0", width: 2, fill: "rgba(43,108,176,0.08)" }],
          axes: [{}, { size: 70 }],
        },
        [xs, ys],
        el
      );
      window.addEventListener("resize", () => chart.setSize({ width: el.clientWidth, height: 240 }));
    } else {
      chart.setData([xs, ys]);
    }
  }

  function apply(ev) {
    const orders = (ev.orders || []).concat(state.orders).slice(0, 20);
    const curve = ev.snapshot ? state.curve.concat([ev.snapshot]).slice(-500) : state.curve;
    state = Object.assign({}, state, ev, { orders, curve, open_alerts: state.open_alerts });
    render();
  }

  // Re-read the whole state from the database; returns the stream number it was read at.
  async function resync() {
    const response = await fetch(stateUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`state.json answered ${response.status}`);
    state = await response.json();
    render();
    return state.seq;
  }

  // Ticks carry the full account state and are applied; any other change (stop level,
  // config, alert, breaker, strategy) makes the page re-read the database.
  function onEvent(ev) {
    if (ev.type === "tick") apply(ev);
    else if (window.Genesis.live.wants(ev.type)) window.Genesis.live.resync();
  }

  window.genesisOverview = { get state() { return state; } };
  render();
  window.Genesis.live.configure({ onEvent, resync });
})();
