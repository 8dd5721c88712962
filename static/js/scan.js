/* A "Scan" button beside each input marked data-scan: it opens the camera and fills the input from a QR code
   or barcode. The browser's BarcodeDetector where there is one, else the vendored jsQR (QR codes only), which
   is loaded from this script's data-decoder address on the first scan. Typing stays possible. */
(function () {
  "use strict";

  var SCAN_INTERVAL_MS = 200;
  // A case's page, /cases/<serial>/ (web/urls.py): what a case's QR label encodes (stock/labels.py).
  var CASE_PATH = /^\/cases\/([^/]+)\/$/;
  var decoderUrl = document.currentScript.dataset.decoder;
  var jsQRLoaded = null;

  // The serial in a scanned text: a case's page on this site gives its Case id; anything else is taken as is
  // (the form reads a component's admin address itself, web/scan.py).
  function serialFrom(text) {
    text = text.trim();
    var url;
    try {
      url = new URL(text);
    } catch (notAUrl) {
      return text;
    }
    var match = url.origin === window.location.origin && CASE_PATH.exec(url.pathname);
    return match ? decodeURIComponent(match[1]) : text;
  }

  function loadJsQR() {
    if (!jsQRLoaded) {
      jsQRLoaded = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = decoderUrl;
        script.onload = function () { resolve(window.jsQR); };
        script.onerror = function () { reject(new Error("the QR decoder did not load")); };
        document.head.appendChild(script);
      });
    }
    return jsQRLoaded;
  }

  // A function from the playing video to a promise of the text it shows, or null.
  function makeDetector() {
    if ("BarcodeDetector" in window) {
      var detector = new window.BarcodeDetector();
      return Promise.resolve(function (video) {
        return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
      });
    }
    return loadJsQR().then(function (jsQR) {
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      return function (video) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        context.drawImage(video, 0, 0);
        var image = context.getImageData(0, 0, canvas.width, canvas.height);
        var code = jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
        return Promise.resolve(code ? code.data : null);
      };
    });
  }

  function attach(input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "scan-button";
    button.textContent = "Scan";
    button.setAttribute("aria-controls", input.id);
    var panel = document.createElement("div");
    panel.className = "scan-panel";
    panel.hidden = true;
    var video = document.createElement("video");
    video.muted = true;
    video.setAttribute("playsinline", "");
    video.setAttribute("aria-label", "Camera preview");
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = "Stop scanning";
    panel.append(video, cancel);
    var status = document.createElement("p");
    status.className = "scan-status";
    status.setAttribute("role", "status");
    input.insertAdjacentElement("afterend", button);
    button.insertAdjacentElement("afterend", panel);
    panel.insertAdjacentElement("afterend", status);

    var stream = null;
    var timer = null;

    function stop() {
      window.clearTimeout(timer);
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      stream = null;
      video.srcObject = null;
      panel.hidden = true;
      button.disabled = false;
    }

    function found(text) {
      stop();
      input.value = serialFrom(text);
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
      status.textContent = "Scanned " + input.value + ".";
      input.focus();
    }

    function failed(error) {
      stop();
      status.textContent = "Could not scan: " + error.message + ". Type the id instead.";
    }

    function watch(detect) {
      if (!stream) { return; }
      var frame = video.readyState >= video.HAVE_CURRENT_DATA ? detect(video) : Promise.resolve(null);
      frame.then(function (text) {
        if (text) { found(text); } else if (stream) { timer = window.setTimeout(watch, SCAN_INTERVAL_MS, detect); }
      }, failed);
    }

    button.addEventListener("click", function () {
      button.disabled = true;
      status.textContent = "Point the camera at the label.";
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (cameraStream) {
          stream = cameraStream;
          video.srcObject = stream;
          panel.hidden = false;
          return Promise.all([video.play(), makeDetector()]);
        })
        .then(function (ready) { watch(ready[1]); }, failed);
    });
    cancel.addEventListener("click", function () {
      stop();
      status.textContent = "";
      input.focus();
    });
  }

  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    document.querySelectorAll("input[data-scan]").forEach(attach);
  }
})();
