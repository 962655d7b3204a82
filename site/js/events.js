// Page views and conversion events for the admin dashboard: POST /api/v1/events {type, page}
// with navigator.sendBeacon (it survives the page being closed, and never delays it). A string
// body goes as text/plain, which needs no CORS preflight; the API reads it as JSON. Nothing here
// ever throws or waits: analytics must not get in a visitor's way.

const TYPES = new Set([
  "page_view", "generate_click", "sign_in_click", "sign_up", "donate_click", "donate_complete", "share", "download",
]);

let api = null;
const early = []; // events before the page's sign-in settled: sent right after the page view

export function startEvents(client) {
  api = client;
  track("page_view");
  for (const [type, page] of early.splice(0)) track(type, page);
}

export function track(type, page = window.location.pathname) {
  if (!api) {
    if (early.length < 20) early.push([type, page]);
    return;
  }
  if (!TYPES.has(type) || typeof navigator.sendBeacon !== "function") return;
  const path = `/${String(page || "/").replace(/^\/+/, "").replace(/\s/g, "")}`.slice(0, 512);
  try {
    navigator.sendBeacon(`${api.current.base}/events`, JSON.stringify({ type, page: path }));
  } catch {
    // not sent: never mind
  }
}

// Links and buttons marked data-track="type" report their clicks.
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("[data-track]") : null;
  if (target) track(target.dataset.track);
});
