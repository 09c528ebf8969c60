// "Copy" buttons: copy the text of the input named by data-copy-target (no inline scripts: CSP script-src 'self').
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  const status = button.parentElement.querySelector("[data-copy-status]");
  const done = (message) => { if (status) status.textContent = message; };
  source.select();
  if (navigator.clipboard) {
    navigator.clipboard.writeText(source.value).then(() => done("コピーしました"), () => done("選択した URL をコピーしてください"));
  } else {
    done("選択した URL をコピーしてください");
  }
});
