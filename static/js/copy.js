// Copy buttons: a <button data-copy-target="ID"> copies the text of the element with that id.
// Without JavaScript the buttons stay hidden and the text is still there to select in its <pre>.
// Loaded with <script src> (the Content-Security-Policy allows no inline script or handler).
(function () {
  "use strict";

  function reveal(root) {
    if (!navigator.clipboard) return;
    root.querySelectorAll("button[data-copy-target]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function say(button, text) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    navigator.clipboard.writeText(source.textContent).then(
      function () { say(button, "Copied"); },
      function () { say(button, "Select the text to copy it"); }
    );
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  // Content htmx brings in (a container's fix loaded into the host's fixes page).
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
})();
