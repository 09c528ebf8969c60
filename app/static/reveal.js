// Hides a revealed number when its time is up (or on request): the mask replaces it and the digits leave the DOM.
// The server already logged the reveal; without JavaScript the page falls back to a timed redirect.
(function () {
  "use strict";
  var box = document.querySelector("[data-reveal]");
  if (!box) {
    return;
  }
  var seconds = parseInt(box.getAttribute("data-reveal-seconds"), 10) || 30;
  var deadline = Date.now() + seconds * 1000;
  var counter = box.querySelector("[data-countdown]");
  var counterText = box.querySelector("[data-countdown-text]");
  var status = box.querySelector("[data-reveal-status]");
  var hideNow = box.querySelector("[data-hide-now]");
  var timer = null;

  // The mask grouped like the number was (4-4-4, or 1-4-4-4): spans with CSS gaps, no space characters.
  function cardGroups(text) {
    var masked = document.createElement("p");
    masked.className = "revealed-number masked card-number";
    var head = text.length % 4;
    var starts = head ? [0] : [];
    for (var start = head; start < text.length; start += 4) {
      starts.push(start);
    }
    starts.forEach(function (start, i) {
      var group = document.createElement("span");
      group.textContent = text.slice(start, i + 1 < starts.length ? starts[i + 1] : text.length);
      masked.appendChild(group);
    });
    return masked;
  }

  function hide() {
    var number = box.querySelector("[data-number]");
    if (number) {
      number.parentNode.replaceChild(cardGroups(box.getAttribute("data-mask") || ""), number);
    }
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
    if (counterText) {
      counterText.textContent =
        box.getAttribute("data-hidden-text") || "表示を終了しました。もう一度見るには、一覧から「表示」を選んでください。";
    }
    if (status) {
      status.textContent = "番号を非表示にしました。";
    }
    if (hideNow) {
      hideNow.hidden = true;
    }
  }

  function tick() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (counter) {
      counter.textContent = String(left);
    }
    if (left === 0) {
      hide();
    }
  }

  if (hideNow) {
    hideNow.hidden = false;
    hideNow.addEventListener("click", hide);
  }
  // Leaving the page must not keep the digits in a back/forward cache.
  window.addEventListener("pagehide", hide);
  timer = window.setInterval(tick, 250);
  tick();
})();
