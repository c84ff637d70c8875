// Low-rate live view: reload each camera's frame every 2 s (the box publishes about 1 per s).
(function () {
  setInterval(function () {
    document.querySelectorAll("img.live").forEach(function (img) {
      img.src = img.src.split("?")[0] + "?t=" + Date.now();
    });
  }, 2000);
})();
