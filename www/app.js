// Small page script for the staged-server workbook demo site.
// It shows when the page was loaded and where the browser thinks it is,
// which makes it easy to see that the script was served and executed.
(function () {
  "use strict";

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function show() {
    var loaded = new Date();
    var timeEl = document.getElementById("loaded-at");
    var locEl = document.getElementById("location");

    if (timeEl) {
      timeEl.textContent =
        pad(loaded.getHours()) + ":" + pad(loaded.getMinutes()) + ":" + pad(loaded.getSeconds());
      timeEl.setAttribute("datetime", loaded.toISOString());
    }
    if (locEl) {
      locEl.textContent = String(document.location);
    }
    document.documentElement.setAttribute("data-app-js", "loaded");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", show);
  } else {
    show();
  }
})();
