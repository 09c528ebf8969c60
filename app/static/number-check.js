/* Checks a My Number as it is typed: digits only, 12 digits, check digit (mirror of app/vault/numbers.py).
   Runs only in this page: the number is never sent anywhere by this script, only by the form itself. */
(function () {
  "use strict";
  var WEIGHTS = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  var LENGTH = 12;
  /* The same table as app/text/_chars.py (INVISIBLE, NUMBER_SEPARATORS): tests/text/number_cases.json is run
     through both. Invisible characters pasted with a number (zero-width, BOM, soft hyphen, direction marks) go,
     then full-width ASCII becomes ASCII, then every separator goes. */
  var INVISIBLE = /[\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u061c\u180e\u2061\u2062\u2063\u2064]/g;
  var SEPARATORS = /[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\uff70\ufe63\u2043._\/\u30fb\uff65\uff0e\uff3f\uff0f]+/g;
  var MESSAGES = {
    not_digits: "個人番号は数字だけで入力してください（数字以外の文字が含まれています）。",
    wrong_length: function (got) { return "個人番号は12桁で入力してください（入力されたのは" + got + "桁です）。"; },
    check_digit: "個人番号が正しくありません（チェックデジットが一致しません）。番号を確かめてください。",
    empty: "個人番号を入力してください。"
  };

  function compact(text) {
    var visible = String(text).replace(INVISIBLE, "");
    var folded = visible.replace(/[\uff01-\uff5e\u3000]/g, function (c) {
      return c === "\u3000" ? " " : String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    });
    return folded.replace(SEPARATORS, "");
  }

  /* The normalised number or the kind of error, as app/vault/numbers.py gives them (tests compare the two). */
  function normalize(text) {
    var digits = compact(text);
    if (!digits) { return { error: "empty" }; }
    if (!/^[0-9]+$/.test(digits)) { return { error: "not_digits" }; }
    if (digits.length !== LENGTH) { return { error: "wrong_length" }; }
    if (checkDigit(digits.slice(0, 11)) !== Number(digits.charAt(11))) { return { error: "check_digit" }; }
    return { value: digits };
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
  if (typeof module !== "undefined" && module.exports) { module.exports = { assess: assess, normalize: normalize }; }  // tests (Node)
})();
