// Keeps a job's progress page current: polls its JSON status and moves the bar, the figures and the message.
// When the job ends the page is reloaded (the server renders the result and the report link). Without
// JavaScript the page refreshes itself (<noscript> meta refresh) and offers a 「更新」 link.
(function () {
  "use strict";
  var box = document.querySelector("[data-job-status-url]");
  if (!box || box.getAttribute("data-job-finished") === "true") {
    return;
  }
  var url = box.getAttribute("data-job-status-url");
  var bar = box.querySelector("[data-job-bar]");
  var figures = box.querySelector("[data-job-figures]");
  var label = box.querySelector("[data-job-state-label]");
  var message = box.querySelector("[data-job-message]");
  var hint = box.querySelector("[data-job-hint]");
  var delay = 1000;
  var failures = 0;

  function number(value) {
    return Number(value).toLocaleString("ja-JP");
  }

  function show(status) {
    if (bar) {
      if (status.total > 0) {
        bar.max = status.total;
        bar.value = status.done;
        bar.textContent = status.percent + "%";
      } else {
        bar.removeAttribute("value");
      }
    }
    if (figures) {
      if (status.total > 0) {
        figures.textContent =
          number(status.done) + " / " + number(status.total) + " 行（" + status.percent + "%）";
      } else {
        figures.textContent =
          status.state === "queued"
            ? "開始を待っています。"
            : status.done > 0
              ? number(status.done) + " 行を処理しました（全体の行数はファイルを読み終えるまでわかりません）。"
              : "準備しています。";
      }
    }
    if (label) {
      label.textContent = status.state_label;
    }
    if (message) {
      message.textContent = status.message;
    }
  }

  function poll() {
    window
      .fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        failures = 0;
        show(status);
        if (status.finished) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        failures += 1;
        if (failures >= 5) {
          if (hint) {
            hint.textContent = "進み具合を自動で更新できませんでした。「更新」を押してください。";
          }
          return;
        }
        window.setTimeout(poll, delay * (failures + 1));
      });
  }

  window.setTimeout(poll, delay);
})();
