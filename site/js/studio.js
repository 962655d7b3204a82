// The studio page: submit a generation, follow it to its result, stream text, show refusals as
// messages with a countdown, list the history, and say which backend is serving.

import { ApiError, quotaFrom } from "./api.js";
import { startPage } from "./chrome.js";
import { track } from "./events.js";
import { ComposeForm } from "./form.js";
import { History, prompts } from "./history.js";
import { describeError, describeJobFailure } from "./messages.js";
import { isTerminal, JobWatcher } from "./job.js";
import { Output } from "./output.js";
import { readEvents } from "./sse.js";
import { $, countdown, randomKey, reducedMotion, sleep } from "./util.js";

const DOWN_RETRY_SECONDS = [3, 6, 12, 20, 30];
const SIGN_IN_WAIT_MS = 4000; // a first visit's anonymous sign-in, before its first submit
let config = null;

class Studio {
  constructor() {
    const page = startPage();
    config = page.config;
    this.api = page.api;
    this.auth = page.auth;
    this.output = new Output({ root: $("#output"), status: $("#status"), badge: $("#output-mode") });
    this.quotas = { media: "", text: "" }; // the last RateLimit answer per bucket
    this.form = new ComposeForm({ onSubmit: () => this.submit(), onModeChange: (mode) => this.showQuotaFor(mode) });
    this.history = new History({
      api: this.api,
      list: $("#history-list"),
      status: $("#history-status"),
      refreshButton: $("#history-refresh"),
      onOpen: (job, backend) => this.open(job, backend),
    });
    this.watcher = null;
    this.timer = null; // a refusal's countdown
    this.stream = null; // an AbortController while text streams
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.watcher?.nudge();
    });
    this.signedIn().then(() => this.history.refresh());
  }

  // The jobs of a browser belong to its account (anonymous or not): wait for the sign-in of a
  // first visit, a few seconds at most (without it a job is still made, owned by no one).
  signedIn() {
    return Promise.race([this.auth.ready, sleep(SIGN_IN_WAIT_MS)]);
  }

  // ---- submitting ---------------------------------------------------------------------------

  reset() {
    this.turn = (this.turn || 0) + 1; // an answer that arrives for an earlier turn is not shown
    this.watcher?.stop();
    this.watcher = null;
    this.timer?.cancel();
    this.timer = null;
    this.stream?.abort();
    this.stream = null;
  }

  async submit() {
    const read = this.form.read();
    if (!read.ok) return;
    this.reset();
    const request = { ...read.request, key: randomKey(), attempt: 0 };
    track("generate_click");
    this.output.setMode(request.mode);
    this.form.setBusy(true);
    await this.signedIn();
    if (request.mode === "text") this.sendText(request);
    else this.sendJob(request);
  }

  async sendJob(request) {
    const turn = this.turn;
    this.form.setBusy(true);
    this.output.showProgress({ onCancel: () => this.stopRetrying() });
    this.output.announce("Sending your request…");
    let answer;
    try {
      answer = await this.api.post(request.path, {
        json: request.json,
        form: request.form,
        idempotencyKey: request.key, // the same key on every backend and every retry: one job
      });
    } catch (error) {
      if (turn !== this.turn) return; // canceled, or another generation since
      this.form.setBusy(false);
      this.refused(error, request);
      return;
    }
    const accepted = answer.data;
    prompts.remember(accepted.job_id, request.prompt, request.mode);
    if (turn !== this.turn) {
      // Canceled while it was being sent: the job exists now, so cancel it there too (a newer
      // generation started meanwhile leaves this one running: it is in the history).
      if (this.canceledTurn === turn) this.api.delete(`/jobs/${encodeURIComponent(accepted.job_id)}`).catch(() => null);
      this.history.refresh();
      return;
    }
    this.form.setBusy(false);
    this.showQuota(answer.headers, "generations");
    this.follow(accepted.job_id, { ...accepted, mode: request.mode }, answer.backend, request.prompt);
    this.history.refresh();
  }

  follow(jobId, firstView, backend, prompt) {
    this.reset();
    this.output.setMode(firstView.mode);
    this.output.showProgress({ onCancel: () => this.cancel(jobId) });
    this.watcher = new JobWatcher(this.api, jobId, {
      view: (view, from) => {
        if (!isTerminal(view.status)) {
          this.output.updateView(view);
          return;
        }
        this.finished(view, from, prompt);
      },
      progress: (state) => this.output.updateProgress(state),
      connection: (ok, retryIn) => this.output.connection(ok, retryIn),
      failure: (error) => this.output.showNotice(describeError(error, { config })),
    });
    this.watcher.start(firstView, backend);
  }

  finished(view, backend, prompt, { refresh = true } = {}) {
    this.watcher = null;
    if (view.status === "succeeded" && view.result?.url) {
      this.output.showMedia(view, this.api.resolve(view.result.url, backend), {
        prompt,
        onNew: () => this.newPrompt(),
      });
    } else if (view.status === "canceled") {
      this.output.showNotice({ tone: "invalid", title: "Canceled", text: () => "This generation was canceled.", links: [] });
    } else {
      this.output.showNotice(describeJobFailure(view.error), {
        actions: [{ label: "Try again", icon: "refresh", primary: true, onClick: () => this.form.form.requestSubmit() }],
      });
    }
    if (refresh) this.history.refresh();
  }

  async cancel(jobId) {
    const button = $("#cancel");
    if (button) button.setAttribute("aria-disabled", "true");
    this.output.announce("Canceling…");
    try {
      const { data, backend } = await this.api.delete(`/jobs/${encodeURIComponent(jobId)}`);
      this.watcher?.stop();
      this.finished(data, backend);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        this.output.announce("It had already finished.");
        this.watcher?.nudge();
        return;
      }
      if (button) button.removeAttribute("aria-disabled");
      this.output.showNotice(describeError(error, { config }), { keepResult: true });
    }
  }

  stopRetrying() {
    this.canceledTurn = this.turn;
    this.reset();
    this.form.setBusy(false);
    this.form.block(null);
    this.output.showEmpty();
    this.output.announce("Stopped.");
  }

  newPrompt() {
    this.reset();
    this.output.showEmpty();
    this.form.prompt.focus();
    this.form.prompt.select();
  }

  // ---- text, streamed word by word ----------------------------------------------------------

  async sendText(request) {
    this.form.setBusy(true);
    this.stream = new AbortController();
    const { signal } = this.stream;
    let answer;
    this.output.clear();
    this.output.announce("Sending your request…");
    try {
      answer = await this.api.post(request.path, { json: request.json, signal, stream: true, timeoutMs: 60000 });
    } catch (error) {
      this.form.setBusy(false);
      if (!signal.aborted) this.refused(error, request);
      return;
    }
    this.showQuota(answer.headers, "text requests");
    const view = this.output.showTextStream({ onNew: () => this.newPrompt(), onUse: (text) => this.form.usePrompt(text) });
    let ending = "The answer was cut off. Try again.";
    try {
      for await (const event of readEvents(answer.response.body, signal)) {
        if (event.event === "message") {
          const data = JSON.parse(event.data);
          if (typeof data.delta === "string") view.push(data.delta);
        } else if (event.event === "error") {
          const data = JSON.parse(event.data);
          ending = describeJobFailure(data).text();
          break;
        } else if (event.event === "done") {
          ending = null;
          break;
        }
      }
    } catch {
      if (signal.aborted) return;
    } finally {
      this.form.setBusy(false);
    }
    await view.end(ending);
  }

  // ---- refusals -------------------------------------------------------------------------------

  refused(error, request) {
    const what = request.mode === "text" ? "text requests" : "generations";
    const info = describeError(error, { config, what });
    info.type = error?.type;
    if (info.tone === "invalid" && Object.keys(info.fields || {}).length) {
      this.output.clear();
      this.output.announce(info.text());
      this.form.showFieldErrors(info.fields);
      return;
    }
    let wait = info.retryAfter;
    if (info.autoRetry && wait === null) {
      wait = DOWN_RETRY_SECONDS[Math.min(request.attempt, DOWN_RETRY_SECONDS.length - 1)];
      info.retryAfter = wait;
    }
    const actions = [];
    if (info.autoRetry) {
      actions.push({ label: "Retry now", icon: "refresh", primary: true, onClick: () => this.retry(request) });
      actions.push({ label: "Stop", icon: "stop", onClick: () => this.stopRetrying() });
    }
    const notice = this.output.showNotice(info, { actions });
    if (info.blocksSubmit) this.form.block(info.after || "Please wait for the countdown.");
    if (wait === null || wait === undefined) return;
    this.timer = countdown(wait, (left) => notice.update(left), () => {
      this.timer = null;
      if (info.blocksSubmit) {
        this.form.block(null);
        this.output.announce(info.after || "You can try again now.");
      }
      if (info.autoRetry) this.retry(request);
    });
  }

  retry(request) {
    this.reset();
    const next = { ...request, attempt: request.attempt + 1 };
    if (next.mode === "text") this.sendText(next);
    else this.sendJob(next);
  }

  showQuota(headers, what) {
    const quota = quotaFrom(headers);
    if (!quota) return;
    const bucket = what === "text requests" ? "text" : "media";
    if (quota.remaining > 0) {
      this.quotas[bucket] = quota.quota && quota.remaining <= quota.quota
        ? `${quota.remaining} of ${quota.quota} free ${what} left this minute.`
        : `${quota.remaining} free ${what} left this minute.`;
    } else {
      this.quotas[bucket] = `That was the last free one for now: more in about ${Math.max(1, quota.resetSeconds || 60)} s.`;
    }
    this.showQuotaFor(this.form.mode);
  }

  showQuotaFor(mode) {
    const line = $("#quota");
    if (line && this.quotas) line.textContent = this.quotas[mode === "text" ? "text" : "media"];
  }

  // ---- history ------------------------------------------------------------------------------

  open(job, backend) {
    this.reset();
    this.output.setMode(job.mode);
    const prompt = prompts.get(job.job_id);
    if (isTerminal(job.status)) this.finished(job, backend, prompt, { refresh: false });
    else this.follow(job.job_id, job, backend, prompt);
    $("#output-card").scrollIntoView({ behavior: reducedMotion.matches ? "auto" : "smooth", block: "nearest" });
  }
}

new Studio();
