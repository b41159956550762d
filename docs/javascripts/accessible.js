// Each code block's button bar is a <nav>: give every one a name of its own,
// so screen readers can tell the landmarks apart (axe: landmark-unique). The
// theme adds the bars after the page renders, and again on instant navigation.
(function () {
  function label() {
    document.querySelectorAll("nav.md-code__nav:not([aria-label])").forEach(function (nav) {
      var all = Array.prototype.indexOf.call(document.querySelectorAll("nav.md-code__nav"), nav);
      nav.setAttribute("aria-label", "Code block " + (all + 1) + " actions");
    });
  }
  new MutationObserver(label).observe(document.documentElement, { childList: true, subtree: true });
  label();
})();
