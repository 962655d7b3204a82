// Follows one job: polls GET /jobs/{id} at the pace the API asks for (poll_after_seconds: about
// when the job should be done, so a generation costs a few reads), and between polls counts the
// ETA down locally and moves the progress bar.

import { ApiError } from "./api.js";

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const RETRY_SECONDS = [2, 4, 8, 15];
const TICK_MS = 250;

export function isTerminal(status) {
  return TERMINAL.has(status);
}

// What the API would ask for when a view has no poll_after_seconds (the 202 has only the ETA).
function pollAfter(view) {
  if (Number.isFinite(view.poll_after_seconds)) return view.poll_after_seconds;
  const eta = Number.isFinite(view.eta_seconds) ? view.eta_seconds : 2;
  return Math.min(Math.max(eta, 1), 15);
}

export class JobWatcher {
  // handlers: view(view, backend), progress({left, fraction, overdue}), connection(ok, retryIn),
  // failure(error) for a refusal while polling (e.g. the job is gone).
  constructor(api, jobId, handlers) {
    this.api = api;
    this.jobId = jobId;
    this.handlers = handlers;
    this.startedAt = performance.now();
    this.etaAt = null;
    this.fraction = 0;
    this.pollTimer = null;
    this.tickTimer = null;
    this.retries = 0;
    this.stopped = false;
    this.controller = new AbortController();
  }

  start(firstView, backend) {
    this.accept(firstView, backend);
    if (!this.stopped) this.tickTimer = setInterval(() => this.tick(), TICK_MS);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    clearInterval(this.tickTimer);
    this.controller.abort();
  }

  accept(view, backend) {
    if (this.stopped) return;
    if (Number.isFinite(view.eta_seconds)) this.etaAt = performance.now() + view.eta_seconds * 1000;
    this.handlers.view(view, backend);
    if (isTerminal(view.status)) {
      this.fraction = 1;
      this.stop();
      return;
    }
    this.tick();
    this.schedule(pollAfter(view));
  }

  schedule(seconds) {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.poll(), seconds * 1000);
  }

  // Poll now (e.g. the tab came back into view).
  nudge() {
    if (!this.stopped) this.schedule(0);
  }

  async poll() {
    if (this.stopped) return;
    try {
      const { data, backend } = await this.api.get(`/jobs/${encodeURIComponent(this.jobId)}`, {
        signal: this.controller.signal,
      });
      if (this.retries) this.handlers.connection?.(true, 0);
      this.retries = 0;
      this.accept(data, backend);
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof ApiError && error.kind === "refusal" && error.status !== 429 && error.status !== 503) {
        this.stop();
        this.handlers.failure?.(error);
        return;
      }
      const wait = error?.retryAfter || RETRY_SECONDS[Math.min(this.retries, RETRY_SECONDS.length - 1)];
      this.retries += 1;
      this.handlers.connection?.(false, wait);
      this.schedule(wait);
    }
  }

  tick() {
    if (this.stopped) return;
    const now = performance.now();
    const elapsed = (now - this.startedAt) / 1000;
    const left = this.etaAt === null ? null : Math.max(0, (this.etaAt - now) / 1000);
    let fraction;
    if (left !== null && left > 0) fraction = elapsed / (elapsed + left);
    else fraction = this.fraction + (0.97 - this.fraction) * 0.04; // overdue: creep, never reach the end
    this.fraction = Math.min(0.97, Math.max(this.fraction, fraction, 0.02));
    this.handlers.progress({ left, fraction: this.fraction, overdue: left !== null && left <= 0 });
  }
}
