"use strict";
// Filters for the report. Without this script every check is shown, so it only
// ever hides things. The filter lives in the address (#status=failed&tag=db&q=api)
// so a filtered view can be linked to, reloaded, and opened as-is by tests.
(function () {
  var form = document.getElementById("filters");
  if (!form || !window.URLSearchParams) { return; }
  var KEYS = ["status", "group", "tag", "q"];
  var STATUSES = ["passed", "failed", "error", "skipped"];
  var items = [];

  function statusOf(element) {
    for (var i = 0; i < STATUSES.length; i++) {
      if (element.classList.contains(STATUSES[i])) { return STATUSES[i]; }
    }
    return "";
  }
  function collect() {
    var rows = document.querySelectorAll("#checks tbody tr");
    for (var i = 0; i < rows.length; i++) {
      var cells = rows[i].cells;
      // Tags are written "a, b"; a row whose tags contain ", " also lists them exactly.
      var exact = rows[i].getAttribute("data-tags");
      var tagText = cells[4].textContent;
      var tags = exact !== null ? exact.split("\n") : tagText ? tagText.split(", ") : [];
      items.push({ element: rows[i], status: statusOf(rows[i]), group: cells[2].textContent,
                   tags: tags, text: null, row: true });
    }
    var cards = document.querySelectorAll("#failing article");
    for (var k = 0; k < cards.length; k++) {
      var tagText = cards[k].getAttribute("data-tags");
      items.push({ element: cards[k], status: statusOf(cards[k]),
                   group: cards[k].getAttribute("data-group"),
                   tags: tagText ? tagText.split("\n") : [], text: null, row: false });
    }
  }
  function wanted() {
    var state = {};
    KEYS.forEach(function (key) { state[key] = form.elements[key].value; });
    state.q = state.q.trim().toLowerCase();
    return state;
  }
  function matches(item, state) {
    if (state.status === "failing") {
      if (item.status !== "failed" && item.status !== "error") { return false; }
    } else if (state.status && item.status !== state.status) { return false; }
    if (state.group && item.group !== state.group) { return false; }
    if (state.tag && item.tags.indexOf(state.tag) < 0) { return false; }
    if (state.q) {
      if (item.text === null) { item.text = item.element.textContent.toLowerCase(); }
      if (item.text.indexOf(state.q) < 0) { return false; }
    }
    return true;
  }
  function apply() {
    var state = wanted();
    var shown = 0, total = 0, cardsShown = 0;
    items.forEach(function (item) {
      var ok = matches(item, state);
      if (item.element.hidden === ok) { item.element.hidden = !ok; }
      if (item.row) { total++; if (ok) { shown++; } } else if (ok) { cardsShown++; }
    });
    var failing = document.getElementById("failing");
    if (failing) { failing.hidden = cardsShown === 0; }
    document.getElementById("shown").textContent = shown + " of " + total + " checks shown";
    document.body.classList.toggle("filtered", shown !== total);
  }
  function fromAddress() {
    var hash = location.hash.slice(1);
    if (hash.indexOf("=") < 0) { return false; }  // a plain anchor such as #c12
    var params = new URLSearchParams(hash);
    KEYS.forEach(function (key) {
      var control = form.elements[key];
      var value = params.get(key) || "";
      if (control.tagName === "SELECT" && value &&
          !Array.prototype.some.call(control.options, function (o) { return o.value === value; })) {
        value = "";
      }
      control.value = value;
    });
    return true;
  }
  function toAddress() {
    var params = new URLSearchParams();
    KEYS.forEach(function (key) {
      var value = form.elements[key].value;
      if (value) { params.set(key, value); }
    });
    var text = params.toString();
    history.replaceState(null, "", text ? "#" + text : location.pathname + location.search);
  }
  var pending = false;
  function onInput() {
    if (pending) { return; }
    pending = true;
    requestAnimationFrame(function () { pending = false; apply(); toAddress(); });
  }

  collect();
  form.hidden = false;
  document.documentElement.style.setProperty("--filters-height", form.offsetHeight + "px");
  form.addEventListener("input", onInput);
  form.addEventListener("change", onInput);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  form.addEventListener("reset", function () { setTimeout(function () { apply(); toAddress(); }, 0); });
  window.addEventListener("hashchange", function () { if (fromAddress()) { apply(); } });
  fromAddress();
  apply();

  // Printing shows the evidence of every failing check.
  var opened = [];
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details:not([open])").forEach(function (d) {
      d.open = true; opened.push(d);
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();
