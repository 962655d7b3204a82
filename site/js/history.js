// The visitor's history: GET /jobs (the jobs the server knows as this browser's or account's),
// merged with the jobs this browser remembers submitting, each fetched by its id (GET /jobs/{id}:
// the id is the capability to view a job). So the history still works when the server cannot tell
// this browser apart (no session cookie: a cross-site fallback backend, cookies blocked, or a
// server where anonymous visitors own nothing until they sign in). The prompts are remembered
// here too: the API does not send them back.

import { ApiError } from "./api.js";
import { isTerminal } from "./job.js";
import { icon, modeLabel } from "./output.js";
import { el, store, timeAgo } from "./util.js";

const PROMPTS_KEY = "aiart.prompts";
const KEEP_PROMPTS = 200;
const STATUS_LABELS = { queued: "Queued", running: "Running", succeeded: "Done", failed: "Failed", canceled: "Canceled" };

const LOOK_UP = 12; // remembered jobs fetched one by one when the server's list lacks them
const FRESH_MS = 20 * 60 * 1000; // a finished job's view (signed URLs included) is reused this long

export const prompts = {
  get(jobId) {
    return store.get(PROMPTS_KEY, {})[jobId]?.prompt || "";
  },
  recent(limit) {
    const all = store.get(PROMPTS_KEY, {});
    return Object.keys(all).sort((a, b) => all[b].at - all[a].at).slice(0, limit);
  },
  // Sign-out: what this browser remembers of its jobs goes too (a shared computer's next visitor).
  forgetAll() {
    store.set(PROMPTS_KEY, {});
  },
  forget(jobId) {
    const all = store.get(PROMPTS_KEY, {});
    delete all[jobId];
    store.set(PROMPTS_KEY, all);
  },
  remember(jobId, prompt, mode) {
    const all = store.get(PROMPTS_KEY, {});
    all[jobId] = { prompt: prompt.slice(0, 500), mode, at: Date.now() };
    const ids = Object.keys(all);
    if (ids.length > KEEP_PROMPTS) {
      ids.sort((a, b) => all[a].at - all[b].at).slice(0, ids.length - KEEP_PROMPTS).forEach((id) => delete all[id]);
    }
    store.set(PROMPTS_KEY, all);
  },
};

export class History {
  constructor({ api, list, status, refreshButton, onOpen }) {
    this.api = api;
    this.list = list;
    this.status = status;
    this.onOpen = onOpen;
    this.loading = null;
    this.jobs = [];
    this.views = new Map(); // job id -> {job, backend, at}: finished jobs fetched by id
    refreshButton.addEventListener("click", () => this.refresh({ announce: true }));
  }

  async refresh({ announce = false } = {}) {
    if (this.loading) return this.loading;
    this.loading = this.load(announce).finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  async load(announce) {
    this.list.setAttribute("aria-busy", "true");
    try {
      let listed = [];
      let listError = null;
      try {
        const { data, backend } = await this.api.get("/jobs");
        listed = (data?.jobs || []).map((job) => ({ job, backend }));
      } catch (error) {
        listError = error;
      }
      const known = new Set(listed.map(({ job }) => job.job_id));
      const missing = prompts.recent(LOOK_UP).filter((id) => !known.has(id));
      const found = (await Promise.all(missing.map((id) => this.lookUp(id)))).filter(Boolean);
      if (listError && !found.length) throw listError;
      this.jobs = [...listed, ...found].sort((a, b) => b.job.created_at - a.job.created_at);
      this.render();
      if (announce) this.status.textContent = `${this.jobs.length} item${this.jobs.length === 1 ? "" : "s"} in your history.`;
      else this.status.textContent = "";
    } catch (error) {
      const down = error instanceof ApiError && error.kind === "unavailable";
      this.status.textContent = down ? "History is unavailable while the service is down." : "History could not be loaded.";
      if (!this.jobs.length) this.renderEmpty();
    } finally {
      this.list.removeAttribute("aria-busy");
    }
  }

  async lookUp(jobId) {
    const cached = this.views.get(jobId);
    if (cached && Date.now() - cached.at < FRESH_MS) return cached;
    try {
      const { data, backend } = await this.api.get(`/jobs/${encodeURIComponent(jobId)}`);
      const entry = { job: data, backend, at: Date.now() };
      if (isTerminal(data.status)) this.views.set(jobId, entry);
      return entry;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) prompts.forget(jobId); // expired
      return null;
    }
  }

  renderEmpty() {
    this.list.replaceChildren(el("li", { class: "history-empty" },
      el("p", {}, el("strong", { text: "Nothing here yet." })),
      el("p", { class: "hint", text: "Images and videos you generate in this browser will be listed here." })));
  }

  render() {
    if (!this.jobs.length) {
      this.renderEmpty();
      return;
    }
    this.list.replaceChildren(...this.jobs.map(({ job, backend }) => this.item(job, backend)));
  }

  item(job, backend) {
    const prompt = prompts.get(job.job_id);
    const url = job.result?.url ? this.api.resolve(job.result.url, backend) : null;
    const type = job.result?.mime_type || "";
    let thumb;
    if (url && type.startsWith("video/")) {
      thumb = el("video", { src: `${url}#t=0.1`, muted: true, preload: "metadata", playsinline: true, "aria-hidden": "true", tabindex: "-1" });
      thumb.muted = true;
    } else if (url) {
      thumb = el("img", { src: url, alt: "", loading: "lazy", decoding: "async" });
    } else {
      thumb = el("div", { class: "thumb-placeholder" }, icon(job.mode.includes("video") ? "film" : "image"));
    }
    const title = prompt || `${modeLabel(job.mode)} · ${job.job_id.slice(0, 6)}`;
    const open = el("button", {
      type: "button",
      class: "history-open",
      "aria-label": `${isTerminal(job.status) ? "Show" : "Follow"}: ${title} (${STATUS_LABELS[job.status] || job.status})`,
    });
    open.addEventListener("click", () => this.onOpen(job, backend));
    return el("li", { class: "history-item", "data-job-id": job.job_id, "data-status": job.status },
      el("div", { class: "thumb" }, thumb,
        el("span", { class: `badge status-${job.status}`, text: STATUS_LABELS[job.status] || job.status })),
      el("div", { class: "history-text" },
        el("p", { class: "history-prompt", text: title }),
        el("p", { class: "hint" }, `${modeLabel(job.mode)} · `, el("time", {
          datetime: new Date(job.created_at * 1000).toISOString(),
          text: timeAgo(job.created_at),
        }))),
      open);
  }
}
