// Keyboard: "/" focuses the search box; "g" then "d"/"i"/"s"/"k"/"t" goes to the dashboard,
// intelligence, search, API keys or TAXII feeds.
(function () {
  var pending = false;
  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/') {
      var q = document.getElementById('q');
      if (q) { e.preventDefault(); q.focus(); }
      return;
    }
    if (pending) {
      pending = false;
      var to = { d: '/', i: '/intel', s: '/search', k: '/keys', t: '/taxii' }[e.key];
      if (to) { e.preventDefault(); window.location.href = to; }
      return;
    }
    if (e.key === 'g') pending = true;
  });
})();
// Addresses the server writes as paths (data-origin) are shown with this page's own origin, so
// that they are right behind any proxy without the server trusting the Host header.
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('[data-origin]').forEach(function (e) {
    e.textContent = window.location.origin + e.textContent;
  });
});
