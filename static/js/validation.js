// Validation page: start runs through the API, follow each check live over the WebSocket
// (ws/validation/), re-read the run from the API after a gap, chart one check's trend.
(function () {
  "use strict";
  const root = document.getElementById("validation");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  let currentRun = null;
  let chart = null;

  function api(url, options = {}) {
    const headers = { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" };
    return fetch(url, { credentials: "same-origin", ...options, headers }).then(async (r) => {
      const body = await r.json().catch(() => null);
      if (!r.ok) throw new Error((body && body.error && body.error.message) || r.statusText);
      return body;
    });
  }

  function checkRow(check) {
    let tr = document.querySelector(`#run-checks tr[data-check="${check.name}"]`);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.check = check.name;
      for (let i = 0; i < 5; i++) tr.appendChild(document.createElement("td"));
      $("run-checks").appendChild(tr);
    }
    const cells = tr.children;
    cells[0].textContent = check.check_id || "";
    cells[1].textContent = check.name;
    cells[2].textContent = check.status;
    cells[2].className = "st-" + check.status;
    cells[3].textContent = check.duration_seconds != null ? Number(check.duration_seconds).toFixed(2) : "";
    cells[3].className = "num";
    cells[4].textContent = check.details || "";
  }

  function showRun(run) {
    currentRun = run.id;
    $("run-id").textContent = run.id;
    $("run-status").textContent = run.status + (run.decision ? " · " + run.decision + " · score " + run.score : "");
    $("run-checks").replaceChildren();
    for (const name of run.checks_planned) checkRow({ name, status: "pending" });
    for (const r of run.results || []) checkRow(r);
  }

  function loadRun(id) {
    return api(`${root.dataset.runsUrl}${id}/`).then(showRun);
  }

  function onEvent(event) {
    if (event.run !== currentRun) {
      if (event.type === "run" && event.status === "running") loadRun(event.run);
      return;
    }
    if (event.type === "check_started") checkRow({ name: event.name, status: "running" });
    else if (event.type === "check") checkRow(event);
    else if (event.type === "run") {
      $("run-status").textContent = event.status + (event.decision ? " · " + event.decision + " · score " + event.score : "");
      if (event.decision) setTimeout(() => location.reload(), 1500);
    }
  }

  function connect(delay = 500) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/validation/`);
    socket.onopen = () => {
      $("live").textContent = "live";
      if (currentRun) loadRun(currentRun); // re-sync after a gap
    };
    socket.onmessage = (m) => onEvent(JSON.parse(m.data));
    socket.onclose = () => {
      $("live").textContent = "reconnecting…";
      setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
    };
  }

  const form = $("start-form");
  if (form) {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const body = { mode: $("mode").value };
      if (root.dataset.account) body.account = Number(root.dataset.account);
      $("start-message").textContent = "starting…";
      api(root.dataset.runsUrl, { method: "POST", body: JSON.stringify(body) })
        .then((run) => {
          // Follow it from now on: its events may arrive before its detail does.
          currentRun = run.id;
          $("start-message").textContent = `run ${run.id} ${run.status}`;
          return loadRun(run.id);
        })
        .catch((err) => ($("start-message").textContent = err.message));
    });
    const decide = $("decide");
    if (decide) {
      decide.addEventListener("click", () => {
        api(root.dataset.goliveUrl, { method: "POST", body: JSON.stringify({ account: Number(root.dataset.account) }) })
          .then(() => location.reload())
          .catch((err) => ($("start-message").textContent = err.message));
      });
    }
  }

  document.querySelectorAll("[data-show-run]").forEach((a) =>
    a.addEventListener("click", (e) => {
      e.preventDefault();
      loadRun(Number(a.dataset.showRun));
    })
  );

  function drawTrend(name) {
    api(root.dataset.trendUrl.replace("NAME", name)).then((points) => {
      const xs = points.map((p) => new Date(p.at).getTime() / 1000);
      const data = [xs, points.map((p) => p.duration_seconds), points.map((p) => p.passed)];
      const opts = {
        width: $("trend-chart").clientWidth || 800,
        height: 220,
        series: [{}, { label: "duration s", stroke: "#3182ce" }, { label: "passed", stroke: "#1a7f37", scale: "pass" }],
        axes: [{}, { label: "seconds" }, { scale: "pass", side: 1, label: "passed" }],
        scales: { pass: { range: [0, 1.1] } },
      };
      if (chart) chart.destroy();
      chart = new uPlot(opts, data, $("trend-chart"));
    });
  }
  const trendSelect = $("trend-check");
  trendSelect.addEventListener("change", () => drawTrend(trendSelect.value));
  drawTrend(trendSelect.value);

  const firstRun = document.querySelector("[data-show-run]");
  if (firstRun) loadRun(Number(firstRun.dataset.showRun));
  connect();
})();
