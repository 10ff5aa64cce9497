"use strict";
(function () {
  var timer = document.getElementById("countdown");
  if (!timer) {
    return;
  }
  // Counted from the server's own figure, so a wrong client clock does not matter.
  var deadline = Date.now() + Number(timer.getAttribute("data-seconds-left")) * 1000;
  function format(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    if (minutes === 0) {
      return rest + (rest === 1 ? " second" : " seconds");
    }
    return minutes + " min " + (rest < 10 ? "0" : "") + rest + " s";
  }
  // On the access page: trade the refresh cookie for fresh cookies a little
  // before the token expires, for as long as the page stays open.
  var refresh = document.getElementById("session-refresh");
  function scheduleRefresh() {
    if (!refresh || !window.fetch) {
      return;
    }
    var left = deadline - Date.now();
    setTimeout(function () {
      // Resolved against the origin: a page whose address carries Basic
      // credentials (http://user:pass@host/) cannot fetch a relative URL.
      fetch(new URL(refresh.getAttribute("data-refresh-url"), window.location.origin), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "grant_type=refresh_token"
      }).then(function (response) {
        if (!response.ok) {
          return null;
        }
        return response.json();
      }).then(function (body) {
        if (body && body.expires_in > 0) {
          deadline = Date.now() + body.expires_in * 1000;
          scheduleRefresh();
        }
      }).catch(function () {});
    }, Math.max(left - Math.min(30000, left / 5), 1000));
  }
  scheduleRefresh();
  function tick() {
    var left = Math.ceil((deadline - Date.now()) / 1000);
    if (left > 0) {
      timer.textContent = "Time left: " + format(left) + ".";
      setTimeout(tick, (deadline - Date.now()) % 1000 || 1000);
    } else {
      timer.textContent = "This link has expired.";
      timer.classList.add("expired");
    }
  }
  tick();
})();
