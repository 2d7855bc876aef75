// paas web UI conveniences. Everything works without this file; it only adds copy
// buttons, revealing config values in place, live logs (server-sent events), reloading
// a running build's page, and the destroy button waiting for the typed app name.
"use strict";

(function () {
  function copyText(text, button) {
    function done(ok) {
      var label = button.textContent;
      button.textContent = ok ? "Copied" : "Select and copy";
      setTimeout(function () { button.textContent = label; }, 1800);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      return;
    }
    // Plain-HTTP pages have no clipboard API: copy through a temporary selection.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    done(ok);
  }

  function setUpCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = "value" in target && target.tagName === "INPUT" ? target.value : target.textContent;
        copyText(text.trim(), button);
      });
    });
  }

  function setUpReveal() {
    var buttons = Array.prototype.slice.call(document.querySelectorAll("[data-reveal]"));
    function show(button, visible) {
      var value = document.getElementById(button.getAttribute("data-reveal"));
      var mask = document.querySelector("[data-masked-for='" + button.getAttribute("data-reveal") + "']");
      if (!value) { return; }
      value.hidden = !visible;
      if (mask) { mask.hidden = visible; }
      button.setAttribute("aria-expanded", visible ? "true" : "false");
      button.textContent = visible ? "Hide" : "Reveal";
    }
    buttons.forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        show(button, button.getAttribute("aria-expanded") !== "true");
      });
    });
    var all = document.querySelector("[data-reveal-all]");
    if (all && buttons.length) {
      all.addEventListener("click", function (event) {
        event.preventDefault();
        var reveal = all.getAttribute("data-revealed") !== "true";
        buttons.forEach(function (button) { show(button, reveal); });
        all.setAttribute("data-revealed", reveal ? "true" : "false");
        all.textContent = reveal ? "Hide values" : "Reveal values";
      });
    }
  }

  function setUpLiveLogs() {
    var box = document.getElementById("log-lines");
    if (!box || !window.EventSource) { return; }
    var status = document.getElementById("live-status");
    var toggle = document.getElementById("live-toggle");
    var url = box.getAttribute("data-stream");
    var source = null;
    var maxLines = 2000;

    function setStatus(state, text) {
      if (!status) { return; }
      status.setAttribute("data-state", state);
      status.textContent = text;
    }
    function nearBottom() {
      return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    }
    function append(node) {
      var follow = nearBottom();
      var empty = document.getElementById("log-empty");
      if (empty) { empty.remove(); }
      box.appendChild(node);
      while (box.children.length > maxLines) { box.removeChild(box.firstChild); }
      if (follow) { box.scrollTop = box.scrollHeight; }
    }
    function line(data) {
      var row = document.createElement("div");
      row.className = "log-line src-" + (data.source === "app" ? "app" : "paas");
      var time = document.createElement("time");
      time.setAttribute("datetime", data.iso);
      time.textContent = data.time;
      var origin = document.createElement("span");
      origin.className = "origin";
      origin.textContent = data.origin;
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = data.text;
      row.appendChild(time);
      row.appendChild(document.createTextNode(" "));
      row.appendChild(origin);
      row.appendChild(document.createTextNode(" "));
      row.appendChild(text);
      return row;
    }
    function note(text) {
      var row = document.createElement("div");
      row.className = "log-line note";
      row.textContent = text;
      return row;
    }
    function start() {
      source = new EventSource(url);
      source.addEventListener("open", function () { setStatus("live", "Following new lines live."); });
      source.addEventListener("line", function (event) {
        try { append(line(JSON.parse(event.data))); } catch (e) { /* a malformed line is skipped */ }
      });
      source.addEventListener("skipped", function (event) { append(note(event.data)); });
      source.addEventListener("error", function () {
        if (source && source.readyState === EventSource.CLOSED) {
          // The browser gave up (signed out, or the app is gone): say what to do.
          stop();
          setStatus("paused", "Live updates stopped. Reload the page to follow again.");
        } else {
          setStatus("retrying", "Connection lost; reconnecting…");
        }
      });
    }
    function stop() {
      if (source) { source.close(); source = null; }
    }

    box.scrollTop = box.scrollHeight;
    start();
    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        if (source) {
          stop();
          toggle.textContent = "Resume";
          toggle.setAttribute("aria-pressed", "true");
          setStatus("paused", "Paused; new lines are not shown.");
        } else {
          start();
          toggle.textContent = "Pause";
          toggle.setAttribute("aria-pressed", "false");
        }
      });
    }
    window.addEventListener("pagehide", stop);
  }

  function setUpAutoRefresh() {
    var marker = document.querySelector("[data-autorefresh]");
    if (!marker) { return; }
    var seconds = parseInt(marker.getAttribute("data-autorefresh"), 10) || 5;
    setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }

  function setUpConfirmName() {
    document.querySelectorAll("[data-confirm-name]").forEach(function (input) {
      var form = input.form;
      var button = form && form.querySelector("button[type='submit']");
      if (!button) { return; }
      function check() { button.disabled = input.value.trim() !== input.getAttribute("data-confirm-name"); }
      input.addEventListener("input", check);
      check();
    });
  }

  function setUpAutoSubmit() {
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  function ready() {
    setUpCopyButtons();
    setUpReveal();
    setUpLiveLogs();
    setUpAutoRefresh();
    setUpConfirmName();
    setUpAutoSubmit();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
