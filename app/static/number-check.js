/* Checks a My Number as it is typed: digits only, 12 digits, check digit (mirror of app/vault/numbers.py).
   Runs only in this page: the number is never sent anywhere by this script, only by the form itself. */
(function () {
  "use strict";
  var WEIGHTS = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  var LENGTH = 12;
  var SEPARATORS = /[\s\-‐‑‒–—―−ー.・_\/]+/g;
  var MESSAGES = {
    not_digits: "個人番号は数字だけで入力してください（数字以外の文字が含まれています）。",
    wrong_length: function (got) { return "個人番号は12桁で入力してください（入力されたのは" + got + "桁です）。"; },
    check_digit: "個人番号が正しくありません（チェックデジットが一致しません）。番号を確かめてください。",
    empty: "個人番号を入力してください。"
  };

  function compact(text) {
    var folded = typeof text.normalize === "function" ? text.normalize("NFKC") : text;
    return folded.replace(SEPARATORS, "");
  }

  function checkDigit(firstEleven) {
    var sum = 0;
    for (var i = 0; i < WEIGHTS.length; i++) { sum += WEIGHTS[i] * Number(firstEleven.charAt(i)); }
    var remainder = sum % 11;
    return remainder <= 1 ? 0 : 11 - remainder;
  }

  /* [message, final]: final problems block sending; a short number is only "still typing" until it is left. */
  function assess(text, leaving, optional) {
    var digits = compact(text);
    if (!digits) { return leaving && !optional ? [MESSAGES.empty, true] : ["", false]; }
    if (!/^[0-9]+$/.test(digits)) { return [MESSAGES.not_digits, true]; }
    if (digits.length > LENGTH || (leaving && digits.length < LENGTH)) {
      return [MESSAGES.wrong_length(digits.length), true];
    }
    if (digits.length < LENGTH) { return ["あと" + (LENGTH - digits.length) + "桁です。", false]; }
    if (checkDigit(digits.slice(0, 11)) !== Number(digits.charAt(11))) { return [MESSAGES.check_digit, true]; }
    return ["12桁の番号として正しい形式です。", false];
  }

  function attach(input) {
    var output = document.getElementById(input.getAttribute("data-number-check"));
    var optional = input.hasAttribute("data-optional");
    function show(leaving) {
      var result = assess(input.value, leaving, optional);
      if (output) {
        output.textContent = result[0];
        output.className = "number-check" + (result[1] ? " error" : "");
      }
      if (result[1]) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      return !result[1];
    }
    input.addEventListener("input", function () { show(false); });
    input.addEventListener("blur", function () { if (input.value) { show(true); } });
    if (input.form) {
      input.form.addEventListener("submit", function (event) {
        if (!show(true)) { event.preventDefault(); input.focus(); }
      });
    }
  }

  if (typeof document !== "undefined") {
    document.addEventListener("DOMContentLoaded", function () {
      var inputs = document.querySelectorAll("input[data-number-check]");
      for (var i = 0; i < inputs.length; i++) { attach(inputs[i]); }
    });
  }
  if (typeof module !== "undefined" && module.exports) { module.exports = { assess: assess }; }  // tests (Node)
})();
