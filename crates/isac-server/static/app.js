// Keyboard: "/" focuses the search box; "g" then "d"/"i"/"s" goes to the dashboard, intelligence or search.
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
      var to = { d: '/', i: '/intel', s: '/search', k: '/keys' }[e.key];
      if (to) { e.preventDefault(); window.location.href = to; }
      return;
    }
    if (e.key === 'g') pending = true;
  });
})();
