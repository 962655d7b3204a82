// The API client: every request of the site goes through Api.request / Api.stream.
//
// Backends come from config.js, in order (the first is the primary). A request goes to the first
// backend that is up; on a network error, a timeout or a 5xx answer that is not the API asking to
// come back later, that backend is marked down and the same request goes to the next one.
// A backend marked down is health-checked (GET <base>/health) every `healthRecheckSeconds` and
// used again, in its config order, as soon as it answers: the site returns to the primary.
//
// A 429, or a 503 that carries Retry-After (queue full, no provider), is the API's answer for
// every backend (they share one store), so it is never retried on the next backend: it is thrown
// as an ApiError with retryAfter, and the caller retries after it. A generation always carries
// its Idempotency-Key, on every backend and every retry, so it is never submitted twice.

const ATTEMPT_TIMEOUT_MS = 25000;
const HEALTH_TIMEOUT_MS = 5000;

export class ApiError extends Error {
  // kind: "refusal" (the API's envelope), "unavailable" (no backend could be reached or every
  // one failed), "unexpected" (an answer that is neither a success nor the envelope).
  constructor({ kind, status = 0, envelope = null, retryAfter = null, backend = null }) {
    super(envelope?.message || `${kind} (${status})`);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.envelope = envelope;
    this.type = envelope?.error_type || (kind === "unavailable" ? "unavailable" : "unexpected");
    this.retryAfter = retryAfter;
    this.backend = backend;
  }
}

function isEnvelope(body) {
  return Boolean(body) && typeof body === "object" && body.success === false && typeof body.error_type === "string";
}

function retryAfterOf(response, envelope) {
  if (envelope && Number.isFinite(envelope.retry_after)) return Math.max(0, Math.ceil(envelope.retry_after));
  const header = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return Number.isFinite(header) ? Math.max(0, header) : null;
}

async function readJson(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) return undefined;
  try {
    return await response.json();
  } catch {
    return undefined;
  }
}

// One attempt: the caller's signal and a per-attempt timeout (cleared once headers arrive).
function attemptSignal(outer, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
  const forward = () => controller.abort(outer.reason);
  if (outer) {
    if (outer.aborted) forward();
    else outer.addEventListener("abort", forward, { once: true });
  }
  return {
    signal: controller.signal,
    done() {
      clearTimeout(timer);
      if (outer) outer.removeEventListener("abort", forward);
    },
  };
}

export class Api {
  constructor(config, { fetchImpl = (...args) => fetch(...args), location = window.location } = {}) {
    const list = (config && Array.isArray(config.backends) && config.backends.length)
      ? config.backends
      : [{ name: "primary", url: "/api/v1" }];
    this.fetch = fetchImpl;
    this.recheckMs = Math.max(1, Number(config?.healthRecheckSeconds) || 15) * 1000;
    this.backends = list.map((entry, index) => {
      const raw = typeof entry === "string" ? entry : entry.url;
      const base = new URL(String(raw).replace(/\/+$/, ""), location.href);
      return {
        name: (typeof entry === "object" && entry.name) || (index === 0 ? "primary" : `fallback ${index}`),
        index,
        base: base.href.replace(/\/+$/, ""),
        crossOrigin: base.origin !== location.origin,
        down: false,
        checks: 0,
        timer: null,
      };
    });
    this.tokenProvider = null;
    this.listeners = new Set();
    this.current = this.backends[0];
  }

  // Sign-in plugs in here (auth.js): provider(backend) returns a Firebase ID token, or null, sent
  // as `Authorization: Bearer` (the site's own origin uses the __session cookie instead; another
  // origin's cookie would be a third-party one, so cross-origin backends get the token).
  setTokenProvider(provider) {
    this.tokenProvider = provider;
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit() {
    for (const listener of this.listeners) {
      try {
        listener(this.state());
      } catch (error) {
        console.warn("api listener failed", error);
      }
    }
  }

  state() {
    return {
      current: this.current,
      backends: this.backends.map(({ name, base, down }) => ({ name, base, down })),
      allDown: this.backends.every((b) => b.down),
    };
  }

  // Up backends in config order, then the ones marked down (still worth a try: the health check
  // may simply not have run yet).
  order() {
    return [...this.backends.filter((b) => !b.down), ...this.backends.filter((b) => b.down)];
  }

  markDown(backend) {
    if (!backend.down) {
      backend.down = true;
      backend.checks = 0;
      this.emit();
    }
    this.scheduleCheck(backend);
  }

  markUp(backend) {
    clearTimeout(backend.timer);
    backend.timer = null;
    if (backend.down) {
      backend.down = false;
      this.emit();
    }
  }

  scheduleCheck(backend) {
    if (backend.timer) return;
    const delay = this.recheckMs * Math.min(4, 2 ** backend.checks);
    backend.timer = setTimeout(async () => {
      backend.timer = null;
      backend.checks += 1;
      if (await this.checkHealth(backend)) this.markUp(backend);
      else if (backend.down) this.scheduleCheck(backend);
    }, delay);
  }

  async checkHealth(backend) {
    const attempt = attemptSignal(null, HEALTH_TIMEOUT_MS);
    try {
      const response = await this.fetch(`${backend.base}/health`, {
        credentials: backend.crossOrigin ? "include" : "same-origin",
        signal: attempt.signal,
        cache: "no-store",
      });
      return response.ok;
    } catch {
      return false;
    } finally {
      attempt.done();
    }
  }

  async headersFor(extra, backend) {
    const headers = new Headers(extra || {});
    headers.set("Accept", "application/json, text/event-stream");
    if (this.tokenProvider) {
      try {
        const token = await this.tokenProvider(backend);
        if (token) headers.set("Authorization", `Bearer ${token}`);
      } catch (error) {
        console.warn("could not get a sign-in token", error);
      }
    }
    return headers;
  }

  // A media or link URL the API answered (often a path: /api/v1/media/...) as an absolute URL on
  // the backend that answered it.
  resolve(url, backend = this.current) {
    if (!url) return url;
    return new URL(url, `${backend.base}/`).href;
  }

  // -> {status, data, headers, backend}; throws ApiError.
  // options: json (a body sent as JSON), form (FormData), idempotencyKey, signal, stream (return
  // the Response of a 2xx unread, for text/event-stream), timeoutMs.
  async request(method, path, options = {}) {
    const { json, form, idempotencyKey, signal, stream = false, timeoutMs = ATTEMPT_TIMEOUT_MS } = options;
    let last = null;
    for (const backend of this.order()) {
      const headers = await this.headersFor(options.headers, backend);
      let body;
      if (json !== undefined) {
        headers.set("Content-Type", "application/json");
        body = JSON.stringify(json);
      } else if (form !== undefined) {
        body = form;
      }
      if (idempotencyKey) headers.set("Idempotency-Key", idempotencyKey);
      const attempt = attemptSignal(signal, timeoutMs);
      let response;
      try {
        response = await this.fetch(`${backend.base}${path}`, {
          method,
          headers,
          body,
          credentials: backend.crossOrigin ? "include" : "same-origin",
          signal: attempt.signal,
          cache: "no-store",
        });
      } catch (error) {
        attempt.done();
        if (signal?.aborted) throw error;
        last = { status: 0, backend };
        this.markDown(backend);
        continue;
      }
      attempt.done();
      if (response.ok) {
        this.settle(backend);
        if (stream) return { status: response.status, response, headers: response.headers, backend };
        const data = response.status === 204 ? null : await readJson(response);
        return { status: response.status, data, headers: response.headers, backend };
      }
      const data = await readJson(response);
      const envelope = isEnvelope(data) ? data : null;
      const retryAfter = retryAfterOf(response, envelope);
      const comeBackLater = (response.status === 503 && retryAfter !== null && envelope) || response.status === 429;
      if (response.status >= 500 && !comeBackLater) {
        last = { status: response.status, envelope, backend, retryAfter };
        this.markDown(backend);
        continue;
      }
      this.settle(backend);
      throw new ApiError({
        kind: envelope ? "refusal" : "unexpected",
        status: response.status,
        envelope,
        retryAfter,
        backend,
      });
    }
    throw new ApiError({
      kind: "unavailable",
      status: last?.status || 0,
      envelope: last?.envelope || null,
      retryAfter: last?.retryAfter ?? null,
      backend: last?.backend || null,
    });
  }

  settle(backend) {
    this.markUp(backend);
    if (this.current !== backend) {
      this.current = backend;
      this.emit();
    }
  }

  get(path, options) {
    return this.request("GET", path, options);
  }

  post(path, options) {
    return this.request("POST", path, options);
  }

  delete(path, options) {
    return this.request("DELETE", path, options);
  }
}

// The remaining quota from `RateLimit: "anonymous";r=2;t=20` and `RateLimit-Policy: ...;q=3;w=60`.
export function quotaFrom(headers) {
  const limit = headers?.get?.("RateLimit") || "";
  const policy = headers?.get?.("RateLimit-Policy") || "";
  const remaining = /(?:^|;)\s*r=(\d+)/.exec(limit);
  const quota = /(?:^|;)\s*q=(\d+)/.exec(policy);
  const windowSeconds = /(?:^|;)\s*w=(\d+)/.exec(policy);
  const reset = /(?:^|;)\s*t=(\d+)/.exec(limit);
  const tier = /^"([^"]+)"/.exec(limit);
  if (!remaining) return null;
  return {
    remaining: Number(remaining[1]),
    resetSeconds: reset ? Number(reset[1]) : null,
    quota: quota ? Number(quota[1]) : null,
    windowSeconds: windowSeconds ? Number(windowSeconds[1]) : null,
    tier: tier ? tier[1] : null,
  };
}
