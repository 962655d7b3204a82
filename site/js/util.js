// Small helpers shared by the site's modules.

export const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A random key for Idempotency-Key (crypto.randomUUID needs a secure context; this does not).
export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Characters as the API counts them (code points, not UTF-16 units).
export function characterCount(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

// 0:07, 1:20, 12:05, then 2 h 05 min, then 3 days.
export function formatCountdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  if (s < 86400 * 2) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return `${Math.round(s / 86400)} days`;
}

// "about 5 seconds", "about 2 minutes": for screen readers and sentences.
export function spokenDuration(seconds) {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} minute${m === 1 ? "" : "s"}`;
  const h = Math.round(m / 60);
  return `${h} hours`;
}

export function timeAgo(unixSeconds, now = Date.now() / 1000) {
  const s = Math.max(0, now - unixSeconds);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  const days = Math.round(s / 86400);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// localStorage that never throws (private mode, storage disabled, quota).
export const store = {
  get(key, fallback) {
    try {
      const raw = window.localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch {
      // not kept: the site works without it
    }
  },
};

// A once-a-second ticker from a deadline: tick(secondsLeft) now and each second, then done().
export function countdown(seconds, tick, done) {
  const end = performance.now() + seconds * 1000;
  let timer = null;
  const step = () => {
    const left = Math.max(0, (end - performance.now()) / 1000);
    tick(left);
    if (left <= 0) {
      timer = null;
      done?.();
      return;
    }
    timer = setTimeout(step, Math.min(1000, ((left * 1000) % 1000) || 1000));
  };
  step();
  return {
    cancel() {
      clearTimeout(timer);
      timer = null;
    },
  };
}

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason || new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}
