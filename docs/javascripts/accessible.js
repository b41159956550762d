// Each code block's button bar is a <nav>: give every one a name of its own,
// so screen readers can tell the landmarks apart (axe: landmark-unique). A
// code annotation's marker is a link whose number is drawn by CSS: give it
// words (axe: link-name). The theme adds both after the page renders, and
// again on instant navigation, hence the observer.
(function () {
  function label() {
    document.querySelectorAll("nav.md-code__nav:not([aria-label])").forEach(function (nav) {
      var all = Array.prototype.indexOf.call(document.querySelectorAll("nav.md-code__nav"), nav);
      nav.setAttribute("aria-label", "Code block " + (all + 1) + " actions");
    });
    document.querySelectorAll("a.md-annotation__index:not([aria-label])").forEach(function (marker) {
      var number = marker.querySelector("[data-md-annotation-id]");
      marker.setAttribute("aria-label", "Annotation " + (number ? number.dataset.mdAnnotationId : ""));
    });
  }
  new MutationObserver(label).observe(document.documentElement, { childList: true, subtree: true });
  label();
})();
