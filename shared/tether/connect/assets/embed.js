/* TetherConnect.open({token, provider?, onEvent, mode?}): the hosted Connect page in a modal
   frame (mode "popup": a window) on the host page. Hand-written and dependency-free, to stay
   a few kilobytes. Messages are accepted only from Tether's origin and the frame or window
   opened here; the page, in turn, sends only to the origin the session allows. */
(function () {
  "use strict";
  var script = document.currentScript;
  var pageUrl = new URL("./", script && script.src ? script.src : location.href);
  var tether = pageUrl.origin;

  function open(options) {
    var opts = options || {};
    var token = String(opts.token || "");
    var session = token.split(".")[0];
    if (!/^csess_[A-Za-z0-9_-]+$/.test(session)) throw new Error("TetherConnect.open: a connect session token is required");
    var emit = typeof opts.onEvent === "function" ? opts.onEvent : function () {};
    var query = "?session=" + encodeURIComponent(session) + "&embed=1&origin=" + encodeURIComponent(location.origin);
    if (opts.provider) query += "&provider=" + encodeURIComponent(opts.provider);
    var url = pageUrl.href + query + "#token=" + encodeURIComponent(token);
    var shade, frame, win, previous = document.activeElement, done = false;

    function finish(event) {
      if (done) return;
      done = true;
      window.removeEventListener("message", onMessage);
      document.removeEventListener("keydown", onKey, true);
      if (shade && shade.parentNode) shade.parentNode.removeChild(shade);
      if (win && !win.closed) win.close();
      if (previous && previous.focus) previous.focus();
      emit(event || { type: "closed" });
    }
    function onMessage(e) {
      var source = frame ? frame.contentWindow : win;
      if (e.origin !== tether || e.source !== source) return;
      var data = e.data;
      if (!data || data.source !== "tether-connect" || typeof data.type !== "string") return;
      if (data.type === "closed") return finish({ type: "closed" });
      emit(data);
    }
    function onKey(e) {
      if (e.key === "Escape") { e.preventDefault(); finish({ type: "closed" }); }
    }
    window.addEventListener("message", onMessage);

    if (opts.mode === "popup") {
      win = window.open(url, "tether-connect", "popup,width=560,height=760");
      if (!win) { window.removeEventListener("message", onMessage); throw new Error("TetherConnect.open: the popup was blocked"); }
      var poll = setInterval(function () { if (win.closed) { clearInterval(poll); finish({ type: "closed" }); } }, 500);
      return { close: function () { finish({ type: "closed" }); } };
    }
    shade = document.createElement("div");
    shade.setAttribute("role", "dialog");
    shade.setAttribute("aria-modal", "true");
    shade.setAttribute("aria-label", "Connect an account");
    shade.style.cssText = "position:fixed;inset:0;z-index:2147483646;background:rgba(0,0,0,.4);display:flex;align-items:center;justify-content:center";
    frame = document.createElement("iframe");
    frame.title = "Connect an account";
    frame.src = url;
    frame.allow = "clipboard-write";
    frame.style.cssText = "width:min(40rem,100vw);height:min(48rem,100vh);border:0;border-radius:8px;background:#fff";
    shade.appendChild(frame);
    document.body.appendChild(shade);
    document.addEventListener("keydown", onKey, true);
    frame.focus();
    return { close: function () { finish({ type: "closed" }); } };
  }

  window.TetherConnect = { open: open };
})();
