// Controls: every button with data-control opens the one confirmation dialog, which asks for
// a reason (dangerous actions) or a comment, posts the form with its CSRF token, and shows
// the server's answer. The page updates from the live stream; a re-sync makes it immediate.
(function () {
  "use strict";
  const dialog = document.getElementById("control-dialog");
  if (!dialog) return;
  const form = document.getElementById("control-form");
  const error = document.getElementById("control-error");
  const submit = document.getElementById("control-submit");
  const toast = document.getElementById("toast");
  let toastTimer = null;

  function showToast(text, ok) {
    toast.textContent = text;
    toast.className = "toast " + (ok ? "ok" : "bad");
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, 6000);
  }

  function open(button) {
    const fields = button.dataset.fields || "reason";
    form.reset();
    form.action = button.dataset.url;
    error.textContent = "";
    document.getElementById("control-title").textContent = button.dataset.title;
    document.getElementById("control-confirm").textContent = button.dataset.confirm || "";
    for (const block of form.querySelectorAll("[data-field]")) {
      const name = block.dataset.field;
      const shown = name === "comment" ? fields === "comment" : name === "symbol" ? fields === "pause" : fields !== "comment";
      block.hidden = !shown;
      for (const input of block.querySelectorAll("input, textarea")) input.disabled = !shown;
    }
    document.getElementById("control-reason").required = fields !== "comment";
    submit.textContent = button.dataset.title;
    submit.classList.toggle("danger", !!button.dataset.danger);
    dialog.showModal();
    const first = form.querySelector("[data-field]:not([hidden]) textarea, [data-field]:not([hidden]) input");
    if (first) first.focus();
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-control]");
    if (button) open(button);
  });
  document.getElementById("control-cancel").addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      let body = {};
      try { body = await response.json(); } catch (err) { body = { message: `The server answered ${response.status}.` }; }
      if (response.ok) {
        dialog.close();
        showToast(body.message, true);
        if (window.Genesis) window.Genesis.live.resync();
      } else {
        error.textContent = body.message || (body.error && body.error.message) || `Refused (${response.status}).`;
      }
    } catch (err) {
      error.textContent = "Could not reach the server; nothing was sent. Try again.";
    } finally {
      submit.disabled = false;
    }
  });
})();
