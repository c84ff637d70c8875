// The browser says at once when the two new passwords differ (the box checks it too).
"use strict";
(function () {
  const n = document.getElementById("new"), c = document.getElementById("confirm");
  if (!n || !c) return;
  const msg = JSON.parse(document.getElementById("pw-mismatch").textContent);
  const check = () => c.setCustomValidity(c.value && c.value !== n.value ? msg : "");
  n.addEventListener("input", check);
  c.addEventListener("input", check);
})();
