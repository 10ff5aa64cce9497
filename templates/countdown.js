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
