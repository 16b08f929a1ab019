// camcanary: refresh a page's live region in place, without reloading the page.
// <div data-live="/fragments/overview" data-every="15"> is replaced by the fragment's HTML
// every N seconds; an error keeps the last good content and says so.
(function () {
  "use strict";
  var region = document.querySelector("[data-live]");
  if (!region) { return; }
  var every = Math.max(1, Number(region.getAttribute("data-every")) || 15) * 1000;
  var status = document.getElementById("live-status");

  function say(text) { if (status) { status.textContent = text; } }

  function refresh() {
    if (document.hidden) { setTimeout(refresh, every); return; }
    fetch(region.getAttribute("data-live"), {
      credentials: "same-origin",
      headers: { "Accept": "text/html", "X-Requested-With": "fetch" },
      cache: "no-store"
    }).then(function (response) {
      // A lapsed session is redirected to the login page: never swap that in.
      if (response.redirected || response.status === 401 || response.status === 403) {
        say("Signed out: reload the page to sign in again.");
        return null;  // stop polling
      }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    }).then(function (html) {
      if (html === null) { return; }
      region.innerHTML = html;
      region.setAttribute("data-refreshed", String(Date.now()));
      say("Updated " + new Date().toLocaleTimeString());
      setTimeout(refresh, every);
    }).catch(function (err) {
      say("Update failed (" + err.message + "); retrying.");
      setTimeout(refresh, every);
    });
  }
  setTimeout(refresh, every);
})();
