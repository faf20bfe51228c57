// Chapter pages: turn each recording link (a.wf-cast, written by docs/hooks/webfarm_docs.py
// through webfarm/recording.py) into an asciinema-player, the copy vendored in
// assets/vendor/asciinema-player/ (no CDN). Without JavaScript the link stays: a .cast file.
(function () {
  "use strict";

  function init() {
    if (typeof AsciinemaPlayer === "undefined") {
      return;
    }
    document.querySelectorAll("a.wf-cast").forEach(function (link) {
      var box = document.createElement("div");
      box.className = "wf-cast-player";
      box.setAttribute("aria-label", link.textContent);
      var parent = link.parentElement;
      var alone = parent && parent.tagName === "P" && parent.textContent.trim() === link.textContent.trim();
      (alone ? parent : link).replaceWith(box);
      AsciinemaPlayer.create(link.href, box, {
        cols: 120,
        rows: 36,
        fit: "width",
        poster: "npt:0:3",
        terminalFontFamily: "monospace"
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
