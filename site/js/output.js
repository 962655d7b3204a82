// The result panel: progress of a job, the result (image, video, streamed text), and notices
// (refusals, failures, the service being down). `status` is the aria-live line: it is told about
// changes (queued, running, done), never about each second of a countdown.

import { el, formatCountdown, reducedMotion, spokenDuration } from "./util.js";

const MODE_LABELS = {
  "text-to-image": "Text to image",
  "image-to-image": "Image to image",
  "text-to-video": "Text to video",
  "image-to-video": "Image to video",
  text: "Text",
};
const SPRITE = new URL("../icons.svg", import.meta.url).href; // right from any page's folder
const EXTENSIONS = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4" };

function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
  use.setAttribute("href", `${SPRITE}#i-${name}`);
  svg.append(use);
  return svg;
}

export function modeLabel(mode) {
  return MODE_LABELS[mode] || mode;
}

// A download that works for cross-origin results too (the download attribute is same-origin only).
export function downloadLink(url, filename, label = "Download") {
  const link = el("a", { class: "btn", href: url, download: filename, "data-track": "download" },
    icon("download"), el("span", { text: label }));
  link.addEventListener("click", async (event) => {
    let target;
    try {
      target = new URL(url, window.location.href);
    } catch {
      return;
    }
    if (target.origin === window.location.origin || target.protocol === "blob:") return;
    event.preventDefault();
    try {
      const response = await fetch(target.href);
      const blob = await response.blob();
      const blobUrl = URL.createObjectURL(blob);
      const save = el("a", { href: blobUrl, download: filename });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(blobUrl), 10000);
    } catch {
      window.open(target.href, "_blank", "noopener");
    }
  });
  return link;
}

export class Output {
  constructor({ root, status, badge }) {
    this.root = root;
    this.statusLine = status;
    this.badge = badge;
    this.progress = null;
  }

  announce(text) {
    if (this.statusLine.textContent !== text) this.statusLine.textContent = text;
  }

  setMode(mode) {
    this.badge.hidden = !mode;
    this.badge.textContent = mode ? modeLabel(mode) : "";
  }

  clear() {
    this.progress = null;
    this.root.replaceChildren();
    this.root.removeAttribute("aria-busy");
  }

  showEmpty() {
    this.clear();
    this.setMode(null);
    this.root.append(el("div", { class: "empty" },
      el("div", { class: "empty-art", "aria-hidden": "true" }, icon("sparkle")),
      el("p", {}, el("strong", { text: "Your creation will appear here." })),
      el("p", { class: "hint", text: "Write a prompt, press Generate, and watch your place in the queue." })));
  }

  // ---- a job in the queue ------------------------------------------------------------------

  showProgress({ onCancel }) {
    this.clear();
    const bar = el("div", { class: "bar-fill" });
    const meter = el("div", {
      class: "bar",
      role: "progressbar",
      "aria-label": "Progress",
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": "0",
    }, bar);
    const phase = el("p", { class: "phase", text: "Sending…" });
    const position = el("span", { class: "position-value", text: "–" });
    const eta = el("span", { class: "eta-value", text: "–" });
    const cancel = el("button", { type: "button", class: "btn ghost danger", id: "cancel" }, icon("stop"), el("span", { text: "Cancel" }));
    cancel.addEventListener("click", () => onCancel?.());
    const stats = el("dl", { class: "stats" },
      el("div", { class: "stat", "data-stat": "position" }, el("dt", { text: "In line" }), el("dd", {}, position)),
      el("div", { class: "stat", "data-stat": "eta" }, el("dt", { text: "Time left" }), el("dd", {}, eta)));
    const box = el("div", { class: "progress-box" },
      el("div", { class: "progress-art", "aria-hidden": "true" }, el("div", { class: "orb" })),
      phase, stats, meter, el("div", { class: "progress-actions" }, cancel));
    this.root.append(box);
    this.root.setAttribute("aria-busy", "true");
    this.progress = { bar, meter, phase, position, eta, cancel, lastPercent: -1 };
    return this.progress;
  }

  updateView(view) {
    const p = this.progress;
    if (!p) return;
    if (view.status === "queued") {
      const ahead = Number.isFinite(view.position) ? view.position : null;
      p.phase.textContent = ahead === 0 ? "Next in line" : "Waiting in the queue";
      p.position.textContent = ahead === null ? "–" : ahead === 0 ? "Next" : `#${ahead + 1}`;
      const when = Number.isFinite(view.eta_seconds) ? `, about ${spokenDuration(view.eta_seconds)}` : "";
      this.announce(ahead === null ? `Queued${when}.` : ahead === 0 ? `Queued: you are next${when}.` : `Queued: ${ahead} ahead of you${when}.`);
    } else if (view.status === "running") {
      p.phase.textContent = "Generating…";
      p.position.textContent = "Now";
      const when = Number.isFinite(view.eta_seconds) ? `, about ${spokenDuration(view.eta_seconds)} left` : "";
      this.announce(`Generating${when}.`);
    }
  }

  updateProgress({ left, fraction, overdue }) {
    const p = this.progress;
    if (!p) return;
    p.eta.textContent = left === null ? "–" : overdue ? "Almost done" : formatCountdown(left);
    p.bar.style.transform = `scaleX(${fraction.toFixed(3)})`;
    const percent = Math.round(fraction * 100);
    if (percent !== p.lastPercent) {
      p.lastPercent = percent;
      p.meter.setAttribute("aria-valuenow", String(percent));
      p.meter.setAttribute("aria-valuetext", left === null || overdue ? `${percent}%` : `${percent}%, about ${spokenDuration(left)} left`);
    }
  }

  connection(ok, retryIn) {
    const p = this.progress;
    if (!p) return;
    p.phase.textContent = ok ? "Back online" : `Connection lost: checking again in ${Math.round(retryIn)} s`;
    if (!ok) this.announce("Connection lost. Retrying.");
  }

  // ---- results -------------------------------------------------------------------------------

  showMedia(view, url, { prompt, onNew } = {}) {
    this.clear();
    const result = view.result || {};
    const type = result.mime_type || "";
    const filename = `aiart-${view.job_id}.${EXTENSIONS[type] || (type.startsWith("video/") ? "mp4" : "png")}`;
    const alt = prompt ? `Generated from: ${prompt}` : `Generated ${modeLabel(view.mode).toLowerCase()} result`;
    let media;
    if (type.startsWith("video/")) {
      media = el("video", {
        class: "result-media",
        src: url,
        controls: true,
        loop: true,
        muted: true,
        playsinline: true,
        preload: "auto",
        autoplay: reducedMotion.matches ? null : true,
        width: result.width,
        height: result.height,
        "aria-label": alt,
      });
      media.muted = true;
    } else {
      media = el("img", { class: "result-media", src: url, alt, width: result.width, height: result.height, decoding: "async" });
    }
    const facts = [];
    if (result.width && result.height) facts.push(`${result.width}×${result.height}`);
    if (result.seconds) facts.push(`${result.seconds} s`);
    if (Number.isFinite(result.seed)) facts.push(`seed ${result.seed}`);
    if (view.provider) facts.push(view.provider);
    const open = el("a", { class: "btn ghost", href: url, target: "_blank", rel: "noopener" }, icon("open"), el("span", { text: "Open" }));
    const again = el("button", { type: "button", class: "btn ghost" }, icon("sparkle"), el("span", { text: "New" }));
    again.addEventListener("click", () => onNew?.());
    this.root.append(el("figure", { class: "result" },
      el("div", { class: "media-frame" }, media),
      el("figcaption", { class: "result-meta" }, facts.join(" · ")),
      el("div", { class: "result-actions" }, downloadLink(url, filename), open, again)));
    this.announce(type.startsWith("video/") ? "Your video is ready." : "Your image is ready.");
    return media;
  }

  // A text answer that grows word by word; returns {push(delta), end(), fail(message)}.
  showTextStream({ onNew, onUse } = {}) {
    this.clear();
    const body = el("div", { class: "text-answer", id: "text-answer", tabindex: "0", role: "region", "aria-label": "Answer", "aria-busy": "true" });
    const caret = el("span", { class: "caret", "aria-hidden": "true" });
    const words = el("span", { class: "text-words" });
    body.append(words, caret);
    const actions = el("div", { class: "result-actions", hidden: true });
    this.root.append(el("div", { class: "result text-result" }, body, actions));
    this.announce("Writing…");
    const queue = [];
    let full = "";
    let timer = null;
    let ended = null;
    const flush = () => {
      // Reveal a word per tick, faster when the answer arrives faster than it is shown.
      const take = reducedMotion.matches ? queue.length : Math.max(1, Math.ceil(queue.length / 12));
      const next = queue.splice(0, take).join("");
      if (next) words.append(document.createTextNode(next));
      if (queue.length === 0) {
        clearInterval(timer);
        timer = null;
        if (ended) ended();
      }
    };
    const finish = (message) => {
      body.setAttribute("aria-busy", "false");
      caret.remove();
      if (message) {
        body.after(el("p", { class: "inline-notice", role: "alert" }, icon("alert"), el("span", { text: message })));
      }
      const copy = el("button", { type: "button", class: "btn ghost" }, icon("copy"), el("span", { text: "Copy" }));
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(full);
          copy.lastChild.textContent = "Copied";
        } catch {
          copy.lastChild.textContent = "Select the text to copy";
        }
        setTimeout(() => { copy.lastChild.textContent = "Copy"; }, 2000);
      });
      const blobUrl = URL.createObjectURL(new Blob([full], { type: "text/plain;charset=utf-8" }));
      const again = el("button", { type: "button", class: "btn ghost" }, icon("sparkle"), el("span", { text: "New" }));
      again.addEventListener("click", () => onNew?.());
      const use = el("button", { type: "button", class: "btn ghost" }, icon("image"), el("span", { text: "Make it an image" }));
      use.addEventListener("click", () => onUse?.(full.trim().slice(0, 4000)));
      actions.append(downloadLink(blobUrl, "aiart-answer.txt"), copy, use, again);
      actions.hidden = !full;
    };
    const output = this;
    return {
      push(delta) {
        full += delta;
        queue.push(...delta.split(/(?=\s)/));
        if (!timer) timer = setInterval(flush, reducedMotion.matches ? 100 : 45);
      },
      end(message = null) {
        return new Promise((resolve) => {
          ended = () => {
            finish(message);
            output.announce(message ? "The answer stopped early." : "The answer is complete.");
            resolve(full);
          };
          if (!timer) ended();
        });
      },
      get text() {
        return full;
      },
    };
  }

  // ---- notices -------------------------------------------------------------------------------

  // info: from messages.js. actions: [{label, icon, onClick, primary}]. Returns {update(secondsLeft)}.
  showNotice(info, { actions = [], keepResult = false } = {}) {
    if (!keepResult) this.clear();
    this.root.querySelector(".notice")?.remove();
    const text = el("p", { class: "notice-text" });
    const names = { wait: "clock", busy: "clock", down: "plug", invalid: "alert", error: "alert" };
    const box = el("div", { class: `notice tone-${info.tone || "error"}`, "data-error-type": info.type || null },
      el("div", { class: "notice-icon", "aria-hidden": "true" }, icon(names[info.tone] || "alert")),
      el("div", { class: "notice-body" },
        el("h3", { class: "notice-title", text: info.title }),
        text,
        info.links?.length
          ? el("p", { class: "notice-links" }, info.links.map((link) => el("a", {
            class: `btn small ${link.kind === "donate" ? "accent" : "ghost"}`,
            href: link.href,
            "data-link": link.kind,
            "data-track": link.kind === "donate" ? "donate_click" : "sign_in_click",
          }, icon(link.kind === "donate" ? "heart" : "user"), el("span", { text: link.label }))))
          : null,
        actions.length
          ? el("p", { class: "notice-actions" }, actions.map((action) => {
            const button = el("button", { type: "button", class: `btn small ${action.primary ? "primary" : "ghost"}` },
              action.icon ? icon(action.icon) : null, el("span", { text: action.label }));
            button.addEventListener("click", action.onClick);
            return button;
          }))
          : null,
        info.reference ? el("p", { class: "hint reference", text: `Reference: ${info.reference}` }) : null));
    if (keepResult) this.root.prepend(box);
    else this.root.append(box);
    const update = (secondsLeft) => {
      text.textContent = info.text(secondsLeft);
    };
    update(info.retryAfter ?? 0);
    this.announce(`${info.title}. ${info.text(info.retryAfter ?? 0)}`);
    return { update, box };
  }
}

export { icon };
